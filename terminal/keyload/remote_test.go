package keyload

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/crypto/keystore"
	"posd/crypto/tr31"
	"posd/crypto/tr34"
	"posd/terminal/wiresec"
)

var tokenTime = time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)

type certKey struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

// device is a Device and RemoteDevice over an in-memory key.
type device struct {
	*rsa.PrivateKey
	cert *x509.Certificate
}

func (d device) Certificate() *x509.Certificate { return d.cert }
func (d device) Chain() []*x509.Certificate     { return nil }

// nonces is an in-memory NonceIssuer: single use.
type nonces struct {
	mu     sync.Mutex
	issued map[string]bool
}

func (n *nonces) Issue() ([]byte, error) {
	b, err := tr34.NewNonce(nil)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.issued == nil {
		n.issued = map[string]bool{}
	}
	n.issued[string(b)] = true
	return b, nil
}

var errUsed = errors.New("nonce not issued or used")

func (n *nonces) Consume(b []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.issued[string(b)] {
		return errUsed
	}
	delete(n.issued, string(b))
	return nil
}

var (
	tokenPKIOnce                  sync.Once
	kdhCA, kdhLeaf, rogueKDH, dev certKey
)

func mkCert(t testing.TB, name string, parent *certKey, ca bool) certKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: tokenTime.Add(-time.Hour), NotAfter: tokenTime.Add(time.Hour * 24 * 365), IsCA: ca, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign}
	pc, pk := tmpl, k
	if parent != nil {
		pc, pk = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pc, &k.PublicKey, pk)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return certKey{c, k}
}

func tokenPKI(t testing.TB) {
	tokenPKIOnce.Do(func() {
		kdhCA = mkCert(t, "KDH CA", nil, true)
		kdhLeaf = mkCert(t, "KDH", &kdhCA, false)
		rogueKDH = mkCert(t, "KDH", nil, false)
		dev = mkCert(t, "device", nil, false)
	})
}

func kbpkToken(t testing.TB, key []byte, hdr tr31.Header, nonce []byte, signer certKey) []byte {
	t.Helper()
	der, err := tr34.BuildKeyToken(tr34.BuildOpts{Key: key, Header: hdr, Recipient: dev.cert, Signer: signer.key,
		KDHChain: []*x509.Certificate{signer.cert}, Nonce: nonce, Time: tokenTime})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

var kbpkK1 = tr31.Header{Version: 'D', KeyUsage: "K1", Algorithm: 'A', ModeOfUse: 'B', Exportability: 'N'}

func TestLoadKeyToken(t *testing.T) {
	tokenPKI(t)
	roots := x509.NewCertPool()
	roots.AddCert(kdhCA.cert)
	kbpk := h(t, aesA)
	for _, c := range []struct {
		name  string
		key   []byte
		hdr   tr31.Header
		kdh   *certKey
		reuse bool
		want  []error
	}{
		{"AES-256 KBPK", kbpk, kbpkK1, &kdhLeaf, false, nil},
		{"TDES KBPK", h(t, tdesB), tr31.Header{Version: 'B', KeyUsage: "K0", Algorithm: 'T', ModeOfUse: 'D', Exportability: 'N'}, &kdhLeaf, false, nil},
		{"replayed", kbpk, kbpkK1, &kdhLeaf, true, []error{ErrKeyToken, errUsed}},
		{"unknown host", kbpk, kbpkK1, &rogueKDH, false, []error{ErrKeyToken, tr34.ErrSigner}},
		{"not a KBPK", kbpk, tr31.Header{Version: 'D', KeyUsage: "P0", Algorithm: 'A', ModeOfUse: 'E', Exportability: 'N'}, &kdhLeaf, false, []error{ErrKeyToken}},
		{"wrap-only KBPK", kbpk, tr31.Header{Version: 'D', KeyUsage: "K1", Algorithm: 'A', ModeOfUse: 'E', Exportability: 'N'}, &kdhLeaf, false, []error{ErrKeyToken}},
		{"all-zero KBPK", make([]byte, 32), kbpkK1, &kdhLeaf, false, []error{ErrKeyToken}},
		{"weak TDES KBPK", bytes.Repeat([]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF}, 2),
			tr31.Header{Version: 'B', KeyUsage: "K1", Algorithm: 'T', ModeOfUse: 'D', Exportability: 'N'}, &kdhLeaf, false, []error{ErrKeyToken}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLoader(t, wiresec.ModeAES)
			ns := &nonces{}
			nonce, _ := ns.Issue()
			tok := kbpkToken(t, c.key, c.hdr, nonce, *c.kdh)
			o := TokenOpts{Device: device{dev.key, dev.cert}, KDHRoots: roots, Nonce: nonce, Nonces: ns, Now: tokenTime}
			if c.reuse {
				if _, err := l.LoadKeyToken(tok, o); err != nil {
					t.Fatal(err)
				}
			}
			kcv, err := l.LoadKeyToken(tok, o)
			if c.want != nil {
				for _, w := range c.want {
					if !errors.Is(err, w) {
						t.Fatalf("error %v, want %v", err, w)
					}
				}
				noSecrets(t, err.Error(), secretsIn(c.key))
				if c.reuse {
					return
				}
				if _, err := l.Keys.Header(KBPKName); !errors.Is(err, keystore.ErrNotFound) {
					t.Fatalf("a KBPK was stored: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := keystore.KCV(c.hdr.Algorithm, c.key); kcv != want {
				t.Fatalf("KCV %s, want %s", kcv, want)
			}
			// Stored as LoadKBPK stores: K1, unwrap only, not exportable.
			kh, err := l.Keys.Header(KBPKName)
			if err != nil {
				t.Fatal(err)
			}
			if kh.KeyUsage != "K1" || kh.ModeOfUse != 'D' || kh.Exportability != 'N' || kh.Algorithm != c.hdr.Algorithm {
				t.Fatalf("stored header %s", kh)
			}
			err = l.Keys.Use(KBPKName, func(k []byte) error {
				if !bytes.Equal(k, c.key) {
					t.Fatal("stored another key")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLoadRemoteRefused: what the KDH says when it refuses reaches the
// caller, and a garbled answer installs nothing.
func TestLoadRemoteRefused(t *testing.T) {
	tokenPKI(t)
	roots := x509.NewCertPool()
	roots.AddCert(kdhCA.cert)
	var got KeysRequest
	answer := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != KeysPath || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Error(err)
		}
		switch got.TerminalID {
		case "refused":
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":"device certificate not issued by the manufacturer CA\u0007"}`))
		case "garbled":
			w.Write([]byte(`{"key_token":"AAAA","ik_block":"x"}{}`))
		case "rogue":
			nonce, _ := tr34.ParseRandomToken(got.RandomToken)
			json.NewEncoder(w).Encode(KeysResponse{KeyToken: kbpkToken(t, h(t, aesA), kbpkK1, nonce, rogueKDH), IKBlock: "D0000"})
		case "wrong usage", "other KBPK":
			// A genuine token, and a block the terminal refuses: a PIN
			// key, or an initial key under another KBPK than the token's.
			nonce, _ := tr34.ParseRandomToken(got.RandomToken)
			hd, under := b1Header('D', 'A', tr31.OptBlock{ID: "IK", Data: aesIKID}), h(t, aesA)
			if got.TerminalID == "wrong usage" {
				hd.KeyUsage, hd.ModeOfUse = "P0", 'E'
			} else {
				under = h(t, aesB)
			}
			block, err := tr31.Wrap(under, hd, dukptCases[3].deriveIK(t), rand.Reader)
			if err != nil {
				t.Error(err)
			}
			json.NewEncoder(w).Encode(KeysResponse{KeyToken: kbpkToken(t, h(t, aesA), kbpkK1, nonce, kdhLeaf), IKBlock: block})
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(answer))
	defer srv.Close()
	for _, c := range []struct {
		id   string
		want []error
		text string
	}{
		{"refused", []error{ErrRemote}, "403: device certificate not issued by the manufacturer CA"},
		{"garbled", []error{ErrRemote}, "data after"},
		{"rogue", []error{ErrKeyToken, tr34.ErrSigner}, ""},
		// The token verifies but its initial key does not load: the
		// terminal keeps the KBPK it had (none here), not the token's.
		{"wrong usage", []error{ErrUsage}, "key usage P0"},
		{"other KBPK", []error{ErrBlock, tr31.ErrMAC}, "not made under the key token's KBPK"},
	} {
		t.Run(c.id, func(t *testing.T) {
			l := newLoader(t, wiresec.ModeAES)
			_, err := l.LoadRemote(context.Background(), Remote{URL: srv.URL + "/", HTTP: srv.Client(), Device: device{dev.key, dev.cert},
				Nonces: &nonces{}, KDHRoots: roots, TerminalID: c.id})
			for _, w := range c.want {
				if !errors.Is(err, w) {
					t.Fatalf("error %v, want %v", err, w)
				}
			}
			if !strings.Contains(err.Error(), c.text) || strings.ContainsRune(err.Error(), 7) {
				t.Fatalf("error %q", err)
			}
			if got.DUKPT != "aes" || len(got.DeviceChain) != 1 || !bytes.Equal(got.DeviceChain[0], dev.cert.Raw) {
				t.Fatalf("request %+v", got)
			}
			if _, err := tr34.ParseRandomToken(got.RandomToken); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Keys.Header(KBPKName); !errors.Is(err, keystore.ErrNotFound) {
				t.Fatalf("a KBPK was stored: %v", err)
			}
		})
	}
	l := newLoader(t, wiresec.ModeAES)
	l.DUKPT = nil
	if _, err := l.LoadRemote(context.Background(), Remote{URL: srv.URL}); !errors.Is(err, ErrNoDUKPT) {
		t.Fatal(err)
	}
}

// FuzzParseKeysResponse: the KDH's answer is outside bytes.
func FuzzParseKeysResponse(f *testing.F) {
	f.Add([]byte(`{"key_token":"MAMCAQE=","ik_block":"D0016B1AX00N0000"}`))
	f.Add([]byte(`{"key_token":"","ik_block":""}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseKeysResponse(b)
		if err != nil {
			if !errors.Is(err, ErrRemote) || r != nil {
				t.Fatalf("%v %v", r, err)
			}
			return
		}
		if len(r.KeyToken) == 0 || len(r.KeyToken) > tr34.MaxTokenLen || r.IKBlock == "" || len(r.IKBlock) > tr31.MaxLength {
			t.Fatalf("accepted %d-byte token, %d-character block", len(r.KeyToken), len(r.IKBlock))
		}
	})
}

// A keys response is one JSON object and nothing after it.
func TestParseKeysResponseTrailingData(t *testing.T) {
	good := `{"key_token":"MAMCAQE=","ik_block":"D0016B1AX00N0000"}`
	if _, err := ParseKeysResponse([]byte(good + "\n")); err != nil {
		t.Fatalf("a response and a line break: %v", err)
	}
	for _, tail := range []string{"}", "]", " {}", "x", `"`} {
		if r, err := ParseKeysResponse([]byte(good + tail)); !errors.Is(err, ErrRemote) {
			t.Errorf("response followed by %q: %+v, %v", tail, r, err)
		}
	}
}
