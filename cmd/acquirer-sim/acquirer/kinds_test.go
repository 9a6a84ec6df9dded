package acquirer_test

import (
	"context"
	"errors"
	"strings"
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
	// The close started again (its answer lost): the first settlement
	// with the same totals is a repeat.
	restarted := st
	restarted.STAN, restarted.AfterUpload = 15, false
	if res, err := c.Settle(ctx, restarted, tm.session(t)); err != nil || res.ResponseCode != host.SettlementBalanced {
		t.Fatalf("the close started again: %+v %v", res, err)
	}
	other := restarted
	other.STAN = 16
	other.Totals.DebitAmount++
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
	if len(ss) != 5 || ss[0].ResponseCode != "95" || ss[0].Settled || *ss[0].Totals.Host != *totalsJSON(host3) ||
		*ss[0].Totals.Terminal != *totalsJSON(term) {
		t.Fatalf("settlement lines %+v", ss)
	}
	if a := ss[1]; !a.Settled || !a.AfterUpload || a.Uploads != 1 || a.Batch != batch || *a.Totals.Host != *totalsJSON(host3) || a.Duplicate {
		t.Fatalf("settlement after upload journaled %+v", a)
	}
	if !ss[2].Duplicate || !ss[3].Duplicate || ss[3].AfterUpload || ss[4].ResponseCode != acquirer.RCBatchClosed {
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

// TestReversalOfEveryVoid: the void of a sale, of a refund, of a
// completion and of a pre-authorization (its cancellation), each
// reversed through a real host.Client in each dialect: the simulator
// reads the 0400 as the reversal of that void and undoes it (the sale
// counts again, the refund is a credit again, the completion counts again
// and completes its pre-authorization again, the hold is back and can be
// completed). A reversal whose codes say the void voided something else
// is not the reversal of that void: nothing is undone.
func TestReversalOfEveryVoid(t *testing.T) {
	for _, d := range host.DialectNames() {
		t.Run(d, func(t *testing.T) { reversalOfEveryVoid(t, d) })
	}
}

func reversalOfEveryVoid(t *testing.T, dialect string) {
	r := startServer(t, dialect, wiresec.ModeAES, nil)
	c := newClient(t, dialect, r.addr, nil)
	tm := newTerminal(t, wiresec.ModeAES)
	ctx := context.Background()
	const batch = 1
	at := time.Date(2025, 3, 14, 15, 19, 26, 0, time.UTC)

	card := func(kind host.Kind, stan uint32, amount int64, orig host.Original) (host.Original, host.Result) {
		t.Helper()
		p := purchase(stan, amount)
		p.Kind, p.Batch, p.Orig = kind, batch, orig
		res, err := c.Purchase(ctx, p, tm.session(t))
		if err != nil || !res.Approved() {
			t.Fatalf("%s %d: %+v %v", kind, stan, res, err)
		}
		return host.Original{Kind: kind, STAN: stan, Time: p.Time, RRN: res.RRN, AuthCode: res.AuthCode, Batch: batch}, res
	}
	followUp := func(kind host.Kind, stan uint32, amount int64, orig host.Original) (host.Original, host.Result) {
		t.Helper()
		ref := host.Reference{Kind: kind, STAN: stan, Time: at, Amount: amount, Currency: "156", EntryMode: "901", Batch: batch, Orig: orig}
		res, err := c.FollowUp(ctx, ref, tm.session(t))
		if err != nil || !res.Approved() {
			t.Fatalf("%s %d of a %s: %+v %v", kind, stan, orig.Kind, res, err)
		}
		return host.Original{Kind: kind, STAN: stan, Time: at, RRN: res.RRN, AuthCode: res.AuthCode, Batch: batch}, res
	}
	reverse := func(stan uint32, void host.Original, voided host.Kind, amount int64) acquirer.Entry {
		t.Helper()
		rev := host.Reversal{STAN: stan, OrigKind: host.KindVoid, VoidedKind: voided, OrigSTAN: void.STAN, OrigTime: void.Time,
			OrigEntryMode: "901", Amount: amount, Currency: "156", Batch: batch, Reason: host.ReasonNoResponse}
		if res, err := c.Reverse(ctx, rev, tm.session(t)); err != nil || res.ResponseCode != acquirer.RCApproved {
			t.Fatalf("reversal of void %d: %+v %v", void.STAN, res, err)
		}
		rs := kindLines(t, r, host.KindReversal)
		return rs[len(rs)-1]
	}
	state := func(rrn string) string {
		t.Helper()
		for _, e := range r.srv.Ledger("T0000001") {
			if e.RRN == rrn {
				return e.State
			}
		}
		t.Fatalf("no ledger entry of RRN %s", rrn)
		return ""
	}
	// What the codes tell of the void: ascii87's void of a sale and of a
	// completion look alike.
	told := func(voided host.Kind) string {
		if dialect == "ascii87" && (voided == host.KindPurchase || voided == host.KindCompletion) {
			return ""
		}
		return string(voided)
	}
	undone := func(what string, in acquirer.Entry, voided host.Kind) {
		t.Helper()
		if in.OrigKind != string(host.KindVoid) || in.VoidedKind != told(voided) || in.OrigState != acquirer.StateReversed || in.Duplicate {
			t.Fatalf("%s: reversal journaled %+v", what, in)
		}
	}

	// The void of a sale, reversed: the sale counts again.
	s1, sale1 := card(host.KindPurchase, 1, 1000, host.Original{})
	v2, void2 := followUp(host.KindVoid, 2, 1000, s1)
	undone("void of a sale", reverse(3, v2, host.KindPurchase, 1000), host.KindPurchase)
	if state(sale1.RRN) != acquirer.StateApproved || state(void2.RRN) != acquirer.StateReversed {
		t.Fatalf("after the reversed void: sale %s, void %s", state(sale1.RRN), state(void2.RRN))
	}

	// The void of a refund, reversed: the refund is a credit again, and
	// only the rest of the sale can be refunded.
	s4, _ := card(host.KindPurchase, 4, 5000, host.Original{})
	f5, refund5 := card(host.KindRefund, 5, 2000, s4)
	v6, _ := followUp(host.KindVoid, 6, 2000, f5)
	undone("void of a refund", reverse(7, v6, host.KindRefund, 2000), host.KindRefund)
	if state(refund5.RRN) != acquirer.StateApproved {
		t.Fatalf("refund %s after its void was reversed", state(refund5.RRN))
	}
	over := purchase(8, 3001)
	over.Kind, over.Batch, over.Orig = host.KindRefund, batch, s4
	if res, err := c.Purchase(ctx, over, tm.session(t)); err != nil || res.ResponseCode != acquirer.RCInvalidAmount {
		t.Fatalf("refund past what is left: %+v %v", res, err)
	}

	// The void of a completion, reversed: the completion counts again
	// and its pre-authorization is completed again.
	p9, preauth9 := card(host.KindPreauth, 9, 8000, host.Original{})
	c10, comp10 := followUp(host.KindCompletion, 10, 7000, p9)
	v11, _ := followUp(host.KindVoid, 11, 7000, c10)
	if state(preauth9.RRN) != acquirer.StateApproved {
		t.Fatalf("pre-authorization %s after its completion was voided", state(preauth9.RRN))
	}
	undone("void of a completion", reverse(12, v11, host.KindCompletion, 7000), host.KindCompletion)
	if state(comp10.RRN) != acquirer.StateApproved || state(preauth9.RRN) != acquirer.StateCompleted {
		t.Fatalf("after the reversed void: completion %s, pre-authorization %s", state(comp10.RRN), state(preauth9.RRN))
	}

	// The cancellation of a pre-authorization, reversed: the hold is back
	// and is completed.
	p13, preauth13 := card(host.KindPreauth, 13, 3000, host.Original{})
	v14, _ := followUp(host.KindVoid, 14, 3000, p13)
	if state(preauth13.RRN) != acquirer.StateVoided {
		t.Fatalf("pre-authorization %s after its cancellation", state(preauth13.RRN))
	}
	undone("cancellation of a pre-authorization", reverse(15, v14, host.KindPreauth, 3000), host.KindPreauth)
	if state(preauth13.RRN) != acquirer.StateApproved {
		t.Fatalf("pre-authorization %s after its cancellation was reversed", state(preauth13.RRN))
	}
	followUp(host.KindCompletion, 16, 3000, p13)

	// A reversal saying its void cancelled a pre-authorization, of the
	// void of a sale: not that void's reversal, nothing undone.
	s17, sale17 := card(host.KindPurchase, 17, 600, host.Original{})
	v18, _ := followUp(host.KindVoid, 18, 600, s17)
	if in := reverse(19, v18, host.KindPreauth, 600); in.OrigState != "" || in.VoidedKind != string(host.KindPreauth) ||
		!strings.Contains(in.Note, "voided a purchase, not a preauth") {
		t.Fatalf("reversal of the wrong void journaled %+v", in)
	}
	if state(sale17.RRN) != acquirer.StateVoided {
		t.Fatalf("sale %s after a reversal of another kind of void", state(sale17.RRN))
	}

	// Debits: sales 1 and 4, completions 10 and 16; the credit: refund 5.
	want := host.Totals{DebitCount: 4, DebitAmount: 1000 + 5000 + 7000 + 3000, CreditCount: 1, CreditAmount: 2000}
	bs := r.srv.Batches("T0000001")
	if len(bs) != 1 || bs[0].Totals != *totalsJSON(want) {
		t.Fatalf("batches %+v, want totals %+v", bs, want)
	}
}
