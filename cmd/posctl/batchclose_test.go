package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// closingPosd answers GET /v1/batch with batch 7, dies during POST
// /v1/batch/close (its connection dropped), and once back (back true)
// answers GET /v1/status with status.
func closingPosd(back *atomic.Bool, status string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "GET" && r.URL.Path == "/v1/batch":
			w.Write([]byte(`{"open":7,"totals":[],"load":[]}`))
		case r.Method == "POST" && r.URL.Path == "/v1/batch/close", !back.Load():
			if hj, ok := w.(http.Hijacker); ok {
				c, _, _ := hj.Hijack()
				c.Close()
			}
			back.Store(true)
		case r.Method == "GET" && r.URL.Path == "/v1/status":
			w.Write([]byte(status))
		default:
			w.WriteHeader(404)
			w.Write([]byte(`{"error":"no such endpoint"}`))
		}
	})
}

// posd dies while it closes the batch: posctl waits for it to come back
// and says what the close did, as posd's status then tells it; when posd
// does not come back, the outcome is not known (exit 4) and posctl says
// what to run.
func TestBatchCloseOutlivesAPosdRestart(t *testing.T) {
	for _, c := range []struct {
		name, status string
		comes        bool
		code         int
		want         []string
	}{
		{"settle again", `{"open_batch":7,"settle_again":{"batch":7,"close":"31","message":"Last settlement got no answer: settle the batch again"}}`,
			true, exitInDoubt, []string{"waiting for posd to come back", "Last settlement got no answer: settle the batch again", "posctl batch close"}},
		{"closed", `{"open_batch":8}`, true, 0, []string{"waiting for posd to come back", "batch 7 was closed", "posctl txn list"}},
		{"not closed", `{"open_batch":7}`, true, 1, []string{"waiting for posd to come back", "batch 7 was not closed", "posctl batch close"}},
		{"not back", ``, false, exitInDoubt, []string{"waiting for posd to come back", "not known", "posctl status", "posctl batch close"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var back atomic.Bool
			var h http.Handler = closingPosd(&back, c.status)
			if !c.comes {
				h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/v1/status" {
						hj, _ := w.(http.Hijacker)
						conn, _, _ := hj.Hijack()
						conn.Close()
						return
					}
					closingPosd(&back, c.status).ServeHTTP(w, r)
				})
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			dir := withToken(t, srv.URL)
			_, errb, code := runCLI(t, "--data-dir", dir, "batch", "close", "--timeout", "3s")
			if code != c.code {
				t.Fatalf("exit %d, want %d; err %q", code, c.code, errb)
			}
			for _, want := range c.want {
				if !strings.Contains(errb, want) {
					t.Errorf("stderr %q does not say %q", errb, want)
				}
			}
		})
	}
}

// A close whose report did not print says so on stderr; it closed (0).
func TestBatchCloseSaysReportNotPrinted(t *testing.T) {
	msg := "Settlement report not printed: out of paper — load paper and reprint (posctl receipt print 31)"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/batch" {
			w.Write([]byte(`{"open":7}`))
			return
		}
		w.Write([]byte(`{"id":"31","kind":"settlement","state":"approved","slip":{"status":"not_printed","message":"` + msg + `"}}`))
	}))
	defer srv.Close()
	out, errb, code := runCLI(t, "--data-dir", withToken(t, srv.URL), "batch", "close")
	if code != 0 || !strings.Contains(out, `"settlement"`) || errb != "posctl: settlement 31: "+msg+"\n" {
		t.Fatalf("exit %d, out %q err %q", code, out, errb)
	}
}
