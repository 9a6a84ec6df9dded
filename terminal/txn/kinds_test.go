package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/terminal/host"
	"posd/terminal/risk"
	"posd/terminal/store"
)

// kindHost approves every card-present request with a fresh RRN and auth
// code, remembering each kind it was sent, and answers a balance inquiry
// with a balance.
func kindHost() *fakeHost {
	var mu sync.Mutex
	n := 0
	h := &fakeHost{}
	h.purchase = func(p host.Purchase) (host.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		n++
		res := host.Result{ResponseCode: "00", AuthCode: fmt.Sprintf("A%05d", n), RRN: fmt.Sprintf("%012d", n)}
		if p.Kind == host.KindBalance {
			res.Balance, res.BalanceCurrency, res.HasBalance = 123456, "156", true
		}
		return res, nil
	}
	return h
}

// run starts req, presents a card when it needs one, and waits for its
// outcome.
func run(t *testing.T, e *Engine, r *fakeReader, req Request) store.Txn {
	t.Helper()
	tx, err := e.Start(req)
	if err != nil {
		t.Fatalf("%s: %v", req.Kind, err)
	}
	if needsCard(req.Kind) || req.Kind == "" {
		r.cards <- card("3012")
	}
	return wait(t, e, tx.ID)
}

func TestEveryKindEndToEnd(t *testing.T) {
	h := kindHost()
	e, r, db, _ := setup(t, h)
	sale := run(t, e, r, Request{Amount: 5000, Currency: "156"})
	refund := run(t, e, r, Request{Kind: host.KindRefund, Amount: 1200, Currency: "156"})
	pre := run(t, e, r, Request{Kind: host.KindPreauth, Amount: 8000, Currency: "156"})
	comp := run(t, e, r, Request{Kind: host.KindCompletion, Amount: 7500, OrigID: pre.ID})
	bal := run(t, e, r, Request{Kind: host.KindBalance, Currency: "156"})
	void := run(t, e, r, Request{Kind: host.KindVoid, OrigID: sale.ID})
	for _, x := range []store.Txn{sale, refund, pre, comp, bal, void} {
		if x.State != store.StateApproved || x.Batch != 1 || x.Invoice == 0 || x.STAN == 0 {
			t.Fatalf("%s: %+v", x.Kind, x)
		}
	}
	if refund.Kind != "refund" || pre.Kind != "preauth" || comp.Kind != "completion" || bal.Kind != "balance" || void.Kind != "void" {
		t.Fatalf("kinds: %s %s %s %s %s", refund.Kind, pre.Kind, comp.Kind, bal.Kind, void.Kind)
	}
	// Invoice numbers and STANs never repeat.
	seen := map[uint32]bool{}
	for _, x := range []store.Txn{sale, refund, pre, comp, bal, void} {
		if seen[x.Invoice] {
			t.Fatalf("invoice %d twice", x.Invoice)
		}
		seen[x.Invoice] = true
	}
	if bal.Balance == nil || *bal.Balance != 123456 || bal.BalanceCurrency != "156" {
		t.Fatalf("balance not kept: %+v", bal)
	}
	if comp.Amount != 7500 || comp.OrigID != pre.ID || void.Amount != sale.Amount || void.OrigID != sale.ID {
		t.Fatalf("references: completion %+v void %+v", comp, void)
	}
	// The originals are marked in the approval's commit.
	gs, _ := db.Get(sale.ID)
	gp, _ := db.Get(pre.ID)
	if gs.VoidedBy != void.ID || gp.CompletedBy != comp.ID {
		t.Fatalf("originals: sale voided by %q, preauth completed by %q", gs.VoidedBy, gp.CompletedBy)
	}
	// What the host was told of the originals.
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.followUps) != 2 {
		t.Fatalf("follow-ups %+v", h.followUps)
	}
	c, v := h.followUps[0], h.followUps[1]
	if c.Kind != host.KindCompletion || c.Orig.Kind != host.KindPreauth || c.Orig.AuthCode != pre.AuthCode || c.Orig.STAN != pre.STAN || c.Amount != 7500 {
		t.Errorf("completion sent as %+v", c)
	}
	if v.Kind != host.KindVoid || v.Orig.Kind != host.KindPurchase || v.Orig.RRN != sale.RRN || v.Orig.STAN != sale.STAN || v.Amount != 5000 {
		t.Errorf("void sent as %+v", v)
	}
}

func TestOriginalsAreChecked(t *testing.T) {
	h := kindHost()
	e, r, _, _ := setup(t, h)
	sale := run(t, e, r, Request{Amount: 5000, Currency: "156"})
	pre := run(t, e, r, Request{Kind: host.KindPreauth, Amount: 8000, Currency: "156"})
	approve := h.purchase
	h.purchase = func(host.Purchase) (host.Result, error) { return host.Result{ResponseCode: "51"}, nil }
	declined := run(t, e, r, Request{Amount: 700, Currency: "156"})
	h.purchase = approve
	for _, c := range []struct {
		what string
		req  Request
		want error
	}{
		{"unknown kind", Request{Kind: "cashback", Amount: 1, Currency: "156"}, ErrKind},
		{"void without original", Request{Kind: host.KindVoid}, ErrOriginal},
		{"void of nothing", Request{Kind: host.KindVoid, OrigID: "999"}, ErrOriginal},
		{"void of a malformed id", Request{Kind: host.KindVoid, OrigID: "x'; drop"}, ErrOriginal},
		{"void of a decline", Request{Kind: host.KindVoid, OrigID: declined.ID}, ErrOriginal},
		{"void of a preauth for another amount", Request{Kind: host.KindVoid, OrigID: pre.ID, Amount: 7999}, ErrAmount},
		{"void for another amount", Request{Kind: host.KindVoid, OrigID: sale.ID, Amount: 1}, ErrAmount},
		{"completion of a sale", Request{Kind: host.KindCompletion, OrigID: sale.ID, Amount: 100}, ErrOriginal},
		{"completion over the preauth", Request{Kind: host.KindCompletion, OrigID: pre.ID, Amount: 8001}, ErrAmount},
		{"completion of nothing", Request{Kind: host.KindCompletion, Amount: 100}, ErrOriginal},
		{"refund over the sale", Request{Kind: host.KindRefund, OrigID: sale.ID, Amount: 5001}, ErrAmount},
		{"refund of a preauth", Request{Kind: host.KindRefund, OrigID: pre.ID, Amount: 1}, ErrOriginal},
		{"refund of nothing", Request{Kind: host.KindRefund, OrigID: "12345", Amount: 1}, ErrOriginal},
		{"refund of zero", Request{Kind: host.KindRefund, Amount: 0, Currency: "156"}, ErrAmount},
		{"sale with an original", Request{Amount: 1, Currency: "156", OrigID: sale.ID}, ErrOriginal},
		{"balance with an amount", Request{Kind: host.KindBalance, Amount: 100, Currency: "156"}, ErrAmount},
		{"refund in another currency", Request{Kind: host.KindRefund, Amount: 1, Currency: "840"}, ErrCurrency},
		{"void in another currency", Request{Kind: host.KindVoid, OrigID: sale.ID, Currency: "840"}, ErrCurrency},
		{"preauth over the terminal's limit", Request{Kind: host.KindPreauth, Amount: 100001, Currency: "156"}, ErrAmount},
	} {
		if _, err := e.Start(c.req); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.what, err, c.want)
		}
	}
	if e.Active() != "" {
		t.Fatal("a refused request left a transaction running")
	}
	// A void once, then never again.
	run(t, e, r, Request{Kind: host.KindVoid, OrigID: sale.ID})
	if _, err := e.Start(Request{Kind: host.KindVoid, OrigID: sale.ID}); !errors.Is(err, ErrOriginal) {
		t.Fatalf("second void: %v", err)
	}
	// A sale of a closed batch is refunded, not voided.
	other := run(t, e, r, Request{Amount: 300, Currency: "156"})
	if _, err := e.CloseBatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Start(Request{Kind: host.KindVoid, OrigID: other.ID}); !errors.Is(err, ErrOriginal) {
		t.Fatalf("void of a closed batch's sale: %v", err)
	}
	if got := run(t, e, r, Request{Kind: host.KindRefund, OrigID: other.ID, Amount: 300}); got.State != store.StateApproved || got.Batch != 2 {
		t.Fatalf("refund of a closed batch's sale: %+v", got)
	}
}

// The original changed between the cashier's request and its commit: the
// void is not sent.
func TestVoidRechecksTheOriginalInItsCommit(t *testing.T) {
	h := kindHost()
	e, r, db, _ := setup(t, h)
	sold := run(t, e, r, Request{Amount: 5000, Currency: "156"})
	req, orig, err := e.checkRequest(Request{Kind: host.KindVoid, OrigID: sold.ID})
	if err != nil {
		t.Fatal(err)
	}
	// Meanwhile another void was approved.
	if _, err := db.Update(sold.ID, func(r *store.Txn) error { r.VoidedBy = "77"; return nil }); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	id, _ := e.newIDLocked()
	e.mu.Unlock()
	x := &sale{rec: store.Txn{ID: id, Kind: string(req.Kind), State: store.StateCreated, Amount: req.Amount, Currency: req.Currency, OrigID: req.OrigID}, orig: orig}
	e.runSale(context.Background(), x)
	got, _ := db.Get(id)
	if got.State != store.StateFailed || Failure(got.Failure) != FailOriginal || got.STAN != 0 {
		t.Fatalf("void of a voided sale: %+v", got)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.followUps) != 0 {
		t.Fatalf("sent: %+v", h.followUps)
	}
}

// Unknown outcomes: a void is reversed (as a void), a balance inquiry is
// not (it moved no money).
func TestUnknownOutcomes(t *testing.T) {
	h := kindHost()
	e, r, _, _ := setup(t, h)
	sale := run(t, e, r, Request{Amount: 5000, Currency: "156"})
	h.followUp = func(host.Reference) (host.Result, error) { return host.Result{}, host.ErrNoResponse }
	void := run(t, e, r, Request{Kind: host.KindVoid, OrigID: sale.ID})
	// The reversal loop (every 20 ms here) may have sent it already.
	if void.State != store.StateReversalPending && void.State != store.StateReversed {
		t.Fatalf("void without an answer: %+v", void)
	}
	e.SendReversals(context.Background())
	h.mu.Lock()
	revs := append([]host.Reversal(nil), h.reversals...)
	h.mu.Unlock()
	if len(revs) != 1 || revs[0].OrigKind != host.KindVoid || revs[0].OrigSTAN != void.STAN || revs[0].Batch != 1 {
		t.Fatalf("reversals %+v", revs)
	}
	if got, _ := e.Get(sale.ID); got.VoidedBy != "" {
		t.Fatalf("the sale was marked voided by a void whose outcome is unknown: %+v", got)
	}
	h.purchase = func(p host.Purchase) (host.Result, error) { return host.Result{}, host.ErrBadMAC }
	bal := run(t, e, r, Request{Kind: host.KindBalance, Currency: "156"})
	if bal.State != store.StateFailed || Failure(bal.Failure) != FailNoResponse {
		t.Fatalf("balance without an answer: %+v", bal)
	}
	e.SendReversals(context.Background())
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.reversals) != 1 {
		t.Fatalf("a balance inquiry was reversed: %+v", h.reversals)
	}
}

// The refunds of a sale never add up to more than the sale, and a sale
// that was partly refunded is not voided whole (the customer would get
// the refund and the whole sale back): both are refused before a card is
// asked for. Voiding a refund gives its amount back to refund.
func TestRefundsNeverExceedTheSale(t *testing.T) {
	h := kindHost()
	e, r, db, _ := setup(t, h)
	sale := run(t, e, r, Request{Amount: 5000, Currency: "156"})
	first := run(t, e, r, Request{Kind: host.KindRefund, Amount: 3000, OrigID: sale.ID})
	if first.State != store.StateApproved {
		t.Fatalf("first refund %s", first.State)
	}
	refused := func(what string, req Request, want error, text string) {
		t.Helper()
		_, err := e.Start(req)
		if !errors.Is(err, want) || !strings.Contains(fmt.Sprint(err), text) {
			t.Fatalf("%s: %v, want %v saying %q", what, err, want, text)
		}
		if e.Active() != "" {
			t.Fatalf("%s: a refused request left a transaction running", what)
		}
	}
	refused("refund past the sale", Request{Kind: host.KindRefund, Amount: 2001, OrigID: sale.ID}, ErrAmount, "20.00 of 50.00 left to refund")
	refused("void of a refunded sale", Request{Kind: host.KindVoid, OrigID: sale.ID}, ErrOriginal, "refunded 30.00")
	if got := run(t, e, r, Request{Kind: host.KindRefund, Amount: 2000, OrigID: sale.ID}); got.State != store.StateApproved {
		t.Fatalf("refund of the rest: %s", got.State)
	}
	refused("refund of a fully refunded sale", Request{Kind: host.KindRefund, Amount: 1, OrigID: sale.ID}, ErrAmount, "0.00 of 50.00 left")
	if gs, _ := db.Get(sale.ID); gs.Refunded != 5000 {
		t.Fatalf("sale refunded %d, want 5000", gs.Refunded)
	}
	// The first refund voided: its 30.00 can be refunded again.
	if v := run(t, e, r, Request{Kind: host.KindVoid, OrigID: first.ID}); v.State != store.StateApproved {
		t.Fatalf("void of the refund: %s", v.State)
	}
	if gs, _ := db.Get(sale.ID); gs.Refunded != 2000 {
		t.Fatalf("sale refunded %d after its refund was voided, want 2000", gs.Refunded)
	}
	refused("refund past the sale after a void", Request{Kind: host.KindRefund, Amount: 3001, OrigID: sale.ID}, ErrAmount, "30.00 of 50.00 left")
	if got := run(t, e, r, Request{Kind: host.KindRefund, Amount: 3000, OrigID: sale.ID}); got.State != store.StateApproved {
		t.Fatalf("refund after the void: %s", got.State)
	}
	// A declined refund counts for nothing.
	other := run(t, e, r, Request{Amount: 700, Currency: "156"})
	approve := h.purchase
	h.purchase = func(host.Purchase) (host.Result, error) { return host.Result{ResponseCode: "05"}, nil }
	if got := run(t, e, r, Request{Kind: host.KindRefund, Amount: 700, OrigID: other.ID}); got.State != store.StateDeclined {
		t.Fatalf("declined refund: %s", got.State)
	}
	h.purchase = approve
	if gs, _ := db.Get(other.ID); gs.Refunded != 0 {
		t.Fatalf("a declined refund counted: %d", gs.Refunded)
	}
	if got := run(t, e, r, Request{Kind: host.KindVoid, OrigID: other.ID}); got.State != store.StateApproved {
		t.Fatalf("void of a sale whose only refund was declined: %s", got.State)
	}
}

// A voided completion releases its pre-authorization, as the host does
// (acquirer-sim re-opens it): the hold can be completed again, and only
// once.
func TestVoidedCompletionReopensThePreauth(t *testing.T) {
	h := kindHost()
	e, r, db, _ := setup(t, h)
	pre := run(t, e, r, Request{Kind: host.KindPreauth, Amount: 10000, Currency: "156"})
	comp := run(t, e, r, Request{Kind: host.KindCompletion, Amount: 8000, OrigID: pre.ID})
	if comp.State != store.StateApproved {
		t.Fatalf("completion: %s", comp.State)
	}
	if v := run(t, e, r, Request{Kind: host.KindVoid, OrigID: comp.ID}); v.State != store.StateApproved {
		t.Fatalf("void of the completion: %s", v.State)
	}
	if gp, _ := db.Get(pre.ID); gp.CompletedBy != "" {
		t.Fatalf("pre-authorization still completed by %q after its completion was voided", gp.CompletedBy)
	}
	again := run(t, e, r, Request{Kind: host.KindCompletion, Amount: 10000, OrigID: pre.ID})
	if again.State != store.StateApproved {
		t.Fatalf("completion after the void: %s %s", again.State, again.Error)
	}
	if gp, _ := db.Get(pre.ID); gp.CompletedBy != again.ID {
		t.Fatalf("pre-authorization completed by %q, want %q", gp.CompletedBy, again.ID)
	}
	if _, err := e.Start(Request{Kind: host.KindCompletion, Amount: 100, OrigID: pre.ID}); !errors.Is(err, ErrOriginal) {
		t.Fatalf("third completion: %v", err)
	}
}

// The cancellation of a pre-authorization is a void of it: approved, the
// pre-authorization is voided in the same commit and can no longer be
// completed nor cancelled again, and the cancellation is not voided. A
// completed pre-authorization is cancelled only once its completion is
// voided. An unknown outcome is reversed as the void of a
// pre-authorization (预授权撤销冲正) and leaves the hold.
func TestPreauthCancellation(t *testing.T) {
	h := kindHost()
	e, r, db, _ := setup(t, h)
	refused := func(what string, req Request, want string) {
		t.Helper()
		_, err := e.Start(req)
		if !errors.Is(err, ErrOriginal) || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v, want %v saying %q", what, err, ErrOriginal, want)
		}
	}
	pre := run(t, e, r, Request{Kind: host.KindPreauth, Amount: 8000, Currency: "156"})
	void := run(t, e, r, Request{Kind: host.KindVoid, OrigID: pre.ID})
	if void.State != store.StateApproved || void.Amount != 8000 || void.Currency != "156" || void.OrigID != pre.ID {
		t.Fatalf("cancellation: %+v", void)
	}
	if ev := e.Last(); ev.Txn.ID != void.ID || ev.OrigKind != string(host.KindPreauth) {
		t.Fatalf("the cancellation's last event names its original a %q (txn %s)", ev.OrigKind, ev.Txn.ID)
	}
	if gp, _ := db.Get(pre.ID); gp.VoidedBy != void.ID || gp.State != store.StateApproved {
		t.Fatalf("pre-authorization after its cancellation: state %s voided by %q", gp.State, gp.VoidedBy)
	}
	h.mu.Lock()
	v := h.followUps[len(h.followUps)-1]
	h.mu.Unlock()
	if v.Kind != host.KindVoid || v.Orig.Kind != host.KindPreauth || v.Orig.AuthCode != pre.AuthCode || v.Orig.RRN != pre.RRN ||
		v.Orig.STAN != pre.STAN || v.Amount != 8000 {
		t.Fatalf("cancellation sent as %+v", v)
	}
	refused("completion of a cancelled pre-authorization", Request{Kind: host.KindCompletion, Amount: 100, OrigID: pre.ID}, "voided by "+void.ID)
	refused("second cancellation", Request{Kind: host.KindVoid, OrigID: pre.ID}, "voided by "+void.ID)
	refused("void of the cancellation", Request{Kind: host.KindVoid, OrigID: void.ID}, "a cancellation cannot be voided")

	// Completed: its completion is voided first.
	held := run(t, e, r, Request{Kind: host.KindPreauth, Amount: 5000, Currency: "156"})
	comp := run(t, e, r, Request{Kind: host.KindCompletion, Amount: 4000, OrigID: held.ID})
	refused("cancellation of a completed pre-authorization", Request{Kind: host.KindVoid, OrigID: held.ID}, "void its completion first")
	if got := run(t, e, r, Request{Kind: host.KindVoid, OrigID: comp.ID}); got.State != store.StateApproved {
		t.Fatalf("void of the completion: %s", got.State)
	}
	if got := run(t, e, r, Request{Kind: host.KindVoid, OrigID: held.ID}); got.State != store.StateApproved {
		t.Fatalf("cancellation after the completion's void: %s %s", got.State, got.Error)
	}

	// No answer: reversed as a void, the hold stays.
	kept := run(t, e, r, Request{Kind: host.KindPreauth, Amount: 3000, Currency: "156"})
	h.followUp = func(host.Reference) (host.Result, error) { return host.Result{}, host.ErrNoResponse }
	lost := run(t, e, r, Request{Kind: host.KindVoid, OrigID: kept.ID})
	// The reversal loop (every 20 ms here) may have sent it already.
	if lost.State != store.StateReversalPending && lost.State != store.StateReversed {
		t.Fatalf("cancellation without an answer: %+v", lost)
	}
	h.followUp = nil
	e.SendReversals(context.Background())
	h.mu.Lock()
	revs := append([]host.Reversal(nil), h.reversals...)
	h.mu.Unlock()
	if len(revs) != 1 || revs[0].OrigKind != host.KindVoid || revs[0].VoidedKind != host.KindPreauth || revs[0].OrigSTAN != lost.STAN ||
		revs[0].Amount != 3000 {
		t.Fatalf("reversals %+v", revs)
	}
	if gk, _ := db.Get(kept.ID); gk.VoidedBy != "" {
		t.Fatalf("pre-authorization voided by %q, a cancellation whose outcome is unknown", gk.VoidedBy)
	}
	if got := run(t, e, r, Request{Kind: host.KindCompletion, Amount: 3000, OrigID: kept.ID}); got.State != store.StateApproved {
		t.Fatalf("completion of the pre-authorization still held: %s %s", got.State, got.Error)
	}
}

// A refund of a card sale goes back to the card that paid: another card
// presented for it is refused before anything is sent (the money would
// go to whoever holds that card), the card that paid is refunded.
func TestRefundGoesBackToTheCardThatPaid(t *testing.T) {
	h := kindHost()
	var (
		mu   sync.Mutex
		sent []host.Kind
	)
	approve := h.purchase
	h.purchase = func(p host.Purchase) (host.Result, error) {
		mu.Lock()
		sent = append(sent, p.Kind)
		mu.Unlock()
		return approve(p)
	}
	e, r, db, _ := setup(t, h)
	sale := run(t, e, r, Request{Amount: 5000, Currency: "156"})
	tx, err := e.Start(Request{Kind: host.KindRefund, Amount: 5000, OrigID: sale.ID})
	if err != nil {
		t.Fatal(err)
	}
	r.cards <- &Card{PAN: "5413330089600010", Track2: []byte("5413330089600010=30121010000000000000"),
		Expiry: "3012", EntryMode: "901", Mode: risk.EntrySwipe, Wipe: func() {}}
	got := wait(t, e, tx.ID)
	if got.State != store.StateFailed || got.Failure != "wrong_card" || got.STAN != 0 {
		t.Fatalf("refund of %s to another card: state %s failure %q stan %d (%s)", sale.MaskedPAN, got.State, got.Failure, got.STAN, got.Error)
	}
	mu.Lock()
	refunds := slices.Contains(sent, host.KindRefund)
	mu.Unlock()
	if refunds {
		t.Fatalf("a refund to another card reached the host: %v", sent)
	}
	if gs, _ := db.Get(sale.ID); gs.Refunded != 0 {
		t.Fatalf("sale refunded %d by a refused refund", gs.Refunded)
	}
	if ok := run(t, e, r, Request{Kind: host.KindRefund, Amount: 5000, OrigID: sale.ID}); ok.State != store.StateApproved {
		t.Fatalf("refund to the card that paid: %s %s", ok.State, ok.Error)
	}
	// A sale paid with a phone's EMV code carries the wallet's token
	// number: its refund is not compared with it.
	var qrSale store.Txn
	db.Do(func(tx *store.Tx) error {
		qrSale = store.Txn{Kind: "purchase", State: store.StateApproved, Amount: 800, Currency: "156",
			MaskedPAN: "621234*********9999", EntryMode: entryModeQR, Batch: tx.OpenBatch()}
		return tx.Create(&qrSale)
	})
	if ok := run(t, e, r, Request{Kind: host.KindRefund, Amount: 800, OrigID: qrSale.ID}); ok.State != store.StateApproved {
		t.Fatalf("refund of a phone code's sale: %s %s %s", ok.State, ok.Failure, ok.Error)
	}
	// A refund naming no sale takes any card.
	if ok := run(t, e, r, Request{Kind: host.KindRefund, Amount: 100, Currency: "156"}); ok.State != store.StateApproved {
		t.Fatalf("unreferenced refund: %s %s", ok.State, ok.Error)
	}
}

// The reversal of a void names what the void voided (its codes on the
// wire depend on it): a sale, a refund, a completion or a
// pre-authorization (its cancellation).
func TestReversalOfAVoidNamesWhatItVoided(t *testing.T) {
	h := kindHost()
	e, r, _, _ := setup(t, h)
	sale := run(t, e, r, Request{Amount: 5000, Currency: "156"})
	refund := run(t, e, r, Request{Kind: host.KindRefund, Amount: 1200, Currency: "156"})
	pre := run(t, e, r, Request{Kind: host.KindPreauth, Amount: 8000, Currency: "156"})
	comp := run(t, e, r, Request{Kind: host.KindCompletion, Amount: 7500, OrigID: pre.ID})
	held := run(t, e, r, Request{Kind: host.KindPreauth, Amount: 3000, Currency: "156"})
	h.followUp = func(host.Reference) (host.Result, error) { return host.Result{}, host.ErrNoResponse }
	for _, orig := range []store.Txn{sale, refund, comp, held} {
		void := run(t, e, r, Request{Kind: host.KindVoid, OrigID: orig.ID})
		// The outbox may have sent the reversal already (reversed) by
		// the time the test reads the void (1 run in 200 did).
		if void.State != store.StateReversalPending && void.State != store.StateReversed {
			t.Fatalf("void of the %s without an answer: %+v", orig.Kind, void)
		}
		e.SendReversals(context.Background())
		h.mu.Lock()
		rev := h.reversals[len(h.reversals)-1]
		h.mu.Unlock()
		if rev.OrigKind != host.KindVoid || rev.VoidedKind != host.Kind(orig.Kind) || rev.OrigSTAN != void.STAN || rev.Amount != orig.Amount {
			t.Fatalf("the void of a %s reversed as %+v", orig.Kind, rev)
		}
		if got, _ := e.Get(void.ID); got.State != store.StateReversed {
			t.Fatalf("void of the %s: %s", orig.Kind, got.State)
		}
	}
	// A reversal of anything else names nothing voided.
	h.followUp = nil
	approve := h.purchase
	h.purchase = func(host.Purchase) (host.Result, error) { return host.Result{}, host.ErrNoResponse }
	lost := run(t, e, r, Request{Amount: 700, Currency: "156"})
	h.purchase = approve
	e.SendReversals(context.Background())
	h.mu.Lock()
	rev := h.reversals[len(h.reversals)-1]
	h.mu.Unlock()
	if rev.OrigKind != host.KindPurchase || rev.OrigSTAN != lost.STAN || rev.VoidedKind != "" {
		t.Fatalf("a lost sale reversed as %+v", rev)
	}
}

// A reversal of a void queued by an older release (a void record left
// reversal_pending with its job, nothing else) names what the void voided
// from the void's original, read when it is sent. When that original is
// not on record, it goes out as the reversal of the void of a sale, as
// every reversal of a void did before, with a warning in the log.
func TestReversalOfAVoidQueuedByAnOlderRelease(t *testing.T) {
	db := openDB(t)
	record := func(x store.Txn, states ...store.State) store.Txn {
		t.Helper()
		if err := db.Create(&x); err != nil {
			t.Fatal(err)
		}
		for _, s := range states {
			var err error
			if x, err = db.Update(x.ID, func(r *store.Txn) error { r.State = s; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		return x
	}
	pre := record(store.Txn{Kind: "preauth", Amount: 3000, Currency: "156", STAN: 11, Batch: 1, AuthCode: "A00011", RRN: "000000000011"},
		store.StateAuthSent, store.StateApproved)
	cancel := record(store.Txn{Kind: "void", Amount: 3000, Currency: "156", STAN: 12, Batch: 1, OrigID: pre.ID, Reason: "no response"},
		store.StateAuthSent, store.StateReversalPending)
	orphan := record(store.Txn{Kind: "void", Amount: 900, Currency: "156", STAN: 13, Batch: 1, OrigID: "gone", Reason: "no response"},
		store.StateAuthSent, store.StateReversalPending)
	if err := db.Do(func(tx *store.Tx) error {
		if err := tx.Enqueue(&store.Job{Kind: store.JobReversal, TxnID: cancel.ID}); err != nil {
			return err
		}
		return tx.Enqueue(&store.Job{Kind: store.JobReversal, TxnID: orphan.ID})
	}); err != nil {
		t.Fatal(err)
	}
	var logs syncLog
	h := kindHost()
	e, err := New(Opts{Store: db, Host: h, Keys: newKeys(t), Reader: newReader(), ReversalRetry: time.Hour, HostTimeout: 10 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Halt()
	if left := e.SendReversals(context.Background()); left != 0 {
		t.Fatalf("%d reversals left", left)
	}
	h.mu.Lock()
	revs := map[uint32]host.Reversal{}
	for _, r := range h.reversals {
		revs[r.OrigSTAN] = r
	}
	h.mu.Unlock()
	if r := revs[cancel.STAN]; r.OrigKind != host.KindVoid || r.VoidedKind != host.KindPreauth || r.Amount != 3000 {
		t.Fatalf("the cancellation queued by an older release reversed as %+v", r)
	}
	if r, ok := revs[orphan.STAN]; !ok || r.OrigKind != host.KindVoid || r.VoidedKind != "" {
		t.Fatalf("the void whose original is gone reversed as %+v", r)
	}
	for _, x := range []store.Txn{cancel, orphan} {
		if got, _ := db.Get(x.ID); got.State != store.StateReversed {
			t.Fatalf("void %s: %s", x.ID, got.State)
		}
	}
	if !strings.Contains(logs.String(), "what the void voided is not on record") || !strings.Contains(logs.String(), "id="+orphan.ID) {
		t.Fatalf("no warning of the void whose original is gone:\n%s", logs.String())
	}
}

// syncLog is a log output safe for the engine's goroutines.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The cashier who starts a transaction while another runs is told which
// one: a preauth waiting for its card is not "a sale".
func TestBusyNamesTheTransactionInProgress(t *testing.T) {
	e, _, _, _ := setup(t, kindHost())
	pre, err := e.Start(Request{Kind: host.KindPreauth, Amount: 100, Currency: "156"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Start(Request{Amount: 100, Currency: "156"})
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "preauth "+pre.ID) || strings.Contains(err.Error(), "sale") {
		t.Fatalf("second start: %v", err)
	}
	if _, err := e.CloseBatch(t.Context()); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), pre.ID) {
		t.Fatalf("close while busy: %v", err)
	}
}
