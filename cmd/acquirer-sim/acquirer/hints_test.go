package acquirer_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/acquirer"
	"posd/terminal/host"
	"posd/terminal/wiresec"
)

// TestControlHints: the control endpoint hints a list of terminals, or
// all of them, until cleared; every answer to a hinted terminal carries
// the update notice (the client's OnHint sees it), in both dialects, and
// the journal marks those answers.
func TestControlHints(t *testing.T) {
	for _, d := range host.DialectNames() {
		t.Run(d, func(t *testing.T) {
			r := startServer(t, d, wiresec.ModeAES, nil)
			cc := startControl(t, r)
			c := newClient(t, d, r.addr, nil)
			var hints atomic.Int32
			c.OnHint(func() { hints.Add(1) })
			tm := newTerminal(t, wiresec.ModeAES)
			ctx := context.Background()
			stan := uint32(0)
			sale := func(amount int64) host.Result {
				t.Helper()
				stan++
				res, err := c.Purchase(ctx, purchase(stan, amount), tm.session(t))
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			if res := sale(100); res.UpdateWaiting || hints.Load() != 0 {
				t.Fatalf("hinted before asked: %+v", res)
			}
			// Another terminal hinted: not this one.
			if code, m := cc.do(http.MethodPost, "/v1/hints", "application/json", `{"terminals":["T0000009"]}`); code != 200 {
				t.Fatalf("hint: %d %v", code, m)
			}
			if res := sale(200); res.UpdateWaiting {
				t.Fatal("a terminal not hinted got the notice")
			}
			// This one: every answer, a decline and an echo too.
			if code, m := cc.do(http.MethodPost, "/v1/hints", "application/json", `{"terminals":["T0000001"]}`); code != 200 ||
				len(m["terminals"].([]any)) != 2 {
				t.Fatalf("hint: %d %v", code, m)
			}
			if res := sale(300); !res.UpdateWaiting {
				t.Fatal("no notice for a hinted terminal")
			}
			if res := sale(51); res.ResponseCode != acquirer.RCInsufficient || !res.UpdateWaiting {
				t.Fatalf("declined: %+v", res)
			}
			stan++
			if err := c.Echo(ctx, stan); err != nil {
				t.Fatal(err)
			}
			if n := hints.Load(); n != 3 {
				t.Fatalf("OnHint called %d times for 3 hinted answers", n)
			}
			// Cleared, then all.
			if code, _ := cc.do(http.MethodDelete, "/v1/hints", "", ""); code != 200 {
				t.Fatal("clear")
			}
			if res := sale(400); res.UpdateWaiting {
				t.Fatal("notice after the hints were cleared")
			}
			if code, m := cc.do(http.MethodPost, "/v1/hints", "application/json", `{"all":true}`); code != 200 || m["all"] != true {
				t.Fatalf("hint all: %d %v", code, m)
			}
			if res := sale(500); !res.UpdateWaiting {
				t.Fatal("no notice with all hinted")
			}
			if code, m := cc.do(http.MethodGet, "/v1/hints", "", ""); code != 200 || m["all"] != true {
				t.Fatalf("GET: %d %v", code, m)
			}
			for _, bad := range []string{`{}`, `{"all":true,"terminals":["T1"]}`, `{"terminals":[""]}`, `{"terminals":["123456789"]}`,
				`{"all":true}{}`, `{"every":true}`, `[]`} {
				if code, _ := cc.do(http.MethodPost, "/v1/hints", "application/json", bad); code != http.StatusBadRequest {
					t.Errorf("POST %s: %d", bad, code)
				}
			}
			if code, _ := cc.do(http.MethodPost, "/v1/hints", "text/plain", `{"all":true}`); code != http.StatusUnsupportedMediaType {
				t.Errorf("text/plain: %d", code)
			}
			if code, _ := cc.do(http.MethodPut, "/v1/hints", "application/json", `{"all":true}`); code != http.StatusMethodNotAllowed {
				t.Errorf("PUT: %d", code)
			}
			// The answer's journal line is written once it has gone out:
			// the client may have it a moment before.
			n := 0
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if n = strings.Count(r.journal.String(), `"update_hint":true`); n >= 4 || time.Now().After(deadline) {
					break
				}
			}
			if n != 4 {
				t.Fatalf("%d journal lines with update_hint, want 4:\n%s", n, r.journal.String())
			}
		})
	}
}

func FuzzParseHintSpec(f *testing.F) {
	f.Add([]byte(`{"all":true}`))
	f.Add([]byte(`{"terminals":["T0000001","T2"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := acquirer.ParseHintSpec(b)
		if err != nil {
			return
		}
		if h.All == (len(h.Terminals) > 0) {
			t.Fatalf("accepted %+v", h)
		}
		for _, tid := range h.Terminals {
			if tid == "" || len(tid) > 8 {
				t.Fatalf("accepted terminal %q", tid)
			}
		}
	})
}
