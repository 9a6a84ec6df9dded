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
	"posd/terminal/linksig"
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
	f.Add(uint8(1), []byte(`{"terminal_id":"T1","session":"S1","order_id":"O1","amount":100,"currency":"156","pin_block":"00112233445566778899AABBCCDDEEFF","ksn":"123456789012345600000001"}`))
	f.Add(uint8(2), []byte(`{"terminal_id":"T1","session":"S1"}`))
	f.Add(uint8(3), []byte(`{"terminal_id":"T1","order_id":"O1"}`))
	f.Add(uint8(0), []byte(`{"terminal_id":"T1","order_id":"O1","amount":1,"currency":"156","sealed":"/9j/4AAQ","consent_at":"2026-01-01T00:00:00Z"}`))
	j := &syncBuf{}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p, err := facepay.New(facepay.Opts{Key: key, Mode: wiresec.ModeAES, BDK: acquirer.DefaultBDK(wiresec.ModeAES), Journal: j,
		Clock: clk, Gallery: &facepay.Gallery{}})
	if err != nil {
		f.Fatal(err)
	}
	paths := []string{fp.PathIdentify, fp.PathConfirm, fp.PathCancel, fp.PathReverse, "/face/v1/x"}
	tkey := facepay.TerminalKey([]byte(facepay.TestMasterKey), "T1")
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		path := paths[int(op)%len(paths)]
		r := httptest.NewRequest(http.MethodPost, "http://face"+path, bytes.NewReader(body))
		// Most requests signed by T1 (the body is what is fuzzed); one in
		// eight not, or signed wrong.
		var sig string
		if op&0x38 != 0 {
			sig = fp.SigHeaders.SignHTTP(r, tkey, path, "T1", clk.Now(), body)
		} else {
			r.Header.Set(fp.HeaderTerminal, "T1")
			r.Header.Set(fp.HeaderSignature, "00")
		}
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		if got := w.Header().Get(fp.HeaderSignature); sig != "" && len(body) <= fp.MaxRequestBody &&
			got != linksig.SignResponse(tkey, path, sig, w.Body.Bytes()) {
			t.Fatalf("answer to a signed request not signed: HTTP %d %s", w.Code, w.Body.String())
		}
		if sig == "" && (w.Code != http.StatusUnauthorized || w.Header().Get(fp.HeaderSignature) != "") {
			t.Fatalf("unsigned request answered HTTP %d %s", w.Code, w.Body.String())
		}
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
