package alpar

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseCardParams(t *testing.T) {
	in := []byte{0x01, 0x02, 0x03}
	p, err := ParseCardParams(in)
	if err != nil || !bytes.Equal(p.Raw, in) {
		t.Fatalf("%+v %v", p, err)
	}
	in[0] = 0xFF
	if p.Raw[0] != 0x01 {
		t.Fatal("Raw aliases the frame buffer")
	}
	for _, b := range [][]byte{nil, {}, make([]byte, MaxPayload+1)} {
		if _, err := ParseCardParams(b); !errors.Is(err, ErrBadResponse) {
			t.Errorf("%d bytes: %v", len(b), err)
		}
	}
}

func FuzzParseCardParams(f *testing.F) {
	f.Add([]byte{0x11})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseCardParams(b)
		if err != nil {
			if !errors.Is(err, ErrBadResponse) || (len(b) > 0 && len(b) <= MaxPayload) {
				t.Fatalf("%d bytes: %v", len(b), err)
			}
			return
		}
		if !bytes.Equal(p.Raw, b) || (len(b) > 0 && &p.Raw[0] == &b[0]) {
			t.Fatalf("% X -> %+v", b, p)
		}
	})
}
