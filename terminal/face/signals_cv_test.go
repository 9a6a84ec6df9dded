//go:build !nocv

package face

import (
	"context"
	"math"
	"slices"
	"testing"

	"posd/conn/video"
)

// photoClip is n frames of a drawn face held as a flat photo (photo true:
// the face and the photo's own background scale together, over a static
// wall) or a live face coming closer in front of the static wall (photo
// false: only the face grows). The face grows by 40 % over the clip.
func photoClip(n int, photo bool) []*video.BytesFrame {
	var out []*video.BytesFrame
	for i := 0; i < n; i++ {
		s := 1 + 0.4*float64(i)/float64(n-1)
		p := newPicture(640, 480, 3) // the wall, the same every frame
		if photo {
			// The photo's background: another texture, in photo
			// coordinates, on a rectangle around the face.
			hw, hh := 150*s, 170*s
			for y := int(240 - hh); y < int(240+hh); y++ {
				for x := int(320 - hw); x < int(320+hw); x++ {
					u, v := (float64(x)-320)/s, (float64(y)-240)/s
					g := 150 + 50*math.Sin(u/9)*math.Cos(v/13)
					p.set(x, y, g, g, g)
				}
			}
		}
		p.face(320, 240, 170*s, true)
		out = append(out, p.frame())
	}
	return out
}

func play(t *testing.T, c *Checker, ch Challenge, frames []*video.BytesFrame, ir []*video.BytesFrame) Result {
	t.Helper()
	var irs video.Source
	if ir != nil {
		irs = &sliceSource{frames: ir}
	}
	r, err := c.CheckClip(context.Background(), &sliceSource{frames: frames}, irs, ch)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParallaxPhotoAgainstHead(t *testing.T) {
	t.Parallel()
	c := newChecker(t)
	live := play(t, c, Closer, photoClip(40, false), nil)
	flat := play(t, c, Closer, photoClip(40, true), nil)
	t.Logf("live: %s %v %v", live.Decision, live.Reasons, live.Scores)
	t.Logf("photo: %s %v %v", flat.Decision, flat.Reasons, flat.Scores)
	if live.Decision != Live {
		t.Errorf("a face coming closer in front of a wall: %s %v", live.Decision, live.Reasons)
	}
	if flat.Decision != Spoof || !slices.Contains(flat.Reasons, ReasonFlat) {
		t.Errorf("a photo brought closer: %s %v", flat.Decision, flat.Reasons)
	}
	if !(flat.Scores["parallax"] < live.Scores["parallax"]) {
		t.Errorf("parallax photo %.3f, live %.3f", flat.Scores["parallax"], live.Scores["parallax"])
	}
}

// screenClip is a blinking drawn face seen on a screen: a pixel grid
// beating with the camera's (moiré) when grid, a black bezel around it
// when bezel.
func screenClip(n int, grid, bezel bool) []*video.BytesFrame {
	var out []*video.BytesFrame
	for i := 0; i < n; i++ {
		p := newPicture(640, 480, uint64(i))
		if bezel {
			for y := 60; y < 430; y++ {
				for x := 170; x < 470; x++ {
					if x < 185 || x >= 455 || y < 75 || y >= 415 {
						p.set(x, y, 15, 15, 15)
					} else {
						p.set(x, y, 170, 170, 170)
					}
				}
			}
		}
		p.face(320, 245, 230, i < 12 || i > 15)
		if grid {
			for y := 0; y < p.h; y++ {
				for x := 0; x < p.w; x++ {
					k := 1 + 0.18*math.Sin(2*math.Pi*float64(x)/2.7)*math.Sin(2*math.Pi*float64(y)/2.9)
					j := 3 * (y*p.w + x)
					for c := 0; c < 3; c++ {
						p.px[j+c] = clamp8(float64(p.px[j+c]) * k)
					}
				}
			}
		}
		out = append(out, p.frame())
	}
	return out
}

func TestScreenCues(t *testing.T) {
	t.Parallel()
	c := newChecker(t)
	plain := play(t, c, Blink, screenClip(40, false, false), nil)
	moire := play(t, c, Blink, screenClip(40, true, false), nil)
	bezel := play(t, c, Blink, screenClip(40, false, true), nil)
	for _, r := range []Result{plain, moire, bezel} {
		t.Logf("%s %v %v", r.Decision, r.Reasons, r.Scores)
	}
	if plain.Decision != Live {
		t.Errorf("plain blinking face: %s %v", plain.Decision, plain.Reasons)
	}
	if moire.Decision != Spoof || !slices.Contains(moire.Reasons, ReasonMoire) {
		t.Errorf("face behind a pixel grid: %s %v", moire.Decision, moire.Reasons)
	}
	if bezel.Decision != Spoof || !slices.Contains(bezel.Reasons, ReasonBorder) {
		t.Errorf("face inside a bezel: %s %v", bezel.Decision, bezel.Reasons)
	}
}

func TestIR(t *testing.T) {
	t.Parallel()
	c := newChecker(t)
	rgb := drawnClip(40, 200, true, false)
	// A real face shows in near infrared (greyer, but a face); a screen
	// shows nothing.
	var irFace, irNone []*video.BytesFrame
	for i := range rgb {
		p := newPicture(640, 480, uint64(100+i))
		p.face(300, 240, 200, true)
		irFace = append(irFace, p.frame())
		irNone = append(irNone, newPicture(640, 480, uint64(200+i)).frame())
	}
	live := play(t, c, Blink, rgb, irFace)
	for _, f := range rgb {
		f.Pixels = nil
	}
	spoof := play(t, c, Blink, drawnClip(40, 200, true, false), irNone)
	t.Logf("IR face: %s %v %v", live.Decision, live.Reasons, live.Scores)
	t.Logf("IR empty: %s %v %v", spoof.Decision, spoof.Reasons, spoof.Scores)
	if live.Decision != Live || !live.IR || live.Scores["ir"] < 0.5 {
		t.Errorf("face in IR: %s %v", live.Decision, live.Reasons)
	}
	if spoof.Decision != Spoof || !slices.Contains(spoof.Reasons, ReasonNoIRFace) {
		t.Errorf("no face in IR: %s %v", spoof.Decision, spoof.Reasons)
	}
}

// turnClip is a drawn head turning to the person's own left (dir 1) or
// right (dir -1) by up to 15 % of the face's width, drifting sideways a
// little as people do.
func turnClip(n int, dir float64) []*video.BytesFrame {
	var out []*video.BytesFrame
	for i := 0; i < n; i++ {
		k := min(1, float64(i)/float64(n/2))
		p := newPicture(640, 480, 5)
		p.turnedFace(320+4*k, 240, 210, true, dir*0.15*k)
		out = append(out, p.frame())
	}
	return out
}

func TestTurns(t *testing.T) {
	t.Parallel()
	c := newChecker(t)
	for _, tc := range []struct {
		ch   Challenge
		dir  float64
		want Decision
	}{{Left, 1, Live}, {Right, -1, Live}, {Left, -1, Retry}, {Right, 1, Retry}} {
		r := play(t, c, tc.ch, turnClip(40, tc.dir), nil)
		t.Logf("%s turning %+.0f: %s %v %v", tc.ch, tc.dir, r.Decision, r.Reasons, r.Scores)
		if r.Decision != tc.want {
			t.Errorf("%s, head turning %+.0f: %s %v", tc.ch, tc.dir, r.Decision, r.Reasons)
		}
		if tc.want == Retry && !slices.Contains(r.Reasons, ReasonWrongTurn) {
			t.Errorf("%s the wrong way: reasons %v", tc.ch, r.Reasons)
		}
	}
}
