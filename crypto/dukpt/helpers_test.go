package dukpt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"posd/internal/testhex"
	"testing"
)

func tdes2(t testing.TB, key []byte) cipher.Block {
	t.Helper()
	k := append(append([]byte{}, key...), key[:8]...)
	c, err := des.NewTripleDESCipher(k)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// retailMAC is ISO 9797-1 MAC algorithm 3 with padding method 1 (zeros):
// single-DES CBC under the left half, final block 3DES (left, right, left).
func retailMAC(t testing.TB, key, data []byte) []byte {
	t.Helper()
	padded := make([]byte, (len(data)+7)/8*8)
	copy(padded, data)
	l, _ := des.NewCipher(key[:8])
	r, _ := des.NewCipher(key[8:16])
	h := make([]byte, 8)
	for i := 0; i < len(padded); i += 8 {
		for j := 0; j < 8; j++ {
			h[j] ^= padded[i+j]
		}
		l.Encrypt(h, h)
	}
	r.Decrypt(h, h)
	l.Encrypt(h, h)
	return h
}

// cmacAES is AES-CMAC (NIST SP 800-38B).
func cmacAES(t testing.TB, key, msg []byte) []byte {
	t.Helper()
	c, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	dbl := func(b []byte) []byte {
		o := make([]byte, 16)
		carry := b[0] >> 7
		for i := 0; i < 15; i++ {
			o[i] = b[i]<<1 | b[i+1]>>7
		}
		o[15] = b[15] << 1
		if carry == 1 {
			o[15] ^= 0x87
		}
		return o
	}
	l := make([]byte, 16)
	c.Encrypt(l, l)
	k1 := dbl(l)
	k2 := dbl(k1)
	n := (len(msg) + 15) / 16
	complete := n > 0 && len(msg)%16 == 0
	if n == 0 {
		n = 1
	}
	last := make([]byte, 16)
	copy(last, msg[(n-1)*16:])
	if complete {
		for i := range last {
			last[i] ^= k1[i]
		}
	} else {
		last[len(msg)-(n-1)*16] = 0x80
		for i := range last {
			last[i] ^= k2[i]
		}
	}
	x := make([]byte, 16)
	for i := 0; i < n-1; i++ {
		for j := 0; j < 16; j++ {
			x[j] ^= msg[i*16+j]
		}
		c.Encrypt(x, x)
	}
	for j := 0; j < 16; j++ {
		x[j] ^= last[j]
	}
	c.Encrypt(x, x)
	return x
}

func cbcEncrypt(t testing.TB, b cipher.Block, data []byte) []byte {
	t.Helper()
	out := make([]byte, len(data))
	cipher.NewCBCEncrypter(b, make([]byte, b.BlockSize())).CryptBlocks(out, data)
	return out
}

// TestCMACHelper checks the test's own CMAC against RFC 4493 example 2 so a
// wrong helper cannot hide a wrong key.
func TestCMACHelper(t *testing.T) {
	key := testhex.Bytes(t, "2b7e151628aed2a6abf7158809cf4f3c")
	msg := testhex.Bytes(t, "6bc1bee22e409f96e93d7e117393172a")
	if got, want := testhex.Upper(cmacAES(t, key, msg)), "070A16B46B4D4144F79BDD9DD04A287C"; got != want {
		t.Fatalf("CMAC helper = %s, want %s", got, want)
	}
	if got, want := testhex.Upper(cmacAES(t, key, nil)), "BB1D6929E95937287FA37D129B756746"; got != want {
		t.Fatalf("CMAC helper (empty) = %s, want %s", got, want)
	}
}
