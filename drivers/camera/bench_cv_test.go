//go:build !nocv

package camera

import (
	"context"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

func writeBenchFrames(b *testing.B, ext string) string {
	b.Helper()
	dir := b.TempDir()
	for i := 0; i < 8; i++ {
		name := filepath.Join(dir, fmt.Sprintf("f%02d.%s", i, ext))
		if ext == "png" {
			writePNG(b, name, texturedFrame(i))
			continue
		}
		fh, err := os.Create(name)
		if err != nil {
			b.Fatal(err)
		}
		if err := jpeg.Encode(fh, texturedFrame(i), &jpeg.Options{Quality: 85}); err != nil {
			b.Fatal(err)
		}
		if err := fh.Close(); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

func benchNext(b *testing.B, ext string) {
	dir := writeBenchFrames(b, ext)
	d, err := New(dir, &Opts{Width: 640, Height: 480, Loop: true, Unpaced: true})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		f, err := d.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkNextFrame decodes and delivers one 640x480 PNG of a sequence.
func BenchmarkNextFrame(b *testing.B) { benchNext(b, "png") }

// BenchmarkNextFrameJPEG is the same with JPEG files (what an MJPG camera
// hands over, decoded by the same codec).
func BenchmarkNextFrameJPEG(b *testing.B) { benchNext(b, "jpg") }
