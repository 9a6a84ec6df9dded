package emv

import (
	"fmt"
	"math/big"
)

// Public key size limits: EMV moduli are whole bytes, at most 248 bytes
// (1984 bits) for CA, issuer and ICC keys; below 64 bytes no EMV format
// fits.
const (
	MinModulusLen = 64
	MaxModulusLen = 248
)

// PublicKey is an EMV RSA public key: the big-endian modulus and exponent
// as certificates and parameter files carry them.
type PublicKey struct {
	Modulus  []byte
	Exponent []byte
}

// Check reports ErrPublicKey unless the modulus is 64 to 248 bytes with a
// non-zero leading byte, odd, and the exponent is 3 or 65537 (book 2
// section 5.1 and 6.1), without leading zero bytes.
func (k PublicKey) Check() error {
	n := len(k.Modulus)
	if n < MinModulusLen || n > MaxModulusLen {
		return fmt.Errorf("%w: modulus is %d bytes, want %d to %d", ErrPublicKey, n, MinModulusLen, MaxModulusLen)
	}
	if k.Modulus[0] == 0 || k.Modulus[n-1]&1 == 0 {
		return fmt.Errorf("%w: modulus has a leading zero byte or is even", ErrPublicKey)
	}
	if !validExponent(k.Exponent) {
		return fmt.Errorf("%w: exponent is neither 3 nor 65537", ErrPublicKey)
	}
	return nil
}

func validExponent(e []byte) bool {
	switch len(e) {
	case 1:
		return e[0] == 3
	case 3:
		return e[0] == 1 && e[1] == 0 && e[2] == 1
	}
	return false
}

// Recover is the raw RSA public-key operation of EMV: data^e mod n, as
// many bytes as the modulus. data must be exactly as long as the modulus
// (ErrSignatureLength) and, as a number, below it (ErrRecovery). It is
// the first step of every certificate and signature check, and the
// encipherment of an offline enciphered PIN.
func (k PublicKey) Recover(data []byte) ([]byte, error) {
	if err := k.Check(); err != nil {
		return nil, err
	}
	if len(data) != len(k.Modulus) {
		return nil, fmt.Errorf("%w: %d bytes for a %d-byte modulus", ErrSignatureLength, len(data), len(k.Modulus))
	}
	n := new(big.Int).SetBytes(k.Modulus)
	s := new(big.Int).SetBytes(data)
	if s.Cmp(n) >= 0 {
		return nil, fmt.Errorf("%w: value not below the modulus", ErrRecovery)
	}
	e := new(big.Int).SetBytes(k.Exponent)
	m := s.Exp(s, e, n)
	out := make([]byte, len(k.Modulus))
	m.FillBytes(out)
	return out, nil
}
