package acquirer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"posd/board/sim/deck"
	"posd/cmd/acquirer-sim/acquirer"
	"posd/terminal/host"
	"posd/terminal/wiresec"
)

// kindLines returns the "in" lines of kind, in order.
func kindLines(t *testing.T, r *rig, kind host.Kind) []acquirer.Entry {
	t.Helper()
	var out []acquirer.Entry
	for _, e := range r.journal.entries(t) {
		if e.Direction == "in" && e.Kind == string(kind) {
			out = append(out, e)
		}
	}
	return out
}

// TestKindsOnTheWire: a batch's life through a real host.Client in each
// dialect that maps the kinds: a sale, refunds (one over what is left),
// a void and its repeat, a pre-authorization and its completion, a
// balance inquiry with a PIN, a reversal of a refund, a settlement out of
// balance, the upload, the settlement after it, and a closed batch.
func TestKindsOnTheWire(t *testing.T) {
	for _, d := range host.DialectNames() {
		t.Run(d, func(t *testing.T) { kindsOnTheWire(t, d) })
	}
}

func kindsOnTheWire(t *testing.T, dialect string) {
	r := startServer(t, dialect, wiresec.ModeAES, nil, withCards(withPIN(testPAN, "1234")))
	c := newClient(t, dialect, r.addr, nil)
	tm := newTerminal(t, wiresec.ModeAES)
	ctx := context.Background()
	const batch = 3
	at := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

	p := purchase(1, 10000)
	p.Batch = batch
	sale, err := c.Purchase(ctx, p, tm.session(t))
	if err != nil || !sale.Approved() {
		t.Fatalf("sale: %+v %v", sale, err)
	}
	orig := host.Original{Kind: host.KindPurchase, STAN: 1, Time: p.Time, RRN: sale.RRN, AuthCode: sale.AuthCode, Batch: batch}
	refund := func(stan uint32, amount int64) (host.Result, error) {
		f := purchase(stan, amount)
		f.Kind, f.Orig, f.Batch = host.KindRefund, orig, batch
		return c.Purchase(ctx, f, tm.session(t))
	}
	f, err := refund(2, 4000)
	if errors.Is(err, host.ErrUnsupported) {
		t.Skipf("the %s dialect does not map refunds yet", dialect)
	}
	if err != nil || !f.Approved() || len(f.RRN) != 12 || len(f.AuthCode) != 6 {
		t.Fatalf("refund: %+v %v", f, err)
	}
	if res, err := refund(3, 6001); err != nil || res.ResponseCode != acquirer.RCInvalidAmount {
		t.Fatalf("refund over what is left: %+v %v", res, err)
	}

	// A second sale, voided twice (the repeat answered like the first).
	p2 := purchase(4, 2500)
	p2.Batch = batch
	sale2, err := c.Purchase(ctx, p2, tm.session(t))
	if err != nil || !sale2.Approved() {
		t.Fatalf("second sale: %+v %v", sale2, err)
	}
	voidOf := host.Reference{Kind: host.KindVoid, STAN: 5, Time: at, Amount: 2500, Currency: "156", EntryMode: "901", Batch: batch,
		Orig: host.Original{Kind: host.KindPurchase, STAN: 4, Time: p2.Time, RRN: sale2.RRN, AuthCode: sale2.AuthCode, Batch: batch}}
	v, err := c.FollowUp(ctx, voidOf, tm.session(t))
	if err != nil || !v.Approved() {
		t.Fatalf("void: %+v %v", v, err)
	}
	again, err := c.FollowUp(ctx, voidOf, tm.session(t))
	if err != nil || !again.Approved() || again.RRN != v.RRN {
		t.Fatalf("repeated void: %+v %v (first %+v)", again, err, v)
	}
	wrong := voidOf
	wrong.STAN, wrong.Amount = 6, 2400
	if res, err := c.FollowUp(ctx, wrong, tm.session(t)); err != nil || res.ResponseCode != acquirer.RCInvalidAmount {
		t.Fatalf("void of another amount: %+v %v", res, err)
	}

	// Pre-authorization and completion.
	pa := purchase(7, 8000)
	pa.Kind, pa.Batch = host.KindPreauth, batch
	hold, err := c.Purchase(ctx, pa, tm.session(t))
	if err != nil || !hold.Approved() {
		t.Fatalf("pre-authorization: %+v %v", hold, err)
	}
	comp := host.Reference{Kind: host.KindCompletion, STAN: 8, Time: at, Amount: 7000, Currency: "156", EntryMode: "901", Batch: batch,
		Orig: host.Original{Kind: host.KindPreauth, STAN: 7, Time: pa.Time, RRN: hold.RRN, AuthCode: hold.AuthCode, Batch: batch}}
	over := comp
	over.Amount = 8001
	if res, err := c.FollowUp(ctx, over, tm.session(t)); err != nil || res.ResponseCode != acquirer.RCInvalidAmount {
		t.Fatalf("completion over the hold: %+v %v", res, err)
	}
	if res, err := c.FollowUp(ctx, comp, tm.session(t)); err != nil || !res.Approved() {
		t.Fatalf("completion: %+v %v", res, err)
	}

	// Balance inquiry with the card's PIN.
	s := tm.session(t)
	bq := purchase(9, 0)
	bq.Kind, bq.Batch = host.KindBalance, batch
	if bq.PINBlock, err = s.EncryptPIN("1234", testPAN); err != nil {
		t.Fatal(err)
	}
	bal, err := c.Purchase(ctx, bq, s)
	card, _ := deck.ByPAN(testPAN)
	if err != nil || !bal.Approved() || !bal.HasBalance || bal.Balance != acquirer.BalanceOf(card) || bal.BalanceCurrency != "156" {
		t.Fatalf("balance: %+v %v", bal, err)
	}

	// The refund reversed: its amount is back for the sale.
	rev := host.Reversal{STAN: 10, OrigKind: host.KindRefund, OrigSTAN: 2, OrigTime: p.Time, OrigEntryMode: "901",
		Amount: 4000, Currency: "156", Batch: batch, Reason: host.ReasonNoResponse}
	if res, err := c.Reverse(ctx, rev, tm.session(t)); err != nil || res.ResponseCode != acquirer.RCApproved {
		t.Fatalf("reversal of the refund: %+v %v", res, err)
	}
	if res, err := refund(11, 10000); err != nil || !res.Approved() {
		t.Fatalf("refund of it all after the reversal: %+v %v", res, err)
	}

	// Host: sale 10000 + completion 7000; refund 10000. The terminal
	// lost the completion: out of balance, upload, settle after it.
	host3 := host.Totals{DebitCount: 2, DebitAmount: 17000, CreditCount: 1, CreditAmount: 10000}
	term := host.Totals{DebitCount: 1, DebitAmount: 10000, CreditCount: 1, CreditAmount: 10000}
	st := host.Settlement{STAN: 12, Time: at, Batch: batch, Currency: "156", Totals: term}
	if res, err := c.Settle(ctx, st, tm.session(t)); err != nil || res.ResponseCode != host.SettlementOutOfBalance {
		t.Fatalf("settlement out of balance: %+v %v", res, err)
	}
	up := host.UploadItem{STAN: 13, Time: at, Batch: batch, Amount: 10000, Currency: "156", EntryMode: "901", Orig: orig, Ref: "TXN1"}
	if res, err := c.Upload(ctx, up, tm.session(t)); err != nil || !res.Approved() {
		t.Fatalf("upload: %+v %v", res, err)
	}
	st.STAN, st.AfterUpload = 14, true
	if res, err := c.Settle(ctx, st, tm.session(t)); err != nil || res.ResponseCode != host.SettlementBalanced {
		t.Fatalf("settlement after upload: %+v %v", res, err)
	}
	if res, err := c.Settle(ctx, st, tm.session(t)); err != nil || res.ResponseCode != host.SettlementBalanced {
		t.Fatalf("repeated settlement: %+v %v", res, err)
	}
	other := st
	other.STAN, other.AfterUpload = 15, false
	if res, err := c.Settle(ctx, other, tm.session(t)); err != nil || res.ResponseCode != acquirer.RCBatchClosed {
		t.Fatalf("settlement of a closed batch with other totals: %+v %v", res, err)
	}
	r.stop()

	bs := r.srv.Batches("T0000001")
	if len(bs) != 1 || !bs[0].Closed || bs[0].Batch != batch || bs[0].Totals != *totalsJSON(host3) || bs[0].Uploads != 1 {
		t.Fatalf("batches %+v", bs)
	}
	if vs := kindLines(t, r, host.KindVoid); len(vs) != 3 || !vs[0].Voided || vs[0].Duplicate || !vs[1].Duplicate ||
		vs[0].OrigRRN != sale2.RRN || vs[2].ResponseCode != acquirer.RCInvalidAmount {
		t.Fatalf("void lines %+v", vs)
	}
	ss := kindLines(t, r, host.KindSettlement)
	if len(ss) != 4 || ss[0].ResponseCode != "95" || ss[0].Settled || *ss[0].Totals.Host != *totalsJSON(host3) ||
		*ss[0].Totals.Terminal != *totalsJSON(term) {
		t.Fatalf("settlement lines %+v", ss)
	}
	if a := ss[1]; !a.Settled || !a.AfterUpload || a.Uploads != 1 || a.Batch != batch || *a.Totals.Host != *totalsJSON(host3) || a.Duplicate {
		t.Fatalf("settlement after upload journaled %+v", a)
	}
	if !ss[2].Duplicate || ss[3].ResponseCode != acquirer.RCBatchClosed {
		t.Fatalf("settlement repeats journaled %+v", ss[2:])
	}
	if rs := kindLines(t, r, host.KindReversal); len(rs) != 1 || rs[0].OrigKind != "refund" || rs[0].OrigState != acquirer.StateReversed {
		t.Fatalf("reversal lines %+v", rs)
	}
	if bs := kindLines(t, r, host.KindBalance); len(bs) != 1 || bs[0].PINOK == nil || !*bs[0].PINOK {
		t.Fatalf("balance lines %+v", bs)
	}
	for _, e := range r.journal.entries(t) {
		if e.Kind == string(host.KindBalance) && e.Direction == "out" && !e.Balance {
			t.Fatalf("balance answer journaled %+v", e)
		}
	}
	checkNoCardData(t, r, []deck.Card{card}, "1234")
}

func totalsJSON(t host.Totals) *acquirer.Totals {
	return &acquirer.Totals{DebitCount: t.DebitCount, DebitAmount: t.DebitAmount, CreditCount: t.CreditCount, CreditAmount: t.CreditAmount}
}
