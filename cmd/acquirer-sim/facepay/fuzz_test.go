package facepay_test

import (
	"bytes"
	"crypto/ecdh"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/acquirer"
	"posd/cmd/acquirer-sim/facepay"
	"posd/conn/clock"
	"posd/crypto/faceseal"
	fp "posd/terminal/facepay"
	"posd/terminal/wiresec"
)

// FuzzRequest: whatever the operation and body, the platform answers
// JSON, never panics, never pays twice and never journals an account.
func FuzzRequest(f *testing.F) {
	key, err := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	env, _ := faceseal.Seal(key.PublicKey(), []byte("\xff\xd8\xff\xe0 not really"), fp.AAD("T1", "O1", 100, "156"), bytes.NewReader(make([]byte, 64)))
	f.Add(uint8(0), []byte(`{"terminal_id":"T1","order_id":"O1","amount":100,"currency":"156","sealed":"`+b64(env)+`","consent_at":"2026-01-01T00:00:00Z"}`))
	f.Add(uint8(1), []byte(`{"terminal_id":"T1","session":"S1","order_id":"O1","pin_block":"00112233445566778899AABBCCDDEEFF","ksn":"123456789012345600000001"}`))
	f.Add(uint8(2), []byte(`{"terminal_id":"T1","session":"S1"}`))
	f.Add(uint8(3), []byte(`{"terminal_id":"T1","order_id":"O1"}`))
	f.Add(uint8(0), []byte(`{"terminal_id":"T1","order_id":"O1","amount":1,"currency":"156","sealed":"/9j/4AAQ","consent_at":"2026-01-01T00:00:00Z"}`))
	j := &syncBuf{}
	p, err := facepay.New(facepay.Opts{Key: key, Mode: wiresec.ModeAES, BDK: acquirer.DefaultBDK(wiresec.ModeAES), Journal: j,
		Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), Gallery: &facepay.Gallery{}})
	if err != nil {
		f.Fatal(err)
	}
	paths := []string{fp.PathIdentify, fp.PathConfirm, fp.PathCancel, fp.PathReverse, "/face/v1/x"}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "http://face"+paths[int(op)%len(paths)], bytes.NewReader(body))
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		if w.Body.Len() == 0 || w.Body.Bytes()[0] != '{' {
			t.Fatalf("HTTP %d answer %q", w.Code, w.Body.String())
		}
		if w.Code == http.StatusOK && bytes.Contains(w.Body.Bytes(), []byte(`"code"`)) {
			t.Fatalf("200 with a code: %s", w.Body.String())
		}
		if p.Totals().ApprovedTwice != 0 {
			t.Fatal("approved twice")
		}
		if bytes.Contains(j.Bytes(), []byte("6230580000")) {
			t.Fatal("journal holds an account")
		}
	})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
