package keystore

import (
	"testing"

	"posd/crypto/tr31"
)

func BenchmarkUse(b *testing.B) {
	s, _, _, _ := newStore(b)
	h := tr31.Header{Version: 'D', KeyUsage: "B1", Algorithm: 'A', ModeOfUse: 'X', Exportability: 'N'}
	if err := s.Put("ik", h, make([]byte, 16)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Use("ik", func([]byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPut(b *testing.B) {
	s, _, _, _ := newStore(b)
	h := tr31.Header{Version: 'D', KeyUsage: "B1", Algorithm: 'A', ModeOfUse: 'X', Exportability: 'N'}
	key := make([]byte, 16)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Put("ik", h, key); err != nil {
			b.Fatal(err)
		}
	}
}
