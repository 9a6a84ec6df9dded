package camera

import (
	"image"
	"testing"
)

// texturedFrame is a 640x480 picture with gradients and fine detail, so
// that decoding costs what a camera picture costs.
func texturedFrame(i int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := 0; y < 480; y++ {
		for x := 0; x < 640; x++ {
			p := img.PixOffset(x, y)
			img.Pix[p] = uint8(x + i*9)
			img.Pix[p+1] = uint8(y*2 + x/3)
			img.Pix[p+2] = uint8((x * y) >> 5)
			img.Pix[p+3] = 255
		}
	}
	return img
}

func benchFrame(b *testing.B, fn func(*Frame) error) {
	img := texturedFrame(0)
	bgr := make([]byte, 640*480*3)
	for i, j := 0, 0; i < len(bgr); i, j = i+3, j+4 {
		bgr[i], bgr[i+1], bgr[i+2] = img.Pix[j+2], img.Pix[j+1], img.Pix[j]
	}
	f, err := NewFrameBGR(640, 480, bgr)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.ReportAllocs()
	for b.Loop() {
		if err := fn(f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFrameBGR copies a 640x480 frame out as packed BGR bytes.
func BenchmarkFrameBGR(b *testing.B) {
	benchFrame(b, func(f *Frame) error { _, err := f.BGR(); return err })
}

// BenchmarkFrameImage converts a 640x480 frame to an image.RGBA.
func BenchmarkFrameImage(b *testing.B) {
	benchFrame(b, func(f *Frame) error { _, err := f.Image(); return err })
}
