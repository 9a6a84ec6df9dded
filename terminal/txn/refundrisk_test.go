package txn

import (
	"bytes"
	"testing"
	"time"

	"posd/terminal/host"
	"posd/terminal/risk"
	"posd/terminal/store"
	"posd/terminal/wallet"
)

// refundRiskEngine is an engine with the risk rules' refund checks:
// refunds total at most 20.00 in 24 hours, required to name their sale
// when requireOriginal.
func refundRiskEngine(t *testing.T, requireOriginal bool, mod func(*Opts)) (*Engine, *fakeReader) {
	t.Helper()
	e, r, _ := setupWith(t, kindHost(), func(o *Opts) {
		rules := risk.DefaultRules()
		rules.CVM.NoCVMLimit.Swipe = 1000_00
		rules.Refund = risk.RefundRules{RequireOriginal: requireOriginal, MaxTotal: 2000, Window: risk.Duration(24 * time.Hour)}
		re, err := risk.New(rules, risk.Opts{DB: o.Store.Bolt(), HashKey: bytes.Repeat([]byte{7}, 32)})
		if err != nil {
			t.Fatal(err)
		}
		o.Risk = re
		if mod != nil {
			mod(o)
		}
	})
	return e, r
}

// TestRefundsCheckedByTheRiskRules: every refund is checked by the
// refund rules and every approved one counts: card refunds with or
// without their sale, and wallet refunds, which read no card.
func TestRefundsCheckedByTheRiskRules(t *testing.T) {
	e, r := refundRiskEngine(t, false, nil)
	sale := run(t, e, r, Request{Amount: 5000, Currency: "156"})
	if got := run(t, e, r, Request{Kind: host.KindRefund, OrigID: sale.ID, Amount: 1200}); got.State != store.StateApproved {
		t.Fatalf("first refund: %+v", got)
	}
	if got := run(t, e, r, Request{Kind: host.KindRefund, Amount: 800, Currency: "156"}); got.State != store.StateApproved {
		t.Fatalf("second refund, no sale named: %+v", got)
	}
	got := run(t, e, r, Request{Kind: host.KindRefund, OrigID: sale.ID, Amount: 1})
	if got.State != store.StateFailed || Failure(got.Failure) != FailRisk || got.RiskRule != string(risk.RuleRefundTotal) {
		t.Fatalf("refund past the terminal's refund total: %s %s %q", got.State, got.Failure, got.RiskRule)
	}

	// Wallet refunds count and are checked the same way.
	w := &fakeWallets{payAs: wallet.Result{Status: wallet.StatusSuccess, PlatformTxnID: "WX1"}}
	codes := &fakeCodes{codes: make(chan string, 2)}
	e2, _ := refundRiskEngine(t, false, func(o *Opts) { o.Codes, o.Wallet = codes, w })
	paid := payByCode(t, e2, codes, wechatCode) // 12.00
	tx, err := e2.Start(Request{Kind: host.KindRefund, OrigID: paid.ID, Amount: 1200})
	if err != nil {
		t.Fatal(err)
	}
	if got := wait(t, e2, tx.ID); got.State != store.StateApproved {
		t.Fatalf("wallet refund: %+v", got)
	}
	paid2 := payByCode(t, e2, codes, wechatCode)
	tx, err = e2.Start(Request{Kind: host.KindRefund, OrigID: paid2.ID, Amount: 801})
	if err != nil {
		t.Fatal(err)
	}
	got = wait(t, e2, tx.ID)
	if got.State != store.StateFailed || got.RiskRule != string(risk.RuleRefundTotal) || len(w.refunds) != 1 {
		t.Fatalf("wallet refund past the refund total: %s %q, platform refunds %v", got.State, got.RiskRule, w.refunds)
	}
}

func TestRefundWithoutItsSaleRefusedWhenRequired(t *testing.T) {
	e, r := refundRiskEngine(t, true, nil)
	got := run(t, e, r, Request{Kind: host.KindRefund, Amount: 100, Currency: "156"})
	if got.State != store.StateFailed || got.RiskRule != string(risk.RuleRefundUnreferenced) {
		t.Fatalf("refund naming no sale: %s %q", got.State, got.RiskRule)
	}
	sale := run(t, e, r, Request{Amount: 500, Currency: "156"})
	if got := run(t, e, r, Request{Kind: host.KindRefund, OrigID: sale.ID, Amount: 100}); got.State != store.StateApproved {
		t.Fatalf("refund of its sale: %s %q", got.State, got.RiskRule)
	}
}
