//go:build !nocv

package camera

import "testing"

// benchQR decodes one 640x480 frame over and over and checks the count
// of codes read.
func benchQR(b *testing.B, f *Frame, want int) {
	q, err := NewQRDetector()
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	b.ReportAllocs()
	for b.Loop() {
		texts, err := q.Decode(f)
		if err != nil || len(texts) != want {
			b.Fatalf("Decode = %d texts, %v; want %d", len(texts), err, want)
		}
	}
}

// BenchmarkQRDecode640x480 finds and reads the 18-digit WeChat-style code
// with 4 px modules, turned 4 degrees and slightly blurred.
func BenchmarkQRDecode640x480(b *testing.B) { benchQR(b, qrTestFrame(b, 4, qrWeChat), 1) }

// BenchmarkQRNoCode640x480 searches a frame without a code (a counter
// top), the common case while the terminal waits for one: every stage
// runs and fails.
func BenchmarkQRNoCode640x480(b *testing.B) {
	f, err := NewFrameBGR(sceneW, sceneH, greyToBGR(qrScene(qrBackground(3), nil, 0.7, 3)))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	benchQR(b, f, 0)
}
