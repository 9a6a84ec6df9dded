package facescene

import (
	"image"
	"math"
	"math/rand/v2"
)

// The phone of a screen attack: its display (the replayed video's size)
// and bezel, in the device's own pixels.
const (
	screenW     = 240
	screenH     = 320
	screenBezel = 16
)

// preparePrint draws the printed photo: a frontal portrait of the
// subject on a studio background, with a white border, in the washed-out
// gamut of a print, on grainy paper.
func (c *Clip) preparePrint(rnd *rand.Rand) {
	tw, th := 240, 300
	tex := &canvas{pix: make([]byte, tw*th*3), w: tw, h: th}
	bg := [3]float64{0.45 + 0.3*rnd.Float64(), 0.5 + 0.2*rnd.Float64(), 0.6 + 0.2*rnd.Float64()}
	for y := 0; y < th; y++ {
		for x := 0; x < tw; x++ {
			tex.set(x, y, bg)
		}
	}
	p := pose{cx: float64(tw) / 2, cy: float64(th) * 0.46, ry: float64(th) * 0.3, eyeOpen: 1}
	drawHead(tex, &c.subj, p, light{dir: [3]float64{0.1, -0.3, 0.95}, gain: 1}, [4]int{0, 0, tw, th})
	border := 14
	for y := 0; y < th; y++ {
		for x := 0; x < tw; x++ {
			o := (y*tw + x) * 3
			grain := (rnd.Float64() - 0.5) * 0.05
			if x < border || y < border || x >= tw-border || y >= th-border {
				v := clamp8(0.93 + grain)
				tex.pix[o], tex.pix[o+1], tex.pix[o+2] = v, v, clamp8(0.90+grain)
				continue
			}
			// A print's gamut: lower contrast, less saturation.
			b, g, r := float64(tex.pix[o])/255, float64(tex.pix[o+1])/255, float64(tex.pix[o+2])/255
			l := (r + g + b) / 3
			f := func(v float64) byte { return clamp8(0.1 + 0.75*(l+0.7*(v-l)) + grain) }
			tex.pix[o], tex.pix[o+1], tex.pix[o+2] = f(b), f(g), f(r)
		}
	}
	c.tex, c.texW, c.texH = tex, tw, th
	c.plane = c.randomMotion(rnd, p.ry)
}

// prepareScreen sets up the phone: the replayed recording of the victim
// (doing Scene.Action) shown on its display.
func (c *Clip) prepareScreen(rnd *rand.Rand) error {
	r, err := New(Scene{Subject: c.Scene.Subject, Action: c.Scene.Action, Seed: c.Scene.Seed ^ 0x9e3779b97f4a7c15, W: screenW, H: screenH})
	if err != nil {
		return err
	}
	c.replay = r
	c.texW, c.texH = screenW+2*screenBezel, screenH+2*screenBezel
	c.replayBuf = make([]byte, screenW*screenH*3)
	c.plane = c.randomMotion(rnd, r.base.ry)
	return nil
}

// randomMotion is how the hand moves the picture: the face in it about
// as large as a live one's (faceRy is its half-height in the picture).
func (c *Clip) randomMotion(rnd *rand.Rand, faceRy float64) planeMotion {
	scale := c.base.ry * (0.9 + 0.25*rnd.Float64()) / faceRy
	m := planeMotion{cx: c.base.cx, cy: c.base.cy + c.base.ry*0.12, size: float64(c.texH) * scale,
		tiltAmp: 0.2 + 0.3*rnd.Float64(), swing: 6 + 14*rnd.Float64(), speed: 0.08 + 0.06*rnd.Float64(), phase: rnd.Float64() * 6.28}
	// The holder's skin, anyone's.
	t := rnd.Float64()
	m.hand = [3]float64{0.95 - 0.3*t, 0.78 - 0.32*t, 0.66 - 0.32*t}
	return m
}

// drawThumbs draws the holder's thumbs over the picture's lower
// corners: rounded, shaded, bright in the near infrared like any skin,
// moving with the plane (they grip it).
func (c *Clip) drawThumbs(cv *canvas, hm, inv [9]float64) {
	ax, ay := 0.065*float64(c.texW), 0.075*float64(c.texH)
	for _, fx := range [2]float64{0.14, 0.86} {
		tcx, tcy := fx*float64(c.texW), float64(c.texH)+0.2*ay
		x0, y0, x1, y1 := cv.w, cv.h, 0, 0
		for _, q := range [4][2]float64{{tcx - ax, tcy - ay}, {tcx + ax, tcy - ay}, {tcx + ax, tcy + ay}, {tcx - ax, tcy + ay}} {
			x, y := apply(hm, q[0], q[1])
			x0, y0 = min(x0, int(x)), min(y0, int(y))
			x1, y1 = max(x1, int(x)+1), max(y1, int(y)+1)
		}
		x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, cv.w), min(y1, cv.h)
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				tx, ty := apply(inv, float64(x)+0.5, float64(y)+0.5)
				u, v := (tx-tcx)/ax, (ty-tcy)/ay
				d := u*u + v*v
				if d >= 1 {
					continue
				}
				shade := c.lt.gain * (0.62 + 0.38*math.Sqrt(1-d))
				if cv.ir {
					cv.set(x, y, [3]float64{0.8 * shade})
					continue
				}
				h := c.plane.hand
				cv.set(x, y, [3]float64{h[0] * shade, h[1] * shade, h[2] * shade})
			}
		}
	}
}

// homography of frame i: the picture's pixel (tx, ty) → the frame's.
func (c *Clip) homography(i int) [9]float64 {
	m := c.plane
	t := float64(i)
	tilt := m.tiltAmp * math.Sin(m.speed*t+m.phase)
	roll := 0.06 * math.Sin(m.speed*0.7*t+m.phase*1.3)
	cx := m.cx + m.swing*math.Sin(m.speed*1.3*t+m.phase*0.7)
	cy := m.cy + 0.4*m.swing*math.Sin(m.speed*0.9*t+m.phase*2.1)
	s := m.size / float64(c.texH)
	f := m.size * 2.2 // focal length, pixels: the picture a forearm away
	sinT, cosT := math.Sincos(tilt)
	sinR, cosR := math.Sincos(roll)
	var src, dst [4][2]float64
	for k, q := range [4][2]float64{{0, 0}, {1, 0}, {1, 1}, {0, 1}} {
		tx, ty := q[0]*float64(c.texW), q[1]*float64(c.texH)
		X := (tx - float64(c.texW)/2) * s
		Y := (ty - float64(c.texH)/2) * s
		X, Y = X*cosR-Y*sinR, X*sinR+Y*cosR
		Xr, Z := X*cosT, X*sinT
		src[k] = [2]float64{tx, ty}
		dst[k] = [2]float64{cx + Xr*f/(f+Z), cy + Y*f/(f+Z)}
	}
	return solveHomography(src, dst)
}

// drawPlane draws the print or the phone in frame i.
func (c *Clip) drawPlane(cv *canvas, i int) {
	hm := c.homography(i)
	inv, ok := invert3(hm)
	if !ok {
		return
	}
	if c.replay != nil {
		c.replay.FrameBGR(i, c.replayBuf)
	}
	x0, y0, x1, y1 := cv.w, cv.h, 0, 0
	for _, q := range [4][2]float64{{0, 0}, {float64(c.texW), 0}, {float64(c.texW), float64(c.texH)}, {0, float64(c.texH)}} {
		x, y := apply(hm, q[0], q[1])
		x0, y0 = min(x0, int(x)), min(y0, int(y))
		x1, y1 = max(x1, int(x)+1), max(y1, int(y)+1)
	}
	x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, cv.w), min(y1, cv.h)
	tw, th := float64(c.texW), float64(c.texH)
	for y := y0; y < y1; y++ {
		// Along a row the homography's numerators and denominator grow
		// by a constant each pixel.
		fx, fy := float64(x0)+0.5, float64(y)+0.5
		nx := inv[0]*fx + inv[1]*fy + inv[2]
		ny := inv[3]*fx + inv[4]*fy + inv[5]
		nw := inv[6]*fx + inv[7]*fy + inv[8]
		for x := x0; x < x1; x, nx, ny, nw = x+1, nx+inv[0], ny+inv[3], nw+inv[6] {
			r := 1 / nw
			tx, ty := nx*r, ny*r
			if tx < 0 || ty < 0 || tx >= tw || ty >= th {
				continue
			}
			if c.replay != nil {
				cv.set(x, y, c.screenTexel(tx, ty, cv.ir, x, y))
			} else {
				cv.set(x, y, c.printTexel(tx, ty, cv.ir))
			}
		}
	}
	c.drawThumbs(cv, hm, inv)
}

// printTexel samples the photo (bilinear). In the near infrared the ink
// nearly vanishes: paper with the faintest trace of the face.
func (c *Clip) printTexel(tx, ty float64, ir bool) [3]float64 {
	rgb := bilinear(c.tex.pix, c.texW, c.texH, tx, ty)
	if ir {
		l := (rgb[0] + rgb[1] + rgb[2]) / 3
		v := 0.74 + 0.04*(l-0.5)
		return [3]float64{v, v, v}
	}
	return rgb
}

// screenTexel is what the camera sees of the phone at (tx, ty): the
// bezel, or the display's pixel (its red, green and blue stripes, the
// gaps between rows, sampled by the camera's own grid: moiré) with a
// glare. An LCD shows nothing in the near infrared.
func (c *Clip) screenTexel(tx, ty float64, ir bool, x, y int) [3]float64 {
	dx, dy := tx-screenBezel, ty-screenBezel
	if dx < 0 || dy < 0 || dx >= screenW || dy >= screenH {
		if ir {
			return [3]float64{0.08, 0.08, 0.08}
		}
		return [3]float64{0.05, 0.05, 0.06}
	}
	if ir {
		return [3]float64{0.02, 0.02, 0.02}
	}
	px, py := int(dx), int(dy)
	o := (py*screenW + px) * 3
	r, g, b := float64(c.replayBuf[o+2])/255, float64(c.replayBuf[o+1])/255, float64(c.replayBuf[o])/255
	sub := int((dx - float64(px)) * 3)
	w := [3]float64{0.75, 0.75, 0.75}
	w[sub] = 1.55
	row := 1.0
	if dy-float64(py) > 0.78 {
		row = 0.7
	}
	glare := 0.0
	if g := 1 - math.Abs(dx/screenW+dy/screenH-0.9)*4; g > 0 {
		glare = 0.1 * g
	}
	k := 1.12 * row
	return [3]float64{r*w[0]*k + glare, g*w[1]*k + glare, b*w[2]*k*1.08 + glare}
}

// planeFaceBox is the face's box in frame i of a print or a screen: the
// picture's face box carried by the homography.
func (c *Clip) planeFaceBox(i int) image.Rectangle {
	var fb image.Rectangle
	if c.replay != nil {
		fb = c.replay.FaceBox(i).Add(image.Pt(screenBezel, screenBezel))
	} else {
		fb = headBox(pose{cx: float64(c.texW) / 2, cy: float64(c.texH) * 0.46, ry: float64(c.texH) * 0.3}, c.subj.aspect)
	}
	hm := c.homography(i)
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, q := range [4]image.Point{fb.Min, {fb.Max.X, fb.Min.Y}, fb.Max, {fb.Min.X, fb.Max.Y}} {
		x, y := apply(hm, float64(q.X), float64(q.Y))
		x0, y0, x1, y1 = math.Min(x0, x), math.Min(y0, y), math.Max(x1, x), math.Max(y1, y)
	}
	return image.Rect(int(x0), int(y0), int(x1), int(y1))
}

// bilinear samples a BGR picture at (x, y), returning RGB in 0..1.
func bilinear(pix []byte, w, h int, x, y float64) [3]float64 {
	x, y = x-0.5, y-0.5
	x0, y0 := int(math.Floor(x)), int(math.Floor(y))
	fx, fy := x-float64(x0), y-float64(y0)
	at := func(xx, yy int) (float64, float64, float64) {
		xx, yy = max(0, min(w-1, xx)), max(0, min(h-1, yy))
		o := (yy*w + xx) * 3
		return float64(pix[o+2]), float64(pix[o+1]), float64(pix[o])
	}
	r00, g00, b00 := at(x0, y0)
	r10, g10, b10 := at(x0+1, y0)
	r01, g01, b01 := at(x0, y0+1)
	r11, g11, b11 := at(x0+1, y0+1)
	mix := func(a, b, c, d float64) float64 {
		return ((a*(1-fx)+b*fx)*(1-fy) + (c*(1-fx)+d*fx)*fy) / 255
	}
	return [3]float64{mix(r00, r10, r01, r11), mix(g00, g10, g01, g11), mix(b00, b10, b01, b11)}
}

// solveHomography is the 3×3 homography taking the four points src to
// dst (h[8] = 1).
func solveHomography(src, dst [4][2]float64) [9]float64 {
	var a [8][9]float64
	for k := 0; k < 4; k++ {
		x, y, u, v := src[k][0], src[k][1], dst[k][0], dst[k][1]
		a[2*k] = [9]float64{x, y, 1, 0, 0, 0, -u * x, -u * y, u}
		a[2*k+1] = [9]float64{0, 0, 0, x, y, 1, -v * x, -v * y, v}
	}
	for col := 0; col < 8; col++ {
		piv := col
		for r := col + 1; r < 8; r++ {
			if math.Abs(a[r][col]) > math.Abs(a[piv][col]) {
				piv = r
			}
		}
		a[col], a[piv] = a[piv], a[col]
		if a[col][col] == 0 {
			return [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}
		}
		for r := 0; r < 8; r++ {
			if r == col {
				continue
			}
			f := a[r][col] / a[col][col]
			for k := col; k < 9; k++ {
				a[r][k] -= f * a[col][k]
			}
		}
	}
	var h [9]float64
	for k := 0; k < 8; k++ {
		h[k] = a[k][8] / a[k][k]
	}
	h[8] = 1
	return h
}

func apply(h [9]float64, x, y float64) (float64, float64) {
	w := h[6]*x + h[7]*y + h[8]
	return (h[0]*x + h[1]*y + h[2]) / w, (h[3]*x + h[4]*y + h[5]) / w
}

func invert3(m [9]float64) ([9]float64, bool) {
	det := m[0]*(m[4]*m[8]-m[5]*m[7]) - m[1]*(m[3]*m[8]-m[5]*m[6]) + m[2]*(m[3]*m[7]-m[4]*m[6])
	if math.Abs(det) < 1e-12 {
		return [9]float64{}, false
	}
	d := 1 / det
	return [9]float64{
		(m[4]*m[8] - m[5]*m[7]) * d, (m[2]*m[7] - m[1]*m[8]) * d, (m[1]*m[5] - m[2]*m[4]) * d,
		(m[5]*m[6] - m[3]*m[8]) * d, (m[0]*m[8] - m[2]*m[6]) * d, (m[2]*m[3] - m[0]*m[5]) * d,
		(m[3]*m[7] - m[4]*m[6]) * d, (m[1]*m[6] - m[0]*m[7]) * d, (m[0]*m[4] - m[1]*m[3]) * d,
	}, true
}
