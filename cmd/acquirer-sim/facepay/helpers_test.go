package facepay_test

import (
	"image"
	"testing"

	"posd/board/sim/facescene"
	"posd/cmd/acquirer-sim/facepay"
)

// testCrop cuts the terminal's crop of frame of a facescene clip of the
// subject: its face box widened by grow, shifted, 160x160.
func testCrop(t testing.TB, name string, seed uint64, frame int, shift image.Point, grow float64) *image.RGBA {
	t.Helper()
	c, err := facescene.New(facescene.Scene{Subject: name, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	w, h := facescene.W, facescene.H
	bgr := make([]byte, w*h*3)
	c.FrameBGR(frame, bgr)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = bgr[3*i+2], bgr[3*i+1], bgr[3*i], 255
	}
	return facepay.CutCrop(img, c.FaceBox(frame), grow, shift, 160)
}
