package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// txnPosd is a posd API with one transaction, id 6015, of kind: it is
// running (created) until a GET ?wait= answers its next record from
// waits, or the cashier's cancel moves it to after (with cancelStatus
// answered, and cancelErr when that is an error). A GET after waits ran
// out is refused: posctl was told the outcome and must not ask again.
type txnPosd struct {
	kind         string
	waits        []map[string]string
	after        map[string]string
	cancelStatus int
	cancelErr    string

	mu        sync.Mutex
	cancelled bool
	gets      int
	cur       map[string]string
}

func (f *txnPosd) record(fields map[string]string) map[string]string {
	r := map[string]string{"id": "6015", "kind": f.kind, "state": "created", "amount": "2.00"}
	for k, v := range fields {
		r[k] = v
	}
	return r
}

func (f *txnPosd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if f.cur == nil {
		f.cur = f.record(nil)
	}
	switch {
	case r.Method == "POST" && (r.URL.Path == "/v1/sales" || r.URL.Path == "/v1/txns"):
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(f.cur)
	case r.Method == "POST" && r.URL.Path == "/v1/txns/6015/cancel":
		f.cancelled = true
		if f.after != nil {
			f.cur = f.record(f.after)
		}
		status := f.cancelStatus
		if status == 0 {
			status = 202
		}
		w.WriteHeader(status)
		if f.cancelErr != "" {
			json.NewEncoder(w).Encode(map[string]string{"error": f.cancelErr})
			return
		}
		w.Write([]byte(`{"status":"cancelling"}`))
	case r.Method == "GET" && r.URL.Path == "/v1/txns/6015":
		f.gets++
		if r.URL.Query().Get("wait") != "" && !f.cancelled {
			if len(f.waits) == 0 {
				w.WriteHeader(http.StatusGone)
				w.Write([]byte(`{"error":"asked again after the outcome"}`))
				return
			}
			f.cur, f.waits = f.record(f.waits[0]), f.waits[1:]
		}
		json.NewEncoder(w).Encode(f.cur)
	default:
		w.WriteHeader(404)
		w.Write([]byte(`{"error":"no such endpoint"}`))
	}
}

// inDoubtRecord is a wallet refund's record whose outcome the platform has not
// told: the engine's Wait returns it, and the terminal asks again.
var inDoubtRecord = map[string]string{"state": "auth_sent", "failure": "wallet_unknown",
	"error": "wallet platform unreachable: the terminal asks the platform again"}

// A wallet refund whose outcome is not known ends posctl's wait at once:
// the record, "do not refund again", how to follow it, and its own exit
// status; posctl neither waits out --timeout nor tries to cancel it.
func TestRefundInDoubtEndsTheWait(t *testing.T) {
	f := &txnPosd{kind: "refund", waits: []map[string]string{inDoubtRecord},
		cancelStatus: 409, cancelErr: "store: invalid state transition: 6015 is not in progress"}
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := withToken(t, srv.URL)
	out, errb, code := runCLI(t, "--data-dir", dir, "refund", "--amount", "2.00", "--orig", "6001", "--wait", "--timeout", "1h")
	f.mu.Lock()
	defer f.mu.Unlock()
	if code != exitInDoubt {
		t.Fatalf("exit %d, want %d; out %q err %q", code, exitInDoubt, out, errb)
	}
	if f.cancelled || f.gets != 1 {
		t.Errorf("posctl went on after the outcome was known to be unknown: cancel %v, %d reads", f.cancelled, f.gets)
	}
	if !strings.Contains(out, `"wallet_unknown"`) {
		t.Errorf("the record is not printed: %q", out)
	}
	for _, want := range []string{"refund 6015", "not known", "do not refund again", "posctl txn show 6015"} {
		if !strings.Contains(errb, want) {
			t.Errorf("stderr %q does not say %q", errb, want)
		}
	}
}

// The help and posctl's messages use one exit status for "not known yet".
func TestHelpDocumentsTheExitStatuses(t *testing.T) {
	out, _, _ := runCLI(t, "help")
	for _, want := range []string{"exit status", "\n  0  approved", "\n  1  an error",
		fmt.Sprintf("\n  %d  ended without approval", exitNotApproved), fmt.Sprintf("\n  %d  outcome not known yet", exitInDoubt), "do not repeat"} {
		if !strings.Contains(out, want) {
			t.Errorf("posctl help does not say %q", want)
		}
	}
}

// When posctl stops waiting, its messages name the transaction by its
// kind and say what happened in the cashier's words: never "sale" for a
// refund, never the store's error text.
func TestStoppedWaitWordsTheTransaction(t *testing.T) {
	notInProgress := "store: invalid state transition: 6015 is not in progress"
	completing := "store: invalid state transition: 6015 is completing and can no longer be cancelled"
	for _, c := range []struct {
		name         string
		kind         string
		args         []string
		after        map[string]string
		cancelStatus int
		cancelErr    string
		code         int
		say          []string
	}{
		{name: "refund cancelled", kind: "refund", args: []string{"refund", "--amount", "2.00"},
			after: map[string]string{"state": "failed", "failure": "cancelled"}, code: exitNotApproved,
			say: []string{"refund 6015", "cancelled"}},
		{name: "void still running", kind: "void", args: []string{"void", "6001"},
			after: map[string]string{"state": "auth_sent"}, code: 1,
			say: []string{"void 6015", "still running", "posctl txn show 6015"}},
		{name: "completion approved first", kind: "completion", args: []string{"complete", "6001", "--amount", "2.00"},
			after: map[string]string{"state": "approved"}, cancelStatus: 409, cancelErr: notInProgress, code: 0,
			say: []string{"completion 6015", "approved before"}},
		{name: "wallet refund in doubt at the cancel", kind: "refund", args: []string{"refund", "--amount", "2.00", "--orig", "6001"},
			after: inDoubtRecord, cancelStatus: 409, cancelErr: notInProgress, code: exitInDoubt,
			say: []string{"refund 6015", "not known", "do not refund again", "posctl txn show 6015"}},
		{name: "wallet refund in flight", kind: "refund", args: []string{"refund", "--amount", "2.00", "--orig", "6001"},
			after: map[string]string{"state": "auth_sent"}, cancelStatus: 409, cancelErr: completing, code: 1,
			say: []string{"refund 6015", "can no longer be cancelled", "still running", "posctl txn show 6015"}},
		{name: "balance inquiry declined", kind: "balance", args: []string{"balance"},
			after: map[string]string{"state": "declined"}, code: exitNotApproved,
			say: []string{"balance inquiry 6015", "ended without approval (declined)"}},
		{name: "pre-authorization", kind: "preauth", args: []string{"preauth", "--amount", "2.00"},
			after: map[string]string{"state": "failed", "failure": "cancelled"}, code: exitNotApproved,
			say: []string{"pre-authorization 6015", "cancelled"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &txnPosd{kind: c.kind, after: c.after, cancelStatus: c.cancelStatus, cancelErr: c.cancelErr}
			srv := httptest.NewServer(f)
			defer srv.Close()
			dir := withToken(t, srv.URL)
			args := append([]string{"--data-dir", dir}, c.args...)
			out, errb, code := runCLI(t, append(args, "--wait", "--timeout", "1ns")...)
			if code != c.code {
				t.Errorf("exit %d, want %d; out %q err %q", code, c.code, out, errb)
			}
			for _, want := range c.say {
				if !strings.Contains(errb, want) {
					t.Errorf("stderr %q does not say %q", errb, want)
				}
			}
			for _, bad := range []string{"sale", "store:", "invalid state transition"} {
				if strings.Contains(errb, bad) {
					t.Errorf("stderr %q says %q", errb, bad)
				}
			}
			if !strings.Contains(out, `"`+c.after["state"]+`"`) {
				t.Errorf("the record is not printed: %q", out)
			}
		})
	}
}

// posctl's timeout ended and the cancel found the sale already sent: the
// host did not answer, so the terminal reverses it (reversal_pending). The
// sale ended without approval (exit 3, as when posctl waited it out), but
// the cancel did not end it: posctl says it is being reversed, not
// "cancelled". An approval the cancel reversed is the cancel's doing.
func TestTimeoutOfASaleBeingReversed(t *testing.T) {
	for _, c := range []struct {
		reason string
		say    []string
		not    string
	}{
		{"no response", []string{"the host did not answer", "reverses it", "posctl txn show 6015"}, "cancelled"},
		{"cancelled at the terminal", []string{"cancelled", "reverses it"}, ""},
	} {
		f := &txnPosd{kind: "purchase", after: map[string]string{"state": "reversal_pending", "reversal_reason": c.reason}}
		srv := httptest.NewServer(f)
		dir := withToken(t, srv.URL)
		out, errb, code := runCLI(t, "--data-dir", dir, "sale", "--amount", "1.91", "--wait", "--timeout", "1ns")
		srv.Close()
		if code != exitNotApproved || !strings.Contains(out, `"reversal_pending"`) {
			t.Errorf("%s: exit %d, out %q", c.reason, code, out)
		}
		for _, want := range c.say {
			if !strings.Contains(errb, want) {
				t.Errorf("%s: stderr %q does not say %q", c.reason, errb, want)
			}
		}
		if c.not != "" && strings.Contains(errb, c.not) {
			t.Errorf("%s: stderr %q says %q", c.reason, errb, c.not)
		}
	}
}

// posctl txn cancel of a transaction that can no longer be cancelled says
// why in the cashier's words, not the store's.
func TestTxnCancelRefusedIsWorded(t *testing.T) {
	for _, c := range []struct {
		cur       map[string]string
		cancelErr string
		say       string
	}{
		{map[string]string{"state": "approved"}, "store: invalid state transition: 6015 is not in progress", "refund 6015 has ended (approved): nothing to cancel"},
		{inDoubtRecord, "store: invalid state transition: 6015 is not in progress", "do not refund again"},
		{map[string]string{"state": "auth_sent"}, "store: invalid state transition: 6015 is completing and can no longer be cancelled", "can no longer be cancelled"},
	} {
		f := &txnPosd{kind: "refund", cancelStatus: 409, cancelErr: c.cancelErr}
		f.cur = f.record(c.cur)
		srv := httptest.NewServer(f)
		dir := withToken(t, srv.URL)
		_, errb, code := runCLI(t, "--data-dir", dir, "txn", "cancel", "6015")
		srv.Close()
		if code != 1 || !strings.Contains(errb, c.say) || strings.Contains(errb, "store:") {
			t.Errorf("%v: exit %d, %q (want %q)", c.cur, code, errb, c.say)
		}
	}
}

// dyingPosd is f taking the transaction, then dropping every GET's
// connection without an answer, as a posd that dies.
func dyingPosd(f *txnPosd) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			if hj, ok := w.(http.Hijacker); ok {
				c, _, _ := hj.Hijack()
				c.Close()
			}
			return
		}
		f.ServeHTTP(w, r)
	})
}

// posd stops while posctl waits for a sale (a crash, a restart): posctl
// says so, waits for posd to come back under its new token, and tells
// the outcome posd then gives; when posd does not come back before
// --timeout, the outcome is not known (exit 4) and posctl says how to
// learn it, never "posd not reachable" alone.
func TestWaitOutlivesAPosdRestart(t *testing.T) {
	// The first posd takes the sale, then dies as it is awaited.
	first := &txnPosd{kind: "purchase"}
	srv := httptest.NewServer(dyingPosd(first))
	addr := srv.Listener.Addr().String()
	dir := withToken(t, srv.URL)
	down := make(chan struct{})
	go func() {
		// The first GET found it dying: it stops, and after a while a
		// new posd answers on the same address with a new token.
		for {
			first.mu.Lock()
			posted := first.cur != nil
			first.mu.Unlock()
			if posted {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		srv.Close()
		close(down)
	}()
	restarted := make(chan *httptest.Server, 1)
	go func() {
		<-down
		time.Sleep(1500 * time.Millisecond)
		l2, err := net.Listen("tcp", addr)
		if err != nil {
			restarted <- nil
			return
		}
		second := &txnPosd{kind: "purchase", waits: []map[string]string{{"state": "reversed", "reason": "no response"}}}
		s2 := &httptest.Server{Listener: l2, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer new-token" {
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"error":"bad token"}`))
				return
			}
			second.ServeHTTP(w, r)
		})}}
		raw, _ := json.Marshal(map[string]string{"api": srv.URL, "token": "new-token"})
		os.WriteFile(filepath.Join(dir, tokenFile), raw, 0o600)
		s2.Start()
		restarted <- s2
	}()
	out, errb, code := runCLI(t, "--data-dir", dir, "sale", "--amount", "2.00", "--wait", "--timeout", "20s")
	if s2 := <-restarted; s2 != nil {
		defer s2.Close()
	} else {
		t.Skip("the address could not be taken again")
	}
	if code != exitNotApproved || !strings.Contains(out, `"reversed"`) {
		t.Fatalf("exit %d, want %d with the reversed record; out %q err %q", code, exitNotApproved, out, errb)
	}
	for _, want := range []string{"sale 6015", "not reachable", "waiting for posd to come back"} {
		if !strings.Contains(errb, want) {
			t.Errorf("stderr %q does not say %q", errb, want)
		}
	}

	// A posd that does not come back: the outcome is not known.
	srv3 := httptest.NewServer(dyingPosd(&txnPosd{kind: "purchase"}))
	defer srv3.Close()
	dir3 := withToken(t, srv3.URL)
	_, errb, code = runCLI(t, "--data-dir", dir3, "sale", "--amount", "2.00", "--wait", "--timeout", "2s")
	if code != exitInDoubt {
		t.Fatalf("exit %d, want %d (in doubt); err %q", code, exitInDoubt, errb)
	}
	for _, want := range []string{"sale 6015", "stopped answering", "not known", "posctl txn show 6015"} {
		if !strings.Contains(errb, want) {
			t.Errorf("stderr %q does not say %q", errb, want)
		}
	}
}

// shuttingDownPosd is f answering its first GET as a posd that begins to
// shut down mid-transaction answers (503, with the record as it stands),
// then the GETs after it with then (nil: f itself).
func shuttingDownPosd(f *txnPosd, then http.Handler) http.Handler {
	if then == nil {
		then = f
	}
	var mu sync.Mutex
	gets := 0
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "GET" {
			f.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		gets++
		first := gets == 1
		mu.Unlock()
		if first {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":"posd is shutting down; the transaction is auth_sent","txn":{"id":"6015","kind":"purchase","state":"auth_sent","amount":"2.00"}}`))
			return
		}
		then.ServeHTTP(w, r)
	})
}

// posd shut down cleanly (a restart, SIGTERM) while posctl waited for a
// sale: its last answer is a 503 that says so. posctl waits for it to
// come back as for a posd that died, and tells the outcome it then
// gives, or, when it does not come back, that the outcome is not known.
func TestWaitOutlivesAPosdShutdown(t *testing.T) {
	// posd back at once: the sale's outcome, with its own exit status.
	f := &txnPosd{kind: "purchase", waits: []map[string]string{{"state": "approved", "auth_code": "A1B2C3"}}}
	srv := httptest.NewServer(shuttingDownPosd(f, nil))
	defer srv.Close()
	dir := withToken(t, srv.URL)
	out, errb, code := runCLI(t, "--data-dir", dir, "sale", "--amount", "2.00", "--wait", "--timeout", "20s")
	if code != 0 || !strings.Contains(out, `"approved"`) {
		t.Fatalf("exit %d, want 0 with the approved record; out %q err %q", code, out, errb)
	}
	for _, want := range []string{"sale 6015", "shutting down", "waiting for posd to come back"} {
		if !strings.Contains(errb, want) {
			t.Errorf("stderr %q does not say %q", errb, want)
		}
	}

	// posd not back before --timeout: the outcome is not known.
	srv2 := httptest.NewServer(shuttingDownPosd(&txnPosd{kind: "purchase"}, dyingPosd(nil)))
	defer srv2.Close()
	dir2 := withToken(t, srv2.URL)
	_, errb, code = runCLI(t, "--data-dir", dir2, "sale", "--amount", "2.00", "--wait", "--timeout", "2s")
	if code != exitInDoubt {
		t.Fatalf("exit %d, want %d (in doubt); err %q", code, exitInDoubt, errb)
	}
	for _, want := range []string{"waiting for posd to come back", "stopped answering", "not known", "posctl txn show 6015"} {
		if !strings.Contains(errb, want) {
			t.Errorf("stderr %q does not say %q", errb, want)
		}
	}
}

// A 503 that is not posd shutting down (no record in it: a device or
// the host busy) is an error of the wait, not a reason to wait for a
// restart that is not coming.
func TestWaitEndsOnAnotherUnavailable(t *testing.T) {
	f := &txnPosd{kind: "purchase"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":"the card reader is busy"}`))
			return
		}
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	dir := withToken(t, srv.URL)
	_, errb, code := runCLI(t, "--data-dir", dir, "sale", "--amount", "2.00", "--wait", "--timeout", "20s")
	if code != 1 || !strings.Contains(errb, "the card reader is busy") || strings.Contains(errb, "come back") {
		t.Fatalf("exit %d, want 1 with the error; err %q", code, errb)
	}
}

// posctl knows posd's shutdown answer by its code, "shutting_down",
// whatever else the answer holds (here no record).
func TestWaitKnowsShutdownByCode(t *testing.T) {
	f := &txnPosd{kind: "purchase", waits: []map[string]string{{"state": "approved", "auth_code": "A1B2C3"}}}
	var mu sync.Mutex
	gets := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gets++
		first := r.Method == "GET" && gets == 2
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":"posd is stopping","code":"shutting_down"}`))
			return
		}
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	dir := withToken(t, srv.URL)
	out, errb, code := runCLI(t, "--data-dir", dir, "sale", "--amount", "2.00", "--wait", "--timeout", "20s")
	if code != 0 || !strings.Contains(out, `"approved"`) || !strings.Contains(errb, "waiting for posd to come back") {
		t.Fatalf("exit %d, want 0 after waiting for posd; out %q err %q", code, out, errb)
	}
}
