package wallet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// signedServer answers every request with status and body, signed as
// the platform signs.
func signedServer(t *testing.T, key []byte, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		rb := []byte(body)
		w.Header().Set(HeaderSignature, SignResponse(key, r.URL.Path, r.Header.Get(HeaderSignature), rb))
		w.WriteHeader(status)
		_, _ = w.Write(rb)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A platform's system error (WeChat Pay SYSTEMERROR, Alipay
// ACQ.SYSTEM_ERROR: "result unknown, query the order") or any signed
// 5xx says nothing of the payment: the platform may have taken it. It
// is an unknown outcome to resolve, not a refusal to fail the sale on.
func TestPaySystemErrorIsUnknown(t *testing.T) {
	key := bytes.Repeat([]byte{5}, 32)
	for _, tc := range []struct {
		status int
		body   string
	}{
		{http.StatusInternalServerError, `{"order_id":"O1","code":"system_error","reason":"result unknown"}`},
		{http.StatusServiceUnavailable, `{"order_id":"O1","code":"busy"}`},
		{http.StatusBadGateway, `{"order_id":"O1","code":"bad_request"}`},
	} {
		srv := signedServer(t, key, tc.status, tc.body)
		c, err := NewHTTPClient(Opts{BaseURL: srv.URL, TerminalID: "T1", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Pay(context.Background(), WeChat, Order{ID: "O1", Amount: 100, Currency: "CNY", Code: "134567890123456789"})
		if !OutcomeUnknown(err) || errors.Is(err, ErrRejected) {
			t.Errorf("HTTP %d %s: %v; want an unknown outcome", tc.status, tc.body, err)
		}
	}
}

// A query answered with a system error is asked again on the schedule,
// not taken as the platform's refusal (which cancels at once).
func TestResolverSystemErrorQueriesAgain(t *testing.T) {
	_, sysErr := DecodeResponse(OpQuery, "O1", http.StatusInternalServerError, []byte(`{"order_id":"O1","code":"system_error"}`))
	if sysErr == nil {
		t.Fatal("a system error decoded as an answer")
	}
	f := &fakeClient{answers: []error{sysErr}, status: []Status{"", StatusSuccess}}
	clk, rv := newRig(t, f, 11)
	r, err := drive(t, clk, rv)
	if err != nil || r.Status != StatusSuccess || len(f.queries) != 2 || len(f.cancels) != 0 {
		t.Fatalf("%+v %v, %d queries, %d cancels", r, err, len(f.queries), len(f.cancels))
	}
}

// The platform cannot sign its refusal of a request it could not
// authenticate, so an unsigned 401 bad_signature is believed as a
// refusal, but not to a pay or a refund: anyone between the terminal
// and the platform can write one after passing the request on, and a
// pay taken for refused while the platform took the money is a customer
// charged for a failed sale. To those it is an answer not trusted: the
// outcome is unknown (resolve the pay, ask the refund again), as the
// face-pay link treats a confirm's.
func TestUnsignedRefusalOfPayIsUnknown(t *testing.T) {
	key := bytes.Repeat([]byte{5}, 32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"order_id":"O1","code":"bad_signature","reason":"signature"}`))
	}))
	t.Cleanup(srv.Close)
	c, err := NewHTTPClient(Opts{BaseURL: srv.URL, TerminalID: "T1", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := c.Pay(ctx, WeChat, Order{ID: "O1", Amount: 100, Currency: "CNY", Code: "134567890123456789"})
	if !OutcomeUnknown(err) || errors.Is(err, ErrRejected) || r.Status != StatusUnknown {
		t.Errorf("pay: %+v %v; want an unknown outcome", r, err)
	}
	r, err = c.Refund(ctx, WeChat, "O1", "R1", 100)
	if !OutcomeUnknown(err) || errors.Is(err, ErrRejected) || r.Status != StatusUnknown {
		t.Errorf("refund: %+v %v; want an unknown outcome", r, err)
	}
	// A query, a cancel, a precreate: a refusal (nothing moves money on
	// its word: the resolver cancels, and cancels are kept until acknowledged).
	if _, err := c.Query(ctx, WeChat, "O1"); !errors.Is(err, ErrRejected) {
		t.Errorf("query: %v; want the refusal", err)
	}
}
