package tdes

import (
	"crypto/des"
	"testing"
)

// Setting up a key and enciphering one block, the pattern of DUKPT key
// derivation, PIN blocks and check values; "stdlib" is the standard
// library's three-key cipher over the 24-byte K1 K2 K1 form, for scale.
func BenchmarkNewCipherOneBlock(b *testing.B) {
	key2 := []byte("\x01\x23\x45\x67\x89\xAB\xCD\xEF\xFE\xDC\xBA\x98\x76\x54\x32\x10")
	blk := make([]byte, BlockSize)
	b.Run("2key", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, err := NewCipher(key2)
			if err != nil {
				b.Fatal(err)
			}
			c.Encrypt(blk, blk)
		}
	})
	b.Run("2key-stdlib", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var k [KeyLen3]byte
			copy(k[:], key2)
			copy(k[16:], key2[:8])
			c, err := des.NewTripleDESCipher(k[:])
			if err != nil {
				b.Fatal(err)
			}
			c.Encrypt(blk, blk)
		}
	})
}

// Enciphering one block with a cipher already set up: the price of not
// sharing the standard library's single initial/final permutation.
func BenchmarkEncryptBlock(b *testing.B) {
	key2 := []byte("\x01\x23\x45\x67\x89\xAB\xCD\xEF\xFE\xDC\xBA\x98\x76\x54\x32\x10")
	blk := make([]byte, BlockSize)
	c, err := NewCipher(key2)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Encrypt(blk, blk)
	}
}
