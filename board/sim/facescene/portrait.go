package facescene

import (
	"fmt"
	"image"
	"math/rand/v2"
)

// Portrait is a frontal, well-lit picture of subject name (about
// 200×200, the face filling about 70 %), for enrolment at the face-pay
// platform. seed varies the light, the background and the framing a
// little.
func Portrait(name string, seed uint64) (*image.RGBA, error) {
	s, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("%w: unknown subject %q", ErrScene, name)
	}
	rnd := rand.New(rand.NewPCG(seed, 0x907a))
	const w, h = 200, 200
	cv := &canvas{pix: make([]byte, w*h*3), w: w, h: h}
	bg := [3]float64{0.6 + 0.2*rnd.Float64(), 0.62 + 0.2*rnd.Float64(), 0.65 + 0.2*rnd.Float64()}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			cv.set(x, y, bg)
		}
	}
	lt := randomLight(rnd)
	lt.gain = 0.95 + 0.1*rnd.Float64()
	p := pose{cx: w/2 + (rnd.Float64()-0.5)*6, cy: h*0.47 + (rnd.Float64()-0.5)*6, ry: h * 0.36, eyeOpen: 1}
	drawHead(cv, &s, p, lt, [4]int{0, 0, w, h})
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = cv.pix[3*i+2], cv.pix[3*i+1], cv.pix[3*i], 255
	}
	return img, nil
}
