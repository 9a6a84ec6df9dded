package face

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Thresholds are every number the decision compares a signal with. They
// come from the terminal's configuration file (face.thresholds, by these
// JSON names, unmarshalled over DefaultThresholds). Distances are in
// pixels of a 640-pixel-wide picture (the pipeline scales them to the
// frame's width); counts are frames.
type Thresholds struct {
	// Quality gate of the best frame.
	//
	// MinFaceFrac: the face box's height over the picture's height.
	MinFaceFrac float64 `json:"min_face_frac"`
	// MinSharpness: variance of the Laplacian over the face (8-bit
	// grey), below it the face is blurred (motion, focus).
	MinSharpness float64 `json:"min_sharpness"`
	// MinExposure, MaxExposure bound the face's mean grey (0-255).
	MinExposure float64 `json:"min_exposure"`
	MaxExposure float64 `json:"max_exposure"`
	// MaxPose: the horizontal offset of the eyes' midpoint from the face
	// box's centre, over the box's width, for the best frame (0 frontal).
	MaxPose float64 `json:"max_pose"`

	// TwoFaceLooks: full-picture detections that must see two or more
	// faces before the attempt is refused ("two faces in view").
	TwoFaceLooks int `json:"two_face_looks"`
	// MinFrames: no decision but a refusal before this many frames.
	MinFrames int `json:"min_frames"`

	// Challenge.
	//
	// BlinkDrop: the eyes' openness (see the "eyes" signal) must drop
	// by this share of its open level, then come back, for a blink.
	BlinkDrop float64 `json:"blink_drop"`
	// BlinkMaxFrames: the longest closed run that is still a blink.
	BlinkMaxFrames int `json:"blink_max_frames"`
	// Turn: the head's turn for left/right, as the shift of the inner
	// face's features relative to the head box, over the box's width.
	Turn float64 `json:"turn"`
	// CloserGrowth: the face's height must grow by this share.
	CloserGrowth float64 `json:"closer_growth"`

	// Parallax.
	//
	// MinMotion: the track displacement (pixels; 75th percentile) needed before
	// the single-homography test says anything.
	MinMotion float64 `json:"min_motion_px"`
	// Reproj: RANSAC's reprojection threshold (pixels).
	Reproj float64 `json:"reproj_px"`
	// Flat: at or below this share of tracks unexplained by the one
	// homography, the motion is flat (a photo or a screen).
	Flat float64 `json:"flat"`

	// Screen cues.
	//
	// Moire: the face patch's spectral peak ratio (see the "moire"
	// signal) above which a screen's pixel grid is seen.
	Moire float64 `json:"moire"`
	// MoireLooks: patches looked at before the moiré signal counts.
	MoireLooks int `json:"moire_looks"`
	// Border: the share of looks with straight edges around the face
	// above which a frame (bezel, paper edge) is seen.
	Border float64 `json:"border"`
	// BorderLooks: looks before the border signal counts.
	BorderLooks int `json:"border_looks"`

	// IR.
	//
	// IRShare: the share of IR looks that must find a face where the
	// RGB face is.
	IRShare float64 `json:"ir_share"`
	// IRLooks: IR looks before the IR signal counts.
	IRLooks int `json:"ir_looks"`
}

// DefaultThresholds are the thresholds measured on the simulated scenes
// (cmd/faceclips' evaluation) with a margin; a real camera's should be
// measured the same way on recorded clips (posctl face check).
var DefaultThresholds = Thresholds{
	MinFaceFrac:    0.18,
	MinSharpness:   20,
	MinExposure:    40,
	MaxExposure:    220,
	MaxPose:        0.2,
	TwoFaceLooks:   2,
	MinFrames:      6,
	BlinkDrop:      0.2,
	BlinkMaxFrames: 12,
	Turn:           0.08,
	CloserGrowth:   0.25,
	MinMotion:      10,
	Reproj:         3,
	Flat:           0.09,
	Moire:          12,
	MoireLooks:     6,
	Border:         0.5,
	BorderLooks:    4,
	IRShare:        0.5,
	IRLooks:        4,
}

// ParseThresholds reads face.thresholds: a JSON object over
// DefaultThresholds (keys not given keep their defaults). An unknown key
// or a value out of its range is ErrThresholds naming the key: a typo
// ("moire": 120, "flatt": 0.2) must not silently weaken the check.
func ParseThresholds(raw []byte) (Thresholds, error) {
	th := DefaultThresholds
	if len(bytes.TrimSpace(raw)) == 0 {
		return th, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&th); err != nil {
		return Thresholds{}, fmt.Errorf("%w: %w", ErrThresholds, err)
	}
	if dec.More() {
		return Thresholds{}, fmt.Errorf("%w: trailing data after the object", ErrThresholds)
	}
	return th, th.Validate()
}

// Validate checks every threshold against its range.
func (th Thresholds) Validate() error {
	for _, f := range []struct {
		key     string
		v       float64
		lo, hi  float64
		exclude bool // lo itself is out of range
	}{
		{"min_face_frac", th.MinFaceFrac, 0, 1, true},
		{"min_sharpness", th.MinSharpness, 0, 1e6, false},
		{"min_exposure", th.MinExposure, 0, 255, false},
		{"max_exposure", th.MaxExposure, 0, 255, true},
		{"max_pose", th.MaxPose, 0, 0.5, true},
		{"blink_drop", th.BlinkDrop, 0, 1, true},
		{"turn", th.Turn, 0, 1, true},
		{"closer_growth", th.CloserGrowth, 0, 2, true},
		{"min_motion_px", th.MinMotion, 0, 640, true},
		{"reproj_px", th.Reproj, 0, 100, true},
		{"flat", th.Flat, 0, 1, false},
		{"moire", th.Moire, 0, 1e3, true},
		{"border", th.Border, 0, 1, false},
		{"ir_share", th.IRShare, 0, 1, true},
	} {
		if f.v != f.v || f.v < f.lo || f.v > f.hi || (f.exclude && f.v == f.lo) {
			return fmt.Errorf("%w: %s %g is out of range (%g to %g)", ErrThresholds, f.key, f.v, f.lo, f.hi)
		}
	}
	if th.MinExposure >= th.MaxExposure {
		return fmt.Errorf("%w: min_exposure %g is not below max_exposure %g", ErrThresholds, th.MinExposure, th.MaxExposure)
	}
	for _, c := range []struct {
		key string
		v   int
	}{
		{"two_face_looks", th.TwoFaceLooks}, {"min_frames", th.MinFrames}, {"blink_max_frames", th.BlinkMaxFrames},
		{"moire_looks", th.MoireLooks}, {"border_looks", th.BorderLooks}, {"ir_looks", th.IRLooks},
	} {
		if c.v < 1 || c.v > 120 {
			return fmt.Errorf("%w: %s %d is out of range (1 to 120)", ErrThresholds, c.key, c.v)
		}
	}
	return nil
}
