package emv

import (
	"crypto/subtle"
	"fmt"

	"posd/crypto/mac"
	"posd/crypto/tdes"
)

// Padding is the ISO/IEC 9797-1 padding method of an application
// cryptogram: Padding1 (zeros; Visa CVN 10) or Padding2 (80 then zeros;
// book 2 A1.2.1, CVN 18, M/Chip). It is the padding type of posd/crypto/mac.
type Padding = mac.Padding

// The two padding methods.
const (
	Padding1 = mac.Padding1
	Padding2 = mac.Padding2
)

// ACLen is the length of an application cryptogram (ARQC, TC, AAC).
const ACLen = 8

// GenerateAC computes the 8-byte application cryptogram (ARQC, TC or AAC)
// of data, the transaction data the card MACs (the CDOL values, then card
// data such as the AIP, ATC and CVR or issuer application data, in the
// order the cryptogram version defines), under the 16-byte AC session key
// sk: ISO/IEC 9797-1 MAC algorithm 3 with single DES and padding method p
// (book 2 A1.2.1).
func GenerateAC(sk, data []byte, p Padding) ([]byte, error) {
	if len(sk) != tdes.KeyLen2 {
		return nil, fmt.Errorf("%w: session key is %d bytes, want 16", ErrKeyLength, len(sk))
	}
	if p != Padding1 && p != Padding2 {
		return nil, fmt.Errorf("%w: padding %d", ErrMethod, int(p))
	}
	ac, err := mac.ISO9797Alg3(sk, data, p)
	if err != nil {
		return nil, fmt.Errorf("emv: application cryptogram: %w", err)
	}
	return ac, nil
}

// VerifyAC recomputes the application cryptogram of data and compares it
// with ac in constant time; a mismatch is ErrCryptogram.
func VerifyAC(sk, data []byte, p Padding, ac []byte) error {
	want, err := GenerateAC(sk, data, p)
	if err != nil {
		return err
	}
	if len(ac) != ACLen || subtle.ConstantTimeCompare(want, ac) != 1 {
		return ErrCryptogram
	}
	return nil
}

// ARPCMethod1 is ARPC method 1 of book 2 section 8.2.1: the 8-byte
// DES3(key)[ARQC XOR (ARC || 00 00 00 00 00 00)], with arqc the 8-byte
// ARQC and arc the 2-byte authorisation response code. key is the AC
// session key, or the ICC master key itself for the cryptogram versions
// that say so (Visa CVN 10, M/Chip CVN 16 and 17).
func ARPCMethod1(key, arqc, arc []byte) ([]byte, error) {
	if len(key) != tdes.KeyLen2 {
		return nil, fmt.Errorf("%w: ARPC key is %d bytes, want 16", ErrKeyLength, len(key))
	}
	if len(arqc) != ACLen {
		return nil, fmt.Errorf("%w: ARQC is %d bytes, want 8", ErrFieldLength, len(arqc))
	}
	if len(arc) != 2 {
		return nil, fmt.Errorf("%w: ARC is %d bytes, want 2", ErrFieldLength, len(arc))
	}
	c, err := tdes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyLength, err)
	}
	out := make([]byte, ACLen)
	copy(out, arqc)
	out[0] ^= arc[0]
	out[1] ^= arc[1]
	c.Encrypt(out, out)
	return out, nil
}

// ARPCMethod2 is ARPC method 2 of book 2 section 8.2.2: the leftmost 4
// bytes of the ISO/IEC 9797-1 algorithm 3 MAC (padding method 2) of
// ARQC || CSU || proprietary authentication data under the AC session
// key, with arqc 8 bytes, csu the 4-byte card status update and prop 0 to
// 8 bytes.
func ARPCMethod2(key, arqc, csu, prop []byte) ([]byte, error) {
	if len(key) != tdes.KeyLen2 {
		return nil, fmt.Errorf("%w: ARPC key is %d bytes, want 16", ErrKeyLength, len(key))
	}
	if len(arqc) != ACLen {
		return nil, fmt.Errorf("%w: ARQC is %d bytes, want 8", ErrFieldLength, len(arqc))
	}
	if len(csu) != 4 {
		return nil, fmt.Errorf("%w: CSU is %d bytes, want 4", ErrFieldLength, len(csu))
	}
	if len(prop) > 8 {
		return nil, fmt.Errorf("%w: proprietary authentication data is %d bytes, at most 8", ErrFieldLength, len(prop))
	}
	msg := make([]byte, 0, 20)
	msg = append(msg, arqc...)
	msg = append(msg, csu...)
	msg = append(msg, prop...)
	m, err := mac.ISO9797Alg3(key, msg, mac.Padding2)
	if err != nil {
		return nil, fmt.Errorf("emv: ARPC: %w", err)
	}
	return m[:4], nil
}
