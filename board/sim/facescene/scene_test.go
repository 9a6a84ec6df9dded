package facescene

import (
	"bytes"
	"errors"
	"math"
	"math/cmplx"
	"testing"
)

func mustClip(t testing.TB, s Scene) *Clip {
	t.Helper()
	c, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDeterministic(t *testing.T) {
	for _, s := range []Scene{{Subject: "alice", Action: Blink, Seed: 3}, {Subject: "bob", Attack: Print, Seed: 4},
		{Subject: "chen", Attack: Screen, Action: Left, Seed: 5}, {Subject: "dana", Second: "emil", Seed: 6}} {
		a, b := mustClip(t, s).FrameBGR(17, nil), mustClip(t, s).FrameBGR(17, nil)
		if !bytes.Equal(a, b) {
			t.Fatalf("%+v: two renders of frame 17 differ", s)
		}
		s2 := s
		s2.Seed++
		if bytes.Equal(a, mustClip(t, s2).FrameBGR(17, nil)) {
			t.Fatalf("%+v: another seed draws the same frame", s)
		}
		ir1, ir2 := mustClip(t, s).IRFrameGray(17, nil), mustClip(t, s).IRFrameGray(17, nil)
		if !bytes.Equal(ir1, ir2) {
			t.Fatalf("%+v: IR frames differ", s)
		}
	}
}

func TestBadScenes(t *testing.T) {
	for _, s := range []Scene{{Subject: "nobody"}, {Subject: "alice", Attack: "mask"}, {Subject: "alice", Action: "dance"},
		{Subject: "alice", Second: "nobody"}, {Subject: "alice", W: 10, H: 10}} {
		if _, err := New(s); !errors.Is(err, ErrScene) {
			t.Errorf("%+v: %v", s, err)
		}
	}
	if _, err := Portrait("nobody", 1); !errors.Is(err, ErrScene) {
		t.Errorf("portrait of nobody: %v", err)
	}
}

// luma is the mean brightness of a box of a BGR frame.
func luma(f []byte, w int, x0, y0, x1, y1 int) float64 {
	s, n := 0.0, 0
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			o := (y*w + x) * 3
			s += (float64(f[o]) + float64(f[o+1]) + float64(f[o+2])) / 3
			n++
		}
	}
	return s / float64(n)
}

// The face box sits on the head, and a blink closes the eyes: the eye
// region loses its white sclera.
func TestBlinkClosesTheEyes(t *testing.T) {
	c := mustClip(t, Scene{Subject: "alice", Action: Blink, Seed: 9})
	p := c.poseAt(0, Blink)
	fb := c.FaceBox(0)
	if !fb.Overlaps(headBox(p, c.subj.aspect)) || fb.Dy() < 80 || fb.Dx() < 60 {
		t.Fatalf("face box %v", fb)
	}
	// The pupil at the eye's centre is dark; the closed lid is skin.
	eye := func(i int) float64 {
		p := c.poseAt(i, Blink)
		rx := p.ry * c.subj.aspect
		sinR, cosR := math.Sincos(p.roll)
		hx, hy := c.subj.eyeX*rx, c.subj.eyeY*p.ry
		x := int(p.cx + hx*cosR - hy*sinR + math.Sin(p.yaw)*rx)
		y := int(p.cy + hx*sinR + hy*cosR)
		return luma(c.FrameBGR(i, nil), W, x-1, y-1, x+2, y+2)
	}
	open, shut := eye(10), eye(22)
	if p := c.poseAt(22, Blink); p.eyeOpen > 0.01 {
		t.Fatalf("eyes at frame 22: %v", p.eyeOpen)
	}
	if !(open < 70 && shut > open+50) {
		t.Fatalf("eye centre: open %.1f, shut %.1f", open, shut)
	}
}

// Turning moves the nose across the head's outline (the parallax of a
// real head): measured on the pixels of the row through the nostrils,
// the nostrils' offset from the outline's centre, in half-widths, grows
// past sin(yaw) (where a mark painted on the skin would be: the nose
// stands off the face). A subject's left is the image's right.
func TestTurnMovesTheNose(t *testing.T) {
	offset := func(a Action, i int) (rel, want float64) {
		c := mustClip(t, Scene{Subject: "bob", Action: a, Seed: 1})
		p := c.poseAt(i, a)
		p.roll = 0
		cv := &canvas{pix: bytes.Repeat([]byte{255}, W*H*3), w: W, h: H}
		drawHead(cv, &c.subj, p, c.lt, [4]int{0, 0, W, H})
		y := int(p.cy + 0.29*p.ry)
		sum := func(x int) int {
			o := (y*W + x) * 3
			return int(cv.pix[o]) + int(cv.pix[o+1]) + int(cv.pix[o+2])
		}
		left, right := W, 0
		for x := 0; x < W; x++ {
			if sum(x) < 3*255 {
				left, right = min(left, x), max(right, x)
			}
		}
		mid, half := float64(left+right)/2, float64(right-left)/2
		// The nostrils: the darkest pixels inside the outline (not its
		// shaded rim).
		dark, nd := 0.0, 0
		for x := int(mid - 0.8*half); x <= int(mid+0.8*half); x++ {
			if sum(x) < 120 {
				dark += float64(x)
				nd++
			}
		}
		if nd == 0 || right <= left {
			t.Fatalf("%s frame %d: no nostrils or no head in row %d", a, i, y)
		}
		return (dark/float64(nd) - mid) / half, math.Sin(p.yaw)
	}
	s, _ := offset(Still, 0)
	l, sl := offset(Left, 28)
	r, sr := offset(Right, 28)
	t.Logf("nostrils: still %.2f, left %.2f (skin %.2f), right %.2f (skin %.2f)", s, l, sl, r, sr)
	if math.Abs(s) > 0.1 || l < 0.3 || r > -0.3 || l < 1.1*sl || r > 1.1*sr {
		t.Fatalf("nostrils' offset in half-widths: still %.2f, left %.2f (skin %.2f), right %.2f (skin %.2f)", s, l, sl, r, sr)
	}
}

// A print moves as a flat plane: in every frame the photo's pixels are
// where one homography puts them (the frame matches the photo sampled
// through it), its white border stands out against the room just
// outside the paper's edge, the plane moves and tilts between frames,
// and the photo never blinks.
func TestPrintIsAPlane(t *testing.T) {
	c := mustClip(t, Scene{Subject: "chen", Attack: Print, Seed: 2})
	var f []byte
	for i := 0; i < c.Len(); i += 7 {
		f = c.FrameBGR(i, f)
		h := c.homography(i)
		var diff float64
		n := 0
		for ty := 20.0; ty < float64(c.texH)-20; ty += 9 {
			for tx := 20.0; tx < float64(c.texW)-20; tx += 9 {
				x, y := apply(h, tx, ty)
				xi, yi := int(x), int(y)
				if xi < 0 || yi < 0 || xi >= W || yi >= H {
					continue
				}
				fx, fy := float64(xi)+0.5, float64(yi)+0.5
				inv, _ := invert3(h)
				sx, sy := apply(inv, fx, fy)
				want := bilinear(c.tex.pix, c.texW, c.texH, sx, sy)
				o := (yi*W + xi) * 3
				diff += math.Abs(float64(f[o+2])-255*want[0]) + math.Abs(float64(f[o+1])-255*want[1]) + math.Abs(float64(f[o])-255*want[2])
				n += 3
			}
		}
		if n < 300 || diff/float64(n) > 6 {
			t.Fatalf("frame %d: %d samples, mean difference from the homography's photo %.1f", i, n, diff/float64(n))
		}
		// The paper's edge: inside, its white border; outside, the room.
		in, out := 0.0, 0.0
		at := func(tx, ty float64) float64 {
			x, y := apply(h, tx, ty)
			xi, yi := max(0, min(W-1, int(x))), max(0, min(H-1, int(y)))
			return luma(f, W, xi, yi, xi+1, yi+1)
		}
		for k := 0.2; k < 0.75; k += 0.1 {
			ty, tx := k*float64(c.texH), k*float64(c.texW)
			in += at(2, ty) + at(tx, 2)    // the left and top borders
			out += at(-8, ty) + at(tx, -8) // the room beside them
		}
		if in/12 < 200 || in-out < 12*25 {
			t.Fatalf("frame %d: paper border %.0f, room outside %.0f", i, in/12, out/12)
		}
		if c.EyeOpen(i) != 1 {
			t.Fatalf("frame %d: the photo blinks", i)
		}
	}
	if a, b := c.FaceBox(0), c.FaceBox(30); a == b {
		t.Fatal("the print does not move")
	}
	if h0, h1 := c.homography(0), c.homography(20); math.Abs(h0[6]-h1[6]) < 1e-6 {
		t.Fatal("the print does not tilt")
	}
}

// Closer: the face grows by more than a third over the take.
func TestCloserGrows(t *testing.T) {
	c := mustClip(t, Scene{Subject: "oscar", Action: Closer, Seed: 8})
	a, b := c.FaceBox(0), c.FaceBox(c.Len()-1)
	if g := float64(b.Dy()) / float64(a.Dy()); g < 1.35 || b.Max.Y > H+H/4 {
		t.Fatalf("face box %v → %v: grows %.2f", a, b, g)
	}
}

// The screen shows the pixel grid's moiré: a strong periodic
// high-frequency component that a live face has not.
func TestScreenHasMoire(t *testing.T) {
	hf := func(s Scene) float64 {
		c := mustClip(t, s)
		f := c.FrameBGR(5, nil)
		fb := c.FaceBox(5)
		cx, cy := fb.Min.X+fb.Dx()/2, fb.Min.Y+fb.Dy()/2
		// Spectrum of a 64-pixel line through the face's cheek.
		const n = 64
		var row [n]complex128
		for k := 0; k < n; k++ {
			o := (cy*W + cx - n/2 + k) * 3
			row[k] = complex(float64(f[o+1]), 0)
		}
		lo, hi := 0.0, 0.0
		for fq := 1; fq < n/2; fq++ {
			var sum complex128
			for k := 0; k < n; k++ {
				sum += row[k] * cmplx.Exp(complex(0, -2*math.Pi*float64(fq*k)/n))
			}
			if fq >= n/5 {
				hi += cmplx.Abs(sum)
			} else {
				lo += cmplx.Abs(sum)
			}
		}
		return hi / (lo + 1)
	}
	live, screen := hf(Scene{Subject: "dana", Seed: 3}), hf(Scene{Subject: "dana", Attack: Screen, Seed: 3})
	if !(screen > 2*live) {
		t.Fatalf("high-frequency share: screen %.3f, live %.3f", screen, live)
	}
}

// In the near infrared a live face shows, a screen is black, a print is
// flat paper.
func TestIR(t *testing.T) {
	spread := func(s Scene) (mean, sd float64) {
		c := mustClip(t, s)
		g := c.IRFrameGray(10, nil)
		fb := c.FaceBox(10)
		var sum, sq float64
		n := 0
		for y := fb.Min.Y + fb.Dy()/4; y < fb.Max.Y-fb.Dy()/4; y++ {
			for x := fb.Min.X + fb.Dx()/4; x < fb.Max.X-fb.Dx()/4; x++ {
				v := float64(g[y*W+x])
				sum += v
				sq += v * v
				n++
			}
		}
		mean = sum / float64(n)
		return mean, math.Sqrt(sq/float64(n) - mean*mean)
	}
	lm, lsd := spread(Scene{Subject: "alice", Seed: 4})
	sm, _ := spread(Scene{Subject: "alice", Attack: Screen, Seed: 4})
	_, psd := spread(Scene{Subject: "alice", Attack: Print, Seed: 4})
	if lm < 100 || sm > 30 || lsd < 2*psd {
		t.Fatalf("IR: live mean %.0f sd %.1f, screen mean %.0f, print sd %.1f", lm, lsd, sm, psd)
	}
}

func TestClipSet(t *testing.T) {
	set := ClipSet(40, 40, 1)
	if len(set) != 80 {
		t.Fatalf("%d clips", len(set))
	}
	kinds := map[Attack]int{}
	same, ids := 0, map[string]bool{}
	for _, l := range set {
		kinds[l.Scene.Attack]++
		if ids[l.ID] {
			t.Fatalf("duplicate id %s", l.ID)
		}
		ids[l.ID] = true
		if l.Scene.Attack == None && l.Scene.Action != l.Challenge {
			t.Fatalf("live clip not doing its challenge: %+v", l)
		}
		if l.Scene.Attack == Screen && l.Scene.Action == l.Challenge {
			same++
		}
		if _, err := New(l.Scene); err != nil {
			t.Fatal(err)
		}
	}
	if kinds[None] != 40 || kinds[Print] != 20 || kinds[Screen] != 20 || same != 10 {
		t.Fatalf("kinds %v, screens replaying the challenge %d", kinds, same)
	}
	again := ClipSet(40, 40, 1)
	for i := range set {
		if set[i] != again[i] {
			t.Fatal("ClipSet is not deterministic")
		}
	}
}

func TestPortrait(t *testing.T) {
	img, err := Portrait("emil", 1)
	if err != nil || img.Bounds().Dx() != 200 || img.Bounds().Dy() != 200 {
		t.Fatalf("%v %v", img.Bounds(), err)
	}
}

func BenchmarkFrameBGR(b *testing.B) {
	for _, s := range []Scene{{Subject: "alice", Attack: None, Action: Left, Seed: 1}, {Subject: "bob", Attack: Print, Seed: 2},
		{Subject: "chen", Attack: Screen, Action: Blink, Seed: 3}} {
		b.Run(string(s.Attack)+string(s.Action), func(b *testing.B) {
			c := mustClip(b, s)
			buf := make([]byte, W*H*3)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				buf = c.FrameBGR(i%c.Len(), buf)
			}
		})
	}
}
