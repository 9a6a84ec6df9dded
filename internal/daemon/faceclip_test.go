package daemon

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"testing"

	"posd/conn/video"
)

func pngOf(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A clip of pictures plays them in order, then ends; a picture of
// another size or not a picture stops it with ErrClip.
func TestPictureClip(t *testing.T) {
	src, err := pictureClip([][]byte{pngOf(t, 8, 6), pngOf(t, 8, 6), pngOf(t, 4, 4), []byte("not a picture")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		f, err := src.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if w, h := f.Size(); w != 8 || h != 6 {
			t.Fatalf("frame %d: %dx%d", i, w, h)
		}
		f.Close()
	}
	if _, err := src.Next(ctx); !errors.Is(err, ErrClip) {
		t.Fatalf("another size: %v", err)
	}
	if _, err := src.Next(ctx); !errors.Is(err, ErrClip) {
		t.Fatalf("not a picture: %v", err)
	}
	if _, err := src.Next(ctx); !errors.Is(err, video.ErrEndOfStream) {
		t.Fatalf("at the end: %v", err)
	}
	if _, err := pictureClip([][]byte{nil}); !errors.Is(err, ErrClip) {
		t.Fatalf("empty frame: %v", err)
	}
}

// FuzzPictureClip: the pictures posctl face check uploads are outside
// bytes; decoding them never panics.
func FuzzPictureClip(f *testing.F) {
	f.Add(pngOf(f, 2, 2))
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Add([]byte{0xff, 0xd8, 0xff, 0xe0})
	f.Fuzz(func(t *testing.T, b []byte) {
		src, err := pictureClip([][]byte{b})
		if err != nil {
			return
		}
		defer src.Close()
		fr, err := src.Next(context.Background())
		if err == nil {
			fr.Close()
		}
	})
}
