//go:build !nocv

package face

import (
	"math"
	"math/rand/v2"

	"posd/conn/video"
)

// picture is a test scene drawn in Go: a grey background with texture and
// simple cartoon faces, enough for OpenCV's frontal face cascade.
type picture struct {
	w, h int
	px   []byte // BGR
}

func newPicture(w, h int, seed uint64) *picture {
	p := &picture{w: w, h: h, px: make([]byte, w*h*3)}
	r := rand.New(rand.NewPCG(seed, 1))
	sx, cy := make([]float64, w), make([]float64, h)
	for x := range sx {
		sx[x] = 40 * math.Sin(float64(x)/37)
	}
	for y := range cy {
		cy[y] = math.Cos(float64(y) / 23)
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := r.Uint32()
			// Roughly normal noise of deviation 6 from two uniforms.
			noise := (float64(n&0xffff)+float64(n>>16))/65536*10.4 - 10.4
			v := clamp8(90 + sx[x]*cy[y] + noise)
			i := 3 * (y*w + x)
			p.px[i], p.px[i+1], p.px[i+2] = v, v, v
		}
	}
	return p
}

func clamp8(v float64) byte { return byte(max(0, min(255, math.Round(v)))) }

func (p *picture) set(x, y int, b, g, r float64) {
	if x < 0 || y < 0 || x >= p.w || y >= p.h {
		return
	}
	i := 3 * (y*p.w + x)
	p.px[i], p.px[i+1], p.px[i+2] = clamp8(b), clamp8(g), clamp8(r)
}

// ellipse fills an ellipse centred (cx, cy) with radii rx, ry in grey v
// (tinted towards skin when skin).
func (p *picture) ellipse(cx, cy, rx, ry, v float64, skin bool) {
	for y := int(cy - ry); y <= int(cy+ry); y++ {
		for x := int(cx - rx); x <= int(cx+rx); x++ {
			dx, dy := (float64(x)-cx)/rx, (float64(y)-cy)/ry
			if dx*dx+dy*dy > 1 {
				continue
			}
			if skin {
				p.set(x, y, v*0.8, v*0.9, v*1.05)
			} else {
				p.set(x, y, v, v, v)
			}
		}
	}
}

// face draws a cartoon face of height fh centred at (cx, cy); eyesOpen
// false draws closed lids.
func (p *picture) face(cx, cy, fh float64, eyesOpen bool) { p.turnedFace(cx, cy, fh, eyesOpen, 0) }

// turnedFace draws a face whose head is turned: its features moved by
// turn of the face's width towards the picture's right (the person's own
// left), its outline in place, ears drawn at the sides.
func (p *picture) turnedFace(cx, cy, fh float64, eyesOpen bool, turn float64) {
	fw := fh * 0.78
	for _, s := range []float64{-1, 1} { // ears and hair: the head's sides
		p.ellipse(cx+s*fw*0.5, cy-fh*0.02, fw*0.07, fh*0.12, 150, true)
		p.ellipse(cx+s*fw*0.5, cy-fh*0.02, fw*0.03, fh*0.05, 110, true)
	}
	p.ellipse(cx, cy-fh*0.42, fw*0.42, fh*0.12, 45, false) // hair
	p.ellipse(cx, cy, fw/2, fh/2, 200, true)
	cx += turn * fw
	ey := cy - fh*0.1
	for _, s := range []float64{-1, 1} {
		ex := cx + s*fw*0.21
		p.ellipse(ex, ey-fh*0.1, fw*0.13, fh*0.025, 60, false) // brow
		if eyesOpen {
			p.ellipse(ex, ey, fw*0.11, fh*0.045, 235, false)
			p.ellipse(ex, ey, fw*0.045, fh*0.04, 25, false)
		} else {
			p.ellipse(ex, ey, fw*0.11, fh*0.012, 120, false)
		}
	}
	p.ellipse(cx, cy+fh*0.08, fw*0.07, fh*0.1, 165, true)  // nose
	p.ellipse(cx, cy+fh*0.27, fw*0.2, fh*0.035, 70, false) // mouth
}

func (p *picture) frame() *video.BytesFrame {
	f, err := video.NewBytesFrame(p.w, p.h, p.px)
	if err != nil {
		panic(err)
	}
	return f
}
