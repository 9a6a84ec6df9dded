package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// recorder answers every transaction request as approved and keeps the
// bodies it was sent.
type recorder struct {
	mu     sync.Mutex
	paths  []string
	bodies []map[string]string
}

func (f *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var body map[string]string
	json.NewDecoder(r.Body).Decode(&body)
	f.paths = append(f.paths, r.Method+" "+r.URL.Path)
	f.bodies = append(f.bodies, body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(201)
	w.Write([]byte(`{"id":"9","state":"approved"}`))
}

func TestTransactionVerbs(t *testing.T) {
	f := &recorder{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := withToken(t, srv.URL)
	for _, c := range []struct {
		args []string
		path string
		body map[string]string
	}{
		{[]string{"refund", "--amount", "5.00"}, "POST /v1/txns", map[string]string{"type": "refund", "amount": "5.00"}},
		{[]string{"refund", "--amount", "5.00", "--orig", "12", "--currency", "CNY"}, "POST /v1/txns",
			map[string]string{"type": "refund", "amount": "5.00", "orig_id": "12", "currency": "CNY"}},
		{[]string{"void", "12", "--wait"}, "POST /v1/txns", map[string]string{"type": "void", "orig_id": "12"}},
		{[]string{"preauth", "--amount", "80"}, "POST /v1/txns", map[string]string{"type": "preauth", "amount": "80"}},
		{[]string{"complete", "14", "--amount", "75.50"}, "POST /v1/txns", map[string]string{"type": "completion", "orig_id": "14", "amount": "75.50"}},
		{[]string{"balance"}, "POST /v1/txns", map[string]string{"type": "balance"}},
		{[]string{"batch", "close"}, "POST /v1/batch/close", map[string]string{}},
		{[]string{"batch"}, "GET /v1/batch", nil},
	} {
		f.mu.Lock()
		f.paths, f.bodies = nil, nil
		f.mu.Unlock()
		out, errb, code := runCLI(t, append([]string{"--data-dir", dir}, c.args...)...)
		if code != 0 || !strings.Contains(out, `"approved"`) {
			t.Fatalf("%v: exit %d %q %q", c.args, code, out, errb)
		}
		f.mu.Lock()
		// The verb's request comes last, after reads only (batch close
		// reads the open batch's number first).
		n := len(f.paths)
		reads := n > 0 && !slices.ContainsFunc(f.paths[:n-1], func(p string) bool { return !strings.HasPrefix(p, "GET ") })
		if !reads || f.paths[n-1] != c.path || !reflect.DeepEqual(f.bodies[n-1], c.body) {
			t.Errorf("%v sent %v %v, want %s %v", c.args, f.paths, f.bodies, c.path, c.body)
		}
		f.mu.Unlock()
	}
}

func TestTransactionVerbsRefuseBadInput(t *testing.T) {
	f := &recorder{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := withToken(t, srv.URL)
	for _, args := range [][]string{
		{"refund"}, {"refund", "--amount"}, {"refund", "--amount", "1", "extra"}, {"refund", "--orig", "3"},
		{"void"}, {"void", "--wait"}, {"void", "1", "--amount", "3"}, {"void", "1", "2"},
		{"preauth"}, {"preauth", "--amount", "1", "--orig", "3"},
		{"complete", "--amount", "1"}, {"complete", "4"}, {"complete"},
		{"balance", "--amount", "1"}, {"balance", "x"}, {"balance", "--timeout", "-1s"},
		{"batch", "open"}, {"batch", "close", "now"},
	} {
		_, errb, code := runCLI(t, append([]string{"--data-dir", dir}, args...)...)
		if code != 1 || !strings.Contains(errb, "usage") {
			t.Errorf("%v: exit %d %q", args, code, errb)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.paths) != 0 {
		t.Fatalf("malformed calls reached posd: %v", f.paths)
	}
}
