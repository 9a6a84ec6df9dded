package linksig_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"posd/terminal/linksig"
	"posd/terminal/wallet"
)

var key = []byte("0123456789abcdef0123456789abcdef")

// The scheme is the wallet link's, byte for byte: a terminal and a
// platform that speak one speak the other's signatures.
func TestSameAsWallet(t *testing.T) {
	body := []byte(`{"order_id":"W1","amount":100}`)
	req := linksig.SignRequest(key, "/wechat/pay", "T0000009", "1767225600", body)
	if req != wallet.SignRequest(key, "/wechat/pay", "T0000009", "1767225600", body) {
		t.Fatal("request signature differs from the wallet's")
	}
	if linksig.SignResponse(key, "/wechat/pay", req, body) != wallet.SignResponse(key, "/wechat/pay", req, body) {
		t.Fatal("answer signature differs from the wallet's")
	}
	now := time.Unix(1767225600, 0)
	if linksig.Timestamp(now) != wallet.Timestamp(now) {
		t.Fatal("timestamp differs")
	}
}

// A vector computed with openssl, so the format cannot drift unseen:
//
//	printf 'POST\n/face/v1/confirm\nT1\n1700000000\n{}' | openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
func TestVector(t *testing.T) {
	want := "6c9b88e586dd2d303841ff16947cb2fe977f22155f17c1d21d999ba6f5bb5a82"
	if got := linksig.SignRequest(key, "/face/v1/confirm", "T1", "1700000000", []byte("{}")); got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

func TestVerifyRequest(t *testing.T) {
	now := time.Unix(1767225600, 0)
	body := []byte(`{"order_id":"F1"}`)
	ts := linksig.Timestamp(now)
	sig := linksig.SignRequest(key, "/p", "T1", ts, body)
	if err := linksig.VerifyRequest(key, "/p", "T1", ts, sig, body, now, linksig.Window); err != nil {
		t.Fatal(err)
	}
	other := []byte("another terminal's key, 32 bytes")
	for name, c := range map[string]struct {
		key                []byte
		path, term, ts, sg string
		body               []byte
		want               error
	}{
		"other key":      {other, "/p", "T1", ts, sig, body, linksig.ErrBadSignature},
		"other path":     {key, "/q", "T1", ts, sig, body, linksig.ErrBadSignature},
		"other terminal": {key, "/p", "T2", ts, sig, body, linksig.ErrBadSignature},
		"other time":     {key, "/p", "T1", linksig.Timestamp(now.Add(time.Second)), sig, body, linksig.ErrBadSignature},
		"other body":     {key, "/p", "T1", ts, sig, []byte(`{"order_id":"F2"}`), linksig.ErrBadSignature},
		"no signature":   {key, "/p", "T1", ts, "", body, linksig.ErrBadSignature},
		"upper case":     {key, "/p", "T1", ts, strings.ToUpper(sig), body, linksig.ErrBadSignature},
	} {
		if err := linksig.VerifyRequest(c.key, c.path, c.term, c.ts, c.sg, c.body, now, linksig.Window); !errors.Is(err, c.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Signed, but stale or from the future: refused.
	for _, d := range []time.Duration{-linksig.Window - time.Second, linksig.Window + time.Second} {
		ts := linksig.Timestamp(now.Add(d))
		sig := linksig.SignRequest(key, "/p", "T1", ts, body)
		if err := linksig.VerifyRequest(key, "/p", "T1", ts, sig, body, now, linksig.Window); !errors.Is(err, linksig.ErrStale) {
			t.Errorf("%v off: %v", d, err)
		}
	}
	for _, ts := range []string{"", "-1", "+1767225600", "1767225600.5", "0x10", "99999999999999999", " 1767225600"} {
		sig := linksig.SignRequest(key, "/p", "T1", ts, body)
		if err := linksig.VerifyRequest(key, "/p", "T1", ts, sig, body, now, linksig.Window); !errors.Is(err, linksig.ErrBadTimestamp) {
			t.Errorf("timestamp %q: %v", ts, err)
		}
	}
}

func TestVerifyResponse(t *testing.T) {
	body := []byte(`{"status":"approved"}`)
	req := linksig.SignRequest(key, "/p", "T1", "1", nil)
	sig := linksig.SignResponse(key, "/p", req, body)
	if err := linksig.VerifyResponse(key, "/p", req, sig, body); err != nil {
		t.Fatal(err)
	}
	req2 := linksig.SignRequest(key, "/p", "T1", "2", nil)
	for name, err := range map[string]error{
		"unsigned":         linksig.VerifyResponse(key, "/p", req, "", body),
		"other request":    linksig.VerifyResponse(key, "/p", req2, sig, body),
		"other body":       linksig.VerifyResponse(key, "/p", req, sig, []byte(`{"status":"declined"}`)),
		"other path":       linksig.VerifyResponse(key, "/q", req, sig, body),
		"request sig echo": linksig.VerifyResponse(key, "/p", req, req, body),
	} {
		if !errors.Is(err, linksig.ErrBadSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestSignHTTP(t *testing.T) {
	h := linksig.Headers{Terminal: "X-T", Timestamp: "X-Ts", Signature: "X-Sig"}
	hr := httptest.NewRequest("POST", "http://p/x", nil)
	now := time.Unix(1767225600, 0)
	sig := h.SignHTTP(hr, key, "/x", "T7", now, []byte("{}"))
	if hr.Header.Get("X-T") != "T7" || hr.Header.Get("X-Ts") != "1767225600" || hr.Header.Get("X-Sig") != sig {
		t.Fatalf("headers %v", hr.Header)
	}
	if err := linksig.VerifyRequest(key, "/x", "T7", "1767225600", sig, []byte("{}"), now, linksig.Window); err != nil {
		t.Fatal(err)
	}
}

func TestTerminalKey(t *testing.T) {
	a, b := linksig.TerminalKey([]byte("master"), "T1"), linksig.TerminalKey([]byte("master"), "T2")
	if len(a) != 32 || string(a) == string(b) || string(a) == string(linksig.TerminalKey([]byte("other"), "T1")) {
		t.Fatal("terminal keys not distinct")
	}
}
