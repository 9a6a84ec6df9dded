package txn

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/terminal/host"
	"posd/terminal/store"
	"posd/terminal/wallet"
)

type fakeCodes struct{ codes chan string }

func (f *fakeCodes) FlushCodes() {}
func (f *fakeCodes) ReadCode(ctx context.Context) (string, error) {
	select {
	case c := <-f.codes:
		return c, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// fakeWallets answers pay with payAs, resolves with resolveAs, cancels
// with cancelAs; it keeps what it was asked.
type fakeWallets struct {
	mu                        sync.Mutex
	payAs, resolveAs          wallet.Result
	payErr, resolveErr        error
	cancelErr                 error
	paid, resolved, cancelled []string
	codes                     []string
	refunds                   []string
	precreateAs               wallet.Result
	precreateErr              error
	precreated                []string
	// resolveWait, when set, makes Resolve wait for it or for ctx.
	resolveWait chan struct{}
	// refunding, when set, is closed as Refund is entered; Refund then
	// answers once refundRelease is closed.
	refunding, refundRelease chan struct{}
	// refundErr, when set, is every refund's answer (an outcome unknown).
	refundErr error
}

func (f *fakeWallets) Pay(_ context.Context, p wallet.Platform, o wallet.Order) (wallet.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paid, f.codes = append(f.paid, string(p)+" "+o.ID), append(f.codes, o.Code)
	return f.payAs, f.payErr
}

func (f *fakeWallets) Precreate(_ context.Context, p wallet.Platform, o wallet.Order) (wallet.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.precreated = append(f.precreated, string(p)+" "+o.ID)
	if f.precreateAs.Status == "" && f.precreateErr == nil {
		return wallet.Result{Status: wallet.StatusUserPaying}, nil
	}
	return f.precreateAs, f.precreateErr
}

func (f *fakeWallets) Resolve(ctx context.Context, p wallet.Platform, id string) (wallet.Result, error) {
	f.mu.Lock()
	f.resolved = append(f.resolved, id)
	wait := f.resolveWait
	f.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return wallet.Result{Status: wallet.StatusUnknown}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.resolveAs, f.resolveErr
}

func (f *fakeWallets) Cancel(_ context.Context, p wallet.Platform, id string) (wallet.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancelled = append(f.cancelled, id)
	if f.cancelErr != nil {
		return wallet.Result{}, f.cancelErr
	}
	return wallet.Result{Status: wallet.StatusClosed}, nil
}

func (f *fakeWallets) Refund(_ context.Context, p wallet.Platform, id, rid string, amount int64) (wallet.Result, error) {
	if f.refunding != nil {
		close(f.refunding)
		<-f.refundRelease
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refunds = append(f.refunds, id+" "+rid)
	if f.refundErr != nil {
		return wallet.Result{Status: wallet.StatusUnknown}, f.refundErr
	}
	return wallet.Result{Status: wallet.StatusRefunded, PlatformTxnID: "RF1"}, nil
}

const wechatCode = "134567890123456789" // 18 digits, prefix 13

func walletEngine(t *testing.T, w *fakeWallets) (*Engine, *fakeCodes, *store.DB) {
	codes := &fakeCodes{codes: make(chan string, 2)}
	e, _, db := setupWith(t, approveAll(), func(o *Opts) { o.Codes, o.Wallet = codes, w })
	return e, codes, db
}

func payByCode(t *testing.T, e *Engine, codes *fakeCodes, code string) store.Txn {
	t.Helper()
	tx, err := e.Start(Request{Amount: 1200, Currency: "156", Method: MethodQR})
	if err != nil {
		t.Fatal(err)
	}
	codes.codes <- code
	return wait(t, e, tx.ID)
}

func TestWalletSale(t *testing.T) {
	w := &fakeWallets{payAs: wallet.Result{Status: wallet.StatusSuccess, PlatformTxnID: "WX42"}}
	e, codes, _ := walletEngine(t, w)
	got := payByCode(t, e, codes, wechatCode)
	if got.State != store.StateApproved || got.Wallet == nil || got.Wallet.Platform != "wechat" || got.Wallet.PlatformTxnID != "WX42" ||
		got.Wallet.OrderID != e.orderID(got.ID) || got.EntryMode != "qr" || got.Invoice == 0 {
		t.Fatalf("wallet sale: %+v %+v", got, got.Wallet)
	}
	if got.Wallet.MaskedCode == wechatCode || got.MaskedPAN == wechatCode || len(got.Wallet.MaskedCode) == 0 {
		t.Fatalf("the record keeps the code: %+v", got.Wallet)
	}
	// Not counted in the acquirer's batch; voided no, refunded yes.
	if _, tot, _ := e.OpenBatch(); len(tot) != 0 {
		t.Fatalf("a wallet sale in the acquirer's totals: %+v", tot)
	}
	if _, err := e.Start(Request{Kind: host.KindVoid, OrigID: got.ID}); !errors.Is(err, ErrOriginal) {
		t.Fatalf("void of a wallet sale: %v", err)
	}
	tx, err := e.Start(Request{Kind: host.KindRefund, OrigID: got.ID, Amount: 500})
	if err != nil {
		t.Fatal(err)
	}
	r := wait(t, e, tx.ID)
	if r.State != store.StateApproved || r.Wallet == nil || r.Wallet.RefundID != e.refundID(r.ID) || len(w.refunds) != 1 {
		t.Fatalf("wallet refund: %+v %v", r, w.refunds)
	}
	// 7.00 of the 12.00 are left to refund, no more.
	if _, err := e.Start(Request{Kind: host.KindRefund, OrigID: got.ID, Amount: 701}); !errors.Is(err, ErrAmount) || len(w.refunds) != 1 {
		t.Fatalf("wallet refund past the sale: %v (refunds %v)", err, w.refunds)
	}
	// Not a payment code: nothing sent.
	bad := payByCode(t, e, codes, "https://example.com/pay?x=1")
	if bad.State != store.StateFailed || Failure(bad.Failure) != FailNotPaymentCode || len(w.paid) != 1 {
		t.Fatalf("a URL: %+v, paid %v", bad, w.paid)
	}
}

func TestWalletUnknownOutcomes(t *testing.T) {
	// The customer confirms on the phone: resolved to success.
	w := &fakeWallets{payAs: wallet.Result{Status: wallet.StatusUserPaying}, resolveAs: wallet.Result{Status: wallet.StatusSuccess, PlatformTxnID: "AL7"}}
	e, codes, _ := walletEngine(t, w)
	if got := payByCode(t, e, codes, "281234567890123456"); got.State != store.StateApproved || got.Wallet.Platform != "alipay" || len(w.resolved) != 1 {
		t.Fatalf("user paying, then paid: %+v", got)
	}
	// Never confirmed: the resolver cancelled it.
	w.resolveAs = wallet.Result{Status: wallet.StatusClosed}
	if got := payByCode(t, e, codes, "281234567890123456"); got.State != store.StateFailed || Failure(got.Failure) != FailWallet {
		t.Fatalf("closed: %+v", got)
	}
	// No answer, and the resolver's cancel did not get through either:
	// cancelled from the outbox until acknowledged.
	w.payErr, w.resolveErr, w.cancelErr = wallet.ErrUnreachable, wallet.ErrUnresolved, wallet.ErrUnreachable
	got := payByCode(t, e, codes, wechatCode)
	if got.State != store.StateReversalPending {
		t.Fatalf("unresolved: %+v", got)
	}
	// (The retry loop may try it too: count the attempts, not the calls.)
	e.SendReversals(context.Background())
	if g, _ := e.Get(got.ID); g.State != store.StateReversalPending {
		t.Fatalf("cancel failed but: %+v", g)
	}
	w.mu.Lock()
	w.cancelErr = nil
	failed := len(w.cancelled)
	w.mu.Unlock()
	if failed < 1 {
		t.Fatalf("cancels tried: %v", w.cancelled)
	}
	e.SendReversals(context.Background())
	w.mu.Lock()
	done := len(w.cancelled)
	w.mu.Unlock()
	if g, _ := e.Get(got.ID); g.State != store.StateReversed || done != failed+1 {
		t.Fatalf("after the cancel: %+v %v", g, w.cancelled)
	}
	// A pay the platform refused outright: failed, nothing to cancel.
	w.payErr, w.resolveErr = &wallet.RejectedError{Code: "bad_request"}, nil
	if got := payByCode(t, e, codes, wechatCode); got.State != store.StateFailed || len(w.cancelled) != done {
		t.Fatalf("refused: %+v", got)
	}
	for _, c := range w.codes {
		if c != wechatCode && c != "281234567890123456" {
			t.Fatalf("pay got %q", c)
		}
	}
}

// A wallet payment in flight at a crash is cancelled at its platform.
func TestWalletRecovery(t *testing.T) {
	db := openDB(t)
	var id string
	db.Do(func(tx *store.Tx) error {
		r := store.Txn{Kind: "purchase", State: store.StateAuthSent, Amount: 1, Currency: "156",
			Wallet: &store.Wallet{Platform: "unionpay", OrderID: "P9", MaskedCode: "621234*5678"}}
		err := tx.Create(&r)
		id = r.ID
		return err
	})
	w := &fakeWallets{}
	e, err := New(Opts{Store: db, Host: approveAll(), Keys: newKeys(t), Reader: newReader(), Wallet: w, Codes: &fakeCodes{}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Halt()
	e.SendReversals(context.Background())
	got, _ := db.Get(id)
	jobs, _ := db.Jobs()
	if got.State != store.StateReversed || len(w.cancelled) != 1 || w.cancelled[0] != "P9" || len(jobs) != 0 {
		t.Fatalf("after recovery: %+v cancels %v jobs %+v", got, w.cancelled, jobs)
	}
}

// TestWalletShutdownWhileCustomerConfirms: posd stops (systemd, an OTA
// switch) while the customer is still confirming on the phone: the query
// schedule is cut short, the payment may still be made, so the record
// must wait for a cancel at the platform, not end failed with nothing
// queued.
func TestWalletShutdownWhileCustomerConfirms(t *testing.T) {
	w := &fakeWallets{payAs: wallet.Result{Status: wallet.StatusUserPaying}, resolveWait: make(chan struct{})}
	e, codes, db := walletEngine(t, w)
	tx, err := e.Start(Request{Amount: 1200, Currency: "156", Method: MethodQR})
	if err != nil {
		t.Fatal(err)
	}
	codes.codes <- wechatCode
	waitUntil(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.resolved) > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	e.Shutdown(ctx)
	got, err := db.Get(tx.ID)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := db.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	queued := false
	for _, j := range jobs {
		queued = queued || (j.Kind == store.JobWalletCancel && j.TxnID == tx.ID)
	}
	if got.State != store.StateReversalPending || !queued {
		t.Fatalf("after the shutdown: state %s failure %q error %q, cancel queued %v", got.State, got.Failure, got.Error, queued)
	}
}

// TestWalletCancelledWhileCustomerConfirms: the customer's code was read
// and the platform waits for the customer to confirm on the phone; the
// cashier cancels. The order is cancelled at the platform at once (not
// after the minute of queries), and a payment the customer confirmed in
// the same moment is not kept as an approval but cancelled (refunded).
func TestWalletCancelledWhileCustomerConfirms(t *testing.T) {
	w := &fakeWallets{payAs: wallet.Result{Status: wallet.StatusUserPaying}, resolveWait: make(chan struct{})}
	e, codes, _ := walletEngine(t, w)
	tx, err := e.Start(Request{Amount: 1200, Currency: "156", Method: MethodQR})
	if err != nil {
		t.Fatal(err)
	}
	codes.codes <- wechatCode
	waitUntil(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.resolved) > 0 })
	if err := e.Cancel(tx.ID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	got, _ := e.Wait(ctx, tx.ID)
	w.mu.Lock()
	cancels := len(w.cancelled)
	w.mu.Unlock()
	if got.State != store.StateFailed || Failure(got.Failure) != FailCancelled || cancels != 1 {
		t.Fatalf("cancelled while the customer confirms: state %s failure %q, cancels at the platform %d", got.State, got.Failure, cancels)
	}
	// The customer confirmed just as the cashier cancelled: the payment
	// is cancelled at the platform, never shown approved.
	w2 := &fakeWallets{payAs: wallet.Result{Status: wallet.StatusUserPaying}, resolveWait: make(chan struct{}),
		resolveAs: wallet.Result{Status: wallet.StatusSuccess, PlatformTxnID: "WX43"}, cancelErr: errors.New("link down")}
	e2, codes2, _ := walletEngine(t, w2)
	tx2, _ := e2.Start(Request{Amount: 1200, Currency: "156", Method: MethodQR})
	codes2.codes <- wechatCode
	waitUntil(t, func() bool { w2.mu.Lock(); defer w2.mu.Unlock(); return len(w2.resolved) > 0 })
	e2.mu.Lock()
	e2.sale.cancelled = true // the cashier's cancel, as the answer arrives
	e2.mu.Unlock()
	close(w2.resolveWait)
	if got := wait(t, e2, tx2.ID); got.State != store.StateReversalPending && got.State != store.StateReversed {
		t.Fatalf("paid as the cashier cancelled: %s", got.State)
	}
}

// The cashier cancels a wallet refund once it has left for the
// platform: a refund cannot be taken back there, so the cancel is
// refused (an accepted cancel that the refund then ignores would tell
// the cashier the money stayed when it went back to the customer).
func TestWalletRefundCancelRefusedOnceSent(t *testing.T) {
	w := &fakeWallets{payAs: wallet.Result{Status: wallet.StatusSuccess, PlatformTxnID: "WX42"}}
	e, codes, _ := walletEngine(t, w)
	sale := payByCode(t, e, codes, wechatCode)
	w.refunding, w.refundRelease = make(chan struct{}), make(chan struct{})
	tx, err := e.Start(Request{Kind: host.KindRefund, OrigID: sale.ID, Amount: 500})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.refunding:
	case <-time.After(5 * time.Second):
		t.Fatal("the refund never reached the platform")
	}
	cerr := e.Cancel(tx.ID)
	close(w.refundRelease)
	got := wait(t, e, tx.ID)
	if cerr == nil || !errors.Is(cerr, store.ErrState) || got.State != store.StateApproved {
		t.Fatalf("cancel of a sent refund: %v, refund %s", cerr, got.State)
	}
}

// A terminal whose database was started anew (a factory reset, a
// replaced board with the same terminal id) numbers its records from 1
// again; its wallet order numbers must not repeat the old ones: the
// platforms answer a pay of an order number they know with that order's
// outcome, so a repeated "P1" of the same amount would be approved by
// the old payment with no money taken.
func TestWalletOrderNumbersDifferAfterAReset(t *testing.T) {
	var ids []string
	for range 2 {
		w := &fakeWallets{payAs: wallet.Result{Status: wallet.StatusSuccess, PlatformTxnID: "WX1"}}
		e, codes, _ := walletEngine(t, w)
		got := payByCode(t, e, codes, wechatCode)
		if got.State != store.StateApproved || !wallet.ValidID(got.Wallet.OrderID) || len(got.Wallet.OrderID) > 32 {
			t.Fatalf("sale: %+v %+v", got, got.Wallet)
		}
		ids = append(ids, got.ID+" "+got.Wallet.OrderID)
	}
	if a, b := strings.Fields(ids[0]), strings.Fields(ids[1]); a[0] != b[0] || a[1] == b[1] {
		t.Fatalf("records and orders on two databases: %v", ids)
	}
}

// A wallet refund whose outcome the platform does not tell (no answer,
// an answer that does not verify) may have been made: it is not recorded
// failed (the cashier would refund again under a new refund number, and
// the customer be paid twice). The cashier's wait ends with it in doubt;
// no other refund of the sale starts meanwhile; the outbox asks again
// with the same refund number until the platform says, and the sale's
// refunded amount then counts it.
func TestWalletRefundInDoubtAskedAgain(t *testing.T) {
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
	got := wait(t, e, tx.ID)
	if got.State != store.StateAuthSent || got.Failure != string(FailWalletUnknown) || got.Wallet == nil || got.Wallet.RefundID == "" {
		t.Fatalf("refund in doubt: %+v", got)
	}
	if _, err := e.Start(Request{Kind: host.KindRefund, OrigID: sale.ID, Amount: 500}); !errors.Is(err, ErrOriginal) {
		t.Fatalf("a second refund while the first is in doubt: %v", err)
	}
	w.mu.Lock()
	w.refundErr = nil
	w.mu.Unlock()
	waitUntil(t, func() bool { r, err := db.Get(tx.ID); return err == nil && r.State == store.StateApproved })
	orig, err := db.Get(sale.ID)
	if err != nil || orig.Refunded != 500 {
		t.Fatalf("the sale's refunded amount: %+v, %v", orig, err)
	}
	w.mu.Lock()
	for _, r := range w.refunds {
		if r != sale.Wallet.OrderID+" "+got.Wallet.RefundID {
			t.Errorf("refund asked as %q, want the same refund number %s each time", r, got.Wallet.RefundID)
		}
	}
	n := len(w.refunds)
	w.mu.Unlock()
	if n < 4 {
		t.Fatalf("refund asked %d times", n)
	}
	if done, err := db.Get(tx.ID); err != nil || done.Failure != "" || done.Error != "" || done.Wallet.PlatformTxnID != "RF1" {
		t.Fatalf("refund once known: %+v, %v", done, err)
	}
	if next, err := e.Start(Request{Kind: host.KindRefund, OrigID: sale.ID, Amount: 500}); err != nil {
		t.Fatalf("a refund once the first is known: %v", err)
	} else {
		wait(t, e, next.ID)
	}
}

// A wallet refund a restart finds in flight may have been made: it is
// asked again, never recorded failed.
func TestRecoveryAsksAWalletRefundAgain(t *testing.T) {
	// The platform stays silent: the record stays in doubt whenever the
	// outbox asks.
	e, _, db := walletEngine(t, &fakeWallets{refundErr: wallet.ErrUnreachable})
	var id string
	err := db.Do(func(tx *store.Tx) error {
		first, err := tx.ReserveIDs(1)
		if err != nil {
			return err
		}
		id = strconv.FormatUint(first, 10)
		return tx.Insert(&store.Txn{ID: id, Kind: "refund", State: store.StateAuthSent, Amount: 500, Currency: "156",
			Wallet: &store.Wallet{Platform: "wechat", OrderID: "P1", RefundID: "R1"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.recover(); err != nil {
		t.Fatal(err)
	}
	jobs, err := db.Jobs()
	if err != nil || len(jobs) != 1 || jobs[0].Kind != store.JobWalletRefund || jobs[0].TxnID != id {
		t.Fatalf("jobs %+v, %v", jobs, err)
	}
	if r, err := db.Get(id); err != nil || r.State != store.StateAuthSent || r.Failure != string(FailWalletUnknown) {
		t.Fatalf("record %+v, %v", r, err)
	}
}
