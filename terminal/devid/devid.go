// Package devid is the terminal's device identity for remote key loading
// (ANSI X9 TR-34 style, crypto/tr34): an RSA key pair whose public half is
// certified by the manufacturer CA, and the random numbers the device
// issues against replay.
//
// # Identity
//
// The key receiving device proves who it is with its certificate alone: a
// key distribution host (KDH) checks the certificate chains to the
// manufacturer CA and envelopes the key for it; only the holder of the
// private key can open the token. Identity is the small interface the rest
// of the terminal uses:
//
//	type Identity interface {
//		crypto.Decrypter               // Public(); Decrypt with *rsa.OAEPOptions (RSAES-OAEP SHA-256)
//		Certificate() *x509.Certificate // the device certificate
//		Chain() []*x509.Certificate     // the manufacturer CA certificates above it
//	}
//
// On a real board the private key is generated inside the secure element
// at manufacture and never leaves it: the board's implementation of
// Identity forwards Decrypt to the element and reads the certificate the
// factory wrote next to it. This package's Stored is the software
// identity of boards without one (the simulated board): the key is
// generated on the device at first start (Provision), its PKCS #8 form is
// kept only as a secret of the key store, i.e. wrapped under the device KEK
// (TR-31 version D, never in clear on disk), and read back for each
// decryption; the certificate chain is kept the same way, so it cannot be
// swapped on disk either.
//
// # Who signs the device certificate
//
// The factory: Provision makes a certificate request (PKCS #10, signed by
// the new key: proof of possession) and hands it to a Factory, which
// returns the device certificate and the manufacturer CA chain. On the
// simulated board the factory step is played by the test manufacturer CA of
// cmd/tms-sim/kdh, whose key is published: such certificates prove nothing
// and are for tests and the simulator only. Real terminals leave the
// factory with a certificate from the manufacturer's offline CA.
//
// # Random numbers
//
// Nonces issues the random numbers (crypto/tr34 random number tokens) and
// keeps them in bbolt until used once or expired: a key token replayed
// after its exchange, even after a restart, names a number that is no
// longer there and is refused.
package devid

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"strings"

	"posd/crypto/keystore"
)

// Identity is a device identity: its certificate, the manufacturer chain
// above it, and the private key operation.
type Identity interface {
	crypto.Decrypter
	Certificate() *x509.Certificate
	Chain() []*x509.Certificate
}

// Factory certifies a device key at manufacture: given a PKCS #10
// certificate request (DER) it returns the device certificate and then the
// manufacturer CA certificates, DER, leaf first.
type Factory interface {
	Certify(ctx context.Context, csr []byte) ([][]byte, error)
}

// Secrets is the part of the key store the identity uses: opaque secrets
// wrapped under the device KEK (*keystore.Store).
type Secrets interface {
	PutSecret(name string, data []byte) error
	UseSecret(name string, fn func(data []byte) error) error
}

// Key store entries of the identity.
const (
	KeyName   = "devid.key"   // PKCS #8 private key
	ChainName = "devid.chain" // DER certificates, device first
)

// Opts configures Load, Provision and Open. A nil *Opts means defaults.
type Opts struct {
	// Serial is the device serial number, written as the subject's
	// serialNumber and in its common name. Provision needs it.
	Serial string
	// Bits is the RSA size: 2048 (default) or 3072.
	Bits int
	// Rand is the random source of the certificate request (nil:
	// crypto/rand; the key itself always comes from crypto/rand).
	Rand io.Reader
	// Missing tells which errors of Secrets mean "no such entry";
	// default: errors.Is(err, keystore.ErrNotFound).
	Missing func(error) bool
	// Logger: default discard.
	Logger *slog.Logger
}

func (o *Opts) orDefault() Opts {
	var d Opts
	if o != nil {
		d = *o
	}
	if d.Bits == 0 {
		d.Bits = 2048
	}
	if d.Rand == nil {
		d.Rand = rand.Reader
	}
	if d.Missing == nil {
		d.Missing = func(err error) bool { return errors.Is(err, keystore.ErrNotFound) }
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return d
}

// Stored is the software identity kept in the key store.
type Stored struct {
	secrets Secrets
	cert    *x509.Certificate
	chain   []*x509.Certificate
}

// Certificate is the device certificate.
func (s *Stored) Certificate() *x509.Certificate { return s.cert }

// Chain is the manufacturer CA certificates above the device certificate.
func (s *Stored) Chain() []*x509.Certificate { return s.chain }

// Public is the device public key.
func (s *Stored) Public() crypto.PublicKey { return s.cert.PublicKey }

// Decrypt unwraps the private key from the key store for this one
// operation and decrypts (RSAES-OAEP when opts is *rsa.OAEPOptions, as
// crypto/rsa does). The key's encoded form is wiped after use.
func (s *Stored) Decrypt(rnd io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	var out []byte
	err := s.secrets.UseSecret(KeyName, func(der []byte) error {
		k, err := parseKey(der)
		if err != nil {
			return err
		}
		defer wipeKey(k)
		out, err = k.Decrypt(rnd, msg, opts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("devid: decrypt: %w", err)
	}
	return out, nil
}

func parseKey(der []byte) (*rsa.PrivateKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: the stored key does not parse", ErrIdentity)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: the stored key is not RSA", ErrIdentity)
	}
	return rk, nil
}

// wipeKey zeroes what it can of a private key's numbers (the big.Int
// words; crypto/rsa keeps its own precomputed form out of reach).
func wipeKey(k *rsa.PrivateKey) {
	if k == nil {
		return
	}
	for _, n := range append([]*big.Int{k.D, k.Precomputed.Dp, k.Precomputed.Dq, k.Precomputed.Qinv}, k.Primes...) {
		if n != nil {
			clear(n.Bits())
		}
	}
}

// Load reads the identity from the key store: ErrNoIdentity when none was
// provisioned, ErrIdentity when the key does not match the certificate.
func Load(s Secrets, o *Opts) (*Stored, error) {
	d := o.orDefault()
	var chain []*x509.Certificate
	err := s.UseSecret(ChainName, func(der []byte) error {
		cs, err := x509.ParseCertificates(bytes.Clone(der)) // certificates alias their input; der is wiped
		if err != nil || len(cs) == 0 {
			return fmt.Errorf("%w: the stored certificate chain does not parse", ErrIdentity)
		}
		chain = cs
		return nil
	})
	if err != nil && d.Missing(err) {
		return nil, fmt.Errorf("%w: %w", ErrNoIdentity, err)
	}
	if err != nil {
		return nil, fmt.Errorf("devid: reading the certificate: %w", err)
	}
	id := &Stored{secrets: s, cert: chain[0], chain: chain[1:]}
	err = s.UseSecret(KeyName, func(der []byte) error {
		k, err := parseKey(der)
		if err != nil {
			return err
		}
		defer wipeKey(k)
		if !k.PublicKey.Equal(id.cert.PublicKey) {
			return fmt.Errorf("%w: the stored key is not the certificate's", ErrIdentity)
		}
		return nil
	})
	if err != nil && d.Missing(err) {
		return nil, fmt.Errorf("%w: a certificate but no key is stored: %w", ErrIdentity, err)
	}
	if err != nil {
		return nil, fmt.Errorf("devid: reading the key: %w", err)
	}
	return id, nil
}

// Provision makes a new identity: an RSA key pair generated here, a
// certificate request signed by it, certified by the factory; the key and
// the chain are stored in the key store (replacing any earlier identity)
// only once the chain checks out. Errors: ErrOptions, ErrFactory, the key
// store's.
func Provision(ctx context.Context, s Secrets, f Factory, o *Opts) (*Stored, error) {
	d := o.orDefault()
	if f == nil {
		return nil, fmt.Errorf("%w: no factory to certify a device key", ErrNoIdentity)
	}
	serial := strings.TrimSpace(d.Serial)
	if serial == "" || len(serial) > 64 {
		return nil, fmt.Errorf("%w: a device serial number of 1 to 64 characters is needed", ErrOptions)
	}
	if d.Bits != 2048 && d.Bits != 3072 {
		return nil, fmt.Errorf("%w: RSA of %d bits (want 2048 or 3072)", ErrOptions, d.Bits)
	}
	k, err := rsa.GenerateKey(rand.Reader, d.Bits)
	if err != nil {
		return nil, fmt.Errorf("%w: generating the key: %w", ErrOptions, err)
	}
	defer wipeKey(k)
	csr, err := x509.CreateCertificateRequest(d.Rand, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "posd terminal " + serial, SerialNumber: serial},
	}, k)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate request: %w", ErrOptions, err)
	}
	raw, err := f.Certify(ctx, csr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFactory, err)
	}
	chain, err := checkChain(raw, &k.PublicKey, serial)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding the key: %w", ErrOptions, err)
	}
	defer clear(der)
	// The key first: a crash before the chain is written leaves no
	// identity (Load: ErrNoIdentity) and the next start provisions again.
	if err := s.PutSecret(KeyName, der); err != nil {
		return nil, fmt.Errorf("devid: storing the key: %w", err)
	}
	if err := s.PutSecret(ChainName, bytes.Join(raw, nil)); err != nil {
		return nil, fmt.Errorf("devid: storing the certificate: %w", err)
	}
	d.Logger.Info("device identity provisioned", "subject", chain[0].Subject.String(), "issuer", chain[0].Issuer.String(),
		"serial", chain[0].SerialNumber.String(), "bits", d.Bits)
	return &Stored{secrets: s, cert: chain[0], chain: chain[1:]}, nil
}

// checkChain checks the factory's answer certifies pub for serial.
func checkChain(raw [][]byte, pub *rsa.PublicKey, serial string) ([]*x509.Certificate, error) {
	if len(raw) == 0 || len(raw) > 4 {
		return nil, fmt.Errorf("%w: %d certificates returned", ErrFactory, len(raw))
	}
	chain := make([]*x509.Certificate, 0, len(raw))
	for i, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d does not parse: %v", ErrFactory, i+1, err)
		}
		chain = append(chain, c)
	}
	leaf := chain[0]
	if !pub.Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("%w: the certificate is for another key", ErrFactory)
	}
	if leaf.Subject.SerialNumber != serial {
		return nil, fmt.Errorf("%w: the certificate names serial %q, not %q", ErrFactory, leaf.Subject.SerialNumber, serial)
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
		return nil, fmt.Errorf("%w: the certificate does not allow key encipherment", ErrFactory)
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return nil, fmt.Errorf("%w: certificate %d is not signed by the next: %v", ErrFactory, i+1, err)
		}
	}
	return chain, nil
}

// Open loads the identity, or provisions one with f when none is stored
// (f nil: ErrNoIdentity).
func Open(ctx context.Context, s Secrets, f Factory, o *Opts) (*Stored, error) {
	id, err := Load(s, o)
	if errors.Is(err, ErrNoIdentity) && f != nil {
		return Provision(ctx, s, f, o)
	}
	return id, err
}
