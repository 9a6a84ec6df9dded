package tr31

import (
	"crypto/x509"
	"encoding/hex"
	"os"
	"posd/internal/testhex"
	"strings"
	"testing"
)

// ANSI X9.143:2021 8.5: an RSA private key in a version D block whose
// header carries an X.509 certificate in a CT block of the long length form
// ("CT" "00" "04" "0500"), a KP block and a TS block. Block as reproduced in
// the tests of openemv/tr31.
func TestX9143LongFormCertificateBlock(t *testing.T) {
	raw, err := os.ReadFile("testdata/x9143_8_5.txt")
	if err != nil {
		t.Fatal(err)
	}
	block := strings.TrimSpace(string(raw))
	kbpk := testhex.Bytes(t, "FA36E44278DB3AB5F298F9F7DA8F1F88")
	h, key, err := Unwrap(kbpk, block)
	if err != nil {
		t.Fatalf("Unwrap: %v", err)
	}
	if h.KeyUsage != "S0" || h.Algorithm != 'R' || h.ModeOfUse != 'S' || len(h.Blocks) != 3 {
		t.Fatalf("header %c %s %c %c, %d blocks", h.Version, h.KeyUsage, h.Algorithm, h.ModeOfUse, len(h.Blocks))
	}
	ct, _ := h.Block("CT")
	if len(ct) != 0x500-10 || !strings.HasPrefix(ct, "00MIIDszCCApugAwIBAgIIKpD5FKMfCZEw") {
		t.Errorf("CT block of %d characters", len(ct))
	}
	if ts, _ := h.Block("TS"); ts != "20200818221218Z" {
		t.Errorf("TS = %q", ts)
	}
	// KP is the CMAC check value of the KBPK.
	_, kcv, _ := KeyCheckValue('A', kbpk)
	if kp, _ := h.Block("KP"); kp != "01"+strings.ToUpper(hex.EncodeToString(kcv)) || kp != "01D77F007724" {
		t.Errorf("KP = %q, KBPK check value %X", kp, kcv)
	}
	if len(key) != 1192 {
		t.Fatalf("key of %d bytes, want 1192", len(key))
	}
	rsaKey, err := x509.ParsePKCS1PrivateKey(key)
	if err != nil {
		t.Fatalf("unwrapped key is not a PKCS#1 RSA key: %v", err)
	}
	if m := rsaKey.N.Bytes(); !strings.HasPrefix(strings.ToUpper(hex.EncodeToString(m)), "D6C460FB012E8DEDF2D78574B451E9BF") {
		t.Errorf("modulus starts %X", m[:8])
	}
	// The header re-renders identically, long form included.
	if hs := h.String(); hs[5:] != block[5:len(hs)] {
		t.Errorf("header does not re-render")
	}
}
