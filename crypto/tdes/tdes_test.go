package tdes

import (
	"bytes"
	"crypto/des"
	"encoding/hex"
	"errors"
	"posd/internal/testhex"
	"strings"
	"testing"
)

// reference is the standard library's three-key cipher over the 24-byte
// form of key, built independently of NewCipher: the oracle of the tests.
func reference(t testing.TB, key []byte) *refCipher {
	t.Helper()
	k := append([]byte{}, key...)
	if len(k) == KeyLen2 {
		k = append(k, key[:8]...)
	}
	c, err := des.NewTripleDESCipher(k)
	if err != nil {
		t.Fatal(err)
	}
	return &refCipher{enc: c.Encrypt, dec: c.Decrypt}
}

type refCipher struct{ enc, dec func(dst, src []byte) }

// Known answers with double-length keys from ANSI X9.24-1:2009 A.4: the
// two halves of the initial key 6AC292FAA1315B4D 858AB3A3D7D5933A are the
// TDES encryptions of the initial KSN's left 8 bytes (counter bits
// cleared) under the BDK and under the BDK XOR C0C0C0C000000000C0C0C0C0
// 00000000.
func TestKnownAnswersX924(t *testing.T) {
	for _, c := range []struct{ key, plain, want string }{
		{"0123456789ABCDEFFEDCBA9876543210", "FFFF9876543210E0", "6AC292FAA1315B4D"},
		{"C1E385A789ABCDEF3E1C7A5876543210", "FFFF9876543210E0", "858AB3A3D7D5933A"},
	} {
		b, err := NewCipher(testhex.Bytes(t, c.key))
		if err != nil {
			t.Fatal(err)
		}
		if b.BlockSize() != 8 {
			t.Fatalf("block size %d", b.BlockSize())
		}
		out := make([]byte, 8)
		b.Encrypt(out, testhex.Bytes(t, c.plain))
		if got := strings.ToUpper(hex.EncodeToString(out)); got != c.want {
			t.Errorf("E(%s, %s) = %s, want %s", c.key, c.plain, got, c.want)
		}
		b.Decrypt(out, out)
		if got := strings.ToUpper(hex.EncodeToString(out)); got != c.plain {
			t.Errorf("D(E(x)) = %s, want %s", got, c.plain)
		}
	}
}

// Keying options 1 and 2 agree with the standard library's three-key
// cipher, in both directions and in place; the keys include K1 = K2 (which
// degenerates to single DES) and halves that differ only in parity bits.
func TestAgainstStandardLibrary(t *testing.T) {
	keys := []string{
		"0123456789ABCDEFFEDCBA9876543210",
		"FEDCBA98765432100123456789ABCDEF",
		"0123456789ABCDEF0123456789ABCDEF",
		"0123456789ABCDEF0022446688AACCEE",
		"0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123",
		"0123456789ABCDEFFEDCBA98765432100123456789ABCDEF",
	}
	for _, ks := range keys {
		key := testhex.Bytes(t, ks)
		b, err := NewCipher(key)
		if err != nil {
			t.Fatalf("%s: %v", ks, err)
		}
		ref := reference(t, key)
		blk := testhex.Bytes(t, "4E6F772069732074")
		for i := 0; i < 4; i++ {
			got, want := make([]byte, 8), make([]byte, 8)
			b.Encrypt(got, blk)
			ref.enc(want, blk)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: Encrypt(%X) = %X, want %X", ks, blk, got, want)
			}
			b.Decrypt(got, blk)
			ref.dec(want, blk)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: Decrypt(%X) = %X, want %X", ks, blk, got, want)
			}
			inPlace := append([]byte{}, blk...)
			b.Encrypt(inPlace, inPlace)
			ref.enc(want, blk)
			if !bytes.Equal(inPlace, want) {
				t.Fatalf("%s: in-place Encrypt differs", ks)
			}
			blk = want
		}
	}
}

// The two halves of a double-length key are not interchangeable: a cipher
// that used K2 first (or K1 three times) would be caught here.
func TestKeyOrderMatters(t *testing.T) {
	a, _ := NewCipher(testhex.Bytes(t, "0123456789ABCDEFFEDCBA9876543210"))
	b, _ := NewCipher(testhex.Bytes(t, "FEDCBA98765432100123456789ABCDEF"))
	x, y := make([]byte, 8), make([]byte, 8)
	a.Encrypt(x, x)
	b.Encrypt(y, y)
	if bytes.Equal(x, y) {
		t.Fatal("swapping K1 and K2 gives the same ciphertext")
	}
}

func TestKeyLengthErrors(t *testing.T) {
	for _, n := range []int{0, 1, 8, 15, 17, 23, 25, 32} {
		key := bytes.Repeat([]byte{0xA7}, n)
		b, err := NewCipher(key)
		if b != nil || !errors.Is(err, ErrKeyLength) {
			t.Errorf("%d bytes: got %v, %v; want ErrKeyLength", n, b, err)
			continue
		}
		if n > 0 && strings.Contains(strings.ToUpper(err.Error()), "A7A7") {
			t.Errorf("%d bytes: error %q carries key bytes", n, err)
		}
	}
}

// FuzzAgainstStandardLibrary: for any 16- or 24-byte key and block,
// NewCipher agrees with the standard library's three-key cipher and
// decrypts what it encrypts.
func FuzzAgainstStandardLibrary(f *testing.F) {
	f.Add([]byte("0123456789abcdef"), []byte("12345678"))
	f.Add([]byte("0123456789abcdefghijklmn"), []byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, key, blk []byte) {
		b, err := NewCipher(key)
		if len(key) != KeyLen2 && len(key) != KeyLen3 {
			if err == nil {
				t.Fatalf("%d-byte key accepted", len(key))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(blk) < BlockSize {
			return
		}
		blk = blk[:BlockSize]
		got, want, back := make([]byte, 8), make([]byte, 8), make([]byte, 8)
		b.Encrypt(got, blk)
		reference(t, key).enc(want, blk)
		if !bytes.Equal(got, want) {
			t.Fatalf("Encrypt = %X, want %X", got, want)
		}
		b.Decrypt(back, got)
		if !bytes.Equal(back, blk) {
			t.Fatalf("Decrypt(Encrypt(%X)) = %X", blk, back)
		}
	})
}
