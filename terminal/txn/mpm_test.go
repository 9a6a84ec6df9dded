package txn

import (
	"errors"
	"strings"
	"testing"
	"time"

	"posd/terminal/paycode"
	"posd/terminal/store"
	"posd/terminal/wallet"
)

var testMerchant = paycode.Merchant{Name: "POSD DEMO", City: "SHANGHAI", Country: "CN", MCC: "5411", Terminal: "T0000001",
	Accounts: []paycode.Account{{GUI: paycode.GUIUnionPay, MerchantID: "UP123"}, {GUI: paycode.GUIWeChat, MerchantID: "WX456"}}}

func mpmEngine(t *testing.T, w *fakeWallets) *Engine {
	m := testMerchant
	e, _, _ := setupWith(t, approveAll(), func(o *Opts) { o.Wallet, o.Merchant = w, &m })
	return e
}

// shownCode waits for the display's merchant code of sale id.
func shownCode(t *testing.T, e *Engine, events <-chan Event, id string) string {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Phase == PhaseShowCode && ev.Txn.ID == id {
				return ev.Code
			}
		case <-timeout:
			t.Fatalf("no merchant code shown; last event %+v", e.Last())
		}
	}
}

func TestMPMSale(t *testing.T) {
	w := &fakeWallets{resolveAs: wallet.Result{Status: wallet.StatusSuccess, PlatformTxnID: "UP9"}, resolveWait: make(chan struct{})}
	e := mpmEngine(t, w)
	events, stop := e.Subscribe()
	defer stop()
	tx, err := e.Start(Request{Amount: 2372, Currency: "156", Method: MethodMPM, Platform: "unionpay"})
	if err != nil {
		t.Fatal(err)
	}
	code := shownCode(t, e, events, tx.ID)
	m, err := paycode.ParseMPM(code)
	if err != nil {
		t.Fatalf("shown code does not parse: %v", err)
	}
	if m.Amount != "23.72" || m.Currency != "156" || m.Bill != e.orderID(tx.ID) || m.Terminal != "T0000001" ||
		len(m.Accounts) != 1 || m.Accounts[0].GUI != paycode.GUIUnionPay || m.Initiation != "12" {
		t.Fatalf("shown code: %+v", m)
	}
	// The order is on disk, opened at the platform, before the code shows.
	if got, _ := e.Get(tx.ID); got.State != store.StateAuthSent || got.Wallet == nil || !got.Wallet.MerchantPresented {
		t.Fatalf("while shown: %+v", got)
	}
	close(w.resolveWait) // the customer pays
	got := wait(t, e, tx.ID)
	if got.State != store.StateApproved || got.Wallet.PlatformTxnID != "UP9" || got.Wallet.MaskedCode != "" || len(w.precreated) != 1 {
		t.Fatalf("MPM sale: %+v %+v %v", got, got.Wallet, w.precreated)
	}
	// Nobody pays: the resolver closes the order, the sale fails.
	w2 := &fakeWallets{resolveAs: wallet.Result{Status: wallet.StatusClosed}}
	e2 := mpmEngine(t, w2)
	tx2, err := e2.Start(Request{Amount: 100, Currency: "156", Method: MethodMPM, Platform: "wechat"})
	if err != nil {
		t.Fatal(err)
	}
	if got := wait(t, e2, tx2.ID); got.State != store.StateFailed || Failure(got.Failure) != FailWallet {
		t.Fatalf("unpaid MPM: %+v", got)
	}
}

func TestMPMCancelledByCashier(t *testing.T) {
	w := &fakeWallets{resolveWait: make(chan struct{})}
	e := mpmEngine(t, w)
	events, stop := e.Subscribe()
	defer stop()
	tx, err := e.Start(Request{Amount: 500, Currency: "156", Method: MethodMPM, Platform: "wechat"})
	if err != nil {
		t.Fatal(err)
	}
	shownCode(t, e, events, tx.ID)
	if err := e.Cancel(tx.ID); err != nil {
		t.Fatal(err)
	}
	got := wait(t, e, tx.ID)
	if got.State != store.StateFailed || Failure(got.Failure) != FailCancelled || len(w.cancelled) != 1 {
		t.Fatalf("cancelled MPM: %+v, cancels %v", got, w.cancelled)
	}
	// A platform that does not confirm the close: the cancel job takes over.
	w2 := &fakeWallets{resolveWait: make(chan struct{}), cancelErr: errors.New("link down")}
	e2 := mpmEngine(t, w2)
	ev2, stop2 := e2.Subscribe()
	defer stop2()
	tx2, _ := e2.Start(Request{Amount: 500, Currency: "156", Method: MethodMPM, Platform: "wechat"})
	shownCode(t, e2, ev2, tx2.ID)
	if err := e2.Cancel(tx2.ID); err != nil {
		t.Fatal(err)
	}
	if got := wait(t, e2, tx2.ID); got.State != store.StateReversalPending {
		t.Fatalf("unconfirmed cancel: %+v", got)
	}
}

func TestMPMRefused(t *testing.T) {
	w := &fakeWallets{}
	e := mpmEngine(t, w)
	if _, err := e.Start(Request{Amount: 100, Currency: "156", Method: MethodMPM, Platform: "alipay"}); !errors.Is(err, ErrKind) {
		t.Fatalf("no alipay account: %v", err)
	}
	e2, _, _ := setupWith(t, approveAll(), func(o *Opts) { o.Wallet = w })
	if _, err := e2.Start(Request{Amount: 100, Currency: "156", Method: MethodMPM, Platform: "unionpay"}); !errors.Is(err, ErrKind) {
		t.Fatalf("no merchant: %v", err)
	}
	// The platform refuses to open the order: failed, no code shown.
	w3 := &fakeWallets{precreateErr: &wallet.RejectedError{Op: "precreate", Code: "bad_request"}}
	e3 := mpmEngine(t, w3)
	tx, err := e3.Start(Request{Amount: 100, Currency: "156", Method: MethodMPM, Platform: "unionpay"})
	if err != nil {
		t.Fatal(err)
	}
	if got := wait(t, e3, tx.ID); got.State != store.StateFailed || Failure(got.Failure) != FailWallet || len(w3.resolved) != 0 {
		t.Fatalf("refused precreate: %+v resolved %v", got, w3.resolved)
	}
}

// The customer pays just after the terminal's last query: the closing
// cancel finds the order paid and the platform refunds it. The sale has
// failed and says so; nothing is left to cancel.
func TestMPMPaidAfterTheLastQuery(t *testing.T) {
	w := &fakeWallets{resolveAs: wallet.Result{Status: wallet.StatusRefunded, Reason: "reversed"}}
	m := testMerchant
	e, _, db := setupWith(t, approveAll(), func(o *Opts) { o.Wallet, o.Merchant = w, &m })
	tx, err := e.Start(Request{Amount: 2372, Currency: "156", Method: MethodMPM, Platform: "unionpay"})
	if err != nil {
		t.Fatal(err)
	}
	got := wait(t, e, tx.ID)
	jobs, _ := db.Jobs()
	if got.State != store.StateFailed || Failure(got.Failure) != FailWallet || !strings.Contains(got.Error, "refunded") || len(jobs) != 0 {
		t.Fatalf("paid after the last query: %+v jobs %+v", got, jobs)
	}
}

// The customer pays the shown code just as the cashier cancels: the
// cancel was accepted, so the payment is undone at the platform and the
// sale never shows approved (as a customer-presented code's).
func TestMPMPaidAsTheCashierCancelled(t *testing.T) {
	w := &fakeWallets{resolveWait: make(chan struct{}), resolveAs: wallet.Result{Status: wallet.StatusSuccess, PlatformTxnID: "UP7"},
		cancelErr: errors.New("link down")}
	e := mpmEngine(t, w)
	events, stop := e.Subscribe()
	defer stop()
	tx, err := e.Start(Request{Amount: 500, Currency: "156", Method: MethodMPM, Platform: "unionpay"})
	if err != nil {
		t.Fatal(err)
	}
	shownCode(t, e, events, tx.ID)
	e.mu.Lock()
	e.sale.cancelled = true // the cashier's cancel, as the payment arrives
	e.mu.Unlock()
	close(w.resolveWait)
	if got := wait(t, e, tx.ID); got.State != store.StateReversalPending && got.State != store.StateReversed {
		t.Fatalf("paid as the cashier cancelled: %s", got.State)
	}
}
