package face

import (
	"math"
	"slices"
)

// evidence is what an attempt has seen so far, in numbers the decision
// reads. The OpenCV pipeline fills it; the decision itself is plain Go
// (and tested in every build).
type evidence struct {
	frames     int // frames added
	faceFrames int // frames with one face (found or tracked)

	looks     int // full-picture detections
	multiLook int // of them, with two or more faces
	facesMax  int

	// Best frame's quality (the one BestCrop encodes).
	best quality

	// Challenge.
	chDone     bool
	chProgress float64 // [0,1)
	wrongTurn  bool

	// Parallax: the measurement at the largest motion so far.
	parallax float64 // -1: not measured
	motion   float64

	moire []float64 // one per patch looked at

	borderLooks, borderHits int
	irLooks, irHits         int
}

// quality of one frame's face.
type quality struct {
	ok       bool // a face was measured
	faceFrac float64
	sharp    float64
	exposure float64
	pose     float64
}

// qualityScore rates a frame's face in [0,1]: 0 when it fails the gate,
// otherwise higher for bigger, sharper, better exposed, more frontal.
func qualityScore(q quality, th Thresholds) float64 {
	if qualityReason(q, th) != "" {
		return 0
	}
	size := math.Min(q.faceFrac/(2*th.MinFaceFrac), 1)
	sharp := math.Min(q.sharp/(4*th.MinSharpness), 1)
	mid := (th.MinExposure + th.MaxExposure) / 2
	expo := 1 - math.Abs(q.exposure-mid)/(th.MaxExposure-th.MinExposure)
	pose := 1 - q.pose/(2*math.Max(th.MaxPose, 1e-9))
	return math.Max(0, (size+sharp+expo+pose)/4)
}

// qualityReason is why a frame's face fails the gate ("" when it passes).
func qualityReason(q quality, th Thresholds) string {
	switch {
	case !q.ok:
		return ReasonNoFace
	case q.faceFrac < th.MinFaceFrac:
		return ReasonTooSmall
	case q.sharp < th.MinSharpness:
		return ReasonBlurred
	case q.exposure < th.MinExposure || q.exposure > th.MaxExposure:
		return ReasonExposure
	case q.pose > th.MaxPose:
		return ReasonPose
	}
	return ""
}

// challengeReason is the reason of a challenge not done.
func challengeReason(ch Challenge) string {
	switch ch {
	case Blink:
		return ReasonNoBlink
	case Left:
		return ReasonNoTurnLeft
	case Right:
		return ReasonNoTurnRight
	case Closer:
		return ReasonNotCloser
	}
	return ""
}

// needsMotion: the challenge moves the head, so the parallax test must
// have measured (and passed) before a live decision.
func needsMotion(ch Challenge) bool { return ch == Left || ch == Right || ch == Closer }

// median of xs (0 for none); xs is not modified.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// decide turns the evidence into a decision. final: no more frames will
// come (MaxFrames reached, or the end of a clip): decide with what there
// is. It returns done false when more frames could still change the
// outcome; r is then the judgement so far (Retry).
func decide(ev *evidence, th Thresholds, ch Challenge, withIR, final bool) (r Result, done bool) {
	r = Result{Challenge: ch, Frames: ev.frames, IR: withIR, Scores: scores(ev, th, ch, withIR)}

	// A second face refuses at once: a bystander must not pay.
	if ev.multiLook >= max(th.TwoFaceLooks, 1) {
		r.Decision, r.Reasons = Retry, []string{ReasonTwoFaces}
		return r, true
	}

	// Attack cues, each only once it has enough looks behind it.
	var cues []string
	// Flat motion is a cue when the challenge moved the head (or none
	// was asked): a customer asked to blink may sway with the shoulders
	// and hair in the ring, which moves nearly flat too.
	if ev.parallax >= 0 && ev.parallax <= th.Flat && (needsMotion(ch) || ch == None) {
		cues = append(cues, ReasonFlat)
	}
	if len(ev.moire) >= max(th.MoireLooks, 1) && median(ev.moire) > th.Moire {
		cues = append(cues, ReasonMoire)
	}
	if ev.borderLooks >= max(th.BorderLooks, 1) && share(ev.borderHits, ev.borderLooks) > th.Border {
		cues = append(cues, ReasonBorder)
	}
	if withIR && ev.irLooks >= max(th.IRLooks, 1) && share(ev.irHits, ev.irLooks) < th.IRShare {
		cues = append(cues, ReasonNoIRFace)
	}
	if len(cues) > 0 && (ev.frames >= th.MinFrames || final) {
		r.Decision, r.Reasons = Spoof, cues
		return r, true
	}

	// What a live decision still lacks.
	var missing []string
	if q := qualityReason(ev.best, th); q != "" {
		missing = append(missing, q)
	}
	if !ev.chDone {
		if ev.wrongTurn && (ch == Left || ch == Right) {
			missing = append(missing, ReasonWrongTurn)
		} else {
			missing = append(missing, challengeReason(ch))
		}
	}
	if needsMotion(ch) && ev.parallax < 0 {
		missing = append(missing, ReasonTooShort)
	}
	if len(ev.moire) < max(th.MoireLooks, 1) || ev.borderLooks < max(th.BorderLooks, 1) {
		missing = append(missing, ReasonTooShort)
	}
	if withIR && ev.irLooks < max(th.IRLooks, 1) {
		missing = append(missing, ReasonTooShort)
	}
	if ev.frames < th.MinFrames {
		missing = append(missing, ReasonTooShort)
	}
	missing = slices.Compact(slices.DeleteFunc(missing, func(s string) bool { return s == "" }))
	if len(missing) == 0 {
		r.Decision, r.Reasons = Live, []string{}
		return r, true
	}
	// When time is up, whatever is missing makes a retry; a challenge
	// that needed motion but never moved is a challenge not done.
	if ev.faceFrames == 0 {
		missing = []string{ReasonNoFace}
	}
	r.Decision, r.Reasons = Retry, missing
	return r, final
}

func share(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// scores is every signal's number (see Result).
func scores(ev *evidence, th Thresholds, ch Challenge, withIR bool) map[string]float64 {
	s := map[string]float64{
		"challenge": ev.chProgress,
		"parallax":  ev.parallax,
		"motion":    round3(ev.motion),
		"moire":     round3(median(ev.moire)),
		"border":    round3(share(ev.borderHits, ev.borderLooks)),
		"quality":   round3(qualityScore(ev.best, th)),
		"sharpness": round3(ev.best.sharp),
		"face_frac": round3(ev.best.faceFrac),
		"faces_max": float64(ev.facesMax),
	}
	if ch == None || ev.chDone {
		s["challenge"] = 1
	}
	if ev.parallax >= 0 {
		s["parallax"] = round3(ev.parallax)
	}
	if withIR {
		s["ir"] = round3(share(ev.irHits, ev.irLooks))
	}
	return s
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
