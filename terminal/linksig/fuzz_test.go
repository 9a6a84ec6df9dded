package linksig_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"posd/terminal/linksig"
)

// FuzzVerifyRequest: the platform's view of a request's headers and body
// (all outside bytes). Nothing panics; only the exact signature of a
// timestamp inside the window verifies; every refusal is typed.
func FuzzVerifyRequest(f *testing.F) {
	now := time.Unix(1767225600, 0)
	f.Add("T1", "1767225600", linksig.SignRequest(key, "/p", "T1", "1767225600", []byte("{}")), []byte("{}"))
	f.Add("T1", "1767225600", "", []byte("{}"))
	f.Add("", "-5", "zz", []byte(nil))
	f.Add("T1", "99999999999999999999", "00", []byte("x"))
	f.Fuzz(func(t *testing.T, terminal, ts, sig string, body []byte) {
		err := linksig.VerifyRequest(key, "/p", terminal, ts, sig, body, now, linksig.Window)
		if err != nil && !errors.Is(err, linksig.ErrBadSignature) && !errors.Is(err, linksig.ErrBadTimestamp) && !errors.Is(err, linksig.ErrStale) {
			t.Fatalf("untyped %v", err)
		}
		if err == nil {
			if sig != linksig.SignRequest(key, "/p", terminal, ts, body) {
				t.Fatal("accepted a signature that is not the request's")
			}
			at, perr := linksig.ParseTimestamp(ts, now, linksig.Window)
			if perr != nil || now.Sub(at) > linksig.Window || at.Sub(now) > linksig.Window {
				t.Fatalf("accepted timestamp %q", ts)
			}
		}
		// The timestamp parser on its own: what it reads is the header's
		// number (leading zeros are the only other spelling of it).
		if at, err := linksig.ParseTimestamp(ts, now, linksig.Window); err == nil {
			if want := strings.TrimLeft(ts, "0"); linksig.Timestamp(at) != want && !(want == "" && at.Unix() == 0) {
				t.Fatalf("timestamp %q read as %v", ts, at)
			}
		}
	})
}
