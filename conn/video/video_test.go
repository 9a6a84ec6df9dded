package video

import (
	"errors"
	"testing"
)

func TestBytesFrame(t *testing.T) {
	if _, err := NewBytesFrame(2, 2, make([]byte, 11)); !errors.Is(err, ErrSize) {
		t.Fatalf("short buffer: %v", err)
	}
	px := []byte{1, 2, 3, 4, 5, 6}
	f, err := NewBytesFrame(2, 1, px)
	if err != nil {
		t.Fatal(err)
	}
	var _ Frame = f
	b, _ := f.BGR()
	b[0] = 99
	if again, _ := f.BGR(); again[0] != 1 {
		t.Fatal("BGR did not return a copy")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if f.Pixels[0] != 0 {
		t.Fatal("pixels not wiped on Close")
	}
	if _, err := f.BGR(); !errors.Is(err, ErrClosed) {
		t.Fatalf("BGR after Close: %v", err)
	}
}
