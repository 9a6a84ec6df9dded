package daemon

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"posd/board"
	"posd/board/sim"
	"posd/conn/video"
	"posd/internal/config"
	"posd/terminal/face"
	"posd/terminal/facepay"
	"posd/terminal/pin"
	"posd/terminal/txn"
)

// faceParts is face pay as the daemon runs it: the liveness checker, the
// camera it opens only after consent, and what /v1/status reports.
type faceParts struct {
	checker *face.Checker
	// why is the reason face pay is off ("" when it is on).
	why string
	// framesRead counts the camera frames face pay has read since the
	// start: a test shows none is read before the customer's consent.
	framesRead atomic.Int64
	attempts   atomic.Int64
	// mu: one attempt (a sale's or a clip's) at a time on the checker.
	mu sync.Mutex
}

// FaceStatus is face pay in /v1/status.
type FaceStatus struct {
	Enabled    bool   `json:"enabled"`
	Why        string `json:"why,omitempty"`
	FramesRead int64  `json:"frames_read"`
	Attempts   int64  `json:"attempts"`
	IR         bool   `json:"ir_camera"`
	// Camera is whether the camera is open now (it is opened only while
	// frames are read: never before the customer's consent) and the
	// frames it delivered since the start.
	Camera *board.CameraState `json:"camera,omitempty"`
	// IRCamera is the same for a board profile's IR camera (the sim
	// board's simulated one has no gate and is left out).
	IRCamera *board.CameraState `json:"ir_camera_state,omitempty"`
}

// openFace prepares face pay when the configuration names a platform:
// the pinned platform key, the keypad, the camera (and the IR camera,
// when the board's profile names one) and the liveness checker (OpenCV's
// cascades; the nocv build has none and says so). A terminal whose face
// pay cannot run still starts: face sales fail clearly and card payments
// work.
func (d *Daemon) openFace(pad pin.Keys) (*txn.FacePay, error) {
	cfg, set := d.Config.Face, d.Settings
	d.face = &faceParts{}
	if cfg.URL == "" {
		d.face.why = "not configured"
		return nil, nil
	}
	// The link to the platform is signed both ways with the terminal's
	// key (face.key; the sim board derives it as the simulator does).
	platform, err := facepay.NewHTTP(facepay.HTTPOpts{BaseURL: cfg.URL, TerminalID: d.Config.Terminal.ID, Key: set.FaceLinkKey,
		Logger: d.Log.With("part", "facepay")})
	if err != nil {
		return nil, err
	}
	th, err := faceThresholds(d.Config)
	if err != nil {
		return nil, err
	}
	cam := d.Board.Devices.CameraVideo()
	c, err := face.New(face.Opts{CascadeDir: cfg.Cascades, Thresholds: th, Logger: d.Log.With("part", "face")})
	switch irErr := d.irCameraFailed(); {
	case err != nil:
		// The nocv build, or OpenCV's cascades missing.
		d.face.why = strings.TrimPrefix(err.Error(), face.ErrUnavailable.Error()+": ")
	case cam == nil:
		d.face.why = "no camera"
	case irErr != "":
		// Without it the liveness check would lose its IR look and
		// judge a phone screen or a print on the colour camera alone.
		d.face.why = "IR camera unavailable: " + irErr
	case pad == nil:
		d.face.why = "no keypad for the consent and the payment password"
	}
	if err == nil && d.face.why == "" {
		d.face.checker = c
	} else if err == nil {
		c.Close()
	}
	if d.face.why != "" {
		d.Log.Warn("face pay unavailable", "why", d.face.why)
	}
	passEntry, err := pin.New(&pin.Opts{Min: txn.PasswordDigits, Max: txn.PasswordDigits, Limiter: d.pinLimit, Logger: d.Log.With("part", "password")})
	if err != nil {
		return nil, err
	}
	lv := &faceLiveness{parts: d.face, cam: cam, ir: d.irCamera(), log: d.Log.With("part", "face"), sim: d.simFace()}
	fp := &txn.FacePay{
		Consent:        keypadConsent{keys: pad},
		Liveness:       lv,
		Platform:       platform,
		PlatformKey:    set.FaceKey,
		TerminalID:     d.Config.Terminal.ID,
		ConsentTimeout: set.FaceConsentTimeout,
		Attempts:       set.FaceAttempts,
	}
	if pad != nil {
		fp.Password = pinReader{entry: passEntry, keys: pad}
	}
	return fp, nil
}

// closeFace frees the cascades.
func (d *Daemon) closeFace() {
	if d.face != nil && d.face.checker != nil {
		d.face.checker.Close()
		d.face.checker = nil
	}
}

// faceStatus is face pay's line of /v1/status.
func (d *Daemon) faceStatus() *FaceStatus {
	if d.face == nil {
		return nil
	}
	st := &FaceStatus{Enabled: d.face.why == "", Why: d.face.why, FramesRead: d.face.framesRead.Load(),
		Attempts: d.face.attempts.Load(), IR: d.irCamera() != nil}
	if cs, ok := d.Board.CameraState(); ok {
		st.Camera = &cs
	}
	if cs, ok := d.Board.IRCameraState(); ok {
		st.IRCamera = &cs
	}
	return st
}

// keypadConsent reads the customer's consent: Enter agrees, Cancel
// declines; every other key is ignored (and wiped).
type keypadConsent struct{ keys pin.Keys }

func (k keypadConsent) WaitConsent(ctx context.Context, asked func()) (bool, error) {
	if k.keys == nil {
		return false, errors.New("no keypad")
	}
	k.keys.Flush()
	asked()
	for {
		ev, err := k.keys.Next(ctx)
		if err != nil {
			return false, err
		}
		if !ev.Down {
			continue
		}
		switch ev.Key {
		case pin.KeyEnter:
			return true, nil
		case pin.KeyCancel:
			return false, nil
		}
	}
}

// simFaceScene is the simulated board's side of face pay: the simulated
// customer reads the challenge off the display (a live subject does it).
type simFaceScene interface {
	FacePrompted(challenge string)
}

// faceLiveness runs one liveness attempt on the camera (txn.Liveness).
type faceLiveness struct {
	parts *faceParts
	cam   video.Source
	ir    video.Source
	log   *slog.Logger
	sim   simFaceScene
}

func (l *faceLiveness) Ready() error {
	if l.parts.checker == nil {
		return errors.New(l.parts.why)
	}
	return nil
}

func (l *faceLiveness) Check(ctx context.Context, show func(txn.FacePrompt)) (txn.FaceCheck, []byte, error) {
	if l.parts.checker == nil {
		return txn.FaceCheck{}, nil, errors.New(l.parts.why)
	}
	l.parts.mu.Lock()
	defer l.parts.mu.Unlock()
	ch, err := face.RandomChallenge(rand.Reader)
	if err != nil {
		return txn.FaceCheck{}, nil, err
	}
	l.parts.attempts.Add(1)
	show(txn.FacePrompt{Challenge: string(ch)})
	if l.sim != nil {
		l.sim.FacePrompted(string(ch))
	}
	att := l.parts.checker.Begin(ch, l.ir != nil)
	defer att.Close()
	hint := ""
	for {
		f, err := l.cam.Next(ctx)
		if err != nil {
			return txn.FaceCheck{}, nil, fmt.Errorf("camera: %w", err)
		}
		l.parts.framesRead.Add(1)
		var irf video.Frame
		if l.ir != nil {
			if irf, err = l.ir.Next(ctx); err != nil {
				f.Close()
				return txn.FaceCheck{}, nil, fmt.Errorf("IR camera: %w", err)
			}
		}
		p, err := att.Add(f, irf)
		f.Close()
		if irf != nil {
			irf.Close()
		}
		if err != nil {
			return txn.FaceCheck{}, nil, err
		}
		if p.Hint != hint {
			hint = p.Hint
			show(txn.FacePrompt{Challenge: string(ch), Hint: hint})
		}
		if p.Done {
			break
		}
	}
	r := att.Result()
	out := txn.FaceCheck{Decision: string(r.Decision), Challenge: string(r.Challenge), Scores: r.Scores,
		Reasons: r.Reasons, Frames: r.Frames, Video: r.Video}
	l.log.Info("liveness decided", "decision", r.Decision, "challenge", r.Challenge, "frames", r.Frames, "reasons", r.Reasons)
	if r.Decision != face.Live {
		return out, nil, nil
	}
	crop, err := att.BestCrop()
	if err != nil {
		return txn.FaceCheck{}, nil, err
	}
	return out, crop, nil
}

// irCamera is the board's near-infrared camera (nil: none).
func (d *Daemon) irCamera() video.Source {
	if d.Board == nil {
		return nil
	}
	return d.Board.Devices.IRCamera
}

// irCameraFailed is the error of an IR camera the board's profile names
// but that did not start ("" when it works or the board has none).
func (d *Daemon) irCameraFailed() string {
	if d.Board == nil || d.Board.Devices.IRCamera != nil {
		return ""
	}
	for _, s := range d.Board.Status() {
		if s.Name == "ir-camera" && !s.OK {
			return cmp.Or(s.Error, "failed")
		}
	}
	return ""
}

// simFace is the simulated customer in front of the sim board's camera
// (nil on a real board).
func (d *Daemon) simFace() simFaceScene {
	if d.Sim == nil {
		return nil
	}
	return d.Sim
}

// Errors of face pay's tools.
var (
	// ErrFaceUnavailable: this posd runs no liveness check (no OpenCV,
	// no cascades, no camera); the text says why.
	ErrFaceUnavailable = errors.New("daemon: face liveness unavailable")
	// ErrClip: the clip cannot be read (not pictures, too many frames,
	// not a video OpenCV can open).
	ErrClip = errors.New("daemon: bad clip")
)

// MaxClipFrames bounds the frames of a clip CheckClip reads.
const MaxClipFrames = 600

// Clip is a recorded presentation for CheckClip: pictures (PNG or
// JPEG), with the IR camera's pictures of the same moments when there
// are some, or a video file's bytes.
type Clip struct {
	Frames   [][]byte
	IRFrames [][]byte
	Video    []byte
}

// CheckClip runs the detection and liveness pipeline on a clip with the
// challenge it should expect ("none": no challenge), as `posctl face
// check` asks: the field engineer's and the evaluator's tool. The
// pictures are decoded in memory and wiped after use.
func (d *Daemon) CheckClip(ctx context.Context, clip Clip, challenge string) (face.Result, error) {
	if d.face != nil && d.face.checker != nil {
		d.face.mu.Lock()
		defer d.face.mu.Unlock()
		return d.checkClipWith(ctx, d.face.checker, clip, challenge)
	}
	// Face pay is off here (not configured, no camera): the pipeline can
	// still look at a clip, unless this build has no OpenCV.
	c, err := face.New(face.Opts{CascadeDir: d.Config.Face.Cascades, Logger: d.Log.With("part", "face")})
	if err != nil {
		return face.Result{}, fmt.Errorf("%w: %w", ErrFaceUnavailable, err)
	}
	defer c.Close()
	return d.checkClipWith(ctx, c, clip, challenge)
}

func (d *Daemon) checkClipWith(ctx context.Context, c *face.Checker, clip Clip, challenge string) (face.Result, error) {
	ch, err := face.ParseChallenge(challenge)
	if err != nil {
		return face.Result{}, fmt.Errorf("%w: %w", ErrClip, err)
	}
	if len(clip.Frames)+len(clip.IRFrames) > 2*MaxClipFrames || len(clip.Frames) > MaxClipFrames {
		return face.Result{}, fmt.Errorf("%w: more than %d frames", ErrClip, MaxClipFrames)
	}
	var rgb, ir video.Source
	switch {
	case len(clip.Video) > 0 && len(clip.Frames) == 0:
		src, closeFn, err := videoClip(clip.Video)
		if err != nil {
			return face.Result{}, fmt.Errorf("%w: %w", ErrClip, err)
		}
		defer closeFn()
		rgb = src
	case len(clip.Frames) > 0 && len(clip.Video) == 0:
		if rgb, err = pictureClip(clip.Frames); err != nil {
			return face.Result{}, err
		}
		if len(clip.IRFrames) > 0 {
			if len(clip.IRFrames) != len(clip.Frames) {
				return face.Result{}, fmt.Errorf("%w: %d IR frames for %d frames", ErrClip, len(clip.IRFrames), len(clip.Frames))
			}
			if ir, err = pictureClip(clip.IRFrames); err != nil {
				return face.Result{}, err
			}
		}
	default:
		return face.Result{}, fmt.Errorf("%w: give pictures or a video", ErrClip)
	}
	defer rgb.Close()
	if ir != nil {
		defer ir.Close()
	}
	return c.CheckClip(ctx, rgb, ir, ch)
}

// ShowFace puts a face scene in front of the sim board's camera: a
// subject, live or an attack, maybe with a second person in view.
func (d *Daemon) ShowFace(sc sim.FaceScene) error {
	if d.Sim == nil {
		return ErrNotSim
	}
	return d.Sim.ShowFace(sc, 0)
}

// FaceEnabled reports whether face pay can run (a card sale then offers
// it on the customer display).
func (d *Daemon) FaceEnabled() bool { return d.face != nil && d.face.why == "" }

// CheckConfig runs the checks of cfg that need posd's parts rather than
// config.Load alone (posd -print-config runs it too): the face liveness
// thresholds, checked whether or not face pay is configured yet.
func CheckConfig(cfg config.Config) error {
	_, err := faceThresholds(cfg)
	return err
}

func faceThresholds(cfg config.Config) (face.Thresholds, error) {
	th, err := face.ParseThresholds(cfg.Face.Thresholds)
	if err != nil {
		return face.Thresholds{}, fmt.Errorf("config: face.thresholds: %w", err)
	}
	return th, nil
}
