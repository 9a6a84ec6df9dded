package kdh

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"posd/conn/clock"
)

// MaxCSR bounds a certificate request.
const MaxCSR = 8 << 10

// Manufacturer plays the terminal factory of the simulator: it certifies
// device keys under the manufacturer CA (devid.Factory). With TestPKI's
// published CA key this is TEST ONLY: anyone can make such a certificate,
// so it proves nothing about a device. A real manufacturer signs in its
// factory, offline, with a key in an HSM.
type Manufacturer struct {
	CA    *x509.Certificate
	Key   crypto.Signer
	Clock clock.Clock // nil: wall clock
	// Validity of device certificates; 0: 20 years (never past the CA's).
	Validity time.Duration
}

// Manufacturer is the factory of this PKI.
func (p *PKI) Manufacturer() *Manufacturer {
	return &Manufacturer{CA: p.ManufacturerCA, Key: p.ManufacturerCAKey}
}

// Certify checks a PKCS #10 request (signed by the key it names: proof of
// possession; RSA of 2048 to 4096 bits; a subject serial number of 1 to 64
// printable characters) and returns the device certificate and the CA
// certificate, DER. The certificate's serial number is derived from the
// device key, its subject is the terminal's serial number, its key usage
// key encipherment and digital signature. Errors: ErrCSR.
func (m *Manufacturer) Certify(_ context.Context, csrDER []byte) ([][]byte, error) {
	if len(csrDER) > MaxCSR {
		return nil, fmt.Errorf("%w: %d bytes", ErrCSR, len(csrDER))
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("%w: not a PKCS #10 request", ErrCSR)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: the request's signature does not verify", ErrCSR)
	}
	pub, ok := csr.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() < 2048 || pub.N.BitLen() > 4096 {
		return nil, fmt.Errorf("%w: the device key is not RSA of 2048 to 4096 bits", ErrCSR)
	}
	serial := csr.Subject.SerialNumber
	if !printable(serial, 64) {
		return nil, fmt.Errorf("%w: the subject serial number must be 1 to 64 printable characters", ErrCSR)
	}
	now := clock.Or(m.Clock).Now()
	validity := m.Validity
	if validity <= 0 {
		validity = 20 * 365 * 24 * time.Hour
	}
	notAfter := now.Add(validity)
	if notAfter.After(m.CA.NotAfter) {
		notAfter = m.CA.NotAfter
	}
	h := sha256.Sum256(csr.RawSubjectPublicKeyInfo)
	h[0] &= 0x7F
	h[0] |= 0x40 // positive, never zero, always 16 bytes
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetBytes(h[:16]),
		Subject: pkix.Name{Organization: []string{"posd test terminals"}, CommonName: "posd terminal " + serial,
			SerialNumber: serial},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(nil, tmpl, m.CA, pub, m.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCSR, err)
	}
	return [][]byte{der, m.CA.Raw}, nil
}

// printable reports 1 to max printable ASCII characters.
func printable(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7E {
			return false
		}
	}
	return true
}
