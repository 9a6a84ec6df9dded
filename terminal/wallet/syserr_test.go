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
