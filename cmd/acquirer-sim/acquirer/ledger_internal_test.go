package acquirer

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/board/sim/deck"
	"posd/crypto/dukpt"
	"posd/terminal/host"
	"posd/terminal/wiresec"
)

// The ledger's rules, driven with requests in neutral form through
// decide, as process hands them over once the dialect decoded them and
// the MAC verified.

const (
	ledgerTrack = "4761739001010010=25122011143804400000" // the deck's visa-classic
	ledgerTID   = "T0000001"
)

// lockedBuffer is a journal the test reads while the server writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type ledgerRig struct {
	t  *testing.T
	s  *Server
	jr *lockedBuffer
	o  dukpt.Originator
}

var ledgerEpoch = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// newLedgerRig starts a server journaling to a buffer, its history the
// journal history (nil: none).
func newLedgerRig(t *testing.T, history string) *ledgerRig {
	t.Helper()
	jr := &lockedBuffer{}
	o := &Opts{Journal: jr, Now: func() time.Time { return ledgerEpoch }}
	if history != "" {
		o.History = strings.NewReader(history)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	iksn, _ := hex.DecodeString("123456789012345600000000")
	ik, err := dukpt.AESDeriveIK(DefaultBDK(wiresec.ModeAES), iksn)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := dukpt.NewAESOriginator(ik, iksn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(orig.Wipe)
	return &ledgerRig{t: t, s: s, jr: jr, o: orig}
}

// card is what a card-present request carries.
type card struct {
	track string
	pin   string // online PIN, "" for none
}

var swipe = &card{track: ledgerTrack}

// send decides on req (terminal id, currency, KSN and MAC filled in; the
// card's track encrypted when c is not nil) and journals it as handle
// does. It returns the lines and the neutral answer (nil for none).
func (r *ledgerRig) send(req host.Request, c *card) (Entry, *host.Response, Entry) {
	r.t.Helper()
	ksn, key, err := r.o.Next()
	if err != nil {
		r.t.Fatal(err)
	}
	term, err := wiresec.ForTerminal(wiresec.ModeAES, ksn, key)
	if err != nil {
		r.t.Fatal(err)
	}
	defer term.Wipe()
	hs, err := wiresec.ForHost(wiresec.ModeAES, DefaultBDK(wiresec.ModeAES), ksn)
	if err != nil {
		r.t.Fatal(err)
	}
	defer hs.Wipe()
	if req.TerminalID == "" {
		req.TerminalID = ledgerTID
	}
	if req.Currency == "" {
		req.Currency = "156"
	}
	req.Mode, req.KSN = wiresec.ModeAES, ksn
	if c != nil {
		if req.Track2Enc, err = term.EncryptRequestData([]byte(c.track)); err != nil {
			r.t.Fatal(err)
		}
		if c.pin != "" {
			pan, _ := panFromTrack2([]byte(c.track))
			if req.PINBlock, err = term.EncryptPIN(c.pin, pan); err != nil {
				r.t.Fatal(err)
			}
		}
	}
	ok := true
	in := Entry{
		Time: ledgerEpoch, Direction: "in", Dialect: "ascii87", Kind: string(req.Kind), STAN: fmt.Sprintf("%06d", req.STAN),
		TerminalID: req.TerminalID, Amount: req.Amount, Currency: req.Currency, MACOK: &ok,
	}
	r.s.order.Lock()
	in, resp, out := r.s.decide(req, hs, true, in)
	r.s.record(in)
	r.s.order.Unlock()
	if resp != nil || out.Direction != "" {
		r.s.record(out)
	}
	if strings.Contains(r.jr.String(), "4761739001010010") {
		r.t.Fatal("the journal holds a PAN")
	}
	return in, resp, out
}

// rc sends req and checks its response code; it returns the answer.
func (r *ledgerRig) rc(want string, req host.Request, c *card) (*host.Response, Entry) {
	r.t.Helper()
	in, resp, _ := r.send(req, c)
	if resp == nil {
		r.t.Fatalf("%s STAN %d: no answer", req.Kind, req.STAN)
	}
	if resp.ResponseCode != want || in.ResponseCode != want {
		r.t.Fatalf("%s STAN %d: answered %q (journal %q, note %q), want %q", req.Kind, req.STAN, resp.ResponseCode, in.ResponseCode, in.Note, want)
	}
	if want == RCApproved && (len(resp.RRN) != 12 || len(resp.AuthCode) != 6) && req.Kind != host.KindReversal &&
		req.Kind != host.KindSettlement && req.Kind != host.KindBatchUpload && req.Kind != host.KindAdvice {
		r.t.Fatalf("%s STAN %d: approval without RRN or auth code: %+v", req.Kind, req.STAN, resp)
	}
	if want != RCApproved && (resp.RRN != "" || resp.AuthCode != "") {
		r.t.Fatalf("%s STAN %d: decline %s with RRN or auth code", req.Kind, req.STAN, want)
	}
	return resp, in
}

func (r *ledgerRig) totals(batch uint32) Totals {
	r.t.Helper()
	for _, b := range r.s.Batches(ledgerTID) {
		if b.Batch == batch && b.Currency == "156" {
			return b.Totals
		}
	}
	return Totals{}
}

func (r *ledgerRig) state(rrn string) string {
	r.t.Helper()
	for _, e := range r.s.Ledger(ledgerTID) {
		if e.RRN == rrn {
			return e.State
		}
	}
	r.t.Fatalf("no ledger entry of RRN %s", rrn)
	return ""
}

func sale(stan uint32, amount int64) host.Request {
	return host.Request{Kind: host.KindPurchase, STAN: stan, Amount: amount, Batch: 1}
}

func refund(stan uint32, amount int64, orig *host.Response) host.Request {
	r := host.Request{Kind: host.KindRefund, STAN: stan, Amount: amount, Batch: 1}
	if orig != nil {
		r.OrigKind, r.OrigRRN, r.OrigAuthCode = host.KindPurchase, orig.RRN, orig.AuthCode
	}
	return r
}

func void(stan uint32, amount int64, kind host.Kind, origSTAN uint32, orig *host.Response) host.Request {
	return host.Request{Kind: host.KindVoid, STAN: stan, Amount: amount, Batch: 1, OrigKind: kind, OrigSTAN: origSTAN,
		OrigRRN: orig.RRN, OrigAuthCode: orig.AuthCode}
}

func completion(stan uint32, amount int64, preauth *host.Response) host.Request {
	return host.Request{Kind: host.KindCompletion, STAN: stan, Amount: amount, Batch: 1, OrigKind: host.KindPreauth,
		OrigRRN: preauth.RRN, OrigAuthCode: preauth.AuthCode}
}

func reversal(kind host.Kind, origSTAN uint32, amount int64) host.Request {
	return host.Request{Kind: host.KindReversal, STAN: origSTAN + 500, Amount: amount, Batch: 1, OrigKind: kind,
		OrigSTAN: origSTAN, OrigRef: fmt.Sprintf("%s/%06d", kind, origSTAN), Reason: host.ReasonNoResponse,
		ReasonCode: string(host.ReasonNoResponse)}
}

func settlement(stan uint32, batch uint32, t Totals, afterUpload bool) host.Request {
	return host.Request{Kind: host.KindSettlement, STAN: stan, Batch: batch, Totals: t.host(), AfterUpload: afterUpload}
}

func TestLedgerRefunds(t *testing.T) {
	r := newLedgerRig(t, "")
	s1, _ := r.rc(RCApproved, sale(1, 10000), swipe)
	r.rc(RCApproved, refund(2, 4000, s1), swipe)
	_, in := r.rc(RCInvalidAmount, refund(3, 6001, s1), swipe) // 4000 + 6001 > 10000
	if in.OrigRRN != s1.RRN || in.Note == "" {
		t.Fatalf("over-refund journaled %+v", in)
	}
	r.rc(RCApproved, refund(4, 6000, s1), swipe)
	r.rc(RCInvalidAmount, refund(5, 1, s1), swipe)
	r.rc(RCNotFound, refund(6, 100, &host.Response{RRN: "999999999999"}), swipe)
	r.rc(RCInvalidAmount, refund(7, 0, nil), swipe)
	r.rc(RCApproved, refund(8, 2500, nil), swipe) // no original named: a credit
	if got, want := r.totals(1), (Totals{DebitCount: 1, DebitAmount: 10000, CreditCount: 3, CreditAmount: 12500}); got != want {
		t.Fatalf("totals %+v, want %+v", got, want)
	}
	// Magic amounts apply to refunds too.
	r.rc(RCInsufficient, refund(9, 151, nil), swipe)
	if in, resp, out := r.send(refund(10, 191, nil), swipe); resp != nil || out.Direction != "drop" || in.ResponseCode != "" {
		t.Fatalf("refund of 1.91 answered %+v", resp)
	}
	if _, in := r.rc(RCApproved, refund(11, 197, nil), swipe); in.Fault != FaultDuplicate {
		t.Fatalf("refund of 1.97 journaled fault %q", in.Fault)
	}
	// A refund of a voided sale: not found.
	s2, _ := r.rc(RCApproved, sale(12, 300), swipe)
	r.rc(RCApproved, void(13, 300, host.KindPurchase, 12, s2), nil)
	r.rc(RCNotFound, refund(14, 100, s2), swipe)
}

func TestLedgerVoids(t *testing.T) {
	r := newLedgerRig(t, "")
	s1, _ := r.rc(RCApproved, sale(1, 5000), swipe)
	s2, _ := r.rc(RCApproved, sale(2, 700), swipe)
	r.rc(RCInvalidAmount, void(3, 4999, host.KindPurchase, 1, s1), nil)
	r.rc(RCNotFound, void(4, 5000, host.KindPurchase, 1, &host.Response{RRN: "000000000001", AuthCode: s1.AuthCode}), nil)
	r.rc(RCNotFound, host.Request{Kind: host.KindVoid, STAN: 5, Amount: 5000, Batch: 1}, nil)
	r.rc(RCNotFound, void(6, 5000, host.KindRefund, 1, s1), nil) // not a refund
	other := void(7, 5000, host.KindPurchase, 1, s1)
	other.Batch = 2 // not the sale's batch
	r.rc(RCNotFound, other, nil)
	v1, in := r.rc(RCApproved, void(8, 5000, host.KindPurchase, 1, s1), nil)
	if !in.Voided || in.Duplicate || in.OrigState != StateVoided || in.OrigRRN != s1.RRN || in.Batch != 1 {
		t.Fatalf("void journaled %+v", in)
	}
	if r.state(s1.RRN) != StateVoided {
		t.Fatal("the sale is not voided")
	}
	// The same void again (its answer lost), and another void of it.
	for _, stan := range []uint32{8, 9} {
		again, in := r.rc(RCApproved, void(stan, 5000, host.KindPurchase, 1, s1), nil)
		if !in.Duplicate || !in.Voided || again.RRN != v1.RRN || again.AuthCode != v1.AuthCode {
			t.Fatalf("repeat void: %+v journaled %+v", again, in)
		}
	}
	if got, want := r.totals(1), (Totals{DebitCount: 1, DebitAmount: 700}); got != want {
		t.Fatalf("totals %+v, want %+v", got, want)
	}
	// Voids of a refund and of a completion.
	f, _ := r.rc(RCApproved, refund(10, 200, s2), swipe)
	r.rc(RCApproved, void(11, 200, host.KindRefund, 10, f), nil)
	if r.state(f.RRN) != StateVoided {
		t.Fatal("the refund is not voided")
	}
	r.rc(RCApproved, refund(12, 700, s2), swipe) // the voided refund gave nothing back
	// A refunded sale voided whole would be paid back twice.
	if _, in := r.rc(RCInvalidTxn, void(18, 700, host.KindPurchase, 2, s2), nil); in.Voided || !strings.Contains(in.Note, "refunds") {
		t.Fatalf("void of a refunded sale journaled %+v", in)
	}
	p, _ := r.rc(RCApproved, host.Request{Kind: host.KindPreauth, STAN: 13, Amount: 9000, Batch: 1}, swipe)
	r.rc(RCInvalidTxn, void(14, 9000, "", 13, p), nil) // a pre-authorization is not voided
	c, _ := r.rc(RCApproved, completion(15, 8000, p), nil)
	if r.state(p.RRN) != StateCompleted {
		t.Fatal("pre-authorization not completed")
	}
	r.rc(RCApproved, void(16, 8000, host.KindCompletion, 15, c), nil)
	if r.state(p.RRN) != StateApproved || r.state(c.RRN) != StateVoided {
		t.Fatal("the voided completion did not re-open its pre-authorization")
	}
	r.rc(RCApproved, completion(17, 8500, p), nil)
	if got, want := r.totals(1), (Totals{DebitCount: 2, DebitAmount: 700 + 8500, CreditCount: 1, CreditAmount: 700}); got != want {
		t.Fatalf("totals %+v, want %+v", got, want)
	}
}

func TestLedgerPreauthCompletion(t *testing.T) {
	r := newLedgerRig(t, "")
	p, in := r.rc(RCApproved, host.Request{Kind: host.KindPreauth, STAN: 1, Amount: 5000, Batch: 1}, swipe)
	if in.RRN != p.RRN || in.AuthCode != p.AuthCode || r.state(p.RRN) != StateApproved {
		t.Fatalf("pre-authorization journaled %+v", in)
	}
	if got := r.totals(1); got != (Totals{}) {
		t.Fatalf("a pre-authorization moved money: %+v", got)
	}
	r.rc(RCInvalidAmount, completion(2, 5001, p), nil)
	r.rc(RCInvalidAmount, completion(3, 0, p), nil)
	r.rc(RCNotFound, completion(4, 100, &host.Response{AuthCode: "ZZZZZZ"}), nil)
	r.rc(RCNotFound, host.Request{Kind: host.KindCompletion, STAN: 5, Amount: 100, Batch: 1}, nil)
	other := completion(6, 100, p)
	other.TerminalID = "T0000002" // another terminal's pre-authorization
	r.rc(RCNotFound, other, nil)
	c, in := r.rc(RCApproved, completion(7, 4500, p), nil)
	if in.OrigState != StateCompleted || in.Duplicate || r.state(p.RRN) != StateCompleted {
		t.Fatalf("completion journaled %+v", in)
	}
	again, in := r.rc(RCApproved, completion(7, 4500, p), nil)
	if !in.Duplicate || again.RRN != c.RRN || again.AuthCode != c.AuthCode {
		t.Fatalf("repeat completion %+v journaled %+v", again, in)
	}
	if got, want := r.totals(1), (Totals{DebitCount: 1, DebitAmount: 4500}); got != want {
		t.Fatalf("totals %+v, want %+v", got, want)
	}
	// Magic amounts apply to pre-authorizations, not to completions.
	r.rc(RCDoNotHonour, host.Request{Kind: host.KindPreauth, STAN: 8, Amount: 105, Batch: 1}, swipe)
	p2, _ := r.rc(RCApproved, host.Request{Kind: host.KindPreauth, STAN: 9, Amount: 1000, Batch: 1}, swipe)
	r.rc(RCApproved, completion(10, 951, p2), nil)
}

// The cancellation of a pre-authorization (a void naming it) releases
// the hold: no money in the totals, a completion afterwards and a second
// cancellation are refused "12"; a completed one is cancelled only after
// its completion is voided; a reversed cancellation holds again.
func TestLedgerPreauthCancellation(t *testing.T) {
	r := newLedgerRig(t, "")
	r.rc(RCApproved, sale(1, 700), swipe)
	p, _ := r.rc(RCApproved, host.Request{Kind: host.KindPreauth, STAN: 2, Amount: 9000, Batch: 1}, swipe)
	c, _ := r.rc(RCApproved, completion(3, 8000, p), nil)
	if _, in := r.rc(RCInvalidTxn, void(4, 9000, host.KindPreauth, 2, p), nil); in.Voided || !strings.Contains(in.Note, "completion first") {
		t.Fatalf("cancellation of a completed pre-authorization journaled %+v", in)
	}
	r.rc(RCApproved, void(5, 8000, host.KindCompletion, 3, c), nil)
	r.rc(RCInvalidAmount, void(6, 8999, host.KindPreauth, 2, p), nil)
	r.rc(RCInvalidTxn, void(7, 9000, "", 2, p), nil) // not named as a pre-authorization
	if r.state(p.RRN) != StateApproved {
		t.Fatalf("pre-authorization %s after refused cancellations", r.state(p.RRN))
	}
	v, in := r.rc(RCApproved, void(8, 9000, host.KindPreauth, 2, p), nil)
	if !in.Voided || in.Duplicate || in.OrigState != StateVoided || in.OrigKind != string(host.KindPreauth) || in.OrigRRN != p.RRN {
		t.Fatalf("cancellation journaled %+v", in)
	}
	if r.state(p.RRN) != StateVoided || r.state(v.RRN) != StateApproved {
		t.Fatalf("ledger after the cancellation: preauth %s, void %s", r.state(p.RRN), r.state(v.RRN))
	}
	if _, in := r.rc(RCInvalidTxn, void(9, 9000, host.KindPreauth, 2, p), nil); in.Voided || in.Duplicate {
		t.Fatalf("second cancellation journaled %+v", in)
	}
	r.rc(RCInvalidTxn, completion(10, 100, p), nil)
	// No money moved: the sale alone (the voided completion is out).
	if got, want := r.totals(1), (Totals{DebitCount: 1, DebitAmount: 700}); got != want {
		t.Fatalf("totals %+v, want %+v", got, want)
	}
	// Rebuilt from the journal, the same ledger.
	sameLedger(t, newLedgerRig(t, r.jr.String()), r)
	// A reversed cancellation: the hold is back and can be completed.
	r.rc(RCApproved, reversal(host.KindVoid, 8, 9000), nil)
	if r.state(p.RRN) != StateApproved {
		t.Fatalf("pre-authorization %s after its cancellation was reversed", r.state(p.RRN))
	}
	r.rc(RCApproved, completion(11, 9000, p), nil)
	if got, want := r.totals(1), (Totals{DebitCount: 2, DebitAmount: 700 + 9000}); got != want {
		t.Fatalf("totals %+v, want %+v", got, want)
	}
	r.rc(RCApproved, settlement(12, 1, Totals{DebitCount: 2, DebitAmount: 9700}, false), nil)
}

func TestLedgerBalance(t *testing.T) {
	visa, ok := deck.ByPAN("4761739001010010")
	if !ok {
		t.Fatal("visa-classic not in the deck")
	}
	r := newLedgerRig(t, "")
	r.s.cards = func(pan string) (deck.Card, bool) {
		c, ok := deck.ByPAN(pan)
		if ok {
			c.PIN = "1234"
		}
		return c, ok
	}
	bq := host.Request{Kind: host.KindBalance, STAN: 1, Batch: 1}
	resp, _ := r.rc(RCApproved, bq, &card{track: ledgerTrack, pin: "1234"})
	_, _, out := r.send(bq, &card{track: ledgerTrack, pin: "1234"})
	if !resp.HasBalance || resp.Balance != BalanceOf(visa) || resp.BalanceCurrency != "156" || !out.Balance {
		t.Fatalf("balance answer %+v, journal %+v; want %d", resp, out, BalanceOf(visa))
	}
	if resp.Balance < 100000 || resp.Balance > 10099999 {
		t.Fatalf("balance %d out of its range", resp.Balance)
	}
	other, _ := deck.ByPAN("5413330089010012")
	if BalanceOf(other) == BalanceOf(visa) && other.Name != visa.Name {
		t.Log("two deck cards share a balance") // possible, unlikely; not an error
	}
	wrong, _ := r.rc(RCIncorrectPIN, bq, &card{track: ledgerTrack, pin: "9999"})
	if wrong.HasBalance {
		t.Fatal("a decline carries a balance")
	}
	r.rc(RCInvalidCard, bq, &card{track: "4999990000000001=30122011000000000"})
	if n := len(r.s.Ledger(ledgerTID)); n != 0 {
		t.Fatalf("balance inquiries left %d ledger entries", n)
	}
	if strings.Contains(r.jr.String(), fmt.Sprint(BalanceOf(visa))) {
		t.Fatal("the journal holds the balance")
	}
}

// TestLedgerReversals: a reversal of each kind undoes it once.
func TestLedgerReversals(t *testing.T) {
	r := newLedgerRig(t, "")
	undo := func(kind host.Kind, stan uint32, amount int64, state string) {
		t.Helper()
		_, in := r.rc(RCApproved, reversal(kind, stan, amount), nil)
		if in.Duplicate || in.OrigState != state {
			t.Fatalf("reversal of %s %d journaled %+v, want orig_state %q", kind, stan, in, state)
		}
		_, in = r.rc(RCApproved, reversal(kind, stan, amount), nil)
		if !in.Duplicate || in.OrigState != "" {
			t.Fatalf("repeat reversal of %s %d journaled %+v", kind, stan, in)
		}
	}
	s1, _ := r.rc(RCApproved, sale(1, 1000), swipe)
	undo(host.KindPurchase, 1, 1000, StateReversed)
	if r.state(s1.RRN) != StateReversed || r.totals(1) != (Totals{}) {
		t.Fatal("the reversed sale still counts")
	}
	r.rc(RCNotFound, void(2, 1000, host.KindPurchase, 1, s1), nil)

	s3, _ := r.rc(RCApproved, sale(3, 2000), swipe)
	f, _ := r.rc(RCApproved, refund(4, 2000, s3), swipe)
	undo(host.KindRefund, 4, 2000, StateReversed)
	r.rc(RCApproved, refund(5, 2000, s3), swipe)                      // the reversed refund gave nothing back
	r.rc(RCInvalidTxn, void(21, 2000, host.KindPurchase, 3, s3), nil) // refunded: not voided

	s20, _ := r.rc(RCApproved, sale(20, 2000), swipe)
	v, _ := r.rc(RCApproved, void(6, 2000, host.KindPurchase, 20, s20), nil)
	undo(host.KindVoid, 6, 2000, StateReversed)
	if r.state(s20.RRN) != StateApproved || r.state(v.RRN) != StateReversed {
		t.Fatal("the reversed void did not re-open the sale")
	}
	// Voided again, the first void's reversal repeated: nothing re-opens.
	r.rc(RCApproved, void(7, 2000, host.KindPurchase, 20, s20), nil)
	r.rc(RCApproved, reversal(host.KindVoid, 6, 2000), nil)
	if r.state(s20.RRN) != StateVoided {
		t.Fatal("a repeated reversal undid a second void")
	}

	p, _ := r.rc(RCApproved, host.Request{Kind: host.KindPreauth, STAN: 8, Amount: 3000, Batch: 1}, swipe)
	c, _ := r.rc(RCApproved, completion(9, 3000, p), nil)
	undo(host.KindCompletion, 9, 3000, StateReversed)
	if r.state(p.RRN) != StateApproved || r.state(c.RRN) != StateReversed {
		t.Fatal("the reversed completion did not re-open its pre-authorization")
	}
	r.rc(RCApproved, completion(10, 2500, p), nil)
	undo(host.KindPreauth, 8, 3000, StateReversed)
	r.rc(RCNotFound, completion(11, 100, p), nil)

	// A void of a completion, reversed: the completion stands again and
	// its pre-authorization is completed again.
	p2, _ := r.rc(RCApproved, host.Request{Kind: host.KindPreauth, STAN: 12, Amount: 800, Batch: 1}, swipe)
	c2, _ := r.rc(RCApproved, completion(13, 800, p2), nil)
	r.rc(RCApproved, void(14, 800, host.KindCompletion, 13, c2), nil)
	undo(host.KindVoid, 14, 800, StateReversed)
	if r.state(c2.RRN) != StateApproved || r.state(p2.RRN) != StateCompleted {
		t.Fatal("the reversed void of a completion")
	}

	// A reversal of something the host never approved: "00", nothing undone.
	_, in := r.rc(RCApproved, reversal(host.KindPurchase, 99, 100), nil)
	if in.OrigState != "" || in.Note != "reversal: "+string(host.ReasonNoResponse) {
		t.Fatalf("reversal of an unknown original journaled %+v", in)
	}
	// debits: sale 3 (its refund 5 the credit; sale 20 voided);
	// completions 10 (2500, its pre-authorization reversed since: the
	// completion stands) and 13.
	if got, want := r.totals(1), (Totals{DebitCount: 3, DebitAmount: 2000 + 2500 + 800, CreditCount: 1, CreditAmount: 2000}); got != want {
		t.Fatalf("totals %+v, want %+v (ledger %+v)", got, want, r.s.Ledger(ledgerTID))
	}
	_ = f
}

func TestLedgerSettlement(t *testing.T) {
	r := newLedgerRig(t, "")
	s1, _ := r.rc(RCApproved, sale(1, 1000), swipe)
	r.rc(RCApproved, sale(2, 2000), swipe)
	r.rc(RCApproved, refund(3, 500, s1), swipe)
	r.rc(RCApproved, host.Request{Kind: host.KindPreauth, STAN: 4, Amount: 9999, Batch: 1}, swipe)
	other := sale(5, 4000)
	other.Currency = "840" // another currency: not in the CNY totals
	r.rc(RCApproved, other, swipe)
	want := Totals{DebitCount: 2, DebitAmount: 3000, CreditCount: 1, CreditAmount: 500}

	wrong := want
	wrong.DebitAmount++
	_, in := r.rc(RCOutOfBalance, settlement(6, 1, wrong, false), nil)
	if in.Settled || in.Totals == nil || *in.Totals.Host != want || *in.Totals.Terminal != wrong {
		t.Fatalf("out of balance journaled %+v", in)
	}
	r.rc(RCOutOfBalance, settlement(6, 1, wrong, false), nil) // repeats: the same
	r.rc(RCApproved, sale(7, 100), swipe)                     // the batch is still open
	want.DebitCount, want.DebitAmount = 3, 3100

	_, in = r.rc(RCApproved, settlement(8, 1, want, false), nil)
	if !in.Settled || in.Duplicate || *in.Totals.Host != want || *in.Totals.Terminal != want {
		t.Fatalf("balanced settlement journaled %+v", in)
	}
	_, in = r.rc(RCApproved, settlement(8, 1, want, false), nil)
	if !in.Settled || !in.Duplicate {
		t.Fatalf("repeated settlement journaled %+v", in)
	}
	r.rc(RCBatchClosed, settlement(9, 1, wrong, false), nil)
	r.rc(RCBatchClosed, sale(10, 100), swipe)
	r.rc(RCBatchClosed, refund(11, 100, nil), swipe)
	r.rc(RCBatchClosed, void(12, 1000, host.KindPurchase, 1, s1), nil)
	r.rc(RCBatchClosed, host.Request{Kind: host.KindBatchUpload, STAN: 13, Batch: 1, Amount: 1, OrigSTAN: 1, Ref: "X"}, nil)
	var b1 *BatchTotals
	for _, b := range r.s.Batches(ledgerTID) {
		if b.Batch == 1 && b.Currency == "156" {
			b1 = &b
		}
	}
	if b1 == nil || !b1.Closed || b1.Totals != want || b1.Settled == nil || *b1.Settled.Terminal != want {
		t.Fatalf("batch 1: %+v", b1)
	}
	// The next batch: out of balance, uploaded, settled after the upload.
	n1, _ := r.rc(RCApproved, host.Request{Kind: host.KindPurchase, STAN: 14, Amount: 700, Batch: 2}, swipe)
	r.rc(RCApproved, host.Request{Kind: host.KindPurchase, STAN: 15, Amount: 800, Batch: 2}, swipe)
	term := Totals{DebitCount: 1, DebitAmount: 700} // the terminal lost one
	r.rc(RCOutOfBalance, settlement(16, 2, term, false), nil)
	up := host.Request{Kind: host.KindBatchUpload, STAN: 17, Batch: 2, Amount: 700, OrigKind: host.KindPurchase, OrigSTAN: 14,
		OrigRRN: n1.RRN, OrigAuthCode: n1.AuthCode, Ref: "R14"}
	_, in = r.rc(RCApproved, up, nil)
	if in.Uploads != 1 || in.OrigRRN != n1.RRN || in.Ref != "R14" || in.Batch != 2 || in.Duplicate {
		t.Fatalf("upload journaled %+v", in)
	}
	if _, in = r.rc(RCApproved, up, nil); !in.Duplicate || in.Uploads != 0 {
		t.Fatalf("repeated upload journaled %+v", in)
	}
	_, in = r.rc(RCApproved, settlement(18, 2, term, true), nil)
	host2 := Totals{DebitCount: 2, DebitAmount: 1500}
	if !in.Settled || !in.AfterUpload || in.Uploads != 1 || *in.Totals.Host != host2 || *in.Totals.Terminal != term {
		t.Fatalf("settlement after upload journaled %+v", in)
	}
	r.rc(RCBatchClosed, host.Request{Kind: host.KindPurchase, STAN: 19, Amount: 1, Batch: 2}, swipe)
	r.rc(RCFormatError, settlement(20, 0, Totals{}, false), nil)
}

// TestLedgerBatchNotOnTheWire: requests without a batch number (ascii87
// sends one in settlements and uploads only) are the open batch; the
// settlement that closes a batch takes them in.
func TestLedgerBatchNotOnTheWire(t *testing.T) {
	r := newLedgerRig(t, "")
	s1, _ := r.rc(RCApproved, host.Request{Kind: host.KindPurchase, STAN: 1, Amount: 1000}, swipe)
	r.rc(RCApproved, host.Request{Kind: host.KindPurchase, STAN: 2, Amount: 2000}, swipe)
	r.rc(RCApproved, host.Request{Kind: host.KindVoid, STAN: 3, Amount: 2000, OrigKind: host.KindPurchase, OrigSTAN: 2}, nil)
	want := Totals{DebitCount: 1, DebitAmount: 1000}
	if got := r.totals(0); got != want {
		t.Fatalf("open batch %+v, want %+v", got, want)
	}
	r.rc(RCApproved, settlement(4, 7, want, false), nil)
	for _, e := range r.s.Ledger(ledgerTID) {
		if e.Batch != 7 {
			t.Fatalf("entry %+v not in the settled batch 7", e)
		}
	}
	// After the close: a new open batch; the settled sale cannot be voided.
	r.rc(RCNotFound, host.Request{Kind: host.KindVoid, STAN: 5, Amount: 1000, OrigKind: host.KindPurchase, OrigSTAN: 1, OrigRRN: s1.RRN}, nil)
	r.rc(RCApproved, host.Request{Kind: host.KindPurchase, STAN: 6, Amount: 300}, swipe)
	r.rc(RCApproved, settlement(7, 8, Totals{DebitCount: 1, DebitAmount: 300}, false), nil)
	// A reversal of an original in a settled batch undoes nothing.
	_, in := r.rc(RCApproved, reversal(host.KindPurchase, 6, 300), nil)
	if in.OrigState != StateApproved || !strings.Contains(in.Note, "not undone") {
		t.Fatalf("reversal after the close journaled %+v", in)
	}
}

// TestLedgerRebuiltFromJournal: a simulator started on the journal of
// another has its ledger, closed batches, uploads, reversals and RRN
// sequence.
func TestLedgerRebuiltFromJournal(t *testing.T) {
	r := newLedgerRig(t, "")
	s1, _ := r.rc(RCApproved, sale(1, 1000), swipe)
	s2, _ := r.rc(RCApproved, sale(2, 2000), swipe)
	r.rc(RCApproved, refund(3, 400, s2), swipe)
	v, _ := r.rc(RCApproved, void(4, 1000, host.KindPurchase, 1, s1), nil)
	p, _ := r.rc(RCApproved, host.Request{Kind: host.KindPreauth, STAN: 5, Amount: 5000, Batch: 1}, swipe)
	c, _ := r.rc(RCApproved, completion(6, 4000, p), nil)
	r.rc(RCApproved, sale(7, 300), swipe)
	r.rc(RCApproved, reversal(host.KindPurchase, 7, 300), nil)
	r.rc(RCApproved, host.Request{Kind: host.KindAdvice, STAN: 8, Amount: 600, Batch: 1, Ref: "ADV8", ResponseCode: host.OfflineApproved}, swipe)
	r.rc(RCInvalidAmount, refund(9, 1601, s2), swipe)
	// A crash left half a line.
	r2 := newLedgerRig(t, r.jr.String()+`{"time":"2025-03-14T15:09:26Z","direction":"in","kind":"purch`+"\n")
	sameLedger(t, r2, r)
	if n, amount := r2.s.AdviceTotal("156"); n != 1 || amount != 600 {
		t.Fatalf("rebuilt advices: %d, %d", n, amount)
	}
	// Repeats are duplicates after the restart.
	if again, in := r2.rc(RCApproved, void(4, 1000, host.KindPurchase, 1, s1), nil); !in.Duplicate || again.RRN != v.RRN {
		t.Fatalf("repeat void after the restart: %+v %+v", again, in)
	}
	if again, in := r2.rc(RCApproved, completion(6, 4000, p), nil); !in.Duplicate || again.RRN != c.RRN {
		t.Fatalf("repeat completion after the restart: %+v %+v", again, in)
	}
	if _, in := r2.rc(RCApproved, reversal(host.KindPurchase, 7, 300), nil); !in.Duplicate {
		t.Fatalf("repeat reversal after the restart: %+v", in)
	}
	t1 := Totals{DebitCount: 3, DebitAmount: 2000 + 4000 + 600, CreditCount: 1, CreditAmount: 400}
	r2.rc(RCApproved, settlement(10, 1, t1, false), nil)
	r2.rc(RCApproved, host.Request{Kind: host.KindPurchase, STAN: 11, Amount: 900, Batch: 2}, swipe)
	r2.rc(RCApproved, host.Request{Kind: host.KindBatchUpload, STAN: 12, Batch: 2, Amount: 900, OrigSTAN: 11, Ref: "U11"}, nil)

	// A third run reads both journals.
	r3 := newLedgerRig(t, r.jr.String()+r2.jr.String())
	sameLedger(t, r3, r2)
	if _, in := r3.rc(RCApproved, settlement(10, 1, t1, false), nil); !in.Duplicate {
		t.Fatalf("repeat settlement after the restart: %+v", in)
	}
	if _, in := r3.rc(RCApproved, host.Request{Kind: host.KindBatchUpload, STAN: 12, Batch: 2, Amount: 900, OrigSTAN: 11, Ref: "U11"}, nil); !in.Duplicate {
		t.Fatalf("repeat upload after the restart: %+v", in)
	}
	r3.rc(RCBatchClosed, sale(13, 100), swipe)
	rest := refund(14, 1601, s2)
	rest.Batch = 2
	r3.rc(RCInvalidAmount, rest, swipe)
	rest.Amount = 1600 // 400 + 1600: all of it
	r3.rc(RCApproved, rest, swipe)
	// RRNs go on from the journal's.
	fresh, _ := r3.rc(RCApproved, host.Request{Kind: host.KindPurchase, STAN: 15, Amount: 100, Batch: 2}, swipe)
	for _, e := range r2.s.Ledger(ledgerTID) {
		if e.RRN == fresh.RRN {
			t.Fatalf("RRN %s given twice", fresh.RRN)
		}
	}
}

// sameLedger checks the ledger and batches of a and b are the same.
func sameLedger(t *testing.T, a, b *ledgerRig) {
	t.Helper()
	if got, want := fmt.Sprint(a.s.Ledger(ledgerTID)), fmt.Sprint(b.s.Ledger(ledgerTID)); got != want {
		t.Fatalf("rebuilt ledger\n%s\nwant\n%s", got, want)
	}
	got, _ := json.Marshal(a.s.Batches(ledgerTID))
	if want, _ := json.Marshal(b.s.Batches(ledgerTID)); !bytes.Equal(got, want) {
		t.Fatalf("rebuilt batches\n%s\nwant\n%s", got, want)
	}
}

var voidedKindField = regexp.MustCompile(`,"voided_kind":"[a-z]*"`)

// TestLedgerReversalOfAVoidByWhatItVoided: the reversal of a void undoes
// the void of its STAN when its codes say the void voided what it did (or
// do not say); one saying another kind leaves the void alone, noted. A
// journal line without voided_kind (written before it was journaled)
// rebuilds the reversal by the STAN alone.
func TestLedgerReversalOfAVoidByWhatItVoided(t *testing.T) {
	r := newLedgerRig(t, "")
	s1, _ := r.rc(RCApproved, sale(1, 1000), swipe)
	v2, _ := r.rc(RCApproved, void(2, 1000, host.KindPurchase, 1, s1), nil)
	p3, _ := r.rc(RCApproved, host.Request{Kind: host.KindPreauth, STAN: 3, Amount: 5000, Batch: 1}, swipe)
	v4, _ := r.rc(RCApproved, void(4, 5000, host.KindPreauth, 3, p3), nil)

	wrong := reversal(host.KindVoid, 2, 1000)
	wrong.VoidedKind, wrong.OrigRef = host.KindPreauth, "wrong/000002"
	_, in := r.rc(RCApproved, wrong, nil)
	if in.OrigState != "" || in.VoidedKind != string(host.KindPreauth) || !strings.Contains(in.Note, "voided a purchase, not a preauth") {
		t.Fatalf("reversal saying the void of a sale cancelled a pre-authorization journaled %+v", in)
	}
	if r.state(s1.RRN) != StateVoided || r.state(v2.RRN) != StateApproved {
		t.Fatal("a reversal of another kind of void undid the void of a sale")
	}
	right := reversal(host.KindVoid, 4, 5000)
	right.VoidedKind = host.KindPreauth
	if _, in := r.rc(RCApproved, right, nil); in.OrigState != StateReversed || in.VoidedKind != string(host.KindPreauth) {
		t.Fatalf("reversal of the cancellation journaled %+v", in)
	}
	if r.state(p3.RRN) != StateApproved || r.state(v4.RRN) != StateReversed {
		t.Fatal("the reversed cancellation did not put the hold back")
	}
	sameLedger(t, newLedgerRig(t, r.jr.String()), r)

	// The same reversal as journaled before voided_kind: by STAN alone.
	var old strings.Builder
	for _, line := range strings.SplitAfter(r.jr.String(), "\n") {
		if strings.Contains(line, `"voided_kind"`) && strings.Contains(line, `"direction":"in"`) && strings.Contains(line, `"wrong/000002"`) {
			continue // the wrong one was never sent by older terminals
		}
		old.WriteString(voidedKindField.ReplaceAllString(line, ""))
	}
	if strings.Contains(old.String(), "voided_kind") {
		t.Fatalf("journal still names voided kinds:\n%s", old.String())
	}
	sameLedger(t, newLedgerRig(t, old.String()), r)
	legacy := reversal(host.KindVoid, 2, 1000)
	legacy.OrigRef = "legacy/000002"
	if _, in := r.rc(RCApproved, legacy, nil); in.OrigState != StateReversed || in.VoidedKind != "" {
		t.Fatalf("reversal of a void not saying what it voided journaled %+v", in)
	}
	if r.state(s1.RRN) != StateApproved {
		t.Fatal("the reversal of the void of a sale, by STAN alone, did not re-open it")
	}
}

// TestLedgerSettlementRetriedAfterUpload: the answer to the settlement
// that follows a batch upload is lost (a timeout, a crash); the terminal's
// batch is still open and its next close starts again with a first
// settlement of the same totals. The host closed the batch with them: it
// is a repeat ("00", duplicate), not a request naming a closed batch. In
// the ascii87 shape the after-upload settlement carries the totals, in
// the cup shape only the number of uploaded items.
func TestLedgerSettlementRetriedAfterUpload(t *testing.T) {
	for _, cup := range []bool{false, true} {
		r := newLedgerRig(t, "")
		s1, _ := r.rc(RCApproved, sale(1, 1000), swipe)
		r.rc(RCApproved, sale(2, 2000), swipe)
		r.rc(RCApproved, refund(3, 500, s1), swipe)
		host1 := Totals{DebitCount: 2, DebitAmount: 3000, CreditCount: 1, CreditAmount: 500}
		term := Totals{DebitCount: 1, DebitAmount: 1000, CreditCount: 1, CreditAmount: 500} // one sale it did not count
		r.rc(RCOutOfBalance, settlement(4, 1, term, false), nil)
		for i, stan := range []uint32{1, 3} {
			r.rc(RCApproved, host.Request{Kind: host.KindBatchUpload, STAN: uint32(5 + i), Batch: 1, Amount: 1000, OrigKind: host.KindPurchase,
				OrigSTAN: stan, Ref: fmt.Sprint(stan)}, nil)
		}
		after := settlement(7, 1, term, true)
		if cup {
			after.Totals, after.UploadCount = host.Totals{}, term.DebitCount+term.CreditCount
		}
		if _, in := r.rc(RCApproved, after, nil); !in.Settled {
			t.Fatalf("cup %v: settlement after the upload journaled %+v", cup, in)
		}
		// Its answer never reached the terminal: the cashier closes again.
		_, in := r.rc(RCApproved, settlement(8, 1, term, false), nil)
		if !in.Duplicate || !in.Settled || in.Totals == nil || *in.Totals.Host != host1 {
			t.Fatalf("cup %v: the close repeated journaled %+v", cup, in)
		}
		// Other totals are not that close.
		other := term
		other.DebitAmount++
		r.rc(RCBatchClosed, settlement(9, 1, other, false), nil)
		// A simulator restarted on the journal knows it too.
		r2 := newLedgerRig(t, r.jr.String())
		if _, in := r2.rc(RCApproved, settlement(10, 1, term, false), nil); !in.Duplicate {
			t.Fatalf("cup %v: after a restart the close repeated journaled %+v", cup, in)
		}
	}
}

// TestLedgerBatchNumbersWrap: posd numbers batches 1 to 999999, then 1
// again. The batch 1 that opens after 999999 is a new batch: its
// requests are not "77", its totals are its own, and it settles.
func TestLedgerBatchNumbersWrap(t *testing.T) {
	for _, onWire := range []bool{true, false} { // cup sends the batch in every request, ascii87 does not
		r := newLedgerRig(t, "")
		sold := func(stan uint32, amount int64, batch uint32) {
			req := sale(stan, amount)
			if req.Batch = batch; !onWire {
				req.Batch = 0
			}
			r.rc(RCApproved, req, swipe)
		}
		sold(1, 1000, 1)
		r.rc(RCApproved, settlement(2, 1, Totals{DebitCount: 1, DebitAmount: 1000}, false), nil)
		sold(3, 2000, 999999)
		r.rc(RCApproved, settlement(4, 999999, Totals{DebitCount: 1, DebitAmount: 2000}, false), nil)
		sold(5, 300, 1)
		want := Totals{DebitCount: 1, DebitAmount: 300}
		if got := r.totals(1); onWire && got != want {
			t.Fatalf("batch 1 after the wrap: %+v, want %+v", got, want)
		}
		if _, in := r.rc(RCApproved, settlement(6, 1, want, false), nil); in.Duplicate || !in.Settled {
			t.Fatalf("on the wire %v: settlement of the new batch 1 journaled %+v", onWire, in)
		}
		// The first batch 1 keeps its totals, under another number.
		var old []BatchTotals
		for _, b := range r.s.Batches(ledgerTID) {
			if b.Batch != 1 && b.Batch != 999999 {
				old = append(old, b)
			}
		}
		if len(old) != 1 || !old[0].Closed || old[0].Totals != (Totals{DebitCount: 1, DebitAmount: 1000}) {
			t.Fatalf("on the wire %v: the first batch 1: %+v", onWire, old)
		}
		// A restart on the journal rebuilds the same.
		sameLedger(t, r, newLedgerRig(t, r.jr.String()))
	}
}
