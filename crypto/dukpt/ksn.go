package dukpt

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"strings"
)

// KSN sizes and counter limits.
const (
	// TDESKSNLen is the size of an X9.24-1 KSN: 59-bit initial KSN plus a
	// 21-bit transaction counter.
	TDESKSNLen = 10
	// AESKSNLen is the size of an X9.24-3 KSN: 8-byte initial key ID plus a
	// 32-bit transaction counter.
	AESKSNLen = 12
	// AESIKIDLen is the size of the initial key ID (BDK ID + derivation ID).
	AESIKIDLen = 8

	tdesCounterBits = 21
	tdesCounterMask = 1<<tdesCounterBits - 1
	tdesMaxOnes     = 10
	aesCounterBits  = 32
	aesMaxOnes      = 16
)

// counterSpec describes the transaction counter of one KSN flavour.
type counterSpec struct {
	bits    uint // width of the counter
	maxOnes int  // most one-bits a valid counter may have
}

var (
	tdesSpec = counterSpec{bits: tdesCounterBits, maxOnes: tdesMaxOnes}
	aesSpec  = counterSpec{bits: aesCounterBits, maxOnes: aesMaxOnes}
)

// next returns the smallest valid counter strictly greater than c, or
// false when there is none in the counter space. c itself need not be valid.
func (s counterSpec) next(c uint64) (uint64, bool) {
	limit := uint64(1) << s.bits
	n := c + 1
	for n < limit && bits.OnesCount64(n) > s.maxOnes {
		// Every value in [n, n+lsb(n)) keeps all of n's one-bits, so none
		// is valid: jump over them.
		n += n & -n
	}
	if n >= limit {
		return 0, false
	}
	return n, true
}

// valid reports whether c fits and has few enough one-bits.
func (s counterSpec) valid(c uint64) bool {
	return c < uint64(1)<<s.bits && bits.OnesCount64(c) <= s.maxOnes
}

func tdesCounter(ksn []byte) uint32 {
	return uint32(ksn[7]&0x1F)<<16 | uint32(ksn[8])<<8 | uint32(ksn[9])
}

func tdesSetCounter(ksn []byte, c uint32) {
	ksn[7] = ksn[7]&0xE0 | byte(c>>16)&0x1F
	ksn[8] = byte(c >> 8)
	ksn[9] = byte(c)
}

func aesCounter(ksn []byte) uint32 {
	return binary.BigEndian.Uint32(ksn[AESIKIDLen:])
}

func aesSetCounter(ksn []byte, c uint32) {
	binary.BigEndian.PutUint32(ksn[AESIKIDLen:], c)
}

// ValidateKSN checks a KSN: 10 bytes are judged by the TDES rules of
// X9.24-1 (21-bit counter, at most 10 one-bits), 12 bytes by the AES rules
// of X9.24-3 (32-bit counter, at most 16 one-bits). A zero counter (an
// initial KSN) is valid here; the key derivations refuse it separately.
func ValidateKSN(ksn []byte) error {
	switch len(ksn) {
	case TDESKSNLen:
		if !tdesSpec.valid(uint64(tdesCounter(ksn))) {
			return fmt.Errorf("%w: TDES counter %06X", ErrKSNTooManyOnes, tdesCounter(ksn))
		}
	case AESKSNLen:
		if !aesSpec.valid(uint64(aesCounter(ksn))) {
			return fmt.Errorf("%w: AES counter %08X", ErrKSNTooManyOnes, aesCounter(ksn))
		}
	default:
		return fmt.Errorf("%w: %d bytes", ErrKSNLength, len(ksn))
	}
	return nil
}

// NextKSN returns a new slice holding the next valid KSN after ksn: the
// smallest counter above the current one that has few enough one-bits, the
// rest of the KSN unchanged. It returns ErrExhausted when no such counter
// exists (after 1FF800 for TDES, after FFFF0000 for AES). The input need
// not be valid itself.
func NextKSN(ksn []byte) ([]byte, error) {
	out := make([]byte, len(ksn))
	copy(out, ksn)
	switch len(ksn) {
	case TDESKSNLen:
		n, ok := tdesSpec.next(uint64(tdesCounter(ksn)))
		if !ok {
			return nil, fmt.Errorf("%w: after TDES counter %06X", ErrExhausted, tdesCounter(ksn))
		}
		tdesSetCounter(out, uint32(n))
	case AESKSNLen:
		n, ok := aesSpec.next(uint64(aesCounter(ksn)))
		if !ok {
			return nil, fmt.Errorf("%w: after AES counter %08X", ErrExhausted, aesCounter(ksn))
		}
		aesSetCounter(out, uint32(n))
	default:
		return nil, fmt.Errorf("%w: %d bytes", ErrKSNLength, len(ksn))
	}
	return out, nil
}

// KSNCounter returns the transaction counter of a 10- or 12-byte KSN.
func KSNCounter(ksn []byte) (uint32, error) {
	switch len(ksn) {
	case TDESKSNLen:
		return tdesCounter(ksn), nil
	case AESKSNLen:
		return aesCounter(ksn), nil
	}
	return 0, fmt.Errorf("%w: %d bytes", ErrKSNLength, len(ksn))
}

// SplitKSN splits a 10- or 12-byte KSN into its base — a new slice, the
// KSN with its transaction counter cleared, which names the device and
// its initial key — and the counter.
func SplitKSN(ksn []byte) (base []byte, counter uint32, err error) {
	c, err := KSNCounter(ksn)
	if err != nil {
		return nil, 0, err
	}
	base = bytes.Clone(ksn)
	if len(base) == TDESKSNLen {
		tdesSetCounter(base, 0)
	} else {
		aesSetCounter(base, 0)
	}
	return base, c, nil
}

// ParseKSN decodes a KSN written in hexadecimal (20 digits for TDES, 24 for
// AES; either case; surrounding white space and inner spaces, '-' or ':'
// separators are ignored) and validates it with ValidateKSN.
func ParseKSN(hexstr string) ([]byte, error) {
	s := strings.TrimSpace(hexstr)
	if strings.ContainsAny(s, " -:") {
		s = strings.Map(func(r rune) rune {
			switch r {
			case ' ', '-', ':':
				return -1
			}
			return r
		}, s)
	}
	if len(s) != 2*TDESKSNLen && len(s) != 2*AESKSNLen {
		return nil, fmt.Errorf("%w: %d hex digits", ErrKSNLength, len(s))
	}
	ksn, err := hex.DecodeString(s)
	if err != nil {
		return nil, ErrKSNFormat
	}
	if err := ValidateKSN(ksn); err != nil {
		return nil, err
	}
	return ksn, nil
}
