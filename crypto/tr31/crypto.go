package tr31

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"encoding/binary"
	"fmt"

	"posd/crypto/tdes"
)

// newTDES returns a TDES block cipher for a double (16-byte) or triple
// (24-byte) length key. A double length key K1K2 is used as K1K2K1.
func newTDES(key []byte) (cipher.Block, error) {
	b, err := tdes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: TDES key of %d bytes", ErrKBPK, len(key))
	}
	return b, nil
}

// cmac computes the CMAC (NIST SP 800-38B) of msg under the block cipher b.
// It works for 64-bit (TDES) and 128-bit (AES) block ciphers.
func cmac(b cipher.Block, msg []byte) []byte {
	bs := b.BlockSize()
	rb := byte(0x87)
	if bs == 8 {
		rb = 0x1B
	}
	l := make([]byte, bs)
	b.Encrypt(l, l)
	k1 := dbl(l, rb)
	k2 := dbl(k1, rb)

	n := (len(msg) + bs - 1) / bs
	complete := n > 0 && len(msg)%bs == 0
	if n == 0 {
		n = 1
	}
	x := make([]byte, bs)
	for i := 0; i < n-1; i++ {
		xorInto(x, msg[i*bs:(i+1)*bs])
		b.Encrypt(x, x)
	}
	last := make([]byte, bs)
	rest := msg[(n-1)*bs:]
	copy(last, rest)
	if complete {
		xorInto(last, k1)
	} else {
		last[len(rest)] = 0x80
		xorInto(last, k2)
	}
	xorInto(x, last)
	b.Encrypt(x, x)
	clear(l)
	clear(k1)
	clear(k2)
	clear(last)
	return x
}

// dbl doubles a block in GF(2^n) as CMAC subkey generation needs.
func dbl(in []byte, rb byte) []byte {
	out := make([]byte, len(in))
	var carry byte
	for i := len(in) - 1; i >= 0; i-- {
		out[i] = in[i]<<1 | carry
		carry = in[i] >> 7
	}
	if carry != 0 {
		out[len(out)-1] ^= rb
	}
	return out
}

func xorInto(dst, src []byte) {
	for i := range src {
		dst[i] ^= src[i]
	}
}

// cbcMAC computes the ISO 9797-1 MAC algorithm 1 (plain CBC-MAC, zero IV)
// over msg, whose length must be a multiple of the block size.
func cbcMAC(b cipher.Block, msg []byte) []byte {
	bs := b.BlockSize()
	x := make([]byte, bs)
	for i := 0; i+bs <= len(msg); i += bs {
		xorInto(x, msg[i:i+bs])
		b.Encrypt(x, x)
	}
	return x
}

// variantKeys derives the key block encryption and authentication keys of
// the key variant binding method (versions A and C): KBPK XOR 0x45 and
// KBPK XOR 0x4D, byte by byte.
func variantKeys(kbpk []byte) (kbek, kbak []byte) {
	kbek = make([]byte, len(kbpk))
	kbak = make([]byte, len(kbpk))
	for i, c := range kbpk {
		kbek[i] = c ^ 0x45
		kbak[i] = c ^ 0x4D
	}
	return kbek, kbak
}

// Derivation data of the key derivation binding method: counter, key usage
// of the derived key (0000 encryption, 0001 MAC), separator 00, algorithm
// of the derived key, its length in bits.
const (
	kdUsageEnc = 0x0000
	kdUsageMAC = 0x0001
)

// deriveKeys derives KBEK and KBAK from the KBPK with CMAC as PRF in counter
// mode (TR-31 key derivation binding method; version B with TDES, version D
// with AES).
func deriveKeys(kbpk []byte, aesKBPK bool) (kbek, kbak []byte, err error) {
	var b cipher.Block
	var alg uint16
	if aesKBPK {
		b, err = aes.NewCipher(kbpk)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: AES key of %d bytes", ErrKBPK, len(kbpk))
		}
		alg = uint16(len(kbpk) / 8) // 0002 AES-128, 0003 AES-192, 0004 AES-256
	} else {
		b, err = newTDES(kbpk)
		if err != nil {
			return nil, nil, err
		}
		alg = uint16(len(kbpk) / 24) // 0000 2-key TDES, 0001 3-key TDES
	}
	derive := func(usage uint16) []byte {
		out := make([]byte, 0, len(kbpk)+b.BlockSize())
		var in [8]byte
		binary.BigEndian.PutUint16(in[1:3], usage)
		in[3] = 0
		binary.BigEndian.PutUint16(in[4:6], alg)
		binary.BigEndian.PutUint16(in[6:8], uint16(len(kbpk)*8))
		for ctr := byte(1); len(out) < len(kbpk); ctr++ {
			in[0] = ctr
			m := cmac(b, in[:])
			out = append(out, m...)
			clear(m)
		}
		clear(out[len(kbpk):cap(out)])
		return out[:len(kbpk)]
	}
	return derive(kdUsageEnc), derive(kdUsageMAC), nil
}

// KCV algorithm identifiers used in the KC and KP optional blocks.
const (
	KCVLegacy = "00" // first bytes of the encryption of a zero block (DES/TDES)
	KCVCMAC   = "01" // first bytes of the CMAC of a zero block (AES)
)

// KeyCheckValue computes the check value of key for the TR-31 algorithm
// code alg as the KC/KP optional blocks carry it: for 'T' (TDES) and 'D'
// (DES) the legacy method, the first 3 bytes of E(key, 0^8) (id "00"); for
// 'A' (AES) the first 5 bytes of CMAC(key, 0^16) (id "01"). Callers may
// truncate further (3 bytes is customary for display).
func KeyCheckValue(alg byte, key []byte) (id string, kcv []byte, err error) {
	switch alg {
	case 'T':
		b, err := newTDES(key)
		if err != nil {
			return "", nil, fmt.Errorf("%w: TDES key of %d bytes", ErrKCV, len(key))
		}
		out := make([]byte, 8)
		b.Encrypt(out, out)
		return KCVLegacy, out[:3], nil
	case 'D':
		b, err := des.NewCipher(key)
		if err != nil {
			return "", nil, fmt.Errorf("%w: DES key of %d bytes", ErrKCV, len(key))
		}
		out := make([]byte, 8)
		b.Encrypt(out, out)
		return KCVLegacy, out[:3], nil
	case 'A':
		b, err := aes.NewCipher(key)
		if err != nil {
			return "", nil, fmt.Errorf("%w: AES key of %d bytes", ErrKCV, len(key))
		}
		return KCVCMAC, cmac(b, make([]byte, 16))[:5], nil
	}
	return "", nil, fmt.Errorf("%w: no check value for algorithm %q", ErrKCV, alg)
}
