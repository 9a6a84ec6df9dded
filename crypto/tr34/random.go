package tr34

import (
	"crypto/rand"
	"encoding/asn1"
	"fmt"
	"io"
)

// Lengths of the device's random number.
const (
	NonceLen    = 16 // what NewNonce draws
	MinNonceLen = 8  // the shortest accepted (the TR-34 samples use 8)
	MaxNonceLen = 32
)

// NewNonce draws a fresh random number of NonceLen bytes from rnd (nil:
// crypto/rand).
func NewNonce(rnd io.Reader) ([]byte, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	n := make([]byte, NonceLen)
	if _, err := io.ReadFull(rnd, n); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRandom, err)
	}
	return n, nil
}

func checkNonce(n []byte) error {
	if len(n) < MinNonceLen || len(n) > MaxNonceLen {
		return fmt.Errorf("random number of %d bytes, want %d to %d", len(n), MinNonceLen, MaxNonceLen)
	}
	return nil
}

// RandomToken encodes the device's random number as the TR-34 random
// number token RT_KRD: Attribute { randomNonce, { OCTET STRING } }.
func RandomToken(nonce []byte) ([]byte, error) {
	if err := checkNonce(nonce); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	a, err := oneValue(oidRandomNonce, nonce)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	return asn1.Marshal(a)
}

// ParseRandomToken reads the random number out of a random number token
// (the KDH's side). Errors: ErrFormat.
func ParseRandomToken(der []byte) ([]byte, error) {
	if len(der) > 256 {
		return nil, fmt.Errorf("%w: random number token of %d bytes", ErrFormat, len(der))
	}
	var a attribute
	if err := unmarshalStrict(der, &a, "random number token"); err != nil {
		return nil, err
	}
	if !a.Type.Equal(oidRandomNonce) {
		return nil, fmt.Errorf("%w: random number token has attribute type %v", ErrFormat, a.Type)
	}
	return nonceValue(a)
}

// nonceValue reads the one OCTET STRING of a randomNonce attribute.
func nonceValue(a attribute) ([]byte, error) {
	if len(a.Values) != 1 {
		return nil, fmt.Errorf("%w: random number attribute has %d values", ErrFormat, len(a.Values))
	}
	var n []byte
	if err := unmarshalStrict(a.Values[0].FullBytes, &n, "random number"); err != nil {
		return nil, err
	}
	if err := checkNonce(n); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return n, nil
}
