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

// A refund whose answer does not come may have been made: the client
// says so in the result too (unknown, not an empty status a caller may
// take for "not refunded"), so the clerk's record stays unknown and the
// refund is asked again with its refund id, never made another way.
func TestRefundUnansweredIsUnknown(t *testing.T) {
	key := bytes.Repeat([]byte{8}, 32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		hj, ok := w.(http.Hijacker)
		if !ok {
			t.Error("no hijacker")
			return
		}
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	c, err := NewHTTPClient(Opts{BaseURL: srv.URL, TerminalID: "T1", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Refund(context.Background(), WeChat, "O1", "R1", 400)
	if !OutcomeUnknown(err) || r.Status != StatusUnknown {
		t.Fatalf("%+v %v; want unknown", r, err)
	}
	// So does a system error.
	srv2 := signedServer(t, key, http.StatusInternalServerError, `{"order_id":"O1","code":"system_error"}`)
	c, err = NewHTTPClient(Opts{BaseURL: srv2.URL, TerminalID: "T1", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.Refund(context.Background(), WeChat, "O1", "R1", 400); !OutcomeUnknown(err) || r.Status != StatusUnknown {
		t.Fatalf("system error: %+v %v; want unknown", r, err)
	}
}

// A refund answered refunded at another amount than asked is no refund
// of the asked amount: a mismatch, its outcome unknown (ask again with
// the same refund id).
func TestRefundAnswerAmountMismatch(t *testing.T) {
	key := bytes.Repeat([]byte{9}, 32)
	for name, body := range map[string]string{
		"another amount": `{"order_id":"O1","status":"refunded","platform_txn_id":"WE1R1","amount":300,"currency":"CNY"}`,
		"no amount":      `{"order_id":"O1","status":"refunded","platform_txn_id":"WE1R1"}`,
	} {
		srv := signedServer(t, key, http.StatusOK, body)
		c, err := NewHTTPClient(Opts{BaseURL: srv.URL, TerminalID: "T1", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Refund(context.Background(), WeChat, "O1", "R1", 400)
		if !errors.Is(err, ErrAmountMismatch) || !OutcomeUnknown(err) || r.Status != StatusUnknown {
			t.Errorf("%s: %+v %v; want a mismatch, unknown", name, r, err)
		}
	}
}
