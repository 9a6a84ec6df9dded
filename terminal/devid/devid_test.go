package devid

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"posd/crypto/keystore"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testFactory is a manufacturer CA made for the tests.
type testFactory struct {
	ca  *x509.Certificate
	key *rsa.PrivateKey
	// hooks to misbehave
	err      error
	otherKey *rsa.PublicKey
	serial   string
	calls    int
}

var (
	caOnce sync.Once
	caCert *x509.Certificate
	caKey  *rsa.PrivateKey
)

func newFactory(t testing.TB) *testFactory {
	t.Helper()
	caOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "devid test manufacturer CA"},
			NotBefore: epoch.Add(-time.Hour), NotAfter: epoch.Add(20 * 365 * 24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			panic(err)
		}
		caCert, _ = x509.ParseCertificate(der)
		caKey = k
	})
	return &testFactory{ca: caCert, key: caKey}
}

func (f *testFactory) Certify(_ context.Context, csrDER []byte) ([][]byte, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, err
	}
	pub := csr.PublicKey
	if f.otherKey != nil {
		pub = f.otherKey
	}
	subj := csr.Subject
	if f.serial != "" {
		subj.SerialNumber = f.serial
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(1000 + f.calls)), Subject: subj,
		NotBefore: epoch.Add(-time.Hour), NotAfter: epoch.Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.ca, pub, f.key)
	if err != nil {
		return nil, err
	}
	return [][]byte{der, f.ca.Raw}, nil
}

type store struct {
	path string
	db   *bbolt.DB
	ks   *keystore.Store
}

var testKEK = bytes.Repeat([]byte{0x42}, 32)

func openStore(t testing.TB, path string) *store {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	kek, err := keystore.NewStaticKEK(testKEK)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Open(db, kek, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &store{path: path, db: db, ks: ks}
	t.Cleanup(func() { db.Close() })
	return s
}

func newStore(t testing.TB) *store { return openStore(t, filepath.Join(t.TempDir(), "posd.db")) }

func TestProvisionLoadDecrypt(t *testing.T) {
	s := newStore(t)
	f := newFactory(t)
	ctx := context.Background()
	if _, err := Load(s.ks, nil); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("empty store: %v", err)
	}
	if _, err := Open(ctx, s.ks, nil, nil); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("no factory: %v", err)
	}
	id, err := Open(ctx, s.ks, f, &Opts{Serial: "SIM0001"})
	if err != nil {
		t.Fatal(err)
	}
	if f.calls != 1 || id.Certificate().Subject.SerialNumber != "SIM0001" || len(id.Chain()) != 1 || !id.Chain()[0].Equal(f.ca) {
		t.Fatalf("identity %v, chain %d, calls %d", id.Certificate().Subject, len(id.Chain()), f.calls)
	}
	if _, err := id.Certificate().Verify(x509.VerifyOptions{Roots: pool(f.ca), CurrentTime: epoch}); err != nil {
		t.Fatalf("device certificate does not chain to the manufacturer CA: %v", err)
	}
	pub := id.Public().(*rsa.PublicKey)
	if pub.N.BitLen() != 2048 {
		t.Fatalf("%d bits", pub.N.BitLen())
	}
	var _ Identity = id

	// RSAES-OAEP SHA-256, as a key token asks.
	msg := []byte("a content-encryption key 32 byte")
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := id.Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256})
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("decrypt: %v", err)
	}
	ct[3] ^= 1
	if _, err := id.Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: crypto.SHA256}); err == nil {
		t.Fatal("altered ciphertext decrypted")
	}

	// After a restart the same identity is loaded, the factory not asked.
	s.db.Close()
	s2 := openStore(t, s.path)
	id2, err := Open(ctx, s2.ks, f, &Opts{Serial: "SIM0001"})
	if err != nil {
		t.Fatal(err)
	}
	if f.calls != 1 || !id2.Certificate().Equal(id.Certificate()) {
		t.Fatalf("a second start provisioned again: %d calls", f.calls)
	}
	s2.db.Close()

	// The private key is nowhere in clear in the database file: neither
	// its private exponent nor a prime.
	raw, err := os.ReadFile(s.path)
	if err != nil {
		t.Fatal(err)
	}
	s3 := openStore(t, s.path)
	err = s3.ks.UseSecret(KeyName, func(der []byte) error {
		k, err := parseKey(der)
		if err != nil {
			return err
		}
		for _, n := range []*big.Int{k.D, k.Primes[0], k.Primes[1]} {
			if bytes.Contains(raw, n.Bytes()[:32]) {
				t.Error("private key material in clear in the database file")
			}
		}
		if bytes.Contains(raw, der[:64]) {
			t.Error("PKCS #8 key in clear in the database file")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// And the keystore lists no key (only secrets).
	entries, err := s3.ks.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Secret {
			t.Fatalf("entry %s is not a secret", e.Name)
		}
	}
}

func pool(cs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cs {
		p.AddCert(c)
	}
	return p
}

func TestProvisionRefuses(t *testing.T) {
	ctx := context.Background()
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		f    func(f *testFactory)
		o    Opts
		want error
	}{
		{"factory refuses", func(f *testFactory) { f.err = errors.New("line stopped") }, Opts{Serial: "S1"}, ErrFactory},
		{"certificate for another key", func(f *testFactory) { f.otherKey = &other.PublicKey }, Opts{Serial: "S1"}, ErrFactory},
		{"certificate for another serial", func(f *testFactory) { f.serial = "S2" }, Opts{Serial: "S1"}, ErrFactory},
		{"no serial", nil, Opts{}, ErrOptions},
		{"1024 bits", nil, Opts{Serial: "S1", Bits: 1024}, ErrOptions},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			f := newFactory(t)
			if c.f != nil {
				c.f(f)
			}
			if _, err := Provision(ctx, s.ks, f, &c.o); !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if _, err := Load(s.ks, nil); !errors.Is(err, ErrNoIdentity) {
				t.Fatalf("something was stored: %v", err)
			}
		})
	}
}

func TestDamagedIdentity(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := Provision(ctx, s.ks, newFactory(t), &Opts{Serial: "S9"}); err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(other)
	if err := s.ks.PutSecret(KeyName, der); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(s.ks, nil); !errors.Is(err, ErrIdentity) {
		t.Fatalf("key of another certificate: %v", err)
	}
	if err := s.ks.PutSecret(ChainName, []byte("not a certificate")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(s.ks, nil); !errors.Is(err, ErrIdentity) {
		t.Fatalf("damaged chain: %v", err)
	}
}
