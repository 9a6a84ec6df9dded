package keyload

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"posd/crypto/tr31"
	"posd/terminal/dukptkeys"
	"posd/terminal/wiresec"
)

// FuzzLoadBlock feeds arbitrary key blocks to a loader holding an AES KBPK:
// never a panic, never a key in an error, and nothing but a valid B1 block
// under that KBPK is loaded.
func FuzzLoadBlock(f *testing.F) {
	l := newLoader(f, wiresec.ModeAES)
	a, b := h(f, aesA), h(f, aesB)
	kbpk := xor(a, b)
	if _, err := l.LoadKBPK('A', a, b); err != nil {
		f.Fatal(err)
	}
	ik := dukptCases[3].deriveIK(f)
	for _, hd := range []tr31.Header{
		b1Header('D', 'A', tr31.OptBlock{ID: "IK", Data: aesIKID}),
		b1Header('D', 'A'),
		{Version: 'D', KeyUsage: "P0", Algorithm: 'A', ModeOfUse: 'E', Exportability: 'N'},
	} {
		blk, err := tr31.Wrap(kbpk, hd, ik, rand.Reader)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(blk)
	}
	f.Add("")
	f.Add("D0016B1AX00N0000")
	secrets := secretsIn(a, b, kbpk, ik)
	f.Fuzz(func(t *testing.T, block string) {
		got, err := l.LoadBlock(block)
		if err != nil {
			if got != (Loaded{}) {
				t.Fatalf("result with an error: %+v", got)
			}
			noSecrets(t, err.Error(), secrets)
			if !errors.Is(err, ErrBlock) && !errors.Is(err, ErrUsage) && !errors.Is(err, ErrKSN) && !errors.Is(err, dukptkeys.ErrKSNReuse) {
				// Any other error is a store failure, which a fuzzed
				// block must not cause.
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if got.Usage != "B1" || !strings.HasSuffix(got.KSN, "00000000") {
			t.Fatalf("loaded %+v", got)
		}
	})
}

func FuzzParseComponent(f *testing.F) {
	f.Add("0123 4567 89AB CDEF FEDC BA98 7654 3210")
	f.Add("zz")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseComponent(s)
		if err != nil {
			if len(s) > 4 && strings.Contains(err.Error(), s) {
				t.Fatal("error quotes the input")
			}
			return
		}
		if len(b) == 0 || len(b) > 128 {
			t.Fatalf("%d bytes", len(b))
		}
		for _, alg := range []byte{'T', 'A'} {
			if kcv, err := ComponentKCV(alg, bytes.Clone(b)); err == nil && len(kcv) != 6 {
				t.Fatalf("KCV %q", kcv)
			}
		}
	})
}
