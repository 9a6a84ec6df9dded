package engauth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
)

// GenerateKey makes an engineer authority key pair from SeedSize bytes of
// rnd (nil: crypto/rand).
func GenerateKey(rnd io.Reader) (ed25519.PublicKey, ed25519.PrivateKey, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	seed := make([]byte, ed25519.SeedSize)
	defer clear(seed)
	if _, err := io.ReadFull(rnd, seed); err != nil {
		return nil, nil, fmt.Errorf("%w: random source: %w", ErrKey, err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return priv.Public().(ed25519.PublicKey), priv, nil
}

// keyBytes decodes a key file's text: hex, or base64 (standard or URL
// alphabet, padded or not), surrounding whitespace ignored. It returns nil
// when the text is neither or its length is not one of sizes.
func keyBytes(b []byte, sizes ...int) []byte {
	s := string(bytes.TrimSpace(b))
	fits := func(k []byte) bool {
		for _, n := range sizes {
			if len(k) == n {
				return true
			}
		}
		return false
	}
	if k, err := hex.DecodeString(s); err == nil && fits(k) {
		return k
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && fits(k) {
			return k
		}
	}
	return nil
}

// ParsePublicKey reads the engineer authority's public key from a file's
// bytes: hex or base64 of the raw 32-byte key.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	if len(b) > 4096 {
		return nil, fmt.Errorf("%w: public key file too large", ErrKey)
	}
	k := keyBytes(b, ed25519.PublicKeySize)
	if k == nil {
		return nil, fmt.Errorf("%w: want hex or base64 of a %d-byte Ed25519 public key", ErrKey, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(k), nil
}

// ParsePrivateKey reads an engineer authority's private key from a file's
// bytes: hex or base64 of the 32-byte seed, or of the 64-byte private key
// (seed then public key; the public half must match the seed).
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	if len(b) > 4096 {
		return nil, fmt.Errorf("%w: private key file too large", ErrKey)
	}
	k := keyBytes(b, ed25519.SeedSize, ed25519.PrivateKeySize)
	if k == nil {
		return nil, fmt.Errorf("%w: want hex or base64 of a %d-byte Ed25519 seed or %d-byte private key", ErrKey, ed25519.SeedSize, ed25519.PrivateKeySize)
	}
	defer clear(k)
	priv := ed25519.NewKeyFromSeed(k[:ed25519.SeedSize])
	if len(k) == ed25519.PrivateKeySize && !bytes.Equal(priv[ed25519.SeedSize:], k[ed25519.SeedSize:]) {
		clear(priv)
		return nil, fmt.Errorf("%w: the private key's public half does not match its seed", ErrKey)
	}
	return priv, nil
}
