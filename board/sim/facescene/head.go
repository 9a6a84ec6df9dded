package facescene

import "math"

// pose is where a head is and what it does in one frame.
type pose struct {
	cx, cy  float64 // the head's centre, pixels
	ry      float64 // half its height, pixels
	yaw     float64 // radians; positive turns the nose to the image's right
	roll    float64 // radians
	eyeOpen float64 // 1 open, 0 closed
}

// light is a scene's lighting: a unit direction (x right, y down, z
// towards the camera), and an exposure gain.
type light struct {
	dir  [3]float64
	gain float64
}

// materials of a head's surface.
const (
	matSkin = iota
	matHair
	matSclera
	matIris
	matPupil
	matBrow
	matLips
	matDark // nostrils, the line between the lips
	matShirt
	nMat
)

// irAlbedo is how bright each material looks in the near infrared: skin
// reflects it well, hair and pupils absorb it.
var irAlbedo = [nMat]float64{0.86, 0.22, 0.78, 0.40, 0.05, 0.28, 0.70, 0.15, 0.50}

// canvas is a frame being drawn: BGR (3 bytes a pixel) or grey (1).
type canvas struct {
	pix  []byte
	w, h int
	ir   bool // grey near-infrared: 1 byte a pixel
}

func (c *canvas) set(x, y int, rgb [3]float64) {
	if c.ir {
		c.pix[y*c.w+x] = clamp8(rgb[0])
		return
	}
	o := (y*c.w + x) * 3
	c.pix[o], c.pix[o+1], c.pix[o+2] = clamp8(rgb[2]), clamp8(rgb[1]), clamp8(rgb[0])
}

func clamp8(v float64) byte {
	v *= 255
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return byte(v + 0.5)
}

// color is the colour (or, on an IR canvas, the grey in [0]) of material
// m of subject s, shaded by shade.
func (s *Subject) color(m int, shade float64, ir bool) [3]float64 {
	if ir {
		v := irAlbedo[m] * shade
		return [3]float64{v, v, v}
	}
	var c [3]float64
	switch m {
	case matSkin:
		c = s.skin
	case matHair:
		c = s.hair
	case matSclera:
		c = [3]float64{0.92, 0.90, 0.86}
	case matIris:
		c = s.iris
	case matPupil:
		c = [3]float64{0.03, 0.03, 0.03}
	case matBrow:
		// Brows are darker than the hair, even a grey-haired subject's.
		c = [3]float64{min(0.28, s.hair[0]*0.5), min(0.26, s.hair[1]*0.5), min(0.24, s.hair[2]*0.5)}
	case matLips:
		c = s.lips
	case matDark:
		c = [3]float64{0.18, 0.10, 0.09}
	case matShirt:
		c = s.shirt
	}
	return [3]float64{c[0] * shade, c[1] * shade, c[2] * shade}
}

// drawHead draws subject s in pose p under lt on c: head, hair, neck and
// shoulders, clipped to clip (x0, y0, x1, y1).
func drawHead(c *canvas, s *Subject, p pose, lt light, clip [4]int) {
	ry := p.ry
	rx := ry * s.aspect
	sinY, cosY := math.Sincos(p.yaw)
	sinR, cosR := math.Sincos(p.roll)
	x0 := max(clip[0], int(p.cx-rx*1.9))
	x1 := min(clip[2], int(p.cx+rx*1.9)+1)
	y0 := max(clip[1], int(p.cy-ry*1.15))
	y1 := min(clip[3], int(p.cy+ry*2.6)+1)
	L := lt.dir
	// The nose stands off the face: seen turned, its tip moves across
	// the head by its height times tan(yaw) more than the skin under it.
	noseShift := math.Tan(max(-1, min(1, p.yaw)))
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			// Into the head's frame: undo the roll.
			dx, dy := float64(x)-p.cx, float64(y)-p.cy
			hx := dx*cosR + dy*sinR
			hy := -dx*sinR + dy*cosR
			u, v := hx/rx, hy/ry
			r2 := u*u + v*v
			var (
				m     int
				shade float64
				ok    bool
			)
			switch {
			case r2 <= 1:
				z := math.Sqrt(1 - r2)
				// The surface point in the head's own frame.
				lx := u*cosY - z*sinY
				lz := u*sinY + z*cosY
				ly := v
				m, shade = s.surface(lx, ly, lz, L, p.eyeOpen, noseShift)
				n := lt.gain * (0.38 + 0.72*math.Max(0, u*L[0]+v*L[1]+z*L[2]))
				shade *= n
				ok = true
			case v < -0.2 && u*u+(v+0.08)*(v+0.08)/1.12 <= 1.1:
				// Hair's volume over the crown.
				m, shade, ok = matHair, lt.gain*0.55, true
			case s.long && v >= -0.2 && v < 0.85 && math.Abs(u) < 1.18:
				m, shade, ok = matHair, lt.gain*0.45, true
			case v > 0.8 && math.Abs(hx) < rx*0.42 && v < 1.35:
				// The neck, in the head's shadow.
				m, shade, ok = matSkin, lt.gain*0.55, true
			case v >= 1.3:
				// Shoulders widen below the neck.
				if math.Abs(hx) < rx*(0.9+(v-1.3)*2.2) {
					m, shade, ok = matShirt, lt.gain*(0.75+0.1*math.Sin(hx/rx*3)), true
				}
			}
			if ok {
				c.set(x, y, s.color(m, shade, c.ir))
			}
		}
	}
}

// surface is the material and its local shading factor at the head's
// surface point (lx, ly, lz) (unit sphere, z towards the face's front).
func (s *Subject) surface(lx, ly, lz float64, L [3]float64, open, noseShift float64) (int, float64) {
	// Hair: above the hair line, and all round the back and sides.
	if ly < s.hairTop+0.22*lx*lx || lz < 0.12 && ly < 0.25 || s.long && lz < 0.32 && ly < 0.7 {
		return matHair, 1
	}
	if lz < 0.2 {
		return matSkin, 0.9
	}
	shade := 1.0
	for _, side := range [2]float64{-1, 1} {
		ex, ey := side*s.eyeX, s.eyeY
		du, dv := (lx-ex)/s.eyeW, (ly-ey)/(s.eyeW*0.48)
		// Brows.
		if math.Abs(lx-ex) < s.eyeW*1.15 {
			by := ey - s.eyeW*0.78 + 0.03*((lx-ex)/s.eyeW)*((lx-ex)/s.eyeW)
			if ly > by-s.browW && ly < by {
				return matBrow, 1
			}
		}
		if du*du+dv*dv < 1 {
			return s.eye(lx-ex, ly-ey, dv, open)
		}
		// The socket around the eye is in shadow.
		// The socket around the eye is in shadow, deepest under the brow.
		// The brow ridge shades it the more, the higher the light.
		if su, sv := du/1.6, (ly-ey+0.02)/(s.eyeW*1.2); su*su+sv*sv < 1 {
			deep := 0.6 - 0.35*math.Max(0, -L[1])
			shade = math.Min(shade, deep+(1-deep)*(su*su+sv*sv))
		}
	}
	// Nose: a lit ridge, its shadow on the side away from the light, the
	// nostrils; drawn where they stand off the face (its height grows
	// from the bridge to the tip), so a turn moves them farther than the
	// cheeks around them.
	if ly > s.eyeY && ly < 0.33 {
		t := (ly - s.eyeY) / (0.3 - s.eyeY)
		a := lx - (0.03+0.17*t*t)*noseShift
		if math.Abs(a) < s.noseW*0.35 {
			shade *= 1.12
		} else if a*L[0] < 0 && math.Abs(a) < s.noseW*(0.6+0.4*t) && ly > 0.05 {
			shade *= 0.82
		}
		for _, side := range [2]float64{-1, 1} {
			nx, ny := (a-side*s.noseW*0.5)/0.04, (ly-0.29)/0.025
			if nx*nx+ny*ny < 1 {
				return matDark, 1
			}
		}
	}
	// Mouth.
	if mu, mv := lx/s.mouthW, (ly-s.mouthY)/0.05; mu*mu+mv*mv < 1 {
		if math.Abs(mv) < 0.22 {
			return matDark, 1
		}
		return matLips, 1
	}
	// Chin and jaw a little darker towards the edge.
	return matSkin, shade * (0.9 + 0.1*lz)
}

// eye is an eye's material at (x, y) from its centre; dv is the height
// within the eye's outline (-1..1). The lids cover what the opening
// leaves.
func (s *Subject) eye(x, y, dv, open float64) (int, float64) {
	a := math.Abs(dv)
	switch {
	case a > open+0.16:
		return matSkin, 0.7 // the lid, in the socket's shadow
	case a > open:
		return matDark, 1 // the lashes' line
	}
	r := math.Hypot(x, y) / s.eyeW
	switch {
	case r < 0.17:
		return matPupil, 1
	case r < 0.42:
		return matIris, 1
	}
	return matSclera, 1
}
