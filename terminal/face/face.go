package face

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// Challenge is what the customer is asked to do in front of the camera.
// Left and Right are the customer's own left and right (a customer
// turning to their left shows the camera the right side of their face:
// in the unmirrored picture the face features move to the picture's
// right).
type Challenge string

// The challenges. None asks for nothing: the attempt then rests on the
// passive signals only (parallax when the subject moves, screen cues, IR);
// RandomChallenge never draws it.
const (
	None   Challenge = "none"
	Blink  Challenge = "blink"
	Left   Challenge = "left"
	Right  Challenge = "right"
	Closer Challenge = "closer"
)

// drawable are the challenges RandomChallenge draws from.
var drawable = [...]Challenge{Blink, Left, Right, Closer}

// ParseChallenge reads a challenge's name (case and surrounding spaces
// ignored; "" is None).
func ParseChallenge(s string) (Challenge, error) {
	switch c := Challenge(strings.ToLower(strings.TrimSpace(s))); c {
	case "", None:
		return None, nil
	case Blink, Left, Right, Closer:
		return c, nil
	}
	if len(s) > 32 {
		s = s[:32] + "..."
	}
	return "", fmt.Errorf("%w: %q (want none, blink, left, right or closer)", ErrChallenge, s)
}

// RandomChallenge draws one of Blink, Left, Right and Closer uniformly
// from rnd (crypto/rand.Reader in the daemon: a replayed video must not
// know what it will be asked).
func RandomChallenge(rnd io.Reader) (Challenge, error) {
	if rnd == nil {
		return "", fmt.Errorf("%w: no randomness source", ErrRand)
	}
	var b [1]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return "", fmt.Errorf("%w: %w", ErrRand, err)
	}
	// 256 is a multiple of 4: every byte value maps to one challenge,
	// each challenge to 64 values.
	return drawable[int(b[0])%len(drawable)], nil
}

// Prompt is what the customer display asks for, in English and Chinese.
func (c Challenge) Prompt() (en, zh string) {
	switch c {
	case Blink:
		return "Please blink", "请眨眨眼"
	case Left:
		return "Please turn your head to your left", "请向左转头"
	case Right:
		return "Please turn your head to your right", "请向右转头"
	case Closer:
		return "Please come closer to the camera", "请靠近摄像头"
	}
	return "Please look at the camera", "请正对摄像头"
}

// String implements fmt.Stringer.
func (c Challenge) String() string { return string(c) }

// Decision is an attempt's outcome.
type Decision string

// The decisions. Live: a real person did the challenge and no attack cue
// was seen; only then does a crop leave the pipeline. Spoof: an attack
// cue (a flat photo or screen, a screen's moiré, a frame around the
// face, no face in the IR picture). Retry: not enough evidence either
// way (no face, poor quality, the challenge not done in time) or a
// second face in view; the sale flow refuses the face payment and may
// offer a new attempt.
const (
	Live  Decision = "live"
	Spoof Decision = "spoof"
	Retry Decision = "retry"
)

// The hints Progress carries for the customer display (ui words them).
const (
	HintOneFace   = "one face only please"
	HintCloser    = "move closer"
	HintHoldStill = "hold still"
	HintNoFace    = "no face"
)

// The reasons a Result carries. They are stable strings: the sale record,
// the journal and tests compare them.
const (
	ReasonTwoFaces    = "two faces in view"
	ReasonNoFace      = "no face"
	ReasonTooSmall    = "face too small"
	ReasonBlurred     = "face blurred"
	ReasonExposure    = "face too dark or too bright"
	ReasonPose        = "face not frontal"
	ReasonNoBlink     = "no blink"
	ReasonNoTurnLeft  = "no turn to the left"
	ReasonNoTurnRight = "no turn to the right"
	ReasonNotCloser   = "did not come closer"
	ReasonWrongTurn   = "turned the wrong way"
	ReasonFlat        = "flat motion (single homography)"
	ReasonMoire       = "screen moire"
	ReasonBorder      = "frame around the face"
	ReasonNoIRFace    = "no face in IR"
	ReasonTooShort    = "not enough video"
)

// Result is an attempt's decision with its evidence.
//
// Scores holds one number per signal; each is documented at its key below
// and compared with a threshold of Thresholds:
//
//	"challenge"  1 when the challenge was seen done, else the progress
//	             towards it in [0,1) (blink: 0.5 eyes seen closing;
//	             left/right: turn reached / Thresholds.Turn; closer:
//	             growth / Thresholds.CloserGrowth). None: 1.
//	"parallax"   share of feature tracks (face and a ring around it,
//	             early frame to late frame) that ONE homography fitted
//	             with RANSAC does NOT explain: near 0 for a flat photo or
//	             screen moved about, higher for a head in front of a
//	             background. -1 when there was too little motion to tell.
//	"motion"     the track displacement three tracks in four stay under,
//	             in pixels of a 640-wide picture, between those frames.
//	"moire"      median over frames of the face patch's spectral peak
//	             energy at high frequencies relative to its mid band (see
//	             Thresholds.Moire).
//	"border"     share of looked-at frames where straight edges enclose
//	             the face box (a phone bezel, a paper edge).
//	"ir"         share of IR frames with a face where the RGB face is
//	             (only with IR).
//	"quality"    the best frame's quality in [0,1] (size, sharpness,
//	             exposure, pose).
//	"sharpness"  the best frame's Laplacian variance on the face.
//	"face_frac"  the best frame's face height over the picture's height.
//	"faces_max"  the most faces seen in one picture.
//
// Video is the video time to the decision (frames/FPS). In JSON it is
// "video_ms", whole milliseconds (VideoMS carries the same value; Video
// itself is not marshalled, so the object stays one flat form for the
// daemon's API, which embeds Result).
type Result struct {
	Decision  Decision           `json:"decision"`
	Challenge Challenge          `json:"challenge"`
	Scores    map[string]float64 `json:"scores"`
	Reasons   []string           `json:"reasons"`
	Frames    int                `json:"frames"`
	Video     time.Duration      `json:"-"`
	VideoMS   int64              `json:"video_ms"`
	// IR is whether the attempt had an IR camera's frames.
	IR bool `json:"ir"`
}

// Progress is what Add reports after each frame.
type Progress struct {
	// Done: the decision is made (Result); further frames are not needed
	// (Add ignores them).
	Done bool
	// Faces is the number of faces in the last picture looked at.
	Faces int
	// Hint is one of the Hint constants, or "" when nothing needs saying.
	Hint string
}

// Opts configures a Checker. The zero value works: default cascades,
// DefaultThresholds, 30 frames a second, 4 s of video at most.
type Opts struct {
	// CascadeDir holds OpenCV's Haar cascades
	// (FaceCascade and EyeCascade: haarcascade_frontalface_alt2.xml,
	// haarcascade_eye.xml);
	// default /usr/share/opencv4/haarcascades (Debian's opencv-data).
	CascadeDir string
	// Thresholds decide; the zero value means DefaultThresholds. A
	// configuration file's thresholds are unmarshalled over
	// DefaultThresholds, so the ones it leaves out keep their default.
	Thresholds Thresholds
	// FPS is the camera's frame rate (default 30): it turns frame counts
	// into video time.
	FPS float64
	// MaxFrames ends an attempt without a decision (Retry, or Spoof when
	// attack cues were seen); default 4 s of video (120 frames at 30 fps).
	MaxFrames int
	// Logger receives the decisions (never pixels); default discards.
	Logger *slog.Logger
}

// DefaultCascadeDir is where Debian's opencv-data installs the cascades.
const DefaultCascadeDir = "/usr/share/opencv4/haarcascades"

// The cascade files the pipeline loads from Opts.CascadeDir.
const (
	FaceCascade = "haarcascade_frontalface_alt2.xml"
	EyeCascade  = "haarcascade_eye.xml"
)

// withDefaults fills in Opts' defaults.
func (o Opts) withDefaults() Opts {
	if o.CascadeDir == "" {
		o.CascadeDir = DefaultCascadeDir
	}
	if o.Thresholds == (Thresholds{}) {
		o.Thresholds = DefaultThresholds
	}
	if o.FPS <= 0 {
		o.FPS = 30
	}
	if o.MaxFrames <= 0 {
		o.MaxFrames = int(4*o.FPS + 0.5)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
