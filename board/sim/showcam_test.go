package sim

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"runtime"
	"testing"
	"time"

	"posd/drivers/camera"
)

// greyScene is a camera of uniform grey frames.
type greyScene struct{ w, h int }

func (g greyScene) Next(context.Context) (*camera.Frame, error) {
	b := make([]byte, g.w*g.h*3)
	for i := range b {
		b[i] = 0x80
	}
	return camera.NewFrameBGR(g.w, g.h, b)
}
func (g greyScene) Info() camera.Info { return camera.Info{Width: g.w, Height: g.h} }
func (g greyScene) Close() error      { return nil }

func TestHeldPicture(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	b := &Board{held: &held{now: func() time.Time { return now }}}
	src := heldSource{Source: greyScene{64, 48}, h: b.held}
	pixel := func(x, y int) [3]byte {
		f, err := src.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		bgr, _ := f.BGR()
		o := (y*64 + x) * 3
		return [3]byte{bgr[o], bgr[o+1], bgr[o+2]}
	}
	if got := pixel(32, 24); got != [3]byte{0x80, 0x80, 0x80} {
		t.Fatalf("nothing held: %v", got)
	}
	// A red picture larger than the frame: scaled into the middle.
	img := image.NewRGBA(image.Rect(0, 0, 200, 200))
	for i := 0; i < 200*200; i++ {
		img.Set(i%200, i/200, color.RGBA{R: 255, A: 255})
	}
	if err := b.hold(img, time.Second); err != nil {
		t.Fatal(err)
	}
	if got := pixel(32, 24); got != [3]byte{0, 0, 255} {
		t.Fatalf("held picture not in the middle of the frame (BGR): %v", got)
	}
	if got := pixel(1, 1); got != [3]byte{0x80, 0x80, 0x80} {
		t.Fatalf("the picture covers the whole frame: %v", got)
	}
	now = now.Add(2 * time.Second)
	if got := pixel(32, 24); got != [3]byte{0x80, 0x80, 0x80} {
		t.Fatalf("picture still held after its time: %v", got)
	}
	if err := b.ShowImage([]byte("not a picture"), 0); err != ErrImage {
		t.Fatalf("junk picture: %v", err)
	}
	if err := (&Board{}).ShowCodeToCamera("x", 0); err != ErrNoCamera {
		t.Fatalf("no camera: %v", err)
	}
	if err := b.ShowCodeToCamera("134567890123456789", 0); err != nil {
		t.Fatal(err)
	}
	b.HideFromCamera()
	if got := pixel(32, 24); got != [3]byte{0x80, 0x80, 0x80} {
		t.Fatalf("hidden code still shown: %v", got)
	}
}

func TestPhoneCPMFreshEachTime(t *testing.T) {
	b := &Board{}
	a1, err := b.PhoneCPM("visa-credit")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := b.PhoneCPM("visa-credit")
	if err != nil {
		t.Fatal(err)
	}
	if a1 == a2 || b.phoneATC["visa-credit"] != 2 {
		t.Fatalf("two codes alike or counter %d", b.phoneATC["visa-credit"])
	}
	if _, err := b.PhoneCPM("no-such-card"); err == nil {
		t.Fatal("a code for an unknown card")
	}
}

// TestShowImageChecksSizeFirst: a picture whose header claims 8000x8000
// pixels is refused before a pixel buffer is made for it (a few bytes
// sent to the sim must not make it allocate 256 MB).
func TestShowImageChecksSizeFirst(t *testing.T) {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 8000, 8000))); err != nil {
		t.Fatal(err)
	}
	pic := b.Bytes()[:200] // header and the start of the data only
	bd := &Board{held: &held{now: time.Now}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := bd.ShowImage(pic, 0); err != ErrImage {
		t.Fatalf("8000x8000 picture: %v", err)
	}
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<20 {
		t.Fatalf("refusing an 8000x8000 picture allocated %d bytes", grown)
	}
}
