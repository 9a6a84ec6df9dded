//go:build nocv

package camera

import (
	"errors"
	"image"
	"testing"
)

func TestQRDetectorUnsupported(t *testing.T) {
	q, err := NewQRDetector()
	if q != nil {
		t.Fatalf("NewQRDetector = %v, want nil", q)
	}
	var ue *UnsupportedError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUnsupported) || !IsFatal(err) {
		t.Fatalf("NewQRDetector error %T %v, want an *UnsupportedError", err, err)
	}
	f, err := NewFrameBGR(2, 2, make([]byte, 12))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, q := range map[string]*QRDetector{"nil": nil, "zero": {}} {
		if _, err := q.Decode(f); !errors.As(err, &ue) {
			t.Errorf("%s: Decode = %v", name, err)
		}
		if _, err := q.DecodeImage(image.NewGray(image.Rect(0, 0, 2, 2))); !errors.As(err, &ue) {
			t.Errorf("%s: DecodeImage = %v", name, err)
		}
		if _, err := q.DecodeBGR(2, 2, make([]byte, 12)); !errors.As(err, &ue) {
			t.Errorf("%s: DecodeBGR = %v", name, err)
		}
		if err := q.Close(); err != nil {
			t.Errorf("%s: Close = %v", name, err)
		}
	}
}
