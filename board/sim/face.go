package sim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"posd/board/sim/facescene"
	"posd/conn/video"
	"posd/drivers/camera"
)

// ErrScene: the face scene names an unknown subject, attack or action.
var ErrScene = errors.New("sim: unknown face scene")

// FaceScene is who stands in front of the simulated camera for face pay,
// as `posctl sim face` chooses: a subject of the deck (facescene's
// subjects), live or an attack (a printed photo, a phone screen
// replaying a video), maybe with a second person in view.
type FaceScene struct {
	Subject string `json:"subject"`
	// Attack is "none" (the subject in person), "print" or "screen".
	Attack string `json:"attack"`
	// Action is what the subject does: "" a live subject does what the
	// display asks (the challenge); a replayed video does what it
	// recorded ("blink" by default); a print does nothing.
	Action string `json:"action,omitempty"`
	// Second is a second person in view ("" none).
	Second string `json:"second,omitempty"`
	Seed   uint64 `json:"seed,omitempty"`
}

// faceStage plays a FaceScene on the simulated cameras: frame i of the
// clip on the i-th frame read after the challenge was shown, the IR
// camera showing the same moment.
type faceStage struct {
	mu     sync.Mutex
	scene  *FaceScene
	clip   *facescene.Clip
	i      int // next RGB frame of the clip
	irI    int // the frame the IR camera shows
	until  time.Time
	now    func() time.Time
	seeds  uint64
	w, h   int
	scenes int // scenes played, for the status
}

// ShowFace puts a scene in front of the simulated camera for d
// (DefaultShowFor when 0). The clip starts playing when the display
// shows the challenge (FacePrompted): a live subject then does it.
func (b *Board) ShowFace(sc FaceScene, d time.Duration) error {
	if b.stage == nil {
		return ErrNoCamera
	}
	if sc.Attack == "" {
		sc.Attack = string(facescene.None)
	}
	if _, ok := facescene.Lookup(sc.Subject); !ok {
		return fmt.Errorf("%w: subject %q", ErrScene, sc.Subject)
	}
	if sc.Second != "" {
		if _, ok := facescene.Lookup(sc.Second); !ok {
			return fmt.Errorf("%w: subject %q", ErrScene, sc.Second)
		}
	}
	// Check the combination now: the cashier hears of a mistake at once.
	probe := sc
	if _, err := facescene.New(b.stage.sceneOf(probe, "blink")); err != nil {
		return fmt.Errorf("%w: %w", ErrScene, err)
	}
	if d <= 0 {
		d = DefaultShowFor
	}
	// The customer steps in front of the camera: a phone held up before
	// is gone.
	b.HideFromCamera()
	s := b.stage
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seeds++
	if sc.Seed == 0 {
		sc.Seed = s.seeds
	}
	s.scene, s.clip, s.i, s.irI, s.until = &sc, nil, 0, 0, s.now().Add(d)
	return nil
}

// HideFace takes the scene away.
func (b *Board) HideFace() {
	if b.stage == nil {
		return
	}
	b.stage.mu.Lock()
	b.stage.scene, b.stage.clip = nil, nil
	b.stage.mu.Unlock()
}

// FacePrompted is the simulated customer reading the display: the clip
// starts, a live subject doing the challenge.
func (b *Board) FacePrompted(challenge string) {
	if b.stage == nil {
		return
	}
	s := b.stage
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.scene == nil {
		return
	}
	c, err := facescene.New(s.sceneOf(*s.scene, challenge))
	if err != nil {
		s.clip = nil
		return
	}
	s.clip, s.i, s.irI = c, 0, 0
	s.scenes++
}

// sceneOf is the facescene of sc when the display asks for challenge.
func (s *faceStage) sceneOf(sc FaceScene, challenge string) facescene.Scene {
	action := facescene.Action(sc.Action)
	switch {
	case sc.Attack == string(facescene.Print):
		action = facescene.Still
	case action != "":
	case sc.Attack == string(facescene.Screen):
		action = facescene.Blink
	default:
		action = facescene.Action(challenge)
	}
	return facescene.Scene{Subject: sc.Subject, Attack: facescene.Attack(sc.Attack), Action: action,
		Second: sc.Second, Seed: sc.Seed, W: s.w, H: s.h}
}

// frame draws the clip's next frame into bgr (w×h), false when no clip
// plays.
func (s *faceStage) frame(bgr []byte, w, h int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.scene != nil && s.now().After(s.until) {
		s.scene, s.clip = nil, nil
	}
	if s.clip == nil || w != s.w || h != s.h {
		return false
	}
	s.clip.FrameBGR(s.i, bgr)
	s.irI = s.i
	s.i++
	return true
}

// playing reports whether a clip plays.
func (s *faceStage) playing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clip != nil
}

// irFrame draws what the IR camera sees at the moment of the last RGB
// frame; a dark, noisy room when no clip plays.
func (s *faceStage) irFrame(gray []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clip == nil {
		for i := range gray {
			gray[i] = byte(8 + (i*7919)%5)
		}
		return
	}
	s.clip.IRFrameGray(s.irI, gray)
}

// irSource is the simulated near-infrared camera: a grey picture of the
// scene the RGB camera sees, one frame per RGB frame.
type irSource struct {
	s      *faceStage
	closed chan struct{}
	once   sync.Once
}

func (c *irSource) Next(ctx context.Context) (video.Frame, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closed:
		return nil, camera.ErrClosed
	default:
	}
	w, h := c.s.w, c.s.h
	gray := make([]byte, w*h)
	c.s.irFrame(gray)
	bgr := make([]byte, w*h*3)
	for i, v := range gray {
		bgr[3*i], bgr[3*i+1], bgr[3*i+2] = v, v, v
	}
	clear(gray)
	f, err := video.NewBytesFrame(w, h, bgr)
	clear(bgr)
	return f, err
}

func (c *irSource) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// FaceScenes is how many face scenes the simulated camera has played.
func (b *Board) FaceScenes() int {
	if b.stage == nil {
		return 0
	}
	b.stage.mu.Lock()
	defer b.stage.mu.Unlock()
	return b.stage.scenes
}
