package txn

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"posd/terminal/host"
	"posd/terminal/store"
	"posd/terminal/wallet"
)

// errNotSent is the client's error of a request whose connection was
// refused: nothing reached the platform.
var errNotSent = fmt.Errorf("%w: wechat pay: dial tcp 127.0.0.1:8685: connect: connection refused", wallet.ErrNotSent)

// A wallet pay that never left (the platform's port refuses the
// connection) fails the sale at once: the customer is not told to see
// the phone, nothing is resolved or cancelled, no job is queued.
func TestWalletPayNotSentFailsAtOnce(t *testing.T) {
	w := &fakeWallets{payErr: errNotSent, resolveAs: wallet.Result{Status: wallet.StatusClosed}}
	e, codes, db := walletEngine(t, w)
	events, stop := e.Subscribe()
	defer stop()
	got := payByCode(t, e, codes, wechatCode)
	if got.State != store.StateFailed || Failure(got.Failure) != FailWalletUnreachable || !errors.Is(errNotSent, wallet.ErrNotSent) {
		t.Fatalf("pay not sent: %+v", got)
	}
	for more := true; more; {
		select {
		case ev := <-events:
			if ev.Phase == PhaseMessage && ev.Message == "see phone" {
				t.Errorf("the customer was told to see the phone for a pay never sent")
			}
		default:
			more = false
		}
	}
	w.mu.Lock()
	resolved, cancelled := len(w.resolved), len(w.cancelled)
	w.mu.Unlock()
	if resolved != 0 || cancelled != 0 {
		t.Errorf("a pay never sent was resolved %d times, cancelled %d times", resolved, cancelled)
	}
	if jobs, err := db.Jobs(); err != nil || len(jobs) != 0 {
		t.Errorf("jobs after a pay never sent: %+v %v", jobs, err)
	}
	// A pay that may have left keeps resolving (then cancelling).
	w.mu.Lock()
	w.payErr = fmt.Errorf("%w: wechat pay: read: connection reset by peer", wallet.ErrUnreachable)
	w.mu.Unlock()
	if got := payByCode(t, e, codes, wechatCode); got.State != store.StateFailed || Failure(got.Failure) != FailWallet {
		t.Fatalf("pay cut after sending: %+v", got)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.resolved) != 1 {
		t.Errorf("a pay cut after sending resolved %d times", len(w.resolved))
	}
}

// A merchant-presented order whose precreate never left fails at once.
func TestWalletPrecreateNotSentFailsAtOnce(t *testing.T) {
	w := &fakeWallets{precreateErr: errNotSent}
	e := mpmEngine(t, w)
	tx, err := e.Start(Request{Amount: 1200, Currency: "156", Method: MethodMPM, Platform: "wechat"})
	if err != nil {
		t.Fatal(err)
	}
	if got := wait(t, e, tx.ID); got.State != store.StateFailed || Failure(got.Failure) != FailWalletUnreachable {
		t.Fatalf("precreate not sent: %+v", got)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.resolved) != 0 || len(w.cancelled) != 0 {
		t.Errorf("a precreate never sent was resolved or cancelled: %v %v", w.resolved, w.cancelled)
	}
}

// A wallet refund that never left failed: nothing was refunded, it is
// not in doubt, and the sale can be refunded again.
func TestWalletRefundNotSentFails(t *testing.T) {
	w := &fakeWallets{payAs: wallet.Result{Status: wallet.StatusSuccess, PlatformTxnID: "WX42"}}
	e, codes, db := walletEngine(t, w)
	sale := payByCode(t, e, codes, wechatCode)
	w.mu.Lock()
	w.refundErr = errNotSent
	w.mu.Unlock()
	tx, err := e.Start(Request{Kind: host.KindRefund, OrigID: sale.ID, Amount: 500})
	if err != nil {
		t.Fatal(err)
	}
	if got := wait(t, e, tx.ID); got.State != store.StateFailed || Failure(got.Failure) != FailWalletUnreachable {
		t.Fatalf("refund not sent: %+v", got)
	}
	if jobs, err := db.Jobs(); err != nil || len(jobs) != 0 {
		t.Errorf("jobs after a refund never sent: %+v %v", jobs, err)
	}
	if orig, err := db.Get(sale.ID); err != nil || orig.Refunded != 0 {
		t.Errorf("the sale's refunded amount: %+v %v", orig, err)
	}
	w.mu.Lock()
	w.refundErr = nil
	w.mu.Unlock()
	next, err := e.Start(Request{Kind: host.KindRefund, OrigID: sale.ID, Amount: 500})
	if err != nil {
		t.Fatalf("a refund after one never sent: %v", err)
	}
	if got := wait(t, e, next.ID); got.State != store.StateApproved {
		t.Fatalf("refund: %+v", got)
	}
}

// A refund in doubt whose asking again never leaves stays in doubt: that
// ask says nothing of the first.
func TestWalletRefundInDoubtNotSentStaysInDoubt(t *testing.T) {
	w := &fakeWallets{payAs: wallet.Result{Status: wallet.StatusSuccess, PlatformTxnID: "WX42"}}
	e, codes, db := walletEngine(t, w)
	sale := payByCode(t, e, codes, wechatCode)
	w.mu.Lock()
	w.refundErr = fmt.Errorf("%w: answer not signed", wallet.ErrBadResponse)
	w.mu.Unlock()
	tx, err := e.Start(Request{Kind: host.KindRefund, OrigID: sale.ID, Amount: 500})
	if err != nil {
		t.Fatal(err)
	}
	if got := wait(t, e, tx.ID); !refundInDoubt(got) {
		t.Fatalf("refund in doubt: %+v", got)
	}
	w.mu.Lock()
	w.refundErr = errNotSent
	asked := len(w.refunds)
	w.mu.Unlock()
	waitUntil(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.refunds) >= asked+2 })
	e.SendReversals(context.Background())
	if r, err := db.Get(tx.ID); err != nil || !refundInDoubt(r) {
		t.Fatalf("a refund in doubt after an ask never sent: %+v %v", r, err)
	}
	if jobs, err := db.Jobs(); err != nil || len(jobs) != 1 || jobs[0].Kind != store.JobWalletRefund {
		t.Fatalf("jobs: %+v %v", jobs, err)
	}
	w.mu.Lock()
	w.refundErr = nil
	w.mu.Unlock()
	waitUntil(t, func() bool { r, err := db.Get(tx.ID); return err == nil && r.State == store.StateApproved })
}
