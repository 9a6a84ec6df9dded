package tr31

import (
	"bytes"
	"crypto/rand"
	"os"
	"strings"
	"testing"
)

// FuzzUnwrap feeds arbitrary strings to Unwrap and ParseHeader: they must
// never panic, and a block that unwraps must carry a key of a sane length
// whose header re-renders to the block's own header.
func FuzzUnwrap(f *testing.F) {
	for _, v := range publishedVectors {
		f.Add(v.block, strings.ReplaceAll(v.kbpk, " ", ""))
	}
	f.Add("B0000P0TE00N0400KS1800604B120F9292800000T104T20600PB0600", "")
	f.Add("B0000P0TE00N0200KS0004001E00604B120F9292800000PB0AXXXXXX", "")
	if raw, err := os.ReadFile("testdata/x9143_8_5.txt"); err == nil {
		f.Add(strings.TrimSpace(string(raw)), "FA36E44278DB3AB5F298F9F7DA8F1F88")
	}
	f.Add("D0000P0AE00N0100LB0000", "")
	f.Add("D0000P0AE00N0100LB0004FFFF", "")
	f.Fuzz(func(t *testing.T, block, kbpkHex string) {
		_, _ = ParseHeader(block)
		kbpk := []byte(kbpkHex)
		if b, err := hexDecode(kbpkHex); err == nil {
			kbpk = b
		}
		h, key, err := Unwrap(kbpk, block)
		if err != nil {
			return
		}
		if len(key) == 0 || 2*len(key) > len(block) {
			t.Fatalf("key of %d bytes from a %d-character block", len(key), len(block))
		}
		if _, hl, err := parseHeader(block); err != nil || hl < 16 || h.String()[5:16] != block[5:16] {
			t.Fatalf("header does not re-render: %v", err)
		}
		// Re-wrapping the result must round trip.
		again, err := Wrap(kbpk, h, key, rand.Reader)
		if err != nil {
			return // e.g. masked blocks of odd algorithms; not an error here
		}
		_, key2, err := Unwrap(kbpk, again)
		if err != nil || !bytes.Equal(key, key2) {
			t.Fatalf("re-wrap failed: %v", err)
		}
	})
}

func hexDecode(s string) ([]byte, error) {
	b := make([]byte, len(s)/2)
	for i := range b {
		v, ok := parseHex(s[2*i : 2*i+2])
		if !ok {
			return nil, ErrFormat
		}
		b[i] = byte(v)
	}
	return b, nil
}
