// Package sealbox encrypts small records kept at rest (an offline
// approval's card data waiting to be forwarded): AES-256-GCM under a key
// the caller keeps wrapped under the device KEK, a fresh random 96-bit
// nonce per record, and associated data that binds each record to its
// place (a record copied elsewhere does not open).
//
// A sealed record is: version (01) || nonce (12 bytes) || ciphertext ||
// tag (16 bytes).
package sealbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"io"
)

// KeySize is the size of a Box's key: AES-256.
const KeySize = 32

const (
	version   = 0x01
	nonceSize = 12
	tagSize   = 16
	// Overhead is what sealing adds to a record.
	Overhead = 1 + nonceSize + tagSize
)

// Box seals and opens records under one key. It is safe for concurrent
// use when its Rand is.
type Box struct {
	aead cipher.AEAD
	rand io.Reader
}

// New returns a Box for key (KeySize bytes); rnd gives the nonces (nil:
// crypto/rand). The key is copied into the cipher; the caller wipes its own.
func New(key []byte, rnd io.Reader) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: key of %d bytes, want %d", ErrKey, len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	return &Box{aead: aead, rand: rnd}, nil
}

// Seal encrypts plain bound to ad.
func (b *Box) Seal(plain, ad []byte) ([]byte, error) {
	out := make([]byte, 1+nonceSize, Overhead+len(plain))
	out[0] = version
	if _, err := io.ReadFull(b.rand, out[1:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRandom, err)
	}
	return b.aead.Seal(out, out[1:], plain, ad), nil
}

// Open decrypts a record sealed with the same key and ad. Any change to
// the record, another key or another ad gives ErrOpen and no data.
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < Overhead || sealed[0] != version {
		return nil, fmt.Errorf("%w: not a sealed record", ErrOpen)
	}
	plain, err := b.aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
