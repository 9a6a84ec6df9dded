package ui

import (
	"bytes"
	"errors"
	"image/png"
	"strings"
	"testing"
)

func TestQRPNG(t *testing.T) {
	b, err := QRPNG("00020101021226", 256)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if r := img.Bounds(); r.Dx() != 256 || r.Dy() != 256 {
		t.Fatalf("image %v, want 256x256", r)
	}
	// The corner is quiet zone (white), the finder pattern starts inside.
	if r, g, b, _ := img.At(1, 1).RGBA(); r != 0xffff || g != 0xffff || b != 0xffff {
		t.Fatalf("corner pixel not white: %x %x %x", r, g, b)
	}
	for _, bad := range []struct {
		p string
		n int
	}{{"", 256}, {"x", 10}, {strings.Repeat("x", 5000), 256}} {
		if _, err := QRPNG(bad.p, bad.n); !errors.Is(err, ErrQR) {
			t.Errorf("QRPNG(%d chars, %d) = %v, want ErrQR", len(bad.p), bad.n, err)
		}
	}
}
