package wallet_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/wallet"
	"posd/conn/clock"
	tw "posd/terminal/wallet"
)

// openSim opens a simulator on the state file path and serves it.
func openSim(t *testing.T, path string, clk clock.Clock) (*wallet.Sim, *httptest.Server) {
	t.Helper()
	sim, err := wallet.Open(wallet.Opts{StateFile: path, QueryRate: -1, Clock: clk})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv
}

// TestOrdersSurviveRestart: the real platforms keep their orders; so
// does the simulator with a state file. A terminal whose recovery
// queries, cancels or refunds an order after the platform restarted
// finds it as it was, not "not found" (which makes it cancel an order
// the customer paid, or lose a refund), and a code that paid before the
// restart does not pay again. The first simulator is never closed: its
// state is on disk once it has answered, as after a kill -9.
func TestOrdersSurviveRestart(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "wallet-orders.json")
	_, srv := openSim(t, path, clk)
	ctx := context.Background()
	key := wallet.TerminalKey([]byte(wallet.TestMasterKey), "T001")
	c := client(t, srv.URL, "T001", key, clk)
	paid, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: "W1", Amount: 1000, Currency: "CNY", Code: code})
	if err != nil || paid.Status != tw.StatusSuccess {
		t.Fatalf("pay: %+v %v", paid, err)
	}
	if _, err := c.Refund(ctx, tw.WeChat, "W1", "R1", 300); err != nil {
		t.Fatalf("refund: %v", err)
	}
	if r, err := c.Pay(ctx, tw.UnionPay, tw.Order{ID: "U61", Amount: 1061, Currency: "CNY", Code: codeFor(tw.UnionPay, 61)}); err != nil || r.Status != tw.StatusUserPaying {
		t.Fatalf("pay 61: %+v %v", r, err)
	}
	if r, err := c.Cancel(ctx, tw.WeChat, "C1"); err != nil || r.Status != tw.StatusClosed {
		t.Fatalf("cancel before pay: %+v %v", r, err)
	}
	if r, err := c.Precreate(ctx, tw.Alipay, tw.Order{ID: "M1", Amount: 2300, Currency: "CNY"}); err != nil || r.Status != tw.StatusUserPaying {
		t.Fatalf("precreate: %+v %v", r, err)
	}

	// The platform restarts.
	clk.Advance(time.Minute)
	sim2, srv2 := openSim(t, path, clk)
	c = client(t, srv2.URL, "T001", key, clk)
	if r, err := c.Query(ctx, tw.WeChat, "W1"); err != nil || r.Status != tw.StatusSuccess || r.PlatformTxnID != paid.PlatformTxnID {
		t.Fatalf("paid order after the restart: %+v %v (was %+v)", r, err, paid)
	}
	if r, err := c.Refund(ctx, tw.WeChat, "W1", "R1", 300); err != nil || r.Status != tw.StatusRefunded {
		t.Fatalf("the refund's repeat after the restart: %+v %v", r, err)
	}
	if _, err := c.Refund(ctx, tw.WeChat, "W1", "R2", 701); !errors.Is(err, tw.ErrRejected) {
		t.Fatalf("refunds past the order after the restart: %v", err)
	}
	if r, err := c.Query(ctx, tw.UnionPay, "U61"); err != nil || r.Status != tw.StatusUserPaying {
		t.Fatalf("61 first query after the restart: %+v %v", r, err)
	}
	if r, err := c.Query(ctx, tw.UnionPay, "U61"); err != nil || r.Status != tw.StatusSuccess {
		t.Fatalf("61 second query after the restart: %+v %v", r, err)
	}
	if r, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: "C1", Amount: 500, Currency: "CNY", Code: codeN(7)}); err != nil || r.Status != tw.StatusClosed {
		t.Fatalf("a late pay of an order cancelled before the restart: %+v %v", r, err)
	}
	var rj *tw.RejectedError
	if _, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: "W2", Amount: 1000, Currency: "CNY", Code: code}); !errors.As(err, &rj) || rj.Code != tw.CodeCodeUsed {
		t.Fatalf("a code that paid before the restart, again: %v", err)
	}
	if r := phone(t, srv2.URL, tw.Alipay, mpm(t, "T001", "M1", 2300, "CNY")); r.Status != tw.StatusSuccess {
		t.Fatalf("phone pays an order precreated before the restart: %+v", r)
	}
	n, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: "W3", Amount: 100, Currency: "CNY", Code: codeN(8)})
	if err != nil || n.PlatformTxnID == paid.PlatformTxnID {
		t.Fatalf("a new order after the restart: %+v %v (first %+v)", n, err, paid)
	}
	if tot := sim2.Totals(); tot.PaidTwice != 0 {
		t.Fatalf("totals %+v", tot)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), code) || strings.Contains(string(b), codeN(8)) {
		t.Fatal("the state file holds a payment code")
	}

	// Once more, from what the second one left.
	_, srv3 := openSim(t, path, clk)
	c = client(t, srv3.URL, "T001", key, clk)
	for id, want := range map[string]tw.Status{"W3": tw.StatusSuccess, "C1": tw.StatusClosed} {
		if r, err := c.Query(ctx, tw.WeChat, id); err != nil || r.Status != want {
			t.Errorf("%s after the second restart: %+v %v", id, r, err)
		}
	}
	if r, err := c.Query(ctx, tw.Alipay, "M1"); err != nil || r.Status != tw.StatusSuccess {
		t.Errorf("M1 after the second restart: %+v %v", r, err)
	}
}

// A state file that does not read is an error, not an empty platform:
// starting empty would lose the orders again.
func TestOpenRefusesBadState(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"not json":      "{",
		"other version": `{"version":99}`,
		"bad order":     `{"version":1,"orders":{"T1|P1":{"kind":"pay","platform":"paypal","amount":1,"currency":"CNY","status":"success"}}}`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := wallet.Open(wallet.Opts{StateFile: path}); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
	// No file yet: a new platform.
	if _, err := wallet.Open(wallet.Opts{StateFile: filepath.Join(dir, "new.json")}); err != nil {
		t.Fatalf("no state file yet: %v", err)
	}
}

// TestChargedAmountSurvivesRestart: an order the platform holds at
// another amount (magic 66) states it after a restart too, and its
// reversal gives back what was charged.
func TestChargedAmountSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wallet-orders.json")
	_, srv := openSim(t, path, nil)
	ctx := context.Background()
	key := wallet.TerminalKey([]byte(wallet.TestMasterKey), "T001")
	c := client(t, srv.URL, "T001", key, nil)
	if _, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: "W66", Amount: 1066, Currency: "CNY", Code: code}); !errors.Is(err, tw.ErrAmountMismatch) {
		t.Fatalf("pay 66: %v", err)
	}
	if _, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: "W67", Amount: 1067, Currency: "CNY", Code: codeN(67)}); !errors.Is(err, tw.ErrAmountMismatch) {
		t.Fatalf("pay 67: %v", err)
	}
	sim, srv := openSim(t, path, nil)
	c = client(t, srv.URL, "T001", key, nil)
	if r, err := c.Query(ctx, tw.WeChat, "W67"); err != nil || r.Currency != "HKD" {
		t.Fatalf("query 67 after the restart: %+v %v", r, err)
	}
	if r, err := c.Query(ctx, tw.WeChat, "W66"); err != nil || r.Status != tw.StatusSuccess || r.Amount != 1067 {
		t.Fatalf("query after the restart: %+v %v", r, err)
	}
	if r, err := c.Cancel(ctx, tw.WeChat, "W66"); err != nil || r.Status != tw.StatusRefunded {
		t.Fatalf("cancel: %+v %v", r, err)
	}
	if got := sim.Totals().RefundedAmount; got != 1067 {
		t.Fatalf("given back %d, want 1067", got)
	}
	if _, err := wallet.Open(wallet.Opts{StateFile: path}); err != nil {
		t.Fatalf("the reversed order's state does not load: %v", err)
	}
}
