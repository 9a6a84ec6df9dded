package wallet_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/wallet"
	"posd/terminal/paycode"
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

// TestPaySystemError: an amount ending 65 is paid but the pay is answered
// system_error (HTTP 500), as a platform that failed after taking the
// money: the terminal must take the outcome as unknown and query.
func TestPaySystemError(t *testing.T) {
	_, srv, j := rig(t, wallet.Opts{QueryRate: -1})
	ctx := context.Background()
	c := client(t, srv.URL, "T001", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T001"), nil)
	r, err := c.Pay(ctx, tw.Alipay, tw.Order{ID: "S65", Amount: 1065, Currency: "CNY", Code: "281234567890123456"})
	if !errors.Is(err, tw.ErrSystemError) || !tw.OutcomeUnknown(err) {
		t.Fatalf("65: %+v %v", r, err)
	}
	if r, err := c.Query(ctx, tw.Alipay, "S65"); err != nil || r.Status != tw.StatusSuccess {
		t.Fatalf("65 query: %+v %v", r, err)
	}
	if !strings.Contains(j.String(), `"code":"system_error"`) {
		t.Fatalf("journal:\n%s", j.String())
	}
}

// TestPayScannedCodeWithWhiteSpace: the code is passed on as scanned;
// paycode.Classify ignores the white space around it (a scanner's CR LF,
// a tab suffix, a leading space), and so must the pay: the platform gets
// the digits and the customer is charged once.
func TestPayScannedCodeWithWhiteSpace(t *testing.T) {
	sim, srv, j := rig(t, wallet.Opts{QueryRate: -1})
	ctx := context.Background()
	c := client(t, srv.URL, "T001", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T001"), nil)
	for i, scanned := range []string{code + "\r\n", " " + codeN(2) + "\t", "\n" + codeN(3)} {
		if paycode.Classify(scanned).Kind != paycode.KindWeChat {
			t.Fatalf("scan %d not a WeChat code", i)
		}
		id := "W" + string(rune('1'+i))
		r, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: id, Amount: 1000, Currency: "CNY", Code: scanned})
		if err != nil || r.Status != tw.StatusSuccess {
			t.Fatalf("scan %d: %+v %v", i, r, err)
		}
	}
	// The trimmed code is the one-time token: a second order with it,
	// scanned without the white space, is refused.
	if _, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: "W9", Amount: 1000, Currency: "CNY", Code: code}); !errors.Is(err, tw.ErrRejected) {
		t.Fatalf("the same code again: %v", err)
	}
	if tot := sim.Totals(); tot.Paid != 3 || tot.BadRequest != 0 {
		t.Fatalf("totals %+v", tot)
	}
	if strings.Contains(j.String(), code) {
		t.Fatal("journal shows the code")
	}
}

// TestPayCodeOfAnotherPlatform: a platform takes only its own payment
// codes (WeChat Pay answers AUTHCODEINVALID, Alipay
// ACQ.PAYMENT_AUTH_CODE_INVALID): a code routed to the wrong platform is
// refused and nothing is paid; the code stays good for its own platform.
func TestPayCodeOfAnotherPlatform(t *testing.T) {
	const (
		wechat   = "134567890123456789"
		alipay   = "281234567890123456"
		unionpay = "6212345678901234567"
	)
	sim, srv, _ := rig(t, wallet.Opts{QueryRate: -1})
	ctx := context.Background()
	c := client(t, srv.URL, "T001", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T001"), nil)
	for i, tc := range []struct {
		p    tw.Platform
		code string
	}{
		{tw.Alipay, wechat}, {tw.UnionPay, wechat}, {tw.WeChat, alipay}, {tw.UnionPay, alipay},
		{tw.WeChat, unionpay}, {tw.Alipay, unionpay}, {tw.WeChat, "9912345678901234"},
	} {
		id := "X" + strconv.Itoa(i)
		r, err := c.Pay(ctx, tc.p, tw.Order{ID: id, Amount: 1000, Currency: "CNY", Code: tc.code})
		var rj *tw.RejectedError
		if !errors.As(err, &rj) || rj.Code != tw.CodeCodeInvalid || r.Status == tw.StatusSuccess {
			t.Errorf("%s code %s on %s: %+v %v", paycode.Classify(tc.code).Kind, tw.MaskCode(tc.code), tc.p, r, err)
		}
	}
	if n := sim.Totals().Paid; n != 0 {
		t.Fatalf("%d misrouted codes paid", n)
	}
	for i, tc := range []struct {
		p    tw.Platform
		code string
	}{{tw.WeChat, wechat}, {tw.Alipay, alipay}, {tw.UnionPay, unionpay}} {
		if r, err := c.Pay(ctx, tc.p, tw.Order{ID: "Y" + strconv.Itoa(i), Amount: 1000, Currency: "CNY", Code: tc.code}); err != nil || r.Status != tw.StatusSuccess {
			t.Errorf("%s code on its own platform: %+v %v", tc.p, r, err)
		}
	}
}

// TestPayRepeatWithAnotherCode: a pay repeated with its order number is
// answered with the order's outcome only when it is the same payment
// (same code); another code under a known order number (a terminal that
// lost its records and numbers its orders from 1 again) is refused
// order_mismatch rather than answered with an old payment.
func TestPayRepeatWithAnotherCode(t *testing.T) {
	sim, srv, _ := rig(t, wallet.Opts{QueryRate: -1})
	ctx := context.Background()
	c := client(t, srv.URL, "T001", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T001"), nil)
	if r, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: "P1", Amount: 1000, Currency: "CNY", Code: "134567890123456789"}); err != nil || r.Status != tw.StatusSuccess {
		t.Fatalf("pay: %+v %v", r, err)
	}
	if r, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: "P1", Amount: 1000, Currency: "CNY", Code: "134567890123456789"}); err != nil || r.Status != tw.StatusSuccess {
		t.Fatalf("the same pay again: %+v %v", r, err)
	}
	r, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: "P1", Amount: 1000, Currency: "CNY", Code: "134567890123450000"})
	var rj *tw.RejectedError
	if !errors.As(err, &rj) || rj.Code != tw.CodeOrderMismatch || r.Status == tw.StatusSuccess {
		t.Fatalf("another code under P1: %+v %v", r, err)
	}
	if tot := sim.Totals(); tot.Paid != 1 || tot.PayRepeats+tot.Repeats != 1 {
		t.Fatalf("totals %+v", tot)
	}
}

// TestPayChargedAnotherAmount: an amount ending 66 is paid at one fen
// more than asked, and every answer about the order says so (a faulty
// or tampered platform). The terminal must not approve it: its pay is an
// answer not trusted (amount mismatch, outcome unknown), the resolver
// finds the order paid at the other amount and cancels it (refunded),
// and the sale ends with the mismatch, not with an approval.
func TestPayChargedAnotherAmount(t *testing.T) {
	sim, srv, j := rig(t, wallet.Opts{QueryRate: -1})
	ctx := context.Background()
	c := client(t, srv.URL, "T001", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T001"), nil)
	o := tw.Order{ID: "M66", Amount: 1066, Currency: "CNY", Code: code}
	r, err := c.Pay(ctx, tw.WeChat, o)
	var me *tw.AmountMismatchError
	if !errors.As(err, &me) || !tw.OutcomeUnknown(err) || r.Status == tw.StatusSuccess {
		t.Fatalf("66: %+v %v; want an amount mismatch, outcome unknown", r, err)
	}
	if me.Want != 1066 || me.Got != 1067 {
		t.Fatalf("66: %+v", me)
	}
	rv, err := tw.NewResolver(tw.ResolverOpts{Client: c, First: time.Millisecond, Floor: time.Millisecond,
		MaxWait: time.Millisecond, Total: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r, err = rv.Resolve(ctx, tw.WeChat, o.ID)
	if !errors.Is(err, tw.ErrAmountMismatch) || tw.OutcomeUnknown(err) || r.Status != tw.StatusRefunded {
		t.Fatalf("resolve: %+v %v; want refunded with the mismatch", r, err)
	}
	// What was taken is given back, all of it: the platform's books
	// balance.
	if tot := sim.Totals(); tot.Reversed != 1 || tot.PaidTwice != 0 || tot.RefundedAmount != 1067 {
		t.Fatalf("totals %+v; want 1067 given back", tot)
	}
	// The auditor's journal says what was asked and what was charged.
	if !strings.Contains(j.String(), `"amount":1066`) || !strings.Contains(j.String(), `"charged":1067`) {
		t.Fatalf("journal:\n%s", j.String())
	}
	// An order at its amount states it.
	r, err = c.Pay(ctx, tw.WeChat, tw.Order{ID: "M67", Amount: 1000, Currency: "CNY", Code: codeN(67)})
	if err != nil || r.Status != tw.StatusSuccess || r.Amount != 1000 || r.Currency != "CNY" {
		t.Fatalf("pay: %+v %v", r, err)
	}
}

// TestRefundIDNamesOneRefund: a refund number names one refund of the
// terminal, as the merchant's refund number (WeChat Pay out_refund_no)
// does: the same number on another order is refused, not a second
// refund the auditor finds twice under one number. A restart keeps it so.
func TestRefundIDNamesOneRefund(t *testing.T) {
	state := filepath.Join(t.TempDir(), "orders.json")
	sim, err := wallet.Open(wallet.Opts{QueryRate: -1, StateFile: state})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	c := client(t, srv.URL, "T001", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T001"), nil)
	for i, id := range []string{"Q1", "Q2"} {
		if r, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: id, Amount: 1000, Currency: "CNY", Code: codeN(100 + i)}); err != nil || r.Status != tw.StatusSuccess {
			t.Fatalf("pay %s: %+v %v", id, r, err)
		}
	}
	if _, err := c.Refund(ctx, tw.WeChat, "Q1", "R7", 400); err != nil {
		t.Fatalf("refund: %v", err)
	}
	var rj *tw.RejectedError
	if _, err := c.Refund(ctx, tw.WeChat, "Q2", "R7", 400); !errors.As(err, &rj) || rj.Code != tw.CodeRefundMismatch {
		t.Fatalf("refund number reused on another order: %v", err)
	}
	// Another terminal's numbers are its own.
	c2 := client(t, srv.URL, "T002", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T002"), nil)
	if _, err := c2.Pay(ctx, tw.WeChat, tw.Order{ID: "Q1", Amount: 1000, Currency: "CNY", Code: codeN(200)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Refund(ctx, tw.WeChat, "Q1", "R7", 400); err != nil {
		t.Fatalf("another terminal's R7: %v", err)
	}
	srv.Close()
	sim, err = wallet.Open(wallet.Opts{QueryRate: -1, StateFile: state})
	if err != nil {
		t.Fatal(err)
	}
	srv = httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c = client(t, srv.URL, "T001", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T001"), nil)
	if _, err := c.Refund(ctx, tw.WeChat, "Q2", "R7", 400); !errors.As(err, &rj) || rj.Code != tw.CodeRefundMismatch {
		t.Fatalf("after a restart, refund number reused on another order: %v", err)
	}
	if r, err := c.Refund(ctx, tw.WeChat, "Q1", "R7", 400); err != nil || r.Status != tw.StatusRefunded {
		t.Fatalf("after a restart, the repeat of R7: %+v %v", r, err)
	}
	if got := sim.Totals().RefundedAmount; got != 0 {
		t.Fatalf("a repeat counted as refunded: %d", got)
	}
}

// TestPayChargedAnotherCurrency: an amount ending 67 is paid in another
// currency than asked (HKD for CNY: a platform that settled the order
// in the wrong currency): the same amount in minor units is not the
// same money, and the terminal must not approve it either.
func TestPayChargedAnotherCurrency(t *testing.T) {
	sim, srv, _ := rig(t, wallet.Opts{QueryRate: -1})
	ctx := context.Background()
	c := client(t, srv.URL, "T001", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T001"), nil)
	o := tw.Order{ID: "C67", Amount: 1067, Currency: "CNY", Code: code}
	r, err := c.Pay(ctx, tw.WeChat, o)
	var me *tw.AmountMismatchError
	if !errors.As(err, &me) || !tw.OutcomeUnknown(err) || me.GotCurrency != "HKD" || me.Got != 1067 {
		t.Fatalf("67: %+v %v; want a currency mismatch", r, err)
	}
	rv, err := tw.NewResolver(tw.ResolverOpts{Client: c, First: time.Millisecond, Floor: time.Millisecond,
		MaxWait: time.Millisecond, Total: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r, err = rv.Resolve(ctx, tw.WeChat, o.ID); !errors.Is(err, tw.ErrAmountMismatch) || r.Status != tw.StatusRefunded {
		t.Fatalf("resolve: %+v %v", r, err)
	}
	if tot := sim.Totals(); tot.Reversed != 1 {
		t.Fatalf("totals %+v", tot)
	}
	// The numeric code of the asked currency is the same currency.
	if r, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: "C68", Amount: 1000, Currency: "156", Code: codeN(68)}); err != nil || r.Status != tw.StatusSuccess {
		t.Fatalf("156: %+v %v", r, err)
	}
}
