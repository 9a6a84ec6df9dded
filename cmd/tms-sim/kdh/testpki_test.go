package kdh

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"testing"
	"time"

	"posd/conn/clock"
)

// TestTestPKIIsStable: the published test PKI comes out byte for byte the
// same (the pinned fingerprints), and chains as documented.
func TestTestPKIIsStable(t *testing.T) {
	p, err := TestPKI()
	if err != nil {
		t.Fatal(err)
	}
	if Fingerprint(p.KDHCA) != TestKDHCAFingerprint || Fingerprint(p.ManufacturerCA) != TestManufacturerCAFingerprint {
		t.Fatalf("the test CAs drifted: KDH CA %s, manufacturer CA %s", Fingerprint(p.KDHCA), Fingerprint(p.ManufacturerCA))
	}
	// Rebuilt from the keys, the certificates are the same.
	again, err := NewCA(p.KDHCAKey, p.KDHCA.Subject.CommonName, 2, testNotBefore, testNotAfter)
	if err != nil || !again.Equal(p.KDHCA) {
		t.Fatalf("KDH CA not deterministic: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.KDHCA)
	if _, err := p.KDH.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		CurrentTime: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatalf("KDH certificate: %v", err)
	}
	if !p.KDHKey.PublicKey.Equal(p.KDH.PublicKey) || p.KDH.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Fatal("KDH certificate and key")
	}
}

func csr(t *testing.T, k *rsa.PrivateKey, serial string) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{SerialNumber: serial, CommonName: "x"}}, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestManufacturer(t *testing.T) {
	p, err := TestPKI()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	m := p.Manufacturer()
	m.Clock = clock.NewFake(now)
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := m.Certify(context.Background(), csr(t, k, "SIM-42"))
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 2 {
		t.Fatalf("%d certificates", len(chain))
	}
	c, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.ManufacturerCA)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatal(err)
	}
	if c.Subject.SerialNumber != "SIM-42" || !k.PublicKey.Equal(c.PublicKey) || c.KeyUsage&x509.KeyUsageKeyEncipherment == 0 || c.IsCA {
		t.Fatalf("device certificate %v", c.Subject)
	}
	// The same key gets the same serial number.
	again, _ := m.Certify(context.Background(), csr(t, k, "SIM-42"))
	c2, _ := x509.ParseCertificate(again[0])
	if c2.SerialNumber.Cmp(c.SerialNumber) != 0 {
		t.Fatal("serial number not derived from the key")
	}

	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	bad := csr(t, k, "SIM-42")
	bad[len(bad)-1] ^= 1
	for name, req := range map[string][]byte{
		"not a request":            []byte("hello"),
		"signature does not check": bad,
		"1024-bit key":             csr(t, small, "SIM-1"),
		"no serial number":         csr(t, k, ""),
		"serial with a space":      csr(t, k, "SIM 1"),
		"too large":                make([]byte, MaxCSR+1),
	} {
		if _, err := m.Certify(context.Background(), req); !errors.Is(err, ErrCSR) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
