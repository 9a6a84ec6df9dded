package wallet_test

import (
	"context"
	"errors"
	"testing"

	"posd/cmd/acquirer-sim/wallet"
	tw "posd/terminal/wallet"
)

// TestCancelAfterPartialRefund: a paid order partly refunded and then
// cancelled gives back what was left of it, never more than was paid:
// the merchant's reconciliation of refunds against the platform's totals
// must add up.
func TestCancelAfterPartialRefund(t *testing.T) {
	sim, srv, _ := rig(t, wallet.Opts{QueryRate: -1})
	ctx := context.Background()
	c := client(t, srv.URL, "T001", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T001"), nil)
	if r, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: "P1", Amount: 1000, Currency: "CNY", Code: code}); err != nil || r.Status != tw.StatusSuccess {
		t.Fatalf("pay: %+v %v", r, err)
	}
	if _, err := c.Refund(ctx, tw.WeChat, "P1", "R1", 400); err != nil {
		t.Fatalf("refund: %v", err)
	}
	if r, err := c.Cancel(ctx, tw.WeChat, "P1"); err != nil || r.Status != tw.StatusRefunded {
		t.Fatalf("cancel: %+v %v", r, err)
	}
	if got := sim.Totals().RefundedAmount; got != 1000 {
		t.Fatalf("an order of 1000 paid, 400 refunded, then cancelled: %d given back", got)
	}
	// Nothing is left to refund.
	if _, err := c.Refund(ctx, tw.WeChat, "P1", "R2", 1); !errors.Is(err, tw.ErrRejected) {
		t.Fatalf("refund after the cancel: %v", err)
	}
}
