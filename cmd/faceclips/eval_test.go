//go:build !nocv

package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/board/sim/facescene"
	"posd/conn/video"
	"posd/terminal/face"
)

// The evaluation of the liveness pipeline on the generated scenes, in the
// terms of ISO/IEC 30107-3:
//
//   - APCER (per attack type: print, screen): the share of attack
//     presentations the pipeline accepts as live. A Spoof or a Retry of an
//     attack counts as not accepted: either way no face payment happens.
//   - BPCER: the share of live presentations (a cooperative customer
//     doing the challenge) not accepted. A Retry counts against BPCER like
//     a Spoof: the customer is turned away either way.
//
// The test fails when any APCER or the BPCER is above 5 %. It runs every
// clip twice, on a terminal without an IR camera and on one with, and
// logs both tables. The full set is 40 live and 40 attack clips (20 print,
// 20 screen) and 4 bystander clips; under the race detector or -short it
// runs 12, 12 and 2 (the rates' resolution is then 1/12 for live clips
// and 1/6 per attack type), about a minute on two cores under -race.
// make face-eval runs POSD_FACE_CLIPS live and as many attack clips
// (FACE_CLIPS, 500 by default).
//
// The set is facescene.ClipSet's: live clips (every subject in turn doing
// the challenge asked) and attacks (half prints, half screens, half of
// the screens replaying the victim doing exactly the challenge asked). A
// few clips with a bystander in view are checked apart: none may be
// accepted.
const maxRate = 0.05

type tally struct {
	n, live, spoof, retry int
	reasons               map[string]int
	video                 []time.Duration // live decisions' video time
}

func (t *tally) add(r face.Result) {
	if t.reasons == nil {
		t.reasons = map[string]int{}
	}
	t.n++
	switch r.Decision {
	case face.Live:
		t.live++
		t.video = append(t.video, r.Video)
	case face.Spoof:
		t.spoof++
	default:
		t.retry++
	}
	for _, why := range r.Reasons {
		t.reasons[why]++
	}
}

func rate(k, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(k) / float64(n)
}

// outcome of one clip on both terminals.
type outcome struct {
	l         labelled
	rgb, both face.Result
	err       error
}

// runBoth plays one clip into two attempts at once (no IR; IR), drawing
// each frame once.
func runBoth(plain, withIR *face.Checker, l labelled) outcome {
	out := outcome{l: l}
	clip, err := facescene.New(l.scene)
	if err != nil {
		out.err = err
		return out
	}
	ch, err := face.ParseChallenge(string(l.challenge))
	if err != nil {
		out.err = err
		return out
	}
	a, b := plain.Begin(ch, false), withIR.Begin(ch, true)
	defer a.Close()
	defer b.Close()
	var rgbBuf, irBuf []byte
	defer func() { clear(rgbBuf); clear(irBuf) }()
	aDone, bDone := false, false
	for i := 0; i < clip.Len() && !(aDone && bDone); i++ {
		f, err := clipFrame(clip, i, false, &rgbBuf)
		if err != nil {
			out.err = err
			return out
		}
		if !aDone {
			p, err := a.Add(f, nil)
			if err != nil {
				out.err = err
			}
			aDone = p.Done
		}
		if !bDone {
			irf, err := clipFrame(clip, i, true, &irBuf)
			if err != nil {
				out.err = err
				return out
			}
			p, err := b.Add(f, irf)
			if err != nil {
				out.err = err
			}
			bDone = p.Done
			irf.Close()
		}
		f.Close()
	}
	out.rgb, out.both = finalResult(a, aDone), finalResult(b, bDone)
	return out
}

// finalResult is the attempt's decision; a clip that ended first is
// judged on what it showed (as CheckClip does): not Live.
func finalResult(a *face.Attempt, done bool) face.Result {
	r := a.Result()
	if !done && r.Decision == face.Live {
		r.Decision = face.Retry
	}
	return r
}

func setSize(t *testing.T) (live, attacks int) {
	// make face-eval: a larger set, N live and N attack clips.
	if n, err := strconv.Atoi(os.Getenv("POSD_FACE_CLIPS")); err == nil && n >= 40 {
		t.Logf("larger set: %d live, %d attacks", n, n)
		return n, n
	}
	if raceOn() || testing.Short() {
		t.Logf("smaller set (race detector or -short): 12 live, 12 attacks")
		return 12, 12
	}
	return 40, 40
}

func TestLivenessISO30107(t *testing.T) {
	nLive, nAttack := setSize(t)
	var set []labelled
	for _, l := range facescene.ClipSet(nLive, nAttack, 30107) {
		set = append(set, labelled{scene: l.Scene, challenge: face.Challenge(l.Challenge)})
	}
	bystanders := len(set)
	nBy := 4
	if raceOn() || testing.Short() {
		nBy = 2
	}
	set = append(set, bystanderSet(nBy, 30107)...)

	// Two workers (the evaluation machine's two cores), each with its own
	// checkers: a Checker runs one attempt at a time.
	results := make([]outcome, len(set))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		plain, err := face.New(face.Opts{})
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		ir, err := face.New(face.Opts{})
		if err != nil {
			t.Fatal(err)
		}
		defer ir.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results[i] = runBoth(plain, ir, set[i])
			}
		}()
	}
	start := time.Now()
	for i := range set {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	t.Logf("%d clips in %v", len(set), time.Since(start).Round(time.Millisecond))

	for _, o := range results[bystanders:] {
		if o.err != nil {
			t.Fatalf("%+v: %v", o.l.scene, o.err)
		}
		for _, r := range []face.Result{o.rgb, o.both} {
			if r.Decision == face.Live {
				t.Errorf("%s with %s in view accepted: %v", o.l.scene.Subject, o.l.scene.Second, scoreLine(r))
			}
		}
		t.Logf("%s with %s in view: %s %v / with IR %s %v", o.l.scene.Subject, o.l.scene.Second,
			o.rgb.Decision, o.rgb.Reasons, o.both.Decision, o.both.Reasons)
	}
	results = results[:bystanders]

	for _, mode := range []struct {
		name string
		pick func(outcome) face.Result
	}{{"RGB only", func(o outcome) face.Result { return o.rgb }}, {"RGB + IR", func(o outcome) face.Result { return o.both }}} {
		byKind := map[facescene.Attack]*tally{facescene.None: {}, facescene.Print: {}, facescene.Screen: {}}
		for _, o := range results {
			if o.err != nil {
				t.Fatalf("%+v: %v", o.l.scene, o.err)
			}
			r := mode.pick(o)
			tl := byKind[o.l.scene.Attack]
			if tl == nil {
				t.Fatalf("unknown attack %q", o.l.scene.Attack)
			}
			tl.add(r)
			if (o.l.scene.Attack == facescene.None) != (r.Decision == face.Live) {
				t.Logf("%s: %s %s/%s challenge %s: %s %v %v", mode.name, o.l.scene.Subject, o.l.scene.Attack,
					o.l.scene.Action, o.l.challenge, r.Decision, r.Reasons, scoreLine(r))
			}
		}
		lv, pr, sc := byKind[facescene.None], byKind[facescene.Print], byKind[facescene.Screen]
		bpcer := rate(lv.spoof+lv.retry, lv.n)
		apP, apS := rate(pr.live, pr.n), rate(sc.live, sc.n)
		var b strings.Builder
		fmt.Fprintf(&b, "\n%s (ISO/IEC 30107-3)\n", mode.name)
		fmt.Fprintf(&b, "  %-8s %5s %5s %6s %6s  %s\n", "kind", "clips", "live", "spoof", "retry", "rate")
		fmt.Fprintf(&b, "  %-8s %5d %5d %6d %6d  BPCER %.1f %%\n", "live", lv.n, lv.live, lv.spoof, lv.retry, 100*bpcer)
		fmt.Fprintf(&b, "  %-8s %5d %5d %6d %6d  APCER %.1f %%\n", "print", pr.n, pr.live, pr.spoof, pr.retry, 100*apP)
		fmt.Fprintf(&b, "  %-8s %5d %5d %6d %6d  APCER %.1f %%\n", "screen", sc.n, sc.live, sc.spoof, sc.retry, 100*apS)
		fmt.Fprintf(&b, "  ACER %.1f %%; live decisions after %s of video (median), %s (max)\n",
			100*(max(apP, apS)+bpcer)/2, medianDur(lv.video), maxDur(lv.video))
		fmt.Fprintf(&b, "  reasons: print %v; screen %v; live %v", pr.reasons, sc.reasons, lv.reasons)
		t.Log(b.String())
		if apP > maxRate || apS > maxRate || bpcer > maxRate {
			t.Errorf("%s: APCER print %.1f %%, screen %.1f %%, BPCER %.1f %%: above %.0f %%", mode.name, 100*apP, 100*apS, 100*bpcer, 100*maxRate)
		}
	}
	if n := face.OpenMats(); n != 0 {
		t.Errorf("%d native matrices left open", n)
	}
}

func scoreLine(r face.Result) string {
	keys := make([]string, 0, len(r.Scores))
	for k := range r.Scores {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%.3g ", k, r.Scores[k])
	}
	return strings.TrimSpace(b.String())
}

func medianDur(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}

func maxDur(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return slices.Max(d).Round(time.Millisecond)
}

// labelled is a scene and the challenge the pipeline is given for it.
type labelled struct {
	scene     facescene.Scene
	challenge face.Challenge
}

var challenges = [...]face.Challenge{face.Blink, face.Left, face.Right, face.Closer}

// bystanderSet is n live clips with a second person in view.
func bystanderSet(n int, seed uint64) []labelled {
	subj := facescene.Subjects()
	var set []labelled
	for i := 0; i < n; i++ {
		ch := challenges[i%len(challenges)]
		set = append(set, labelled{scene: facescene.Scene{Subject: subj[i%len(subj)].Name, Second: subj[(i+1)%len(subj)].Name,
			Attack: facescene.None, Action: facescene.Action(ch), Seed: seed + 2000 + uint64(i), W: 640, H: 480}, challenge: ch})
	}
	return set
}

// raceOn: the test binary was built with the race detector, which slows
// the pipeline's Go parts several times.
func raceOn() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// clipSource plays a generated clip as a finite video source: its colour
// frames, or (ir) its IR frames as grey BGR. Each frame is drawn when it
// is read, into a buffer the source reuses and wipes at Close.
type clipSource struct {
	clip *facescene.Clip
	ir   bool
	next int
	buf  []byte
}

func (s *clipSource) Next(ctx context.Context) (video.Frame, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.next >= s.clip.Len() {
		return nil, video.ErrEndOfStream
	}
	f, err := clipFrame(s.clip, s.next, s.ir, &s.buf)
	s.next++
	return f, err
}

func (s *clipSource) Close() error {
	clear(s.buf)
	return nil
}

// clipFrame draws frame i of c (ir: the IR camera's, grey replicated to
// BGR) as a video frame (a copy); buf is scratch space kept between
// calls.
func clipFrame(c *facescene.Clip, i int, ir bool, buf *[]byte) (*video.BytesFrame, error) {
	w, h := c.Scene.W, c.Scene.H
	if !ir {
		*buf = c.FrameBGR(i, *buf)
		return video.NewBytesFrame(w, h, *buf)
	}
	g := c.IRFrameGray(i, nil)
	*buf = (*buf)[:0]
	for _, v := range g {
		*buf = append(*buf, v, v, v)
	}
	clear(g)
	return video.NewBytesFrame(w, h, *buf)
}

// TestSlowStartCloserIsLive: live clips whose first measurable motion
// (just over MinMotion, the head only beginning to come closer) fitted
// one homography nearly as well as a photo: 10 % of the tracks left
// unexplained. A sweep of 1000 live clips (seeds 1-250, every
// challenge) found these two refused as spoofs ("flat motion") when
// Flat was 0.15; no other live clip of the sweep measured below 0.15,
// while the prints that only the flat cue stops measured 0.075 and less
// (TestNearlyFlatPrintsRefused).
func TestSlowStartCloserIsLive(t *testing.T) {
	plain, err := face.New(face.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	withIR, err := face.New(face.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	defer withIR.Close()
	for _, c := range []struct {
		subject string
		seed    uint64
	}{{"bob", 65}, {"chen", 146}} {
		l := labelled{scene: facescene.Scene{Subject: c.subject, Attack: facescene.None, Action: facescene.Action(face.Closer),
			Seed: c.seed, W: 640, H: 480}, challenge: face.Closer}
		o := runBoth(plain, withIR, l)
		if o.err != nil {
			t.Fatal(o.err)
		}
		for _, r := range []face.Result{o.rgb, o.both} {
			if r.Decision != face.Live {
				t.Errorf("%s seed %d (IR %v): %s %v %s", c.subject, c.seed, r.IR, r.Decision, r.Reasons, scoreLine(r))
			}
		}
	}
}

// TestNearlyFlatPrintsRefused: the prints of a 600-attack sweep that
// nothing but the flat cue refuses (no frame around them seen in time):
// their flattest measurement left 1.8 % and 7.5 % of the tracks
// unexplained. Flat must stay above that.
func TestNearlyFlatPrintsRefused(t *testing.T) {
	c, err := face.New(face.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := map[string]bool{"attack-172-emil-print-left": true, "attack-572-emil-print-right": true}
	for _, l := range facescene.ClipSet(0, 600, 424242) {
		if !want[l.ID] {
			continue
		}
		delete(want, l.ID)
		o := runBoth(c, c, labelled{scene: l.Scene, challenge: face.Challenge(l.Challenge)})
		if o.err != nil {
			t.Fatal(o.err)
		}
		if o.rgb.Decision == face.Live {
			t.Errorf("%s accepted: %s", l.ID, scoreLine(o.rgb))
		}
		t.Logf("%s: %s %v", l.ID, o.rgb.Decision, o.rgb.Reasons)
	}
	if len(want) != 0 {
		t.Fatalf("the clip set no longer has %v", want)
	}
}
