package mac

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"

	"posd/crypto/tdes"
)

// Padding selects an ISO/IEC 9797-1 padding method.
type Padding int

const (
	// Padding1 appends as few zero bytes as needed to reach a whole number
	// of blocks (none when the message already fills whole blocks). An
	// empty message becomes one block of zeros.
	Padding1 Padding = 1
	// Padding2 appends one 0x80 byte and then as few zero bytes as needed
	// to reach a whole number of blocks; a full block is added when the
	// message already fills whole blocks.
	Padding2 Padding = 2
)

// String names the padding method.
func (p Padding) String() string {
	switch p {
	case Padding1:
		return "ISO9797-1 padding 1"
	case Padding2:
		return "ISO9797-1 padding 2"
	}
	return fmt.Sprintf("Padding(%d)", int(p))
}

// pad returns msg padded to a multiple of bs according to p, in a new slice.
func pad(msg []byte, bs int, p Padding) ([]byte, error) {
	switch p {
	case Padding1:
		n := len(msg)
		if n == 0 {
			return make([]byte, bs), nil
		}
		if r := n % bs; r != 0 {
			n += bs - r
		}
		out := make([]byte, n)
		copy(out, msg)
		return out, nil
	case Padding2:
		n := len(msg) + 1
		if r := n % bs; r != 0 {
			n += bs - r
		}
		out := make([]byte, n)
		copy(out, msg)
		out[len(msg)] = 0x80
		return out, nil
	}
	return nil, fmt.Errorf("%w: %d", ErrPadding, int(p))
}

// newDESFamily returns a DES cipher for an 8-byte key and a TDES cipher
// for a 16-byte (K1 K2 K1) or 24-byte key.
func newDESFamily(key []byte) (cipher.Block, error) {
	switch len(key) {
	case 8:
		return des.NewCipher(key)
	case tdes.KeyLen2, tdes.KeyLen3:
		b, err := tdes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeyLength, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%w: %d bytes for DES/TDES", ErrKeyLength, len(key))
}

// cbcLast runs CBC encryption with a zero IV over data (a whole number of
// blocks) and returns the last cipher block.
func cbcLast(b cipher.Block, data []byte) []byte {
	bs := b.BlockSize()
	chain := make([]byte, bs)
	for off := 0; off < len(data); off += bs {
		subtle.XORBytes(chain, chain, data[off:off+bs])
		b.Encrypt(chain, chain)
	}
	return chain
}

// ISO9797Alg1 computes the ISO/IEC 9797-1 MAC algorithm 1 (CBC-MAC, zero
// IV, no output transformation) with a DES (8-byte) or TDES (16- or
// 24-byte) key. The result is the full 8-byte MAC; callers that send a
// shorter MAC truncate it on the left-most bytes.
func ISO9797Alg1(key []byte, msg []byte, p Padding) ([]byte, error) {
	b, err := newDESFamily(key)
	if err != nil {
		return nil, err
	}
	data, err := pad(msg, des.BlockSize, p)
	if err != nil {
		return nil, err
	}
	return cbcLast(b, data), nil
}

// ISO9797Alg3 computes the ISO/IEC 9797-1 MAC algorithm 3, the retail MAC
// of ANSI X9.19: single-DES CBC under K over all blocks, then the output
// transformation D(K') and E(K) on the last block. key is K||K' (16
// bytes). The result is the full 8-byte MAC.
func ISO9797Alg3(key []byte, msg []byte, p Padding) ([]byte, error) {
	if len(key) != 16 {
		return nil, fmt.Errorf("%w: %d bytes for retail MAC, want 16", ErrKeyLength, len(key))
	}
	k1, err := des.NewCipher(key[:8])
	if err != nil {
		return nil, err
	}
	k2, err := des.NewCipher(key[8:])
	if err != nil {
		return nil, err
	}
	data, err := pad(msg, des.BlockSize, p)
	if err != nil {
		return nil, err
	}
	h := cbcLast(k1, data)
	k2.Decrypt(h, h)
	k1.Encrypt(h, h)
	return h, nil
}

// shiftLeft1 doubles a block in GF(2^n): shift left one bit and, if the top
// bit was set, XOR the constant rb into the last byte.
func shiftLeft1(dst, src []byte, rb byte) {
	var carry byte
	for i := len(src) - 1; i >= 0; i-- {
		b := src[i]
		dst[i] = b<<1 | carry
		carry = b >> 7
	}
	// Constant-time conditional XOR of the reduction constant.
	dst[len(dst)-1] ^= rb & -carry
}

// CMAC computes the NIST SP 800-38B CMAC of msg under the block cipher b,
// which must have a 64-bit (TDES) or 128-bit (AES) block. The result has
// the cipher's block size. CMAC panics only if b has another block size,
// which is a programming error, not an input error.
func CMAC(b cipher.Block, msg []byte) []byte {
	bs := b.BlockSize()
	var rb byte
	switch bs {
	case 8:
		rb = 0x1B
	case 16:
		rb = 0x87
	default:
		panic("mac: CMAC needs a 64- or 128-bit block cipher")
	}
	l := make([]byte, bs)
	b.Encrypt(l, l)
	k1 := make([]byte, bs)
	shiftLeft1(k1, l, rb)
	k2 := make([]byte, bs)
	shiftLeft1(k2, k1, rb)
	clear(l)

	n := (len(msg) + bs - 1) / bs
	complete := n > 0 && len(msg)%bs == 0
	if n == 0 {
		n = 1
	}
	chain := make([]byte, bs)
	for i := 0; i < n-1; i++ {
		subtle.XORBytes(chain, chain, msg[i*bs:(i+1)*bs])
		b.Encrypt(chain, chain)
	}
	last := make([]byte, bs)
	tail := msg[(n-1)*bs:]
	if complete {
		subtle.XORBytes(last, tail, k1)
	} else {
		copy(last, tail)
		last[len(tail)] = 0x80
		subtle.XORBytes(last, last, k2)
	}
	subtle.XORBytes(chain, chain, last)
	b.Encrypt(chain, chain)
	clear(k1)
	clear(k2)
	clear(last)
	return chain
}

// AESCMAC computes AES-CMAC (RFC 4493 for 16-byte keys; 24- and 32-byte
// keys per SP 800-38B). The MAC is 16 bytes.
func AESCMAC(key, msg []byte) ([]byte, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("%w: %d bytes for AES", ErrKeyLength, len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyLength, err)
	}
	return CMAC(b, msg), nil
}

// TDESCMAC computes TDES-CMAC with a 16-byte (K1 K2 K1) or 24-byte key.
// The MAC is 8 bytes.
func TDESCMAC(key, msg []byte) ([]byte, error) {
	if len(key) != 16 && len(key) != 24 {
		return nil, fmt.Errorf("%w: %d bytes for TDES", ErrKeyLength, len(key))
	}
	b, err := newDESFamily(key)
	if err != nil {
		return nil, err
	}
	return CMAC(b, msg), nil
}

// HMACSHA256 computes HMAC-SHA256 (RFC 2104) of msg under key. The MAC is
// 32 bytes.
func HMACSHA256(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

// Equal reports whether two MACs are equal, in time that depends only on
// their lengths. Empty MACs are never equal: an empty received MAC must not
// verify.
func Equal(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	return subtle.ConstantTimeCompare(a, b) == 1
}

// KCV returns the 3-byte key check value of key. For "tdes" (8-, 16- or
// 24-byte keys) it is the first 3 bytes of the key enciphering eight zero
// bytes; for "aes" (16, 24 or 32 bytes) it is the first 3 bytes of the
// AES-CMAC of sixteen zero bytes, as ANSI X9.24-3 and TR-31 use.
func KCV(alg string, key []byte) ([]byte, error) {
	switch alg {
	case "tdes", "TDES", "des", "DES":
		b, err := newDESFamily(key)
		if err != nil {
			return nil, err
		}
		out := make([]byte, des.BlockSize)
		b.Encrypt(out, out)
		return out[:3], nil
	case "aes", "AES":
		m, err := AESCMAC(key, make([]byte, aes.BlockSize))
		if err != nil {
			return nil, err
		}
		return m[:3], nil
	}
	return nil, fmt.Errorf("%w: %q", ErrAlgorithm, alg)
}
