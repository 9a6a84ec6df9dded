package facepay

import (
	"image"
	"image/color"
	"math"
)

// The matcher: a small, pure-Go face descriptor good enough to tell the
// simulated deck's faces apart — not a biometric system.
//
// A crop (the face box widened by about 20 %, any size) is resampled by
// area averaging to side×side pixels and described by three parts:
//
//   - texture: uniform local binary patterns (8 neighbours, radius 1;
//     59 bins) of the grey picture, histograms on a grid×grid grid,
//     square-rooted (Hellinger); LBP does not change under any monotonic
//     change of brightness, so lighting and exposure hardly move it;
//   - layout: the grey picture at 8×8, brought to zero mean and unit
//     variance (lighting-invariant up to an affine change);
//   - colour: the mean chromaticity (r, g = R, G over R+G+B) on a 4×4
//     grid: hair, skin and background hues, free of brightness.
//
// The grid's four corner cells, mostly background, are left out of the
// texture and colour parts.
//
// The distance is the weighted sum of the parts' Euclidean distances.
// The gallery calibrates the parts on its own enrolment pictures: each is
// divided by its mean distance between different enrolled faces (so a
// different face is about 1 on every part) and weighted by how well it
// separates faces — that mean over its mean distance between pictures of
// the same face, squared — the weights summing to 1. Different faces are
// then about 1 apart and the same face much less. An identity's distance
// is the least over its templates (several portraits, each at a few
// framings), and the nearest identity is accepted when it is under the
// gallery's threshold.
const (
	side = 64
	grid = 4
	lbpN = 59
	// lbpFloor is how much brighter (grey levels, after the blur) a
	// neighbour must be to set its bit: flat skin and background then
	// give one steady pattern instead of their noise.
	lbpFloor = 2.0
)

type embedding struct {
	texture []float64 // grid*grid*lbpN
	layout  []float64 // 64
	colour  []float64 // grid*grid*2
}

// corner reports whether grid cell c is one of the four corners: mostly
// background around a face, left out of the texture and colour parts.
func corner(c int) bool {
	x, y := c%grid, c/grid
	return (x == 0 || x == grid-1) && (y == 0 || y == grid-1)
}

// uniform maps an 8-bit LBP code to its uniform-pattern bin (58 uniform
// patterns; every other code shares bin 58).
var uniform = func() [256]uint8 {
	var m [256]uint8
	next := uint8(0)
	for c := 0; c < 256; c++ {
		t := 0
		for i := 0; i < 8; i++ {
			if (c>>i)&1 != (c>>((i+1)%8))&1 {
				t++
			}
		}
		if t <= 2 {
			m[c] = next
			next++
		} else {
			m[c] = lbpN - 1
		}
	}
	return m
}()

// resample returns the r×r area-averaged RGB of img's square region sq
// (in img's coordinates, clipped to its bounds).
func resample(img image.Image, sq image.Rectangle, r int) (rr, gg, bb []float64) {
	rr, gg, bb = make([]float64, r*r), make([]float64, r*r), make([]float64, r*r)
	b := img.Bounds()
	w, h := sq.Dx(), sq.Dy()
	cnt := make([]float64, r*r)
	for y := sq.Min.Y; y < sq.Max.Y; y++ {
		if y < b.Min.Y || y >= b.Max.Y {
			continue
		}
		ty := (y - sq.Min.Y) * r / h
		for x := sq.Min.X; x < sq.Max.X; x++ {
			if x < b.Min.X || x >= b.Max.X {
				continue
			}
			tx := (x - sq.Min.X) * r / w
			cr, cg, cb := rgbAt(img, x, y)
			i := ty*r + tx
			rr[i] += cr
			gg[i] += cg
			bb[i] += cb
			cnt[i]++
		}
	}
	for i := range cnt {
		if cnt[i] > 0 {
			rr[i] /= cnt[i]
			gg[i] /= cnt[i]
			bb[i] /= cnt[i]
		}
	}
	return rr, gg, bb
}

func rgbAt(img image.Image, x, y int) (float64, float64, float64) {
	switch m := img.(type) {
	case *image.YCbCr:
		yi, ci := m.YOffset(x, y), m.COffset(x, y)
		r, g, b := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
		return float64(r), float64(g), float64(b)
	case *image.RGBA:
		i := m.PixOffset(x, y)
		return float64(m.Pix[i]), float64(m.Pix[i+1]), float64(m.Pix[i+2])
	case *image.Gray:
		v := float64(m.Pix[m.PixOffset(x, y)])
		return v, v, v
	}
	r, g, b, _ := img.At(x, y).RGBA()
	return float64(r >> 8), float64(g >> 8), float64(b >> 8)
}

// embed describes the square region sq of img.
func embed(img image.Image, sq image.Rectangle) embedding {
	rr, gg, bb := resample(img, sq, side)
	gray := make([]float64, side*side)
	for i := range gray {
		gray[i] = 0.299*rr[i] + 0.587*gg[i] + 0.114*bb[i]
	}
	gray = blur3(gray, side)
	var e embedding

	// Texture: uniform LBP histograms on the grid.
	e.texture = make([]float64, grid*grid*lbpN)
	cell := (side - 2) / grid
	dx := [8]int{-1, 0, 1, 1, 1, 0, -1, -1}
	dy := [8]int{-1, -1, -1, 0, 1, 1, 1, 0}
	for y := 1; y < side-1; y++ {
		cy := min((y-1)/cell, grid-1)
		for x := 1; x < side-1; x++ {
			cx := min((x-1)/cell, grid-1)
			c := gray[y*side+x] + lbpFloor
			code := 0
			for k := 0; k < 8; k++ {
				if gray[(y+dy[k])*side+x+dx[k]] >= c {
					code |= 1 << k
				}
			}
			e.texture[(cy*grid+cx)*lbpN+int(uniform[code])]++
		}
	}
	for c := 0; c < grid*grid; c++ {
		h := e.texture[c*lbpN : (c+1)*lbpN]
		s := 0.0
		for _, v := range h {
			s += v
		}
		for i := range h {
			if corner(c) {
				h[i] = 0
			} else {
				h[i] = math.Sqrt(h[i] / s)
			}
		}
	}

	// Layout: grey 8x8, standardised.
	e.layout = make([]float64, 64)
	for i := range gray {
		x, y := i%side, i/side
		e.layout[(y*8/side)*8+x*8/side] += gray[i]
	}
	standardise(e.layout)

	// Colour: mean chromaticity on the grid.
	e.colour = make([]float64, grid*grid*2)
	var sr, sg [grid * grid]float64
	var n [grid * grid]float64
	for i := range rr {
		x, y := i%side, i/side
		c := (y*grid/side)*grid + x*grid/side
		t := rr[i] + gg[i] + bb[i] + 1
		sr[c] += rr[i] / t
		sg[c] += gg[i] / t
		n[c]++
	}
	for c := range n {
		if !corner(c) {
			e.colour[2*c], e.colour[2*c+1] = sr[c]/n[c], sg[c]/n[c]
		}
	}
	clear(rr)
	clear(gg)
	clear(bb)
	clear(gray)
	return e
}

func blur3(g []float64, n int) []float64 {
	out := make([]float64, len(g))
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			s, c := 0.0, 0.0
			for yy := max(0, y-1); yy <= min(n-1, y+1); yy++ {
				for xx := max(0, x-1); xx <= min(n-1, x+1); xx++ {
					s += g[yy*n+xx]
					c++
				}
			}
			out[y*n+x] = s / c
		}
	}
	return out
}

func standardise(v []float64) {
	m := 0.0
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	s := 0.0
	for i := range v {
		v[i] -= m
		s += v[i] * v[i]
	}
	s = math.Sqrt(s / float64(len(v)))
	if s < 1e-9 {
		return
	}
	for i := range v {
		v[i] /= s
	}
}

func l2(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return math.Sqrt(s)
}

// parts are the per-part Euclidean distances of two descriptions.
func parts(a, b embedding) [3]float64 {
	return [3]float64{l2(a.texture, b.texture), l2(a.layout, b.layout), l2(a.colour, b.colour)}
}

// square is the largest centred square of r.
func square(r image.Rectangle) image.Rectangle {
	s := min(r.Dx(), r.Dy())
	x0 := r.Min.X + (r.Dx()-s)/2
	y0 := r.Min.Y + (r.Dy()-s)/2
	return image.Rect(x0, y0, x0+s, y0+s)
}

// CutCrop is what a terminal sends before it encodes it: the face box
// widened by grow about its centre (squared), shifted by shift pixels,
// resampled to size×size by area averaging (bilinear when enlarging).
// Parts outside img are black. For tests and tools.
func CutCrop(img image.Image, box image.Rectangle, grow float64, shift image.Point, size int) *image.RGBA {
	sq := widen(box, grow, 0, 0).Add(shift)
	out := image.NewRGBA(image.Rect(0, 0, size, size))
	b := img.Bounds()
	scale := float64(sq.Dx()) / float64(size)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			// The source area of the output pixel.
			x0, y0 := float64(sq.Min.X)+float64(x)*scale, float64(sq.Min.Y)+float64(y)*scale
			var r, g, bl, n float64
			steps := max(1, int(scale+0.5))
			for j := 0; j < steps; j++ {
				for i := 0; i < steps; i++ {
					sx := int(x0 + (float64(i)+0.5)*scale/float64(steps))
					sy := int(y0 + (float64(j)+0.5)*scale/float64(steps))
					if !image.Pt(sx, sy).In(b) {
						n++
						continue
					}
					cr, cg, cb := rgbAt(img, sx, sy)
					r, g, bl, n = r+cr, g+cg, bl+cb, n+1
				}
			}
			o := out.PixOffset(x, y)
			out.Pix[o], out.Pix[o+1], out.Pix[o+2], out.Pix[o+3] = uint8(r/n+0.5), uint8(g/n+0.5), uint8(bl/n+0.5), 255
		}
	}
	return out
}
