//go:build nocv

package camera

import (
	"context"
	"errors"
	"testing"
)

func TestNewUnsupported(t *testing.T) {
	d, err := New("0", nil)
	if d != nil || !errors.Is(err, ErrUnsupported) {
		t.Fatalf("New = %v, %v; want nil, ErrUnsupported", d, err)
	}
	var ue *UnsupportedError
	if !errors.As(err, &ue) || ue.Src != "0" {
		t.Fatalf("error %T %v is not an *UnsupportedError for src 0", err, err)
	}
	if !IsFatal(err) {
		t.Fatal("ErrUnsupported should be fatal")
	}
	var nd *Dev
	if _, err := nd.Next(context.Background()); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Next = %v", err)
	}
	if err := nd.Start(); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Start = %v", err)
	}
	if err := nd.Halt(); err != nil {
		t.Fatalf("Halt = %v", err)
	}
	if err := nd.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
}

// Close wipes the frame's pixels before it lets them go: a face is
// personal data.
func TestFrameCloseWipesPixels(t *testing.T) {
	f, err := NewFrameBGR(2, 1, []byte{1, 2, 3, 4, 5, 6})
	if err != nil {
		t.Fatal(err)
	}
	px := f.px.bgr
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for i, b := range px {
		if b != 0 {
			t.Fatalf("byte %d is %d after Close", i, b)
		}
	}
}
