package dukpt

import (
	"crypto/des"
	"fmt"

	"posd/crypto/tdes"
)

// TDESKeyLen is the size of every TDES DUKPT key: BDK, IK and transaction
// keys are double-length (2TDEA) keys.
const TDESKeyLen = 16

// Variant selects one of the X9.24-1:2009 variants of a TDES transaction
// key (annex A, table A-1).
type Variant int

// The TDES key variants.
const (
	VariantPIN          Variant = iota + 1 // PIN encryption
	VariantMACRequest                      // MAC, request (terminal to host)
	VariantMACResponse                     // MAC, response (host to terminal)
	VariantDataRequest                     // data encryption, request (with the 2009 one-way step)
	VariantDataResponse                    // data encryption, response (with the 2009 one-way step)
)

// String names the variant.
func (v Variant) String() string {
	switch v {
	case VariantPIN:
		return "PIN"
	case VariantMACRequest:
		return "MAC request"
	case VariantMACResponse:
		return "MAC response"
	case VariantDataRequest:
		return "data request"
	case VariantDataResponse:
		return "data response"
	}
	return fmt.Sprintf("Variant(%d)", int(v))
}

// variantByte is the index, within each 8-byte half, of the byte XORed
// with FF for the variant.
func (v Variant) variantByte() (int, bool) {
	switch v {
	case VariantPIN:
		return 7, true // 00000000000000FF 00000000000000FF
	case VariantMACRequest:
		return 6, true // 000000000000FF00 000000000000FF00
	case VariantMACResponse:
		return 4, true // 00000000FF000000 00000000FF000000
	case VariantDataRequest:
		return 5, true // 0000000000FF0000 0000000000FF0000
	case VariantDataResponse:
		return 3, true // 000000FF00000000 000000FF00000000
	}
	return 0, false
}

// tdes2Encrypt encrypts one 8-byte block in place under a 2TDEA key
// (K1 K2 K1, encrypt-decrypt-encrypt).
func tdes2Encrypt(key, block []byte) error {
	c, err := tdes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyLength, err)
	}
	c.Encrypt(block, block)
	return nil
}

// desEncryptXor computes out = DES(key, in XOR mask) XOR mask.
func desEncryptXor(key, mask, in, out []byte) {
	var b [8]byte
	for i := range b {
		b[i] = in[i] ^ mask[i]
	}
	c, err := des.NewCipher(key)
	if err != nil {
		panic("dukpt: internal DES key length")
	}
	c.Encrypt(b[:], b[:])
	for i := range b {
		out[i] = b[i] ^ mask[i]
	}
	wipe(b[:])
}

// nrkgp is the non-reversible key generation process of X9.24-1:2009 A.2:
// from key register key (16 bytes) and crypto register cr1 (the rightmost 8
// bytes of the KSN register) it writes the next key into out (16 bytes,
// may alias key).
func nrkgp(key, cr1, out []byte) {
	var cr2, kv [16]byte
	// Right half: DES under the key's left half with the right half as
	// pre- and post-whitening.
	desEncryptXor(key[:8], key[8:], cr1, cr2[:8])
	// Left half: the same under the key XOR C0C0C0C000000000C0C0C0C000000000.
	copy(kv[:], key)
	for _, i := range [...]int{0, 1, 2, 3, 8, 9, 10, 11} {
		kv[i] ^= 0xC0
	}
	desEncryptXor(kv[:8], kv[8:], cr1, cr2[8:])
	copy(out[:8], cr2[8:])
	copy(out[8:], cr2[:8])
	wipe(cr2[:])
	wipe(kv[:])
}

func checkTDESKSN(ksn []byte) error {
	if len(ksn) != TDESKSNLen {
		return fmt.Errorf("%w: TDES KSN must be %d bytes, got %d", ErrKSNLength, TDESKSNLen, len(ksn))
	}
	return nil
}

// TDESDeriveIK derives the 16-byte initial key (IPEK) of a device from the
// 2TDEA base derivation key and the device's KSN (X9.24-1:2009 A.6). The
// transaction counter in ksn is ignored, so any KSN of the device works.
func TDESDeriveIK(bdk, ksn []byte) ([]byte, error) {
	if len(bdk) != TDESKeyLen {
		return nil, fmt.Errorf("%w: TDES BDK must be %d bytes, got %d", ErrKeyLength, TDESKeyLen, len(bdk))
	}
	if err := checkTDESKSN(ksn); err != nil {
		return nil, err
	}
	var iksn [8]byte
	copy(iksn[:], ksn[:8])
	iksn[7] &= 0xE0

	ik := make([]byte, TDESKeyLen)
	copy(ik[:8], iksn[:])
	copy(ik[8:], iksn[:])
	var v [TDESKeyLen]byte
	copy(v[:], bdk)
	for _, i := range [...]int{0, 1, 2, 3, 8, 9, 10, 11} {
		v[i] ^= 0xC0
	}
	err := tdes2Encrypt(bdk, ik[:8])
	if err == nil {
		err = tdes2Encrypt(v[:], ik[8:])
	}
	wipe(v[:])
	if err != nil {
		wipe(ik)
		return nil, err
	}
	return ik, nil
}

// TDESDeriveKey derives, on the receiving side, the transaction key of the
// KSN from the BDK: the key before any variant is applied.
func TDESDeriveKey(bdk, ksn []byte) ([]byte, error) {
	ik, err := TDESDeriveIK(bdk, ksn)
	if err != nil {
		return nil, err
	}
	defer wipe(ik)
	return TDESDeriveKeyFromIK(ik, ksn)
}

// TDESDeriveKeyFromIK derives the transaction key of the KSN from the
// device's initial key (X9.24-1:2009 A.3): one non-reversible step per
// one-bit of the counter, from the most significant down.
func TDESDeriveKeyFromIK(ik, ksn []byte) ([]byte, error) {
	if len(ik) != TDESKeyLen {
		return nil, fmt.Errorf("%w: TDES IK must be %d bytes, got %d", ErrKeyLength, TDESKeyLen, len(ik))
	}
	if err := checkTDESKSN(ksn); err != nil {
		return nil, err
	}
	if err := ValidateKSN(ksn); err != nil {
		return nil, err
	}
	tc := tdesCounter(ksn)
	if tc == 0 {
		return nil, fmt.Errorf("%w: % X", ErrKSNCounterZero, ksn)
	}
	key := make([]byte, TDESKeyLen)
	copy(key, ik)
	var reg [TDESKSNLen]byte
	copy(reg[:], ksn)
	tdesSetCounter(reg[:], 0)
	for sr := uint32(1) << (tdesCounterBits - 1); sr != 0; sr >>= 1 {
		if tc&sr == 0 {
			continue
		}
		tdesSetCounter(reg[:], tdesCounter(reg[:])|sr)
		nrkgp(key, reg[2:], key)
	}
	return key, nil
}

// tdesChildKey derives the key of counter (the counter of the parent key
// with one more bit set) from the parent key; ksn supplies the upper bits.
func tdesChildKey(parent, ksn []byte, counter uint32) []byte {
	var reg [TDESKSNLen]byte
	copy(reg[:], ksn)
	tdesSetCounter(reg[:], counter)
	out := make([]byte, TDESKeyLen)
	nrkgp(parent, reg[2:], out)
	return out
}

// TDESVariant returns, in a new 16-byte slice, the variant v of a TDES
// transaction key (X9.24-1:2009 A.4.1 table A-1). For the data variants it
// also applies the one-way step of the 2009 edition: each half of the
// variant key is TDES-encrypted under the whole variant key (one cipher
// serves both halves).
func TDESVariant(txnKey []byte, v Variant) ([]byte, error) {
	if len(txnKey) != TDESKeyLen {
		return nil, fmt.Errorf("%w: TDES transaction key must be %d bytes, got %d", ErrKeyLength, TDESKeyLen, len(txnKey))
	}
	idx, ok := v.variantByte()
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrUsage, v)
	}
	out := make([]byte, TDESKeyLen)
	copy(out, txnKey)
	out[idx] ^= 0xFF
	out[8+idx] ^= 0xFF
	if v == VariantDataRequest || v == VariantDataResponse {
		c, err := tdes.NewCipher(out)
		if err != nil {
			wipe(out)
			return nil, fmt.Errorf("%w: %w", ErrKeyLength, err)
		}
		c.Encrypt(out[:8], out[:8])
		c.Encrypt(out[8:], out[8:])
	}
	return out, nil
}

// wipe zeroes b.
func wipe(b []byte) {
	clear(b)
}
