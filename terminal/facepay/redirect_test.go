package facepay

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestRedirectNotFollowed: an answer is the platform's, signed, or
// nothing; a redirect (which anyone on the path of a plain-HTTP link can
// answer) is not followed, so the confirm's PIN block, the sealed crop
// and their signature headers go to the platform's URL and nowhere else.
func TestRedirectNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.WriteHeader(http.StatusNotFound)
	}))
	defer other.Close()
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound, http.StatusSeeOther} {
		redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.Path, code)
		})
		callers := &http.Client{}
		for _, hc := range []*http.Client{nil, callers} {
			srv := httptest.NewServer(redirect)
			c, err := NewHTTP(HTTPOpts{BaseURL: srv.URL, TerminalID: "T0000009", Key: testKey, HTTP: hc})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Confirm(context.Background(), confirmReq()); !errors.Is(err, ErrUnavailable) {
				t.Errorf("HTTP %d: confirm: %v", code, err)
			}
			if _, err := c.Identify(context.Background(), identifyReq()); !errors.Is(err, ErrUnavailable) {
				t.Errorf("HTTP %d: identify: %v", code, err)
			}
			srv.Close()
		}
		if n := elsewhere.Load(); n != 0 {
			t.Fatalf("HTTP %d: %d requests went to the redirect's host", code, n)
		}
		if callers.CheckRedirect != nil {
			t.Fatal("the caller's client was changed")
		}
	}
}
