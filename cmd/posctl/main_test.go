package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"posd/terminal/store"
	"strings"
	"sync"
	"testing"
)

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"-help"}} {
		out, _, code := runCLI(t, args...)
		if code != 0 || !strings.Contains(out, "usage: posctl") {
			t.Errorf("%v: exit %d, %q", args, code, out)
		}
	}
	if _, errb, code := runCLI(t); code != 1 || !strings.Contains(errb, "usage") {
		t.Errorf("no arguments: exit %d %q", code, errb)
	}
}

func TestMalformedCommandsSayTheirUsage(t *testing.T) {
	t.Setenv("POSD_DATA_DIR", t.TempDir())
	for args, want := range map[string]string{
		"txn show":             "usage: posctl txn show ID",
		"txn show 1 2":         "usage: posctl txn show ID",
		"txn cancel":           "usage: posctl txn cancel ID",
		"txn":                  "usage: posctl txn",
		"txn frobnicate":       `unknown command "txn frobnicate"`,
		"sim swipe":            "usage: posctl sim swipe --card NAME",
		"sim keys":             "usage: posctl sim keys KEYS",
		"sim keys 12 34":       "usage: posctl sim keys KEYS",
		"sim":                  "usage: posctl sim",
		"sale":                 "usage: posctl sale",
		"sale --amount":        "usage: posctl sale",
		"txn list --limit x":   "usage: posctl txn list",
		"devices selftest x":   "usage: posctl devices",
		"frobnicate":           `unknown command "frobnicate"`,
		"reversals":            "usage: posctl reversals send",
		"status now":           "usage: posctl status",
		"sync now":             "usage: posctl sync",
		"host":                 "usage: posctl host test",
		"sim cards everything": "usage: posctl sim cards",
		"sim tap":              "usage: posctl sim tap --card NAME",
		"sim insert --card":    "usage: posctl sim insert --card NAME",
		"sim insert x":         "usage: posctl sim insert --card NAME",
		"sim remove now":       "usage: posctl sim remove",
	} {
		_, errb, code := runCLI(t, strings.Fields(args)...)
		if code != 1 || !strings.Contains(errb, want) {
			t.Errorf("posctl %s: exit %d, %q (want %q)", args, code, errb, want)
		}
	}
}

// fakePosd is a minimal posd API: a sale that never gets a card.
type fakePosd struct {
	mu        sync.Mutex
	cancelled bool
	auth      []string
	// after is the sale's state once cancelled ("": failed).
	after string
}

func (f *fakePosd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	w.Header().Set("Content-Type", "application/json")
	rec := map[string]string{"id": "7", "state": "created"}
	if f.cancelled {
		rec["state"], rec["failure"] = "failed", "cancelled"
		if f.after != "" {
			rec = map[string]string{"id": "7", "state": f.after}
		}
	}
	switch {
	case r.Method == "POST" && r.URL.Path == "/v1/sales":
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(map[string]string{"id": "7", "state": "created"})
	case r.Method == "POST" && r.URL.Path == "/v1/txns/7/cancel":
		f.cancelled = true
		w.WriteHeader(202)
		w.Write([]byte(`{"status":"cancelling"}`))
	case r.Method == "GET" && r.URL.Path == "/v1/txns/7":
		json.NewEncoder(w).Encode(rec)
	default:
		w.WriteHeader(404)
		w.Write([]byte(`{"error":"no such endpoint"}`))
	}
}

func withToken(t *testing.T, api string) string {
	t.Helper()
	dir := t.TempDir()
	raw, _ := json.Marshal(map[string]string{"api": api, "token": "secret-token"})
	if err := os.WriteFile(filepath.Join(dir, tokenFile), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSaleTimeoutCancelsTheSale(t *testing.T) {
	f := &fakePosd{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := withToken(t, srv.URL)
	out, errb, code := runCLI(t, "--data-dir", dir, "sale", "--amount", "1.00", "--wait", "--timeout", "1s")
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.cancelled {
		t.Fatalf("the sale was left running after --timeout (exit %d, %s %s)", code, out, errb)
	}
	if code != exitNotApproved || !strings.Contains(out, `"failed"`) || !strings.Contains(errb, "cancelled") {
		t.Fatalf("exit %d out %q err %q", code, out, errb)
	}
	for _, a := range f.auth {
		if a != "Bearer secret-token" {
			t.Fatalf("request without the token: %q", a)
		}
	}
}

func TestTokenDiscovery(t *testing.T) {
	f := &fakePosd{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := withToken(t, srv.URL)
	// The token file names the API: no --api needed.
	t.Setenv("POSD_API", "")
	t.Setenv("POSD_DATA_DIR", dir)
	if _, errb, code := runCLI(t, "txn", "show", "7"); code != 0 {
		t.Fatalf("POSD_DATA_DIR: exit %d %s", code, errb)
	}
	// A token for another API is not sent there.
	if _, errb, code := runCLI(t, "--api", "http://127.0.0.1:1", "txn", "show", "7"); code != 1 || !strings.Contains(errb, "is for") {
		t.Fatalf("token of another API: exit %d %s", code, errb)
	}
	// No token: the error says where posctl looked for one.
	t.Setenv("POSD_DATA_DIR", t.TempDir())
	if _, errb, code := runCLI(t, "txn", "show", "7"); code != 1 || !strings.Contains(errb, "--data-dir") {
		t.Fatalf("no token: exit %d %s", code, errb)
	}
}

// posctl sale --wait stops waiting at every state the store calls final,
// and only there.
func TestSaleWaitEndsAtEveryFinalState(t *testing.T) {
	for _, name := range store.StateNames() {
		s := store.State(name)
		if final(name) != (s.Final() || s == store.StateReversalPending) {
			t.Errorf("state %s: posctl final %v, store final %v", name, final(name), s.Final())
		}
	}
}

// The cashier gave up waiting, but the card had been read and the request
// was out: the cancel cannot stop it, and posctl must not say
// "cancelled" of a transaction still running (or one that completed).
func TestSaleTimeoutSaysWhatTheCancelDid(t *testing.T) {
	for _, c := range []struct {
		after string
		code  int
		say   string
	}{
		{"auth_sent", 1, "still running (auth_sent)"},
		{"approved", 0, "approved before the cancel"},
		{"reversal_pending", exitNotApproved, "reverses it"},
	} {
		f := &fakePosd{after: c.after}
		srv := httptest.NewServer(f)
		dir := withToken(t, srv.URL)
		out, errb, code := runCLI(t, "--data-dir", dir, "sale", "--amount", "1.00", "--wait", "--timeout", "1s")
		srv.Close()
		if code != c.code || !strings.Contains(errb, c.say) || !strings.Contains(out, `"`+c.after+`"`) {
			t.Errorf("cancel left the sale %s: exit %d out %q err %q (want exit %d saying %q)", c.after, code, out, errb, c.code, c.say)
		}
	}
}
