package wallet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// A platform's pay answer states what it charged. A "success" at
// another amount or currency than the order's is no approval of the
// order: the terminal must not print a slip for the asked amount. It is
// an answer not to be trusted (the outcome is unknown: resolve it, and
// the resolver cancels it), typed so the journal says why.
func TestPayAnswerAmountMismatch(t *testing.T) {
	key := bytes.Repeat([]byte{6}, 32)
	o := Order{ID: "O1", Amount: 100, Currency: "CNY", Code: "134567890123456789"}
	for name, body := range map[string]string{
		"another amount":   `{"order_id":"O1","status":"success","platform_txn_id":"WE1","amount":99,"currency":"CNY"}`,
		"another currency": `{"order_id":"O1","status":"success","platform_txn_id":"WE1","amount":100,"currency":"USD"}`,
		"no amount":        `{"order_id":"O1","status":"success","platform_txn_id":"WE1"}`,
		"paying another":   `{"order_id":"O1","status":"user_paying","amount":1000,"currency":"CNY"}`,
	} {
		srv := signedServer(t, key, http.StatusOK, body)
		c, err := NewHTTPClient(Opts{BaseURL: srv.URL, TerminalID: "T1", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Pay(context.Background(), WeChat, o)
		var me *AmountMismatchError
		if !errors.Is(err, ErrAmountMismatch) || !errors.As(err, &me) || !OutcomeUnknown(err) {
			t.Errorf("%s: %+v %v; want an amount mismatch, outcome unknown", name, r, err)
			continue
		}
		if r.Status == StatusSuccess || r.Status == StatusUserPaying || me.Want != 100 || me.WantCurrency != "CNY" {
			t.Errorf("%s: result %+v, error %+v", name, r, me)
		}
	}
	// The same currency by its numeric code is the same currency.
	srv := signedServer(t, key, http.StatusOK, `{"order_id":"O1","status":"success","platform_txn_id":"WE1","amount":100,"currency":"156"}`)
	c, err := NewHTTPClient(Opts{BaseURL: srv.URL, TerminalID: "T1", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.Pay(context.Background(), WeChat, o); err != nil || r.Status != StatusSuccess || r.Amount != 100 {
		t.Fatalf("CNY answered as 156: %+v %v", r, err)
	}
}

// The customer confirms on the phone, and the query finds the order
// paid at another amount than the pay asked: the client knows the
// order's amount from its pay, and refuses the answer as it refuses a
// pay answer so.
func TestQueryAnswerAmountMismatch(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	answers := map[string]string{
		Path(Alipay, OpPay):   `{"order_id":"O2","status":"user_paying","amount":2500,"currency":"CNY"}`,
		Path(Alipay, OpQuery): `{"order_id":"O2","status":"success","platform_txn_id":"AL1","amount":2600,"currency":"CNY"}`,
	}
	srv := scriptServer(t, key, answers)
	c, err := NewHTTPClient(Opts{BaseURL: srv.URL, TerminalID: "T1", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := c.Pay(ctx, Alipay, Order{ID: "O2", Amount: 2500, Currency: "CNY", Code: "281234567890123456"})
	if err != nil || r.Status != StatusUserPaying {
		t.Fatalf("pay: %+v %v", r, err)
	}
	r, err = c.Query(ctx, Alipay, "O2")
	var me *AmountMismatchError
	if !errors.As(err, &me) || me.Got != 2600 || me.Want != 2500 || r.Status == StatusSuccess {
		t.Fatalf("query: %+v %v; want an amount mismatch", r, err)
	}
}

// scriptServer answers each path with its body (HTTP 200), signed.
func scriptServer(t *testing.T, key []byte, answers map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		rb := []byte(answers[r.URL.Path])
		w.Header().Set(HeaderSignature, SignResponse(key, r.URL.Path, r.Header.Get(HeaderSignature), rb))
		_, _ = w.Write(rb)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A query finding the order at another amount is no answer to wait
// out: the resolver cancels the order at once (refunded when paid) and
// returns the mismatch, settled (not an unknown outcome): the sale
// failed, its money given back.
func TestResolverCancelsAmountMismatch(t *testing.T) {
	mm := fmt.Errorf("%w: %w", ErrBadResponse, &AmountMismatchError{Op: OpQuery, OrderID: "O1", Want: 100, Got: 101,
		WantCurrency: "CNY", GotCurrency: "CNY"})
	f := &fakeClient{answers: []error{mm}}
	clk, rv := newRig(t, f, 3)
	r, err := drive(t, clk, rv)
	if !errors.Is(err, ErrAmountMismatch) || OutcomeUnknown(err) || r.Status != StatusClosed {
		t.Fatalf("%+v %v; want closed with the mismatch", r, err)
	}
	if len(f.queries) != 1 || len(f.cancels) != 1 {
		t.Fatalf("%d queries, %d cancels; want 1 and 1", len(f.queries), len(f.cancels))
	}
	// A cancel that does not get through leaves it unresolved: the
	// caller keeps cancelling it.
	f = &fakeClient{answers: []error{mm}, cancel: ErrUnreachable}
	clk, rv = newRig(t, f, 4)
	r, err = drive(t, clk, rv)
	if !errors.Is(err, ErrUnresolved) || !errors.Is(err, ErrAmountMismatch) || r.Status != StatusUnknown {
		t.Fatalf("%+v %v; want unresolved", r, err)
	}
}

// An answer, signed, that names another order than asked is no answer
// about this one, whatever it says: never an approval or a refund.
func TestAnswerNamingAnotherOrder(t *testing.T) {
	key := bytes.Repeat([]byte{10}, 32)
	body := `{"order_id":"O9","status":"success","platform_txn_id":"WE9","amount":100,"currency":"CNY"}`
	srv := signedServer(t, key, http.StatusOK, body)
	c, err := NewHTTPClient(Opts{BaseURL: srv.URL, TerminalID: "T1", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := map[string]func() (Result, error){
		"pay": func() (Result, error) {
			return c.Pay(ctx, WeChat, Order{ID: "O1", Amount: 100, Currency: "CNY", Code: "134567890123456789"})
		},
		"query":     func() (Result, error) { return c.Query(ctx, WeChat, "O1") },
		"refund":    func() (Result, error) { return c.Refund(ctx, WeChat, "O1", "R1", 100) },
		"cancel":    func() (Result, error) { return c.Cancel(ctx, WeChat, "O1") },
		"precreate": func() (Result, error) { return c.Precreate(ctx, WeChat, Order{ID: "O1", Amount: 100, Currency: "CNY"}) },
	}
	for name, call := range calls {
		if r, err := call(); !errors.Is(err, ErrBadResponse) || r.Status != StatusUnknown {
			t.Errorf("%s: %+v %v; want a bad response", name, r, err)
		}
	}
}

// Orders the client never sends (refused before they leave: an unknown
// platform, an invalid order) take no place among those it remembers,
// so they cannot push out the amount of one it did send.
func TestUnsentOrdersNotRemembered(t *testing.T) {
	key := bytes.Repeat([]byte{11}, 32)
	srv := scriptServer(t, key, map[string]string{
		Path(WeChat, OpPay):   `{"order_id":"O1","status":"user_paying","amount":100,"currency":"CNY"}`,
		Path(WeChat, OpQuery): `{"order_id":"O1","status":"success","platform_txn_id":"WE1","amount":200,"currency":"CNY"}`,
	})
	c, err := NewHTTPClient(Opts{BaseURL: srv.URL, TerminalID: "T1", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Pay(ctx, WeChat, Order{ID: "O1", Amount: 100, Currency: "CNY", Code: "134567890123456789"}); err != nil {
		t.Fatal(err)
	}
	for i := range MaxOrders {
		if _, err := c.Pay(ctx, Platform("paypal"), Order{ID: fmt.Sprintf("X%d", i), Amount: 1, Currency: "CNY",
			Code: "134567890123456789"}); !errors.Is(err, ErrInvalidRequest) {
			t.Fatal(err)
		}
	}
	if r, err := c.Query(ctx, WeChat, "O1"); !errors.Is(err, ErrAmountMismatch) {
		t.Fatalf("query: %+v %v; want the mismatch", r, err)
	}
}
