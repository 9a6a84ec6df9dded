package face

import (
	"slices"
	"testing"
)

// liveEvidence is what a cooperative live subject's attempt sees.
func liveEvidence() *evidence {
	return &evidence{
		frames: 30, faceFrames: 30, looks: 10, facesMax: 1,
		best:   quality{ok: true, faceFrac: 0.4, sharp: 500, exposure: 120, pose: 0.02},
		chDone: true, parallax: 0.5, motion: 20,
		moire:       []float64{3, 3.5, 4, 3.2, 3.1, 3.3, 3.4},
		borderLooks: 10, irLooks: 10, irHits: 10,
	}
}

func TestDecide(t *testing.T) {
	th := DefaultThresholds
	cases := []struct {
		name    string
		ch      Challenge
		ir      bool
		final   bool
		edit    func(*evidence)
		want    Decision
		done    bool
		reasons []string
	}{
		{"live", Left, true, false, func(*evidence) {}, Live, true, []string{}},
		{"second face", Blink, false, false, func(e *evidence) { e.multiLook = 2 }, Retry, true, []string{ReasonTwoFaces}},
		{"one stray second face", Blink, false, false, func(e *evidence) { e.multiLook = 1 }, Live, true, []string{}},
		{"flat", Closer, false, false, func(e *evidence) { e.parallax = 0.05 }, Spoof, true, []string{ReasonFlat}},
		{"nearly flat (a head beginning to move)", Closer, false, false, func(e *evidence) { e.parallax = 0.1 }, Live, true, []string{}},
		{"moire and border", Blink, false, false, func(e *evidence) {
			e.moire = []float64{20, 30, 25, 22, 21, 40}
			e.borderHits = 9
		}, Spoof, true, []string{ReasonMoire, ReasonBorder}},
		{"no IR face", Blink, true, false, func(e *evidence) { e.irHits = 1 }, Spoof, true, []string{ReasonNoIRFace}},
		{"IR ignored without IR", Blink, false, false, func(e *evidence) { e.irHits = 0 }, Live, true, []string{}},
		{"no blink yet", Blink, false, false, func(e *evidence) { e.chDone = false }, Retry, false, []string{ReasonNoBlink}},
		{"no blink at the end", Blink, false, true, func(e *evidence) { e.chDone = false }, Retry, true, []string{ReasonNoBlink}},
		{"turn without parallax yet", Right, false, false, func(e *evidence) { e.parallax = -1 }, Retry, false, []string{ReasonTooShort}},
		{"blink needs no parallax", Blink, false, false, func(e *evidence) { e.parallax = -1 }, Live, true, []string{}},
		{"too small", Blink, false, true, func(e *evidence) { e.best.faceFrac = 0.1 }, Retry, true, []string{ReasonTooSmall}},
		{"no face at all", Blink, false, true, func(e *evidence) { *e = evidence{frames: 120, parallax: -1} }, Retry, true, []string{ReasonNoFace}},
		{"too early", Blink, false, false, func(e *evidence) { e.frames = 3 }, Retry, false, []string{ReasonTooShort}},
		{"cue too early waits", Closer, false, false, func(e *evidence) { e.frames, e.parallax = 3, 0 }, Retry, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := liveEvidence()
			tc.edit(ev)
			r, done := decide(ev, th, tc.ch, tc.ir, tc.final)
			if r.Decision != tc.want || done != tc.done {
				t.Fatalf("decision %s done %v (reasons %v), want %s done %v", r.Decision, done, r.Reasons, tc.want, tc.done)
			}
			if tc.reasons != nil && !slices.Equal(r.Reasons, tc.reasons) {
				t.Errorf("reasons %q, want %q", r.Reasons, tc.reasons)
			}
			for _, k := range []string{"challenge", "parallax", "moire", "border", "quality"} {
				if _, ok := r.Scores[k]; !ok {
					t.Errorf("no score %q", k)
				}
			}
			if _, ok := r.Scores["ir"]; ok != tc.ir {
				t.Errorf("ir score present %v with IR %v", ok, tc.ir)
			}
		})
	}
}

func TestOpenness(t *testing.T) {
	fill := func(parts ...[2]int) []byte { // {value, count}
		var px []byte
		for _, p := range parts {
			for range p[1] {
				px = append(px, byte(p[0]))
			}
		}
		return px
	}
	open := fill([2]int{180, 200}, [2]int{235, 100}, [2]int{120, 60}, [2]int{20, 40}) // skin, sclera, a light iris, pupil
	closed := fill([2]int{175, 360}, [2]int{60, 40})                                  // lid, lashes
	if o, c := openness(open), openness(closed); !(o > 2*c) || c > 0.15 {
		t.Errorf("open %.2f closed %.2f", o, c)
	}
	if openness(nil) != 0 {
		t.Error("empty window")
	}
}
