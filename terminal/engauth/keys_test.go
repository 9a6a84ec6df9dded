package engauth

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestKeyFiles(t *testing.T) {
	pub, priv, err := GenerateKey(seeded(3))
	if err != nil {
		t.Fatal(err)
	}
	seed := priv.Seed()
	if !bytes.Equal(seed, bytes.Repeat([]byte{3}, 32)) {
		t.Fatal("GenerateKey did not use the reader's bytes as seed")
	}
	for _, in := range []string{
		hex.EncodeToString(pub), strings.ToUpper(hex.EncodeToString(pub)) + "\n",
		base64.StdEncoding.EncodeToString(pub), " " + base64.RawURLEncoding.EncodeToString(pub) + "\r\n",
	} {
		got, err := ParsePublicKey([]byte(in))
		if err != nil || !got.Equal(pub) {
			t.Errorf("ParsePublicKey(%q) = %x, %v", in, got, err)
		}
	}
	for _, in := range []string{
		hex.EncodeToString(seed) + "\n", hex.EncodeToString(priv),
		base64.StdEncoding.EncodeToString(seed), base64.StdEncoding.EncodeToString(priv),
	} {
		got, err := ParsePrivateKey([]byte(in))
		if err != nil || !got.Equal(priv) {
			t.Errorf("ParsePrivateKey(%q) = %v", in, err)
		}
	}
	bad := append(append([]byte{}, seed...), make([]byte, 32)...)
	badFile := hex.EncodeToString(bad)
	for _, in := range []string{"", "zz", hex.EncodeToString(pub[:31]), hex.EncodeToString(make([]byte, 48)), badFile} {
		_, err := ParsePrivateKey([]byte(in))
		if !errors.Is(err, ErrKey) {
			t.Errorf("ParsePrivateKey(%q) = %v", in, err)
		}
		if err != nil && in != "" && strings.Contains(err.Error(), in) {
			t.Errorf("error quotes the file: %v", err)
		}
		if _, err := ParsePublicKey([]byte(in)); !errors.Is(err, ErrKey) {
			t.Errorf("ParsePublicKey(%q) = %v", in, err)
		}
	}
	if _, _, err := GenerateKey(bytes.NewReader(nil)); !errors.Is(err, ErrKey) {
		t.Errorf("empty random source: %v", err)
	}
	if len(pub) != ed25519.PublicKeySize {
		t.Fatal("public key size")
	}
}
