package tr31

import (
	"crypto/rand"
	"testing"
)

func benchHeader() Header {
	return Header{Version: 'D', KeyUsage: "B1", Algorithm: 'A', ModeOfUse: 'X', Exportability: 'N',
		Blocks: []OptBlock{{ID: "IK", Data: "1234567890123456"}}}
}

func BenchmarkWrapD(b *testing.B) {
	kbpk := make([]byte, 32)
	key := make([]byte, 16)
	h := benchHeader()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Wrap(kbpk, h, key, rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnwrapD(b *testing.B) {
	kbpk := make([]byte, 32)
	block, err := Wrap(kbpk, benchHeader(), make([]byte, 16), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Unwrap(kbpk, block); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnwrapB(b *testing.B) {
	kbpk := make([]byte, 24)
	h := Header{Version: 'B', KeyUsage: "P0", Algorithm: 'T', ModeOfUse: 'E', Exportability: 'N'}
	block, err := Wrap(kbpk, h, make([]byte, 16), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Unwrap(kbpk, block); err != nil {
			b.Fatal(err)
		}
	}
}
