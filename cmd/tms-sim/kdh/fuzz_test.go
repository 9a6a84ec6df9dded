package kdh

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/conn/clock"
	"posd/crypto/tr34"
	"posd/terminal/devid"
	"posd/terminal/keyload"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

// fuzzRig is a KDH with its factory, and a device it certified.
func fuzzRig(f *testing.F) (*Server, *lockedBuffer, []byte, []byte) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	j := &lockedBuffer{}
	s, err := New(Opts{Journal: j, Clock: clock.NewFake(now), Factory: true})
	if err != nil {
		f.Fatal(err)
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{SerialNumber: "FUZZ-1"}}, k)
	if err != nil {
		f.Fatal(err)
	}
	chain, err := s.factory.Certify(context.Background(), csrDER)
	if err != nil {
		f.Fatal(err)
	}
	rt, err := tr34.RandomToken(bytes.Repeat([]byte{9}, 16))
	if err != nil {
		f.Fatal(err)
	}
	body, err := json.Marshal(keyload.KeysRequest{TerminalID: "T0000001", DeviceChain: chain, RandomToken: rt, DUKPT: "aes"})
	if err != nil {
		f.Fatal(err)
	}
	return s, j, body, csrDER
}

// checkAnswer: one journal line per request, JSON, matching the status;
// the status is one the protocol names; a 200 is a keys response.
func checkAnswer(t *testing.T, rr *httptest.ResponseRecorder, journal string, ok func(body []byte) error, allowed ...int) {
	t.Helper()
	found := false
	for _, s := range allowed {
		found = found || rr.Code == s
	}
	if !found {
		t.Fatalf("status %d: %s", rr.Code, rr.Body.Bytes())
	}
	lines := strings.Split(strings.TrimSuffix(journal, "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d journal lines", len(lines))
	}
	var e entry
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil {
		t.Fatalf("journal line: %v", err)
	}
	if e.Status != rr.Code || (rr.Code == 200) != (e.Outcome != "refused") {
		t.Fatalf("journal %+v for status %d", e, rr.Code)
	}
	if rr.Code == 200 {
		if err := ok(rr.Body.Bytes()); err != nil {
			t.Fatal(err)
		}
		return
	}
	var msg struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(rr.Body.Bytes(), &msg); err != nil || msg.Error == "" {
		t.Fatalf("error answer %q", rr.Body.Bytes())
	}
}

// FuzzKeysRequest feeds arbitrary bodies to the KDH's keys endpoint.
func FuzzKeysRequest(f *testing.F) {
	s, j, body, _ := fuzzRig(f)
	f.Add(body)
	f.Add(bytes.Replace(body, []byte(`"aes"`), []byte(`"tdes"`), 1))
	f.Add([]byte(`{"terminal_id":"T1","device_chain":["MAA="],"random_token":"","dukpt":"aes"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		rr := httptest.NewRecorder()
		s.ServeHTTP(rr, httptest.NewRequest(http.MethodPost, keyload.KeysPath, bytes.NewReader(b)))
		checkAnswer(t, rr, j.take(), func(body []byte) error {
			_, err := keyload.ParseKeysResponse(body)
			return err
		}, 200, 400, 403, 413)
	})
}

// FuzzCertify feeds arbitrary bodies to the test factory.
func FuzzCertify(f *testing.F) {
	s, j, _, csrDER := fuzzRig(f)
	f.Add(csrDER)
	f.Add(csrDER[:40])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rr := httptest.NewRecorder()
		s.ServeHTTP(rr, httptest.NewRequest(http.MethodPost, FactoryPath, bytes.NewReader(b)))
		checkAnswer(t, rr, j.take(), func(body []byte) error {
			chain, err := devid.ParseChainPEM(body)
			if err != nil {
				return err
			}
			_, err = x509.ParseCertificate(chain[0])
			return err
		}, 200, 400, 413)
	})
}
