package tr34

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/crypto/tr31"
)

// now is the time every test token is built and verified at.
var now = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

type party struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

// pki is the test world: a KDH root with a KDH certificate, a KDH root
// with an intermediate and a KDH below it, a rogue root with its own KDH,
// a manufacturer CA with two devices.
type pki struct {
	kdhRoot, kdh, kdhInterRoot, kdhInter, kdh2, rogueRoot, rogue, mfr, dev, dev2 party
}

var serial int64 = 100

// testKeys are RSA-2048 keys made once with openssl (testdata/keys.pem),
// so that tests and fuzz workers start without generating keys. They
// protect nothing.
func testKeys(t testing.TB) []*rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile("testdata/keys.pem")
	if err != nil {
		t.Fatal(err)
	}
	var out []*rsa.PrivateKey
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k.(*rsa.PrivateKey))
	}
}

func issue(t testing.TB, k *rsa.PrivateKey, subject string, parent *party, isCA bool, notAfter time.Time) party {
	t.Helper()
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: subject, Organization: []string{"tr34 test"}},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	}
	parentCert, parentKey := tmpl, k
	if parent != nil {
		parentCert, parentKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, &k.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return party{key: k, cert: c}
}

var (
	pkiOnce sync.Once
	thePKI  *pki
)

func testPKI(t testing.TB) *pki {
	t.Helper()
	pkiOnce.Do(func() {
		far := now.Add(10 * 365 * 24 * time.Hour)
		k := testKeys(t)
		if len(k) < 10 {
			t.Fatalf("%d test keys", len(k))
		}
		p := &pki{}
		p.kdhRoot = issue(t, k[0], "KDH root", nil, true, far)
		p.kdh = issue(t, k[1], "KDH 1", &p.kdhRoot, false, far)
		p.kdhInterRoot = issue(t, k[2], "KDH root 2", nil, true, far)
		p.kdhInter = issue(t, k[3], "KDH intermediate", &p.kdhInterRoot, true, far)
		p.kdh2 = issue(t, k[4], "KDH 2", &p.kdhInter, false, far)
		p.rogueRoot = issue(t, k[5], "KDH root", nil, true, far) // same name as the real root
		p.rogue = issue(t, k[6], "KDH 1", &p.rogueRoot, false, far)
		p.mfr = issue(t, k[7], "manufacturer", nil, true, far)
		p.dev = issue(t, k[8], "device 1", &p.mfr, false, far)
		p.dev2 = issue(t, k[9], "device 2", &p.mfr, false, far)
		thePKI = p
	})
	if thePKI == nil {
		t.Fatal("no test PKI")
	}
	return thePKI
}

func pool(cs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cs {
		p.AddCert(c)
	}
	return p
}

var (
	testKey   = mustHex("00112233445566778899AABBCCDDEEFF0F0E0D0C0B0A09080706050403020100")
	testNonce = mustHex("0102030405060708090A0B0C0D0E0F10")
	kbpkHdr   = tr31.Header{Version: 'D', KeyUsage: "K1", Algorithm: 'A', ModeOfUse: 'B', Exportability: 'N'}
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// buildOpts is a token from the KDH to device 1.
func (p *pki) buildOpts() BuildOpts {
	return BuildOpts{Key: testKey, Header: kbpkHdr, Recipient: p.dev.cert, Signer: p.kdh.key,
		KDHChain: []*x509.Certificate{p.kdh.cert}, Nonce: testNonce, Time: now}
}

// verifyOpts opens tokens as device 1, pinning the first KDH root.
func (p *pki) verifyOpts() VerifyOpts {
	return VerifyOpts{Roots: pool(p.kdhRoot.cert), Recipient: p.dev.cert, Decrypter: p.dev.key, Nonce: testNonce, Now: now}
}

func build(t testing.TB, o BuildOpts) []byte {
	t.Helper()
	der, err := BuildKeyToken(o)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

var allErrors = []error{ErrFormat, ErrUnsupported, ErrSigner, ErrSignature, ErrNonce, ErrRecipient, ErrDecrypt, ErrKeyBlock, ErrOptions, ErrRandom}

func typed(err error) bool {
	for _, e := range allErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// noKeyIn fails when s holds the test key in hex (any 8-byte window).
func noKeyIn(t testing.TB, s string) {
	t.Helper()
	for i := 0; i+8 <= len(testKey); i++ {
		x := hex.EncodeToString(testKey[i : i+8])
		if strings.Contains(strings.ToLower(s), x) {
			t.Fatalf("key material in %q", s)
		}
	}
	if bytes.Contains([]byte(s), testKey[:8]) {
		t.Fatalf("raw key bytes in an error")
	}
}
