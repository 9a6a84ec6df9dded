package tdes

import (
	"crypto/cipher"
	"crypto/des"
	"fmt"
)

// BlockSize is the TDES block size in bytes.
const BlockSize = des.BlockSize

// Key lengths.
const (
	KeyLen2 = 16 // double length, K1 K2 (2TDEA), used as K1 K2 K1
	KeyLen3 = 24 // triple length, K1 K2 K3 (3TDEA)
)

// NewCipher returns the TDES cipher of a 16- or 24-byte key, with each DES
// key schedule computed once. The cipher is safe for concurrent use, like
// those of crypto/des.
func NewCipher(key []byte) (cipher.Block, error) {
	switch len(key) {
	case KeyLen2:
		k1, err := des.NewCipher(key[:8])
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeyLength, err)
		}
		k2, err := des.NewCipher(key[8:])
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeyLength, err)
		}
		return &twoKey{k1: k1, k2: k2}, nil
	case KeyLen3:
		c, err := des.NewTripleDESCipher(key)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeyLength, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("%w: got %d", ErrKeyLength, len(key))
}

// twoKey is keying option 2: K3 = K1, so the K1 schedule serves twice.
type twoKey struct {
	k1, k2 cipher.Block
}

func (c *twoKey) BlockSize() int { return BlockSize }

// Encrypt computes E(K1, D(K2, E(K1, src))) into dst; like crypto/des it
// panics only on a short buffer, which is a programming error.
func (c *twoKey) Encrypt(dst, src []byte) {
	c.k1.Encrypt(dst, src)
	c.k2.Decrypt(dst, dst)
	c.k1.Encrypt(dst, dst)
}

// Decrypt computes D(K1, E(K2, D(K1, src))) into dst.
func (c *twoKey) Decrypt(dst, src []byte) {
	c.k1.Decrypt(dst, src)
	c.k2.Encrypt(dst, dst)
	c.k1.Decrypt(dst, dst)
}
