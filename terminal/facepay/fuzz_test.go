package facepay

import (
	"errors"
	"strings"
	"testing"

	"posd/terminal/linksig"
)

// FuzzDecodeAnswers: no answer body crashes the decoders; what they
// accept is a valid answer to the request, and every refusal is typed.
func FuzzDecodeAnswers(f *testing.F) {
	f.Add(200, []byte(`{"order_id":"F1","session":"S1","masked":"6230****1234"}`))
	f.Add(200, []byte(`{"order_id":"F1","session":"S1","account":"6230580000001234","masked":"6230****1234"}`))
	f.Add(401, []byte(`{"code":"bad_signature"}`))
	f.Add(200, []byte(`{"order_id":"F1","status":"approved","platform_txn_id":"FP1"}`))
	f.Add(200, []byte(`{"order_id":"F1","status":"approved","platform_txn_id":"FP1","amount":8800,"currency":"CNY"}`))
	f.Add(200, []byte(`{"order_id":"F1","status":"approved","platform_txn_id":"FP1","amount":8801,"currency":"156"}`))
	f.Add(200, []byte(`{"order_id":"F1","status":"declined","reason":"wrong_password","tries_left":2,"amount":8800,"currency":"156"}`))
	f.Add(200, []byte(`{"order_id":"F1","status":"reversed","amount":8800,"currency":"156"}`))
	f.Add(409, []byte(`{"order_id":"F1","code":"reverse_expired"}`))
	f.Add(200, []byte(`{"session":"S1","status":"cancelled"}`))
	f.Add(404, []byte(`{"code":"no_match"}`))
	f.Add(403, []byte(`{"code":"over_limit"}`))
	f.Add(500, []byte(``))
	f.Add(200, []byte(`[]`))
	typed := func(t *testing.T, err error) {
		if err != nil && !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrRejected) && !errors.Is(err, ErrNoMatch) &&
			!errors.Is(err, ErrOverLimit) && !errors.Is(err, ErrLocked) && !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("untyped error %v", err)
		}
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		c, err := DecodeIdentify("F1", status, body)
		typed(t, err)
		if err == nil && (status != 200 || !ValidSession(c.Session) || !ValidMasked(c.Masked)) {
			t.Fatalf("accepted candidate %#v from HTTP %d", c, status)
		}
		if err == nil && strings.Count(c.Masked, "")-1-len(strings.Trim(c.Masked, "0123456789")) > 10 {
			t.Fatalf("masked account with more than 10 digits: %q", c.Masked)
		}
		if err != nil && strings.Contains(err.Error(), "6230580000001234") {
			t.Fatal("error quotes the account")
		}
		r, err := DecodeConfirm("F1", 8800, "156", status, body)
		typed(t, err)
		if err == nil && (status != 200 || r.Status != StatusApproved || r.PlatformTxnID == "" || r.Amount != 8800 || !SameCurrency(r.Currency, "156")) {
			t.Fatalf("accepted confirm %+v from HTTP %d", r, status)
		}
		if errors.Is(err, ErrAmountMismatch) && !errors.Is(err, ErrUnavailable) {
			t.Fatalf("amount mismatch not an unknown outcome: %v", err)
		}
		if errors.Is(err, ErrWrongPassword) && (r.Status != StatusDeclined || r.TriesLeft <= 0) {
			t.Fatalf("wrong password %+v", r)
		}
		r, err = DecodeReverse("F1", status, body)
		typed(t, err)
		if err == nil && r.Status != StatusReversed && r.Status != StatusCancelled {
			t.Fatalf("accepted reverse %+v", r)
		}
		typed(t, DecodeCancel("S1", status, body))
	})
}

// FuzzVerifyAnswer: whatever the status, signature header and body, an
// answer is trusted only when signed under the key for this request; the
// only unsigned thing taken is a 401 bad_signature refusal, never to a
// confirm.
func FuzzVerifyAnswer(f *testing.F) {
	key := []byte("face-pay link key of T0000009..")
	reqSig := linksig.SignRequest(key, PathConfirm, "T1", "1767225600", []byte("{}"))
	ok := []byte(`{"order_id":"F1","status":"approved","platform_txn_id":"FP1"}`)
	f.Add(0, 200, linksig.SignResponse(key, PathConfirm, reqSig, ok), ok)
	f.Add(1, 401, "", []byte(`{"code":"bad_signature"}`))
	f.Add(0, 401, "", []byte(`{"code":"bad_signature"}`))
	f.Add(2, 200, "00", []byte(`{}`))
	paths := []string{PathConfirm, PathIdentify, PathCancel, PathReverse}
	f.Fuzz(func(t *testing.T, p, status int, sig string, body []byte) {
		path := paths[(p%len(paths)+len(paths))%len(paths)]
		err := VerifyAnswer(key, path, reqSig, status, sig, body)
		signed := sig == linksig.SignResponse(key, path, reqSig, body)
		switch {
		case err == nil && !signed:
			t.Fatal("accepted an answer not signed for the request")
		case err != nil && signed:
			t.Fatalf("refused a signed answer: %v", err)
		case errors.Is(err, ErrRejected) && (path == PathConfirm || status != 401):
			t.Fatalf("took an unsigned refusal to %s HTTP %d", path, status)
		case err != nil && !errors.Is(err, ErrRejected) && !(errors.Is(err, ErrBadSignature) && errors.Is(err, ErrUnavailable)):
			t.Fatalf("untyped %v", err)
		}
	})
}
