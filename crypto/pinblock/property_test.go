package pinblock

import (
	"errors"
	"math/rand/v2"
	"testing"
)

func digits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}

// Property: for random PINs (4..12 digits) and PANs (2..19 digits), every
// format decodes what it encoded, and format 0 and 3 blocks of the same
// PIN/PAN differ only in the control nibble and the fill.
func TestPropertyRandomPINsAndPANs(t *testing.T) {
	r := rand.New(rand.NewPCG(9564, 1))
	tk := []byte("0123456789ABCDEF")
	ak := []byte("0123456789ABCDEF0123456789ABCDEF")
	for i := 0; i < 2000; i++ {
		pin := digits(r, 4+r.IntN(9))
		pan := digits(r, 2+r.IntN(18))
		b0, err := EncodeFormat0(pin, pan)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := DecodeFormat0(b0, pan); err != nil || got != pin {
			t.Fatalf("format 0: %v", err)
		}
		b3, err := EncodeFormat3(pin, pan, r2reader{r})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := DecodeFormat3(b3, pan); err != nil || got != pin {
			t.Fatalf("format 3: %v", err)
		}
		// Same PIN nibbles after the control nibble.
		for n := 1; n < 2+len(pin); n++ {
			if nibble(b0, n) != nibble(b3, n) {
				t.Fatalf("formats 0 and 3 differ at nibble %d", n)
			}
		}
		e0, err := EncryptFormat0(tk, pin, pan)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := DecryptFormat0(tk, e0, pan); err != nil || got != pin {
			t.Fatalf("TDES format 0: %v", err)
		}
		e4, err := EncryptFormat4(ak, pin, pan, r2reader{r})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := DecryptFormat4(ak, e4, pan); err != nil || got != pin {
			t.Fatalf("AES format 4: %v", err)
		}
		// A format 0 block read as format 3 (or back) is a format error,
		// never a silently different PIN.
		if _, err := DecodeFormat3(b0, pan); !errors.Is(err, ErrFormat) {
			t.Fatalf("format 0 block read as format 3: %v", err)
		}
	}
}

// r2reader adapts a math/rand generator to io.Reader for deterministic
// fill in tests.
type r2reader struct{ r *rand.Rand }

func (x r2reader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(x.r.Uint32())
	}
	return len(p), nil
}
