//go:build !nocv

package face

import (
	"fmt"
	"image"
	"math"
	"runtime"
	"slices"

	"gocv.io/x/gocv"

	"posd/conn/video"
)

// Working sizes. Detection runs on a detW-wide copy of the picture (a
// face must be at least 24 pixels there: the cascade's window, about 70
// pixels of a 640-wide picture); tracking, parallax and the border look
// on a trackW-wide copy; the eye cascade on the face's upper half scaled
// to eyeW; the moiré spectrum on a moireN x moireN full-resolution patch.
const (
	detW        = 224
	trackW      = 320
	eyeW        = 100
	cropSide    = 160
	detectEvery = 6  // frames between full-picture detections
	refineEvery = 2  // frames between detections around the tracked face
	roiFace     = 40 // the face's size for a detection around it
	borderEvery = 3  // frames between border looks
	irEvery     = 2  // frames between IR looks
	maxTracks   = 40
	ringGrow    = 0.5 // the ring reaches out half the face's size
	minTracks   = 8
)

// The eye band: from eyeTop to eyeBottom percent of the face box's
// height; defaultEyes: where the eyes are in it before the eye cascade
// found them.
const eyeTop, eyeBottom = 18, 58

// minBlinkDrop is the least drop of openness (share of the eye window)
// that can be a blink.
const minBlinkDrop = 0.06

var defaultEyes = [2][4]float64{{0.15, 0.42, 0.45, 0.78}, {0.55, 0.42, 0.85, 0.78}}

// track is one feature followed from the anchor frame, in trackW
// coordinates.
type track struct {
	x0, y0 float32 // at the anchor frame
	x, y   float32 // now
	face   bool    // inside the face box (else in the ring around it)
}

// Attempt is one liveness check: Add frames until Progress.Done, read
// Result (and BestCrop when Live), then Close. An Attempt is used by one
// goroutine; its Checker serialises the work of several.
type Attempt struct {
	c      *Checker
	th     Thresholds
	fps    float64
	maxN   int
	ch     Challenge
	withIR bool

	closed bool
	done   bool
	result Result
	ev     evidence

	w, h  int     // frame size, from the first frame
	sw    int     // trackW copy's size
	sh    int     //
	scale float64 // trackW / w
	px    float64 // pixels of this frame per pixel of a 640-wide one

	// Native matrices, created once per attempt, wiped and closed by Close.
	gray, small, prev, det, eyes, work, lap, edges, best, patch, spec gocv.Mat
	hasPrev                                                           bool

	box       image.Rectangle // the face, full-resolution coordinates
	lastFaces int
	tracks    []track
	anchored  bool
	anchorBox image.Rectangle // the face at the anchor frame, trackW coordinates

	heights []float64 // face heights at detections (closer)
	open    []float64 // eyes' openness per face frame (blink)
	closedN int       // length of the current closed run
	level   float64   // the open level before the closed run
	// eyeWin: each eye's window (left, right of the picture) as
	// fractions of the eye band (x0, y0, x1, y1).
	eyeWin [2][4]float64
	eyePx  []byte // the windows' pixels (wiped after each frame)
	// eyeSeen: the eye cascade found that eye at least once.
	eyeSeen [2]bool
	// eyeBox is the face box smoothed over frames: the eye band is cut
	// from it, so the box's jitter does not look like a blink.
	eyeBox  [4]float64
	bestQ   float64
	hasBest bool
	blurred bool // the last face frame was blurred
}

// Begin starts an attempt with challenge ch; withIR: an IR frame comes
// with every RGB frame (the board has an IR camera).
func (c *Checker) Begin(ch Challenge, withIR bool) *Attempt {
	a := &Attempt{c: c, th: c.o.Thresholds, fps: c.o.FPS, maxN: c.o.MaxFrames, ch: ch, withIR: withIR}
	a.ev.parallax = -1
	a.eyeWin = defaultEyes
	for _, m := range a.mats() {
		*m = c.newMat()
	}
	return a
}

func (a *Attempt) mats() []*gocv.Mat {
	return []*gocv.Mat{&a.gray, &a.small, &a.prev, &a.det, &a.eyes, &a.work, &a.lap, &a.edges, &a.best, &a.patch, &a.spec}
}

// Close frees every matrix and wipes every buffer of the attempt. Only
// the first call does anything.
func (a *Attempt) Close() {
	if a == nil {
		return
	}
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	if a.closed {
		return
	}
	a.closed = true
	for _, m := range a.mats() {
		a.c.wipeClose(m)
	}
	clear(a.tracks)
	a.tracks = nil
	clear(a.open)
	clear(a.heights)
}

// Add looks at one frame (and the IR frame of the same moment when the
// attempt has IR; ir is ignored otherwise). The caller keeps and closes
// both frames; Add copies what it needs. After Done, Add ignores frames.
// An unreadable frame returns ErrFrame and counts for nothing; the
// attempt goes on.
func (a *Attempt) Add(rgb video.Frame, ir video.Frame) (Progress, error) {
	if a == nil {
		return Progress{}, ErrClosed
	}
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if a.closed || c.closed {
		return Progress{}, ErrClosed
	}
	if a.done {
		return Progress{Done: true, Faces: a.lastFaces}, nil
	}
	if rgb == nil {
		return Progress{}, fmt.Errorf("%w: no frame", ErrFrame)
	}
	w, h := rgb.Size()
	if a.w == 0 {
		if w < 64 || h < 48 || w > 4096 || h > 4096 {
			return Progress{}, fmt.Errorf("%w: %dx%d", ErrFrame, w, h)
		}
		a.w, a.h = w, h
		a.scale = float64(trackW) / float64(w)
		a.sw, a.sh = trackW, max(int(math.Round(float64(h)*a.scale)), 1)
		a.px = float64(w) / 640
	} else if w != a.w || h != a.h {
		return Progress{}, fmt.Errorf("%w: %dx%d after %dx%d", ErrFrame, w, h, a.w, a.h)
	}
	bgr, err := rgb.BGR()
	defer clear(bgr)
	if err != nil {
		return Progress{}, fmt.Errorf("%w: %w", ErrFrame, err)
	}
	if len(bgr) != w*h*3 {
		return Progress{}, fmt.Errorf("%w: %d bytes for %dx%d", ErrFrame, len(bgr), w, h)
	}
	frame, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, bgr)
	if err != nil {
		return Progress{}, fmt.Errorf("%w: %w", ErrFrame, err)
	}
	frame = c.adopt(frame)
	defer c.closeMat(&frame) // over bgr, which is wiped

	a.ev.frames++
	gocv.CvtColor(frame, &a.gray, gocv.ColorBGRToGray)
	gocv.Resize(a.gray, &a.small, image.Pt(a.sw, a.sh), 0, 0, gocv.InterpolationArea)

	a.follow()
	switch {
	case a.ev.frames == 1 || (a.ev.frames-1)%detectEvery == 0 || a.box.Empty() || a.faceTracks() < minTracks/2:
		a.detect()
	case (a.ev.frames-1)%refineEvery == 0:
		a.refine()
	}
	if !a.box.Empty() && a.lastFaces == 1 {
		a.ev.faceFrames++
		if !a.anchored {
			a.seed()
		}
		a.measure(frame)
		if a.withIR && ir != nil && a.ev.frames%irEvery == 0 {
			a.lookIR(ir)
		}
	}
	if a.anchored && a.ev.frames%2 == 0 {
		a.parallax()
	}
	a.small, a.prev = a.prev, a.small
	a.hasPrev = true

	r, done := decide(&a.ev, a.th, a.ch, a.withIR, a.ev.frames >= a.maxN)
	if done {
		a.conclude(r)
	}
	return Progress{Done: a.done, Faces: a.lastFaces, Hint: a.hint()}, nil
}

// conclude records the decision.
func (a *Attempt) conclude(r Result) {
	a.done = true
	r.Video = videoTime(a.ev.frames, a.fps)
	r.VideoMS = r.Video.Milliseconds()
	a.result = r
	a.c.o.Logger.Debug("liveness decided", "decision", r.Decision, "challenge", r.Challenge,
		"frames", r.Frames, "reasons", r.Reasons, "scores", r.Scores)
}

// finish decides on what was seen (the clip ended).
func (a *Attempt) finish() {
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	if !a.done && !a.closed {
		r, _ := decide(&a.ev, a.th, a.ch, a.withIR, true)
		a.conclude(r)
	}
}

// Result is the decision once Progress.Done; before, the judgement so
// far: Retry with what is still missing.
func (a *Attempt) Result() Result {
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	if a.done {
		r := a.result
		r.Scores = cloneMap(r.Scores)
		r.Reasons = slices.Clone(r.Reasons)
		return r
	}
	r, _ := decide(&a.ev, a.th, a.ch, a.withIR, false)
	r.Decision = Retry
	if len(r.Reasons) == 0 {
		r.Reasons = []string{ReasonTooShort}
	}
	r.Video = videoTime(a.ev.frames, a.fps)
	r.VideoMS = r.Video.Milliseconds()
	return r
}

func cloneMap(m map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// hint is what the display should say now.
func (a *Attempt) hint() string {
	switch {
	case a.done:
		return ""
	case a.lastFaces >= 2:
		return HintOneFace
	case a.box.Empty():
		return HintNoFace
	case float64(a.box.Dy())/float64(a.h) < a.th.MinFaceFrac && a.ch != Closer:
		return HintCloser
	case a.blurred && (a.ch == Blink || a.ch == None):
		return HintHoldStill
	}
	return ""
}

// BestCrop is the best frame's face as JPEG: the face box grown by a
// fifth on each side, squared, 160x160 pixels. Only after a Live
// decision. The caller wipes the bytes after use.
func (a *Attempt) BestCrop() ([]byte, error) {
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	if a.closed {
		return nil, ErrClosed
	}
	if !a.done || a.result.Decision != Live || !a.hasBest {
		return nil, ErrNotLive
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, a.best, []int{gocv.IMWriteJpegQuality, 92})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	native := buf.GetBytes()
	out := slices.Clone(native)
	clear(native)
	buf.Close()
	return out, nil
}

// faceTracks counts the tracks on the face.
func (a *Attempt) faceTracks() int {
	n := 0
	for _, t := range a.tracks {
		if t.face {
			n++
		}
	}
	return n
}

// follow moves the tracks from the previous frame to this one (pyramidal
// Lucas-Kanade) and the face box with the face's tracks.
func (a *Attempt) follow() {
	if !a.hasPrev || len(a.tracks) == 0 {
		return
	}
	c := a.c
	n := len(a.tracks)
	prevPts := c.adopt(gocv.NewMatWithSize(n, 1, gocv.MatTypeCV32FC2))
	defer c.closeMat(&prevPts)
	p, err := prevPts.DataPtrFloat32()
	if err != nil {
		a.tracks = a.tracks[:0]
		return
	}
	for i, t := range a.tracks {
		p[2*i], p[2*i+1] = t.x, t.y
	}
	nextPts, status, errs := c.newMat(), c.newMat(), c.newMat()
	defer c.closeMat(&nextPts)
	defer c.closeMat(&status)
	defer c.closeMat(&errs)
	gocv.CalcOpticalFlowPyrLK(a.prev, a.small, prevPts, nextPts, &status, &errs)
	q, err1 := nextPts.DataPtrFloat32()
	st, err2 := status.DataPtrUint8()
	if err1 != nil || err2 != nil || len(q) < 2*n || len(st) < n {
		a.tracks = a.tracks[:0]
		return
	}
	var dx, dy []float64
	kept := a.tracks[:0]
	for i, t := range a.tracks {
		x, y := q[2*i], q[2*i+1]
		if st[i] == 0 || x < 0 || y < 0 || x >= float32(a.sw) || y >= float32(a.sh) {
			continue
		}
		if t.face {
			dx, dy = append(dx, float64(x-t.x)), append(dy, float64(y-t.y))
		}
		t.x, t.y = x, y
		kept = append(kept, t)
	}
	a.tracks = kept
	if !a.box.Empty() && len(dx) >= 3 {
		mx, my := median(dx)/a.scale, median(dy)/a.scale
		a.box = a.box.Add(image.Pt(int(math.Round(mx)), int(math.Round(my)))).Intersect(image.Rect(0, 0, a.w, a.h))
	}
}

// detect looks for faces in the whole picture.
func (a *Attempt) detect() {
	dh := max(int(math.Round(float64(a.sh)*detW/trackW)), 1)
	gocv.Resize(a.small, &a.det, image.Pt(detW, dh), 0, 0, gocv.InterpolationArea)
	rects := a.c.face.DetectMultiScaleWithParams(a.det, 1.2, 3, 0, image.Pt(24, 24), image.Point{})
	a.ev.looks++
	if len(rects) == 0 {
		a.lastFaces = 0
		a.box = image.Rectangle{}
		return
	}
	k := float64(a.w) / detW
	best := rects[0]
	for _, r := range rects[1:] {
		if r.Dx()*r.Dy() > best.Dx()*best.Dy() {
			best = r
		}
	}
	// Other faces: a person beside the payer, at least half the payer's
	// size (a face on a poster far behind, or the cascade's stray
	// window on the payer's own turned head, is not a bystander).
	faces := 1
	for _, r := range rects {
		if r == best || r.Dy()*2 < best.Dy() {
			continue
		}
		if ctr := image.Pt((r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2); ctr.In(best) {
			continue
		}
		faces++
	}
	a.lastFaces = faces
	a.ev.facesMax = max(a.ev.facesMax, faces)
	if faces >= 2 {
		a.ev.multiLook++
	}
	a.box = image.Rect(int(float64(best.Min.X)*k), int(float64(best.Min.Y)*k),
		int(float64(best.Max.X)*k), int(float64(best.Max.Y)*k)).Intersect(image.Rect(0, 0, a.w, a.h))
	if faces == 1 {
		a.heights = append(a.heights, float64(a.box.Dy()))
		a.closer()
	}
}

// refine detects the face again around its tracked box only, scaled so
// the face is about roiFace pixels: the box's size and place are kept
// exact between full-picture detections at a fraction of their cost. No
// face there keeps the tracked box (the next full detection decides).
func (a *Attempt) refine() {
	fb := a.toSmall(a.box)
	area := grow(fb, 0.8).Intersect(image.Rect(0, 0, a.sw, a.sh))
	if fb.Dx() < 8 || area.Dx() < 24 || area.Dy() < 24 {
		return
	}
	k := math.Min(1, roiFace/float64(fb.Dx()))
	c := a.c
	roi := c.adopt(a.small.Region(area))
	defer c.closeMat(&roi)
	gocv.Resize(roi, &a.det, image.Pt(max(int(float64(area.Dx())*k), 24), max(int(float64(area.Dy())*k), 24)), 0, 0, gocv.InterpolationArea)
	rects := a.c.face.DetectMultiScaleWithParams(a.det, 1.1, 3, 0, image.Pt(24, 24), image.Point{})
	if len(rects) == 0 {
		return
	}
	best := rects[0]
	for _, r := range rects[1:] {
		if r.Dx()*r.Dy() > best.Dx()*best.Dy() {
			best = r
		}
	}
	// Back to full resolution: ROI scale k, then trackW to full.
	f := 1 / k / a.scale
	ox, oy := float64(area.Min.X)/a.scale, float64(area.Min.Y)/a.scale
	a.box = image.Rect(int(ox+float64(best.Min.X)*f), int(oy+float64(best.Min.Y)*f),
		int(ox+float64(best.Max.X)*f), int(oy+float64(best.Max.Y)*f)).Intersect(image.Rect(0, 0, a.w, a.h))
	a.heights = append(a.heights, float64(a.box.Dy()))
	a.closer()
}

// toSmall maps a full-resolution rectangle to trackW coordinates, clamped.
func (a *Attempt) toSmall(r image.Rectangle) image.Rectangle {
	s := a.scale
	return image.Rect(int(float64(r.Min.X)*s), int(float64(r.Min.Y)*s), int(math.Ceil(float64(r.Max.X)*s)),
		int(math.Ceil(float64(r.Max.Y)*s))).Intersect(image.Rect(0, 0, a.sw, a.sh))
}

// seed picks the features to track: corners on the face and on a ring
// around it (the rest of the head, the background, or the photo's and
// screen's own surroundings). The first frame with a face is the anchor.
func (a *Attempt) seed() {
	fb := a.toSmall(a.box)
	if fb.Dx() < 16 || fb.Dy() < 16 {
		return
	}
	a.tracks = a.tracks[:0]
	all := image.Rect(0, 0, a.sw, a.sh)
	a.corners(grow(fb, -0.1).Intersect(all), maxTracks, true)
	// The ring: four strips around the face (so that the face's strong
	// corners do not crowd out the ring's), a quarter of the tracks each.
	in, out := grow(fb, 0.1), grow(fb, ringGrow)
	for _, r := range []image.Rectangle{
		image.Rect(out.Min.X, out.Min.Y, out.Max.X, in.Min.Y), // above
		image.Rect(out.Min.X, in.Max.Y, out.Max.X, out.Max.Y), // below
		image.Rect(out.Min.X, in.Min.Y, in.Min.X, in.Max.Y),   // left
		image.Rect(in.Max.X, in.Min.Y, out.Max.X, in.Max.Y),   // right
	} {
		a.corners(r.Intersect(all), maxTracks/4, false)
	}
	a.anchored = len(a.tracks) >= minTracks
	a.anchorBox = fb
}

// corners adds up to n good features to track within r (trackW
// coordinates).
func (a *Attempt) corners(r image.Rectangle, n int, face bool) {
	if r.Dx() < 8 || r.Dy() < 8 {
		return
	}
	c := a.c
	roi := c.adopt(a.small.Region(r))
	defer c.closeMat(&roi)
	pts := c.newMat()
	defer c.closeMat(&pts)
	gocv.GoodFeaturesToTrack(roi, &pts, n, 0.01, 3)
	v, err := pts.DataPtrFloat32()
	if err != nil {
		return
	}
	for i := 0; i+1 < len(v); i += 2 {
		x, y := v[i]+float32(r.Min.X), v[i+1]+float32(r.Min.Y)
		a.tracks = append(a.tracks, track{x0: x, y0: y, x: x, y: y, face: face})
	}
}

// parallax fits one homography (RANSAC) to every track from the anchor
// frame to this one and keeps the share it does not explain, measured
// at the largest motion so far.
func (a *Attempt) parallax() {
	n := len(a.tracks)
	if n < minTracks {
		if !a.box.Empty() && a.lastFaces == 1 {
			a.anchored = false // seed afresh on the next face frame
		}
		return
	}
	d := make([]float64, n)
	for i, t := range a.tracks {
		d[i] = math.Hypot(float64(t.x-t.x0), float64(t.y-t.y0)) / a.scale / a.px
	}
	// The motion: the displacement three tracks in four stay under (a
	// head turning moves its inner features only; a median would
	// wait for the ring too).
	slices.Sort(d)
	motion := d[len(d)*3/4]
	if motion < a.th.MinMotion || motion <= a.ev.motion {
		return
	}
	c := a.c
	src := c.adopt(gocv.NewMatWithSize(n, 1, gocv.MatTypeCV32FC2))
	defer c.closeMat(&src)
	dst := c.adopt(gocv.NewMatWithSize(n, 1, gocv.MatTypeCV32FC2))
	defer c.closeMat(&dst)
	s, err1 := src.DataPtrFloat32()
	t, err2 := dst.DataPtrFloat32()
	if err1 != nil || err2 != nil {
		return
	}
	for i, tr := range a.tracks {
		s[2*i], s[2*i+1] = tr.x0, tr.y0
		t[2*i], t[2*i+1] = tr.x, tr.y
	}
	mask := c.newMat()
	defer c.closeMat(&mask)
	// RANSAC draws from OpenCV's per-thread generator: seed it on this
	// thread so that a clip's decision does not depend on what ran before.
	runtime.LockOSThread()
	gocv.SetRNGSeed(0x5eed)
	hm := gocv.FindHomography(src, &dst, gocv.HomograpyMethodRANSAC, a.th.Reproj*a.px*a.scale, &mask, 2000, 0.995)
	runtime.UnlockOSThread()
	hm = c.adopt(hm)
	defer c.closeMat(&hm)
	if hm.Empty() || mask.Empty() {
		return
	}
	in := gocv.CountNonZero(mask)
	a.ev.motion = motion
	a.ev.parallax = 1 - float64(in)/float64(n)
}

// measure reads everything the face of this frame tells: quality (and
// the best crop), the eyes, the turn, the moiré spectrum, the border.
func (a *Attempt) measure(frame gocv.Mat) {
	q := a.quality()
	eyesMid, eyes := a.lookEyes()
	if eyes == 2 {
		q.pose = math.Abs(eyesMid - 0.5)
	}
	score := qualityScore(q, a.th)
	a.blurred = q.sharp < a.th.MinSharpness
	if score > a.bestQ || !a.ev.best.ok {
		if score > a.bestQ {
			a.bestQ = score
		}
		a.ev.best = q
		a.keepCrop(frame)
	}
	a.turn()
	if a.ev.faceFrames%2 == 1 {
		a.moire()
	}
	if a.ev.faceFrames%borderEvery == 1 {
		a.border()
	}
}

// quality measures the face's size, sharpness and exposure.
func (a *Attempt) quality() quality {
	q := quality{ok: true, faceFrac: float64(a.box.Dy()) / float64(a.h)}
	inner := grow(a.box, -0.3).Intersect(image.Rect(0, 0, a.w, a.h))
	if inner.Dx() < 4 || inner.Dy() < 4 {
		return q
	}
	c := a.c
	roi := c.adopt(a.gray.Region(inner))
	defer c.closeMat(&roi)
	gocv.Laplacian(roi, &a.lap, gocv.MatTypeCV16S, 1, 1, 0, gocv.BorderDefault)
	mean, sd := c.newMat(), c.newMat()
	defer c.closeMat(&mean)
	defer c.closeMat(&sd)
	gocv.MeanStdDev(a.lap, &mean, &sd)
	s := sd.GetDoubleAt(0, 0)
	q.sharp = s * s
	q.exposure = roi.Mean().Val1
	return q
}

// keepCrop keeps this frame's face as the best crop.
func (a *Attempt) keepCrop(frame gocv.Mat) {
	side := float64(max(a.box.Dx(), a.box.Dy())) * 1.4
	cx, cy := float64(a.box.Min.X+a.box.Max.X)/2, float64(a.box.Min.Y+a.box.Max.Y)/2
	side = math.Min(side, float64(min(a.w, a.h)))
	x0 := math.Max(0, math.Min(cx-side/2, float64(a.w)-side))
	y0 := math.Max(0, math.Min(cy-side/2, float64(a.h)-side))
	r := image.Rect(int(x0), int(y0), int(x0+side), int(y0+side)).Intersect(image.Rect(0, 0, a.w, a.h))
	if r.Dx() < 8 || r.Dy() < 8 {
		return
	}
	c := a.c
	roi := c.adopt(frame.Region(r))
	defer c.closeMat(&roi)
	gocv.Resize(roi, &a.best, image.Pt(cropSide, cropSide), 0, 0, gocv.InterpolationArea)
	a.hasBest = true
}

// lookEyes runs the eye cascade on the face's upper half and records the
// eyes' openness in the two eye windows: where the cascade last found
// each eye (the middle of its box: the brows stay out), or where eyes
// usually are in a face box before it found them. It returns the eyes'
// midpoint across the face box (0..1) and how many eyes it found.
func (a *Attempt) lookEyes() (mid float64, n int) {
	nb := [4]float64{float64(a.box.Min.X), float64(a.box.Min.Y), float64(a.box.Max.X), float64(a.box.Max.Y)}
	if a.eyeBox == ([4]float64{}) || math.Abs(nb[0]-a.eyeBox[0]) > float64(a.box.Dx())/4 {
		a.eyeBox = nb // first face, or it moved far: start afresh
	}
	for i := range nb {
		a.eyeBox[i] = 0.85*a.eyeBox[i] + 0.15*nb[i]
	}
	b := image.Rect(int(a.eyeBox[0]), int(a.eyeBox[1]), int(a.eyeBox[2]), int(a.eyeBox[3]))
	band := image.Rect(b.Min.X, b.Min.Y+b.Dy()*eyeTop/100, b.Max.X, b.Min.Y+b.Dy()*eyeBottom/100).Intersect(image.Rect(0, 0, a.w, a.h))
	if band.Dx() < 20 || band.Dy() < 8 {
		return 0.5, 0
	}
	c := a.c
	roi := c.adopt(a.gray.Region(band))
	defer c.closeMat(&roi)
	eh := max(int(math.Round(float64(band.Dy())*eyeW/float64(band.Dx()))), 1)
	gocv.Resize(roi, &a.eyes, image.Pt(eyeW, eh), 0, 0, gocv.InterpolationArea)
	rects := a.c.eye.DetectMultiScaleWithParams(a.eyes, 1.1, 3, 0, image.Pt(14, 14), image.Pt(eyeW/2, eyeW/2))
	var found [2]bool
	var xs []float64
	for _, r := range rects {
		cx := float64(r.Min.X+r.Max.X) / 2 / eyeW
		side := 0
		if cx >= 0.5 {
			side = 1
		}
		if found[side] {
			continue
		}
		found[side] = true
		xs = append(xs, cx)
		a.eyeSeen[side] = true
		// The window follows the cascade slowly: its boxes jitter by a
		// few pixels from frame to frame, which must not read as a blink.
		nw := [4]float64{float64(r.Min.X) / eyeW, float64(r.Min.Y) / float64(eh),
			float64(r.Max.X) / eyeW, float64(r.Max.Y) / float64(eh)}
		if !a.eyeSeen[side] {
			a.eyeWin[side] = nw
		}
		for k := range nw {
			a.eyeWin[side][k] = 0.85*a.eyeWin[side][k] + 0.15*nw[k]
		}
	}
	n = len(xs)
	mid = 0.5
	switch n {
	case 1:
		mid = xs[0]
	case 2:
		mid = (xs[0] + xs[1]) / 2
	}
	// Openness is read at full resolution: an eye is only some 20
	// pixels wide in the cascade's copy.
	var o float64
	for i, w := range a.eyeWin {
		x0, x1, y0, y1 := w[0], w[2], w[1], w[3]
		if a.eyeSeen[i] {
			// The middle of the cascade's box: 60 % of its width, half
			// its height (the brows are in its top).
			x0, x1 = w[0]+0.2*(w[2]-w[0]), w[2]-0.2*(w[2]-w[0])
			y0, y1 = w[1]+0.25*(w[3]-w[1]), w[3]-0.25*(w[3]-w[1])
		}
		fx, fy := float64(band.Dx()), float64(band.Dy())
		r := image.Rect(band.Min.X+int(x0*fx), band.Min.Y+int(y0*fy), band.Min.X+int(math.Ceil(x1*fx)),
			band.Min.Y+int(math.Ceil(y1*fy))).Intersect(image.Rect(0, 0, a.w, a.h))
		if r.Dx() < 2 || r.Dy() < 2 {
			continue
		}
		win := c.adopt(a.gray.Region(r))
		win.CopyTo(&a.work)
		c.closeMat(&win)
		px, err := a.work.DataPtrUint8()
		if err != nil {
			continue
		}
		a.eyePx = append(a.eyePx[:0], px...)
		o += openness(a.eyePx) / 2
	}
	clear(a.eyePx)
	a.blink(o)
	return mid, n
}

// blink follows the eyes' openness: open frames, then a short run of
// closed ones (openness down by BlinkDrop from the open level of the
// frames just before), then open again. The level is local: the
// windows settle and the light changes over an attempt.
func (a *Attempt) blink(o float64) {
	a.open = append(a.open, o)
	if a.ch != Blink || a.ev.chDone {
		return
	}
	if a.closedN == 0 {
		// The open level: the best of the last frames before a closing.
		recent := a.open[max(0, len(a.open)-7) : len(a.open)-1]
		if len(recent) < 3 {
			return
		}
		a.level = slices.Max(recent)
	}
	// Closed: down by BlinkDrop of the level, and by an absolute
	// minimum of the window (noise on a small or poorly placed window
	// is a large share of a small level).
	switch closed := o < a.level*(1-a.th.BlinkDrop) && a.level-o >= minBlinkDrop; {
	case closed:
		a.closedN++
		a.ev.chProgress = 0.5
		if a.closedN > a.th.BlinkMaxFrames {
			// Eyes shut too long (or lost): not a blink; start again.
			a.closedN, a.ev.chProgress = 0, 0
		}
	case a.closedN > 0 && o >= a.level*(1-a.th.BlinkDrop/2):
		a.ev.chDone = true
	}
}

// closer follows the face's height for the closer challenge.
func (a *Attempt) closer() {
	if a.ch != Closer || a.ev.chDone || len(a.heights) < 2 {
		return
	}
	base := median(a.heights[:min(3, len(a.heights))])
	now := median(a.heights[max(0, len(a.heights)-3):])
	if base <= 0 {
		return
	}
	g := now/base - 1
	if g >= a.th.CloserGrowth {
		a.ev.chDone = true
		return
	}
	a.ev.chProgress = math.Max(a.ev.chProgress, math.Max(0, g/a.th.CloserGrowth))
}

// turn follows the head's turn for left and right: the inner face's
// features (eyes, nose, mouth: tracks near the face's middle) move
// sideways relative to the head's sides (tracks at the face's edges and
// beside it) when the head turns; when the whole head moves sideways,
// both move alike. The turn is that relative shift over the face's width,
// positive towards the picture's right: the customer's own left.
func (a *Attempt) turn() {
	if (a.ch != Left && a.ch != Right) || a.ev.chDone || !a.anchored {
		return
	}
	ab := a.anchorBox
	cx, cy := float32(ab.Min.X+ab.Max.X)/2, float32(ab.Min.Y+ab.Max.Y)/2
	bw, bh := float32(ab.Dx()), float32(ab.Dy())
	var inner, sides, rest []float64
	for _, t := range a.tracks {
		dx := float64(t.x - t.x0)
		switch ox, oy := abs32(t.x0-cx)/bw, abs32(t.y0-cy)/bh; {
		case t.face && ox < 0.25 && oy < 0.35:
			inner = append(inner, dx)
		case ox > 0.4 && oy < 0.6:
			sides = append(sides, dx)
		default:
			rest = append(rest, dx)
		}
	}
	if len(sides) < 3 {
		// A plain wall beside the head: the rest of the ring (hair above,
		// shoulders below) is the reference.
		sides = append(sides, rest...)
	}
	if len(inner) < 3 || len(sides) < 3 {
		return
	}
	turn := (median(inner) - median(sides)) / float64(bw)
	if a.ch == Right {
		turn = -turn
	}
	if turn <= -a.th.Turn {
		a.ev.wrongTurn = true
	}
	if turn >= a.th.Turn {
		a.ev.chDone = true
		return
	}
	a.ev.chProgress = math.Max(a.ev.chProgress, math.Max(0, turn/a.th.Turn))
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// moire measures the spectral peaks of a full-resolution patch of the
// face: a screen's pixel grid beating with the camera's makes strong
// isolated peaks at high frequencies; skin does not.
func (a *Attempt) moire() {
	b := a.box
	if b.Dx() < moireN+8 || b.Dy() < moireN+8 {
		return
	}
	cx, cy := (b.Min.X+b.Max.X)/2, b.Min.Y+b.Dy()*55/100
	r := image.Rect(cx-moireN/2, cy-moireN/2, cx+moireN/2, cy+moireN/2)
	if !r.In(image.Rect(0, 0, a.w, a.h)) {
		return
	}
	c := a.c
	roi := c.adopt(a.gray.Region(r))
	defer c.closeMat(&roi)
	roi.ConvertTo(&a.patch, gocv.MatTypeCV32F)
	p, err := a.patch.DataPtrFloat32()
	if err != nil || len(p) != moireN*moireN {
		return
	}
	// Remove the mean and taper the edges (Hann window): the patch's
	// borders must not leak into the high frequencies.
	var sum float32
	for _, v := range p {
		sum += v
	}
	mean := sum / float32(len(p))
	for y := 0; y < moireN; y++ {
		wy := hann[y]
		for x := 0; x < moireN; x++ {
			p[y*moireN+x] = (p[y*moireN+x] - mean) * wy * hann[x]
		}
	}
	gocv.DFT(a.patch, &a.spec, gocv.DftComplexOutput)
	s, err := a.spec.DataPtrFloat32()
	if err != nil || len(s) != 2*moireN*moireN {
		return
	}
	a.ev.moire = append(a.ev.moire, peakRatio(s, moireN))
	clear(p)
}

// border looks for straight edges around the face: a phone's bezel, a
// screen's or a paper's edge on at least three sides of the face.
func (a *Attempt) border() {
	fb := a.toSmall(a.box)
	if fb.Dx() < 16 {
		return
	}
	area := grow(fb, 1.2).Intersect(image.Rect(0, 0, a.sw, a.sh))
	c := a.c
	roi := c.adopt(a.small.Region(area))
	defer c.closeMat(&roi)
	gocv.Canny(roi, &a.edges, 60, 150)
	lines := c.newMat()
	defer c.closeMat(&lines)
	minLen := float32(0.6 * float64(min(fb.Dx(), fb.Dy())))
	gocv.HoughLinesPWithParams(a.edges, &lines, 1, math.Pi/180, 25, minLen, 4)
	f := fb.Sub(area.Min)
	var left, right, top, bottom bool
	for i := 0; i < lines.Rows(); i++ {
		v := lines.GetVeciAt(i, 0)
		if len(v) < 4 {
			continue
		}
		x1, y1, x2, y2 := int(v[0]), int(v[1]), int(v[2]), int(v[3])
		dx, dy := abs(x2-x1), abs(y2-y1)
		switch {
		case dx*6 < dy: // vertical
			x := (x1 + x2) / 2
			if overlap(min(y1, y2), max(y1, y2), f.Min.Y, f.Max.Y) < f.Dy()/2 {
				continue
			}
			// The face box may reach past a face that fills a phone's
			// screen: edges a little inside it count.
			if x < f.Min.X+f.Dx()/20 {
				left = true
			} else if x > f.Max.X-f.Dx()/20 {
				right = true
			}
		case dy*6 < dx: // horizontal
			y := (y1 + y2) / 2
			if overlap(min(x1, x2), max(x1, x2), f.Min.X, f.Max.X) < f.Dx()/2 {
				continue
			}
			if y < f.Min.Y+f.Dy()/20 {
				top = true
			} else if y > f.Max.Y-f.Dy()/20 {
				bottom = true
			}
		}
	}
	sides := 0
	for _, s := range []bool{left, right, top, bottom} {
		if s {
			sides++
		}
	}
	a.ev.borderLooks++
	if sides >= 3 {
		a.ev.borderHits++
	}
}

// lookIR checks that the IR picture shows a face where the RGB one is.
func (a *Attempt) lookIR(ir video.Frame) {
	iw, ih := ir.Size()
	if iw < 64 || ih < 48 || iw > 4096 || ih > 4096 {
		a.ev.irLooks++
		return
	}
	px, err := ir.BGR()
	defer clear(px)
	a.ev.irLooks++
	if err != nil || len(px) != iw*ih*3 {
		return
	}
	c := a.c
	m, err := gocv.NewMatFromBytes(ih, iw, gocv.MatTypeCV8UC3, px)
	if err != nil {
		return
	}
	m = c.adopt(m)
	defer c.closeMat(&m)
	kx, ky := float64(iw)/float64(a.w), float64(ih)/float64(a.h)
	b := a.box
	ib := image.Rect(int(float64(b.Min.X)*kx), int(float64(b.Min.Y)*ky), int(float64(b.Max.X)*kx), int(float64(b.Max.Y)*ky))
	area := grow(ib, 0.6).Intersect(image.Rect(0, 0, iw, ih))
	if area.Dx() < 24 || area.Dy() < 24 {
		return
	}
	roi := c.adopt(m.Region(area))
	defer c.closeMat(&roi)
	gray := c.newMat()
	defer c.wipeClose(&gray)
	gocv.CvtColor(roi, &gray, gocv.ColorBGRToGray)
	// Scale so the expected face is about 48 pixels.
	k := math.Min(1, 48/float64(max(ib.Dx(), 1)))
	small := c.newMat()
	defer c.wipeClose(&small)
	gocv.Resize(gray, &small, image.Pt(max(int(float64(area.Dx())*k), 1), max(int(float64(area.Dy())*k), 1)), 0, 0, gocv.InterpolationArea)
	rects := a.c.face.DetectMultiScaleWithParams(small, 1.1, 3, 0, image.Pt(24, 24), image.Point{})
	want := ib.Sub(area.Min)
	for _, r := range rects {
		r = image.Rect(int(float64(r.Min.X)/k), int(float64(r.Min.Y)/k), int(float64(r.Max.X)/k), int(float64(r.Max.Y)/k))
		ctr := image.Pt((r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2)
		if ctr.In(grow(want, 0.2)) {
			a.ev.irHits++
			return
		}
	}
}
