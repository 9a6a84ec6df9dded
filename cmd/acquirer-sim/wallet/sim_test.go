package wallet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/wallet"
	"posd/conn/clock"
	tw "posd/terminal/wallet"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const code = "134567890123456789"

// codeN is a WeChat payment code of its own: a code pays once.
func codeN(n int) string { return fmt.Sprintf("13%016d", n) }

// codeFor is a payment code of its own of platform p (a platform takes
// only its own codes).
func codeFor(p tw.Platform, n int) string {
	switch p {
	case tw.Alipay:
		return fmt.Sprintf("28%016d", n)
	case tw.UnionPay:
		return fmt.Sprintf("62%017d", n)
	}
	return codeN(n)
}

func rig(t *testing.T, o wallet.Opts) (*wallet.Sim, *httptest.Server, *syncBuf) {
	t.Helper()
	j := &syncBuf{}
	o.Journal = j
	sim := wallet.New(o)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv, j
}

func client(t *testing.T, url, tid string, key []byte, clk clock.Clock) *tw.HTTPClient {
	t.Helper()
	c, err := tw.NewHTTPClient(tw.Opts{BaseURL: url, TerminalID: tid, Key: key, Clock: clk, HTTP: &http.Client{Timeout: 30 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientAgainstSimulator(t *testing.T) {
	// The repeats below go out a second apart: new requests (another
	// timestamp), which the simulator executes (TestVerbatimRepeat has
	// the same bytes again).
	clk := clock.NewFake(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	sim, srv, j := rig(t, wallet.Opts{QueryRate: -1, Clock: clk})
	c := client(t, srv.URL, "T001", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T001"), clk)
	ctx := context.Background()

	r, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: "A1", Amount: 1000, Currency: "CNY", Code: code})
	if err != nil || r.Status != tw.StatusSuccess || r.PlatformTxnID == "" {
		t.Fatalf("pay: %+v %v", r, err)
	}
	clk.Advance(time.Second)
	r2, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: "A1", Amount: 1000, Currency: "CNY", Code: code})
	if err != nil || r2 != r {
		t.Fatalf("repeat pay: %+v %v, first %+v", r2, err, r)
	}
	if _, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: "A1", Amount: 999, Currency: "CNY", Code: code}); !errors.Is(err, tw.ErrRejected) {
		t.Fatalf("pay of a reused id with another amount: %v", err)
	}
	if r, err := c.Query(ctx, tw.WeChat, "A1"); err != nil || r.Status != tw.StatusSuccess {
		t.Fatalf("query: %+v %v", r, err)
	}
	if _, err := c.Query(ctx, tw.WeChat, "NOPE"); !errors.Is(err, tw.ErrNotFound) {
		t.Fatalf("query unknown: %v", err)
	}
	// Refunds: idempotent by refund id, never over the paid amount.
	if r, err := c.Refund(ctx, tw.WeChat, "A1", "R1", 400); err != nil || r.Status != tw.StatusRefunded {
		t.Fatalf("refund: %+v %v", r, err)
	}
	clk.Advance(time.Second)
	if _, err := c.Refund(ctx, tw.WeChat, "A1", "R1", 400); err != nil {
		t.Fatalf("repeat refund: %v", err)
	}
	if _, err := c.Refund(ctx, tw.WeChat, "A1", "R2", 601); !errors.Is(err, tw.ErrRejected) {
		t.Fatalf("refund over the paid amount: %v", err)
	}
	if _, err := c.Refund(ctx, tw.WeChat, "A1", "R2", 600); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Query(ctx, tw.WeChat, "A1"); r.Status != tw.StatusRefunded {
		t.Fatalf("fully refunded order is %s", r.Status)
	}
	// Magic amounts.
	if r, _ := c.Pay(ctx, tw.Alipay, tw.Order{ID: "B63", Amount: 1063, Currency: "CNY", Code: codeFor(tw.Alipay, 63)}); r.Status != tw.StatusFailed || r.Reason == "" {
		t.Fatalf("63: %+v", r)
	}
	if r, _ := c.Pay(ctx, tw.Alipay, tw.Order{ID: "B62", Amount: 1062, Currency: "CNY", Code: codeFor(tw.Alipay, 62)}); r.Status != tw.StatusUserPaying {
		t.Fatalf("62: %+v", r)
	}
	if r, err := c.Cancel(ctx, tw.Alipay, "B62"); err != nil || r.Status != tw.StatusClosed {
		t.Fatalf("cancel 62: %+v %v", r, err)
	}
	if r, _ := c.Pay(ctx, tw.UnionPay, tw.Order{ID: "C61", Amount: 1061, Currency: "CNY", Code: codeFor(tw.UnionPay, 61)}); r.Status != tw.StatusUserPaying {
		t.Fatalf("61: %+v", r)
	}
	if r, _ := c.Query(ctx, tw.UnionPay, "C61"); r.Status != tw.StatusUserPaying {
		t.Fatalf("61 first query: %+v", r)
	}
	if r, _ := c.Query(ctx, tw.UnionPay, "C61"); r.Status != tw.StatusSuccess {
		t.Fatalf("61 second query: %+v", r)
	}
	_, err = c.Pay(ctx, tw.UnionPay, tw.Order{ID: "D64", Amount: 1064, Currency: "CNY", Code: codeFor(tw.UnionPay, 64)})
	if !errors.Is(err, tw.ErrUnreachable) || !tw.OutcomeUnknown(err) {
		t.Fatalf("64: %v", err)
	}
	if r, _ := c.Query(ctx, tw.UnionPay, "D64"); r.Status != tw.StatusSuccess {
		t.Fatalf("64 query: %+v", r)
	}
	if r, err := c.Cancel(ctx, tw.UnionPay, "D64"); err != nil || r.Status != tw.StatusRefunded {
		t.Fatalf("cancel of a paid order: %+v %v", r, err)
	}
	// Cancel before the pay arrives: the late pay is never paid.
	if r, _ := c.Cancel(ctx, tw.WeChat, "E1"); r.Status != tw.StatusClosed {
		t.Fatalf("cancel unknown: %+v", r)
	}
	if r, _ := c.Pay(ctx, tw.WeChat, tw.Order{ID: "E1", Amount: 500, Currency: "CNY", Code: codeN(1)}); r.Status != tw.StatusClosed {
		t.Fatalf("late pay after cancel: %+v", r)
	}
	tot := sim.Totals()
	if tot.PaidTwice != 0 || tot.Paid != 3 || tot.PayRepeats != 2 || tot.RefundRepeats != 1 || tot.Reversed != 1 || tot.Repeats != 0 {
		t.Fatalf("totals %+v", tot)
	}
	if strings.Contains(j.String(), code) || !strings.Contains(j.String(), tw.MaskCode(code)) {
		t.Fatalf("journal shows the payment code, or not even masked:\n%s", j.String())
	}
}

func TestBadSignatureAndTooFrequent(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	sim, srv, j := rig(t, wallet.Opts{Clock: clk, QueryRate: 1, QueryBurst: 2})
	ctx := context.Background()
	bad := client(t, srv.URL, "T002", bytes.Repeat([]byte{7}, 32), clk)
	// The refusal comes unsigned (the platform does not know the key):
	// believed of a query, but of a pay it leaves the outcome unknown
	// (the resolver's queries then get the refusal, and it cancels).
	_, err := bad.Pay(ctx, tw.WeChat, tw.Order{ID: "X1", Amount: 100, Currency: "CNY", Code: code})
	if !tw.OutcomeUnknown(err) || strings.Contains(err.Error(), code) {
		t.Fatalf("bad key: %v", err)
	}
	_, err = bad.Query(ctx, tw.WeChat, "X1")
	var rj *tw.RejectedError
	if !errors.As(err, &rj) || rj.Code != tw.CodeBadSignature {
		t.Fatalf("bad key query: %v", err)
	}
	c := client(t, srv.URL, "T002", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T002"), clk)
	if _, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: "X1", Amount: 162, Currency: "CNY", Code: code}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := c.Query(ctx, tw.WeChat, "X1"); err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
	}
	if _, err := c.Query(ctx, tw.WeChat, "X1"); !errors.Is(err, tw.ErrTooFrequent) {
		t.Fatalf("third query in a burst of 2: %v", err)
	}
	clk.Advance(time.Second)
	if _, err := c.Query(ctx, tw.WeChat, "X1"); err != nil {
		t.Fatalf("query a second later: %v", err)
	}
	// A clock 10 minutes off is refused.
	clk2 := clock.NewFake(clk.Now().Add(10 * time.Minute))
	late := client(t, srv.URL, "T002", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T002"), clk2)
	if _, err := late.Query(ctx, tw.WeChat, "X1"); !errors.Is(err, tw.ErrRejected) {
		t.Fatalf("stale timestamp: %v", err)
	}
	tot := sim.Totals()
	if tot.BadSignature != 3 || tot.TooFrequent != 1 || tot.Paid != 0 {
		t.Fatalf("totals %+v", tot)
	}
	if !strings.Contains(j.String(), `"too_frequent":true`) {
		t.Fatalf("journal:\n%s", j.String())
	}
}

// A forged answer (not signed with the terminal's key) is not trusted.
func TestClientRefusesUnsignedAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"order_id":"F1","status":"failed"}`))
	}))
	defer srv.Close()
	c := client(t, srv.URL, "T003", bytes.Repeat([]byte{1}, 32), nil)
	_, err := c.Pay(context.Background(), tw.WeChat, tw.Order{ID: "F1", Amount: 100, Currency: "CNY", Code: code})
	if !errors.Is(err, tw.ErrBadResponse) || !tw.OutcomeUnknown(err) {
		t.Fatalf("unsigned answer: %v", err)
	}
}

// TestCodePaysOnce: a customer's payment code is a one-time bearer token:
// a pay of another order with it (on this terminal or another) is
// refused, a repeat of the same order's pay is not.
func TestCodePaysOnce(t *testing.T) {
	sim, srv, _ := rig(t, wallet.Opts{QueryRate: -1})
	ctx := context.Background()
	c1 := client(t, srv.URL, "T001", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T001"), nil)
	c2 := client(t, srv.URL, "T002", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T002"), nil)
	if r, err := c1.Pay(ctx, tw.WeChat, tw.Order{ID: "P1", Amount: 1000, Currency: "CNY", Code: code}); err != nil || r.Status != tw.StatusSuccess {
		t.Fatalf("first pay: %+v %v", r, err)
	}
	if r, err := c1.Pay(ctx, tw.WeChat, tw.Order{ID: "P1", Amount: 1000, Currency: "CNY", Code: code}); err != nil || r.Status != tw.StatusSuccess {
		t.Fatalf("the same order's pay again: %+v %v", r, err)
	}
	for _, c := range []struct {
		cl *tw.HTTPClient
		id string
	}{{c1, "P2"}, {c2, "P1"}} {
		r, err := c.cl.Pay(ctx, tw.WeChat, tw.Order{ID: c.id, Amount: 5000, Currency: "CNY", Code: code})
		var rej *tw.RejectedError
		if !errors.As(err, &rej) || rej.Code != tw.CodeCodeUsed || r.Status == tw.StatusSuccess {
			t.Errorf("a used code paid order %s: %+v %v", c.id, r, err)
		}
	}
	if n := sim.Totals().CodesReused; n != 2 {
		t.Errorf("codes reused: %d", n)
	}
}
