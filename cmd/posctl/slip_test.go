package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A sale waited for whose slip did not print (or may not have) is still
// approved (exit 0), and the cashier is told at once on stderr what posd
// says of the slip and how to reprint it.
func TestWaitSaysSlipNotPrinted(t *testing.T) {
	for _, c := range []struct{ name, slip, want string }{
		{"not printed", `{"status":"not_printed","copies":["merchant","cardholder"],"problem":"out of paper",` +
			`"message":"Slip not printed: out of paper — load paper and reprint (posctl receipt print 19)"}`,
			"posctl: sale 19: Slip not printed: out of paper — load paper and reprint (posctl receipt print 19)\n"},
		{"printed", ``, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch {
				case r.Method == "POST" && r.URL.Path == "/v1/sales":
					w.WriteHeader(201)
					w.Write([]byte(`{"id":"19","kind":"purchase","state":"created","amount":"15.00"}`))
				case r.Method == "GET" && r.URL.Path == "/v1/txns/19":
					slip := ""
					if c.slip != "" {
						slip = `,"slip":` + c.slip
					}
					w.Write([]byte(`{"id":"19","kind":"purchase","state":"approved","amount":"15.00"` + slip + `}`))
				default:
					w.WriteHeader(404)
					w.Write([]byte(`{"error":"no such endpoint"}`))
				}
			}))
			defer srv.Close()
			dir := withToken(t, srv.URL)
			out, errb, code := runCLI(t, "--data-dir", dir, "sale", "--amount", "15.00", "--wait")
			if code != 0 || !strings.Contains(out, `"approved"`) {
				t.Fatalf("exit %d, out %q err %q", code, out, errb)
			}
			if errb != c.want {
				t.Errorf("stderr %q, want %q", errb, c.want)
			}
		})
	}
}
