package sealbox

import (
	"bytes"
	"errors"
	"testing"
)

func box(t testing.TB, k byte) *Box {
	t.Helper()
	b, err := New(bytes.Repeat([]byte{k}, KeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	b := box(t, 1)
	plain := []byte("4761730000000011=30122011000000000000")
	s1, err := b.Seal(plain, []byte("txn 1"))
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := b.Seal(plain, []byte("txn 1"))
	if bytes.Equal(s1, s2) || len(s1) != len(plain)+Overhead || bytes.Contains(s1, plain[:16]) {
		t.Fatalf("sealed records: % X / % X", s1, s2)
	}
	got, err := b.Open(s1, []byte("txn 1"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open: %q %v", got, err)
	}
	// Every byte changed, another place, another key: nothing opens.
	for i := range s1 {
		c := bytes.Clone(s1)
		c[i] ^= 0x01
		if _, err := b.Open(c, []byte("txn 1")); !errors.Is(err, ErrOpen) {
			t.Fatalf("byte %d changed: %v", i, err)
		}
	}
	if _, err := b.Open(s1, []byte("txn 2")); !errors.Is(err, ErrOpen) {
		t.Fatalf("other ad: %v", err)
	}
	if _, err := box(t, 2).Open(s1, []byte("txn 1")); !errors.Is(err, ErrOpen) {
		t.Fatalf("other key: %v", err)
	}
	if _, err := b.Open(s1[:Overhead-1], nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("short: %v", err)
	}
	if _, err := New(make([]byte, 16), nil); !errors.Is(err, ErrKey) {
		t.Fatalf("short key: %v", err)
	}
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestSealRandomFails(t *testing.T) {
	b, _ := New(make([]byte, KeySize), failing{})
	if _, err := b.Seal([]byte("x"), nil); !errors.Is(err, ErrRandom) {
		t.Fatalf("%v", err)
	}
}

// FuzzOpen: a damaged database hands Open any bytes; it never panics and
// opens nothing it did not seal.
func FuzzOpen(f *testing.F) {
	b := box(f, 3)
	s, _ := b.Seal([]byte("record"), []byte("ad"))
	f.Add(s, []byte("ad"))
	f.Add([]byte{0x01}, []byte{})
	f.Fuzz(func(t *testing.T, sealed, ad []byte) {
		p, err := b.Open(sealed, ad)
		if err == nil && (!bytes.Equal(p, []byte("record")) || !bytes.Equal(ad, []byte("ad"))) {
			t.Fatalf("opened %q with ad %q", p, ad)
		}
	})
}
