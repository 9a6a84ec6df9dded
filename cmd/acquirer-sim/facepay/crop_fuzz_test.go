package facepay

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"testing"
)

// FuzzCrop: the crop a terminal sealed is outside bytes once opened;
// whatever they are, match refuses them or describes them without a
// panic, and never matches an empty gallery.
func FuzzCrop(f *testing.F) {
	for _, m := range []image.Image{
		image.NewGray(image.Rect(0, 0, 32, 32)),
		image.NewRGBA(image.Rect(0, 0, 160, 160)),
		image.NewCMYK(image.Rect(0, 0, 33, 1024)),
		image.NewYCbCr(image.Rect(0, 0, 48, 40), image.YCbCrSubsampleRatio420),
	} {
		if g, ok := m.(*image.Gray); ok {
			for i := range g.Pix {
				g.Pix[i] = uint8(i * 7)
			}
			g.Set(3, 3, color.Gray{Y: 255})
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, m, nil); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add([]byte{0xFF, 0xD8, 0xFF})
	p := &Platform{o: Opts{Gallery: &Gallery{}}}
	f.Fuzz(func(t *testing.T, crop []byte) {
		id, dist, ref := p.match(crop)
		if ref != nil {
			if id != nil || ref.code == "" {
				t.Fatalf("refused %v with identity %v", ref, id)
			}
			return
		}
		if id != nil || !math.IsInf(dist, 1) && math.IsNaN(dist) {
			t.Fatalf("empty gallery matched %v at %v", id, dist)
		}
	})
}
