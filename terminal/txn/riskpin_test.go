package txn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"posd/conn/apdu"
	"posd/terminal/emv"
	"posd/terminal/host"
	"posd/terminal/pin"
	"posd/terminal/risk"
	"posd/terminal/store"
	"posd/terminal/wiresec"
)

// fakeRisk answers a fixed decision and counts approvals recorded.
type fakeRisk struct {
	mu       sync.Mutex
	decision risk.Decision
	checked  []risk.Txn
	recorded int
}

func (f *fakeRisk) Check(_ context.Context, t risk.Txn) risk.Decision {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(t.PAN) == 0 {
		return risk.Decision{Rule: risk.RuleInvalid}
	}
	c := t
	c.PAN = nil // the engine wipes its copy after Check
	f.checked = append(f.checked, c)
	d := f.decision
	d.Card = risk.CardID{1}
	return d
}

func (f *fakeRisk) Record(_ context.Context, t risk.Txn, approved bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if approved && !t.Card.IsZero() {
		f.recorded++
	}
	return nil
}

// fakePIN types digits (or fails with err) when asked.
type fakePIN struct {
	digits string
	err    error
	block  chan struct{} // when set, waits for the context
	// tooShortAt: after that many digits the customer pressed Enter
	// too early (the pad refused it), then went on.
	tooShortAt int
	asked      int
}

func (f *fakePIN) ReadPIN(ctx context.Context, progress func(pin.Progress), build func([]byte) ([]byte, error)) ([]byte, error) {
	f.asked++
	if f.block != nil {
		close(f.block)
		<-ctx.Done()
		return nil, pin.ErrStopped
	}
	if f.err != nil {
		return nil, f.err
	}
	d := []byte(f.digits)
	for i := range d {
		progress(pin.Progress{Digits: i + 1, State: pin.StateDigit})
		if i+1 == f.tooShortAt {
			progress(pin.Progress{Digits: i + 1, State: pin.StateTooShort})
		}
	}
	defer clear(d)
	return build(d)
}

func TestRiskRefusalNamesTheRule(t *testing.T) {
	h := approveAll()
	r := &fakeRisk{decision: risk.Decision{Rule: risk.RuleVelocityCount, Reason: "11 sales in 24h"}}
	e, rd, _ := setupWith(t, h, func(o *Opts) { o.Risk = r })
	tx, _ := e.StartSale(100, "156")
	rd.cards <- card("3012")
	got := wait(t, e, tx.ID)
	if got.State != store.StateFailed || Failure(got.Failure) != FailRisk || got.RiskRule != string(risk.RuleVelocityCount) || got.STAN != 0 {
		t.Fatalf("refused sale: %+v", got)
	}
	if got.MaskedPAN != "476173******0010" {
		t.Fatalf("masked PAN %q", got.MaskedPAN)
	}
}

func TestOnlinePINGoesIntoTheRequest(t *testing.T) {
	var gotBlock []byte
	var ksn []byte
	h := &fakeHost{}
	h.purchase = func(p host.Purchase) (host.Result, error) {
		gotBlock = append([]byte(nil), p.PINBlock...)
		return host.Result{ResponseCode: "00", AuthCode: "P1N0K1"}, nil
	}
	r := &fakeRisk{decision: risk.Decision{Allow: true, CVM: risk.CVMOnlinePIN}}
	pad := &fakePIN{digits: "1234"}
	var keys *recKeys
	e, rd, _ := setupWith(t, h, func(o *Opts) { o.Risk, o.PIN = r, pad; keys = &recKeys{k: o.Keys}; o.Keys = keys })
	events, stop := e.Subscribe()
	defer stop()
	tx, _ := e.StartSale(150000, "156")
	rd.cards <- card("3012")
	ev := waitPhase(t, events, PhasePIN)
	if ev.PINDigits != 0 {
		t.Fatalf("first PIN prompt with %d digits", ev.PINDigits)
	}
	got := wait(t, e, tx.ID)
	if got.State != store.StateApproved || got.CVM != string(risk.CVMOnlinePIN) || pad.asked != 1 {
		t.Fatalf("PIN sale: %+v asked %d", got, pad.asked)
	}
	ksn = keys.last
	// The host opens the block with the same transaction key.
	hostSess, err := wiresec.ForHost(wiresec.ModeAES, testBDK, ksn)
	if err != nil {
		t.Fatal(err)
	}
	p, err := hostSess.DecryptPIN(gotBlock, "4761739001010010")
	if err != nil || p != "1234" {
		t.Fatalf("PIN block opens to %q, %v", p, err)
	}
	// Rules that cannot write in the engine's transaction are told right
	// after the approval's commit.
	waitUntil(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.recorded == 1 })
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recorded != 1 || len(r.checked) != 1 || r.checked[0].Entry != risk.EntrySwipe {
		t.Fatalf("risk saw %+v, recorded %d", r.checked, r.recorded)
	}
}

// recKeys remembers the last KSN handed out.
type recKeys struct {
	k    Keys
	last []byte
}

func (r *recKeys) Next() (*wiresec.Session, error) {
	s, err := r.k.Next()
	if err == nil {
		r.last = s.KSN()
	}
	return s, err
}

func TestPINFailures(t *testing.T) {
	for _, c := range []struct {
		name string
		pad  PINPad
		want Failure
	}{
		{"cancel on the PIN pad", &fakePIN{err: pin.ErrCancelled}, FailPINCancelled},
		{"timeout", &fakePIN{err: pin.ErrTimeout}, FailPINTimeout},
		{"keypad broken", &fakePIN{err: errors.New("keypad halted")}, FailPINUnavailable},
		{"no PIN pad", nil, FailPINUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := approveAll()
			r := &fakeRisk{decision: risk.Decision{Allow: true, CVM: risk.CVMOnlinePIN}}
			e, rd, _ := setupWith(t, h, func(o *Opts) { o.Risk, o.PIN = r, c.pad })
			tx, _ := e.StartSale(150000, "156")
			rd.cards <- card("3012")
			if got := wait(t, e, tx.ID); got.State != store.StateFailed || Failure(got.Failure) != c.want || got.STAN != 0 {
				t.Fatalf("%+v, want %s", got, c.want)
			}
		})
	}
	// The cashier cancels while the customer is at the PIN pad.
	pad := &fakePIN{block: make(chan struct{})}
	r := &fakeRisk{decision: risk.Decision{Allow: true, CVM: risk.CVMOnlinePIN}}
	e, rd, _ := setupWith(t, approveAll(), func(o *Opts) { o.Risk, o.PIN = r, pad })
	tx, _ := e.StartSale(150000, "156")
	rd.cards <- card("3012")
	select {
	case <-pad.block:
	case <-time.After(10 * time.Second):
		t.Fatal("no PIN entry")
	}
	if err := e.Cancel(tx.ID); err != nil {
		t.Fatalf("cancel during PIN entry: %v", err)
	}
	if got := wait(t, e, tx.ID); Failure(got.Failure) != FailCancelled {
		t.Fatalf("cancelled at the PIN pad: %+v", got)
	}
}

// errKernel is an EMV kernel whose run ends with err.
type errKernel struct{ err error }

func (k errKernel) Start(context.Context, apdu.Transceiver, emv.Interface, emv.Txn, emv.UI) (*emv.Session, error) {
	return nil, k.err
}

// The chip's offline PIN entry that timed out is a timeout ("PIN entry
// timed out"), not the customer's Cancel: the record and the display say
// what happened.
func TestChipPINTimeoutIsNotACancel(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want Failure
	}{
		{"timeout", fmt.Errorf("%w: offline PIN: %w", emv.ErrCancelled, pin.ErrTimeout), FailPINTimeout},
		{"cancel", fmt.Errorf("%w: offline PIN: %w", emv.ErrCancelled, pin.ErrCancelled), FailPINCancelled},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, rd, _ := setupWith(t, approveAll(), func(o *Opts) { o.Kernel = errKernel{c.err} })
			tx, err := e.StartSale(2000, "156")
			if err != nil {
				t.Fatal(err)
			}
			rd.cards <- &Card{Mode: risk.EntryInsert, Wipe: func() {},
				Chip: &Chip{Interface: emv.Contact, Release: func(context.Context) error { return nil }}}
			if got := wait(t, e, tx.ID); got.State != store.StateFailed || Failure(got.Failure) != c.want {
				t.Fatalf("state %s failure %q, want %s", got.State, got.Failure, c.want)
			}
		})
	}
}

// A contactless card that leaves the field before the kernel is done
// (nothing was sent) is asked for again, as a reader does ("present card
// again", EMV Book A's Try Again): the sale goes on with the next card.
// An inserted card pulled out ends the sale (card_removed).
func TestTornTapIsAskedAgain(t *testing.T) {
	removed := fmt.Errorf("%w: READ RECORD: transport: target timeout", emv.ErrCardRemoved)
	chipCard := func(iface emv.Interface, mode risk.EntryMode) *Card {
		return &Card{Mode: mode, Wipe: func() {}, Chip: &Chip{Interface: iface, Release: func(context.Context) error { return nil }}}
	}
	e, rd, _ := setupWith(t, approveAll(), func(o *Opts) { o.Kernel = errKernel{removed} })
	events, stop := e.Subscribe()
	defer stop()
	tx, err := e.StartSale(1700, "156")
	if err != nil {
		t.Fatal(err)
	}
	rd.cards <- chipCard(emv.Contactless, risk.EntryTap)
	if ev := waitPhase(t, events, PhaseRetryCard); ev.Prompt != "tap_again" {
		t.Fatalf("after a torn tap the display is asked %q", ev.Prompt)
	}
	rd.cards <- card("3012")
	if got := wait(t, e, tx.ID); got.State != store.StateApproved {
		t.Fatalf("the card presented again: %s %s %s", got.State, got.Failure, got.Error)
	}
	// Pulled from the field and never presented again: card removed.
	e, rd, _ = setupWith(t, approveAll(), func(o *Opts) { o.Kernel = errKernel{removed}; o.CardTimeout = 300 * time.Millisecond })
	tx, _ = e.StartSale(1700, "156")
	rd.cards <- chipCard(emv.Contactless, risk.EntryTap)
	if got := wait(t, e, tx.ID); got.State != store.StateFailed || Failure(got.Failure) != FailCardRemoved {
		t.Fatalf("torn tap, no card again: %s %s", got.State, got.Failure)
	}
	// An inserted card pulled out ends the sale.
	e, rd, _ = setupWith(t, approveAll(), func(o *Opts) { o.Kernel = errKernel{removed} })
	tx, _ = e.StartSale(1700, "156")
	rd.cards <- chipCard(emv.Contact, risk.EntryInsert)
	if got := wait(t, e, tx.ID); got.State != store.StateFailed || Failure(got.Failure) != FailCardRemoved {
		t.Fatalf("inserted card pulled out: %s %s", got.State, got.Failure)
	}
}

// A phone that asks its holder to confirm on it (Mastercard's "see
// phone", a 6986 from a Visa or UnionPay phone) ends the tap with
// emv.ErrSeePhone: the customer is asked to look at the phone and tap
// again, and the sale goes on with the next tap; it is not a chip that
// failed (no fallback to the stripe).
func TestSeePhoneAsksForAnotherTap(t *testing.T) {
	seePhone := fmt.Errorf("%w: GET PROCESSING OPTIONS answered 6986", emv.ErrSeePhone)
	e, rd, _ := setupWith(t, approveAll(), func(o *Opts) { o.Kernel = errKernel{seePhone} })
	events, stop := e.Subscribe()
	defer stop()
	tx, err := e.StartSale(1700, "156")
	if err != nil {
		t.Fatal(err)
	}
	rd.cards <- &Card{Mode: risk.EntryTap, Wipe: func() {}, Chip: &Chip{Interface: emv.Contactless, Release: func(context.Context) error { return nil }}}
	if ev := waitPhase(t, events, PhaseRetryCard); ev.Prompt != "see_phone" {
		t.Fatalf("after a phone asked to be looked at, the display is asked %q", ev.Prompt)
	}
	rd.cards <- card("3012")
	got := wait(t, e, tx.ID)
	if got.State != store.StateApproved || got.EntryMode == entryModeFallback {
		t.Fatalf("the tap again: %s %s %s (entry %s)", got.State, got.Failure, got.Error, got.EntryMode)
	}
	// The phone may stay in the field while its holder confirms: the
	// reader is told to read the card there again, not to wait for a
	// new one.
	if n := rd.readAgain.Load(); n != 1 {
		t.Fatalf("ReadAgain called %d times, want 1", n)
	}
}

// Two cards in the contactless field (a wallet tapped whole): the reader
// picks none, and the customer is asked to present one card; the sale
// goes on with the next card, not counted as an unreadable one.
func TestCollisionAsksForOneCard(t *testing.T) {
	e, rd, _ := setupWith(t, approveAll(), nil2)
	events, stop := e.Subscribe()
	defer stop()
	tx, err := e.StartSale(1700, "156")
	if err != nil {
		t.Fatal(err)
	}
	rd.errs <- fmt.Errorf("%w: pn532: more than one card in the field", ErrCollision)
	if ev := waitPhase(t, events, PhaseRetryCard); ev.Prompt != "one_card" {
		t.Fatalf("after two cards in the field the display is asked %q", ev.Prompt)
	}
	rd.cards <- card("3012")
	if got := wait(t, e, tx.ID); got.State != store.StateApproved || got.EntryMode == entryModeFallback {
		t.Fatalf("one card then: %s %s %s", got.State, got.Failure, got.Error)
	}
}

func nil2(*Opts) {}

// A key the PIN pad refused (Enter with too few digits) reaches the
// display as such, with the digits still in; the entry goes on.
func TestPINRefusedKeyReachesTheDisplay(t *testing.T) {
	r := &fakeRisk{decision: risk.Decision{Allow: true, CVM: risk.CVMOnlinePIN}}
	pad := &fakePIN{digits: "1234", tooShortAt: 2}
	e, rd, _ := setupWith(t, approveAll(), func(o *Opts) { o.Risk, o.PIN = r, pad })
	events, stop := e.Subscribe()
	defer stop()
	tx, _ := e.StartSale(150000, "156")
	rd.cards <- card("3012")
	var seen []Event
	for {
		ev := waitPhase(t, events, PhasePIN)
		seen = append(seen, ev)
		if ev.PINRefused != "" {
			if ev.PINRefused != pin.StateTooShort || ev.PINDigits != 2 {
				t.Fatalf("refused key event: %+v", ev)
			}
			break
		}
		if len(seen) > 10 {
			t.Fatalf("no refused key among %+v", seen)
		}
	}
	if ev := waitPhase(t, events, PhasePIN); ev.PINRefused != "" || ev.PINDigits != 3 {
		t.Fatalf("the next digit: %+v", ev)
	}
	if got := wait(t, e, tx.ID); got.State != store.StateApproved {
		t.Fatalf("sale %+v", got)
	}
}
