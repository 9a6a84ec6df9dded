package facepay

import (
	"errors"
	"strings"
	"testing"
)

// FuzzDecodeAnswers: no answer body crashes the decoders; what they
// accept is a valid answer to the request, and every refusal is typed.
func FuzzDecodeAnswers(f *testing.F) {
	f.Add(200, []byte(`{"order_id":"F1","session":"S1","account":"6230580000001234","masked":"6230****1234"}`))
	f.Add(200, []byte(`{"order_id":"F1","status":"approved","platform_txn_id":"FP1"}`))
	f.Add(200, []byte(`{"order_id":"F1","status":"declined","reason":"wrong_password","tries_left":2}`))
	f.Add(200, []byte(`{"order_id":"F1","status":"reversed"}`))
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
		if err == nil && (status != 200 || !ValidAccount(c.Account) || !ValidSession(c.Session) || c.Masked == "") {
			t.Fatalf("accepted candidate %#v from HTTP %d", c, status)
		}
		if err != nil && strings.Contains(err.Error(), "6230580000001234") {
			t.Fatal("error quotes the account")
		}
		r, err := DecodeConfirm("F1", status, body)
		typed(t, err)
		if err == nil && (status != 200 || r.Status != StatusApproved || r.PlatformTxnID == "") {
			t.Fatalf("accepted confirm %+v from HTTP %d", r, status)
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
