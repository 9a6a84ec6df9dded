package txn

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"posd/conn/apdu"
	"posd/conn/clock"
	"posd/crypto/pinblock"
	"posd/terminal/emv"
	"posd/terminal/host"
	"posd/terminal/pin"
	"posd/terminal/redact"
	"posd/terminal/risk"
	"posd/terminal/store"
)

// Chip is a card activated in the contact slot or in the contactless
// field: the EMV kernel talks to it.
type Chip struct {
	Card      apdu.Transceiver
	Interface emv.Interface
	// Release lets the card go (contactless: deselect; contact: power
	// off). The sale calls it once, when it is done with the card.
	Release func(ctx context.Context) error
}

// Kernel is the EMV kernel (terminal/emv) as the sale runs it.
type Kernel interface {
	Start(ctx context.Context, card apdu.Transceiver, iface emv.Interface, t emv.Txn, ui emv.UI) (*emv.Session, error)
}

// ModalReader is a CardReader that watches only the entry modes it is
// given (after a contactless card asked for another interface, the sale
// asks for insert or swipe only).
type ModalReader interface {
	ReadCardIn(ctx context.Context, modes []risk.EntryMode) (*Card, error)
}

// DE22 of chip entries (ISO 8583:1987): 05 integrated circuit, 07
// contactless chip, 80 magnetic stripe after a failed chip read
// (fallback); 1: the terminal accepts PINs.
const (
	entryModeChip        = "051"
	entryModeContactless = "071"
	entryModeFallback    = "801"
)

// chipOutcome is what runChip tells stepCreated.
type chipOutcome int

const (
	chipDone         chipOutcome = iota // the sale moved on (committed, or ended)
	chipOtherMedium                     // ask for another interface (insert or swipe)
	chipReadAgainAll                    // the chip failed: ask again, the stripe allowed (fallback)
	chipTapAgain                        // a contactless card left the field too early: present it again
	chipSeePhone                        // a phone asks its holder to confirm on it, then tap again
)

// chipUI is the kernel's cardholder side: the display through events, the
// PIN pad for offline PINs.
type chipUI struct {
	e *Engine
	s *sale
}

// appChoiceTimeout bounds the customer's choice of an application.
const appChoiceTimeout = 30 * time.Second

// Select lets the customer choose among the card's applications, or
// confirm the only one that asks for it (EMV book 1 section 12.4): the
// display lists them in the kernel's order (priority first) and the
// keypad takes the choice. Without a keypad chooser the terminal cannot
// ask: it takes the first application that does not require the
// cardholder's confirmation, and refuses the card when each one does.
func (u chipUI) Select(ctx context.Context, c []emv.Candidate) (int, error) {
	if len(c) == 0 {
		return 0, emv.ErrNoApplication
	}
	if u.e.o.Apps == nil {
		for i, x := range c {
			if !x.ConfirmationRequired {
				u.e.log.Info("chip application selected", "id", u.s.rec.ID, "aid", x.AIDHex(), "candidates", len(c))
				return i, nil
			}
		}
		return 0, fmt.Errorf("%w: every application needs the cardholder's confirmation and there is no keypad to ask", errNoAppChosen)
	}
	labels := make([]string, len(c))
	for i, x := range c {
		labels[i] = appLabel(x)
	}
	cctx, cancel := context.WithTimeout(ctx, appChoiceTimeout)
	defer cancel()
	i, ok, err := u.e.o.Apps.ChooseApp(cctx, len(c), func() {
		u.e.mu.Lock()
		defer u.e.mu.Unlock()
		u.e.publishEvent(Event{Phase: PhaseSelectApp, Txn: u.s.rec, Apps: labels})
	})
	switch {
	case err != nil && ctx.Err() != nil:
		return 0, ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		return 0, fmt.Errorf("%w: no choice within %v", errNoAppChosen, appChoiceTimeout)
	case err != nil:
		return 0, fmt.Errorf("%w: keypad: %w", errNoAppChosen, err)
	case !ok:
		return 0, fmt.Errorf("%w: the customer refused", errNoAppChosen)
	case i < 0 || i >= len(c):
		return 0, fmt.Errorf("%w: choice %d of %d", errNoAppChosen, i, len(c))
	}
	u.e.log.Info("chip application chosen by the customer", "id", u.s.rec.ID, "aid", c[i].AIDHex(), "candidates", len(c))
	return i, nil
}

// errNoAppChosen: the customer chose no application (refused, timed out,
// or could not be asked): the card is not accepted.
var errNoAppChosen = errors.New("no chip application chosen")

// appLabel is how the display names an application: its label from the
// card (printable ASCII only, at most 16 characters), else its AID.
func appLabel(c emv.Candidate) string {
	b := make([]byte, 0, len(c.Label))
	for _, r := range c.Label {
		if r >= 0x20 && r < 0x7f {
			b = append(b, byte(r))
		}
	}
	if l := strings.TrimSpace(string(b)); l != "" {
		return l[:min(len(l), 16)]
	}
	return c.AIDHex()
}

// incorrectPINHold is how long "Incorrect PIN, try again" (or "PIN
// blocked") stays on the customer display before the next PIN prompt (or
// the outcome) replaces it.
const incorrectPINHold = 2 * time.Second

// Message shows the kernel's prompt on the customer display. The kernel
// asks for the PIN again right after saying the last one was wrong: that
// message is held a moment (on the engine's clock; a cancel ends the
// wait), or the customer would only see the prompt come back.
func (u chipUI) Message(ctx context.Context, m emv.Message) {
	u.e.mu.Lock()
	u.e.publishEvent(Event{Phase: PhaseMessage, Txn: u.s.rec, Message: m.String()})
	u.e.mu.Unlock()
	if m == emv.MsgIncorrectPIN || m == emv.MsgPINBlocked {
		_ = clock.Sleep(ctx, u.e.clock, incorrectPINHold)
	}
}

// OfflinePIN reads the PIN for the card to verify (EMV book 3 6.5.12
// format 2 block; the kernel wipes it after VERIFY).
func (u chipUI) OfflinePIN(ctx context.Context, r emv.OfflinePINRequest) ([]byte, error) {
	if u.e.o.PIN == nil {
		return nil, fmt.Errorf("%w: no PIN pad", ErrPIN)
	}
	u.e.mu.Lock()
	u.e.publishEvent(Event{Phase: PhasePIN, Txn: u.s.rec, PINLastTry: r.LastTry})
	u.e.mu.Unlock()
	// The kernel waits on the PIN pad, the card idle: a card pulled out
	// meanwhile ends the entry at once (VERIFY would fail anyway).
	pinCtx, stop := u.e.watchCard(ctx, u.s.card.Chip)
	defer stop()
	block, err := u.e.o.PIN.ReadPIN(pinCtx, func(p pin.Progress) {
		u.e.mu.Lock()
		u.e.publishEvent(pinEvent(Event{Phase: PhasePIN, Txn: u.s.rec, PINLastTry: r.LastTry}, p))
		u.e.mu.Unlock()
	}, pinblock.EncodeFormat2Digits)
	if err != nil && context.Cause(pinCtx) == errCardPulled && ctx.Err() == nil {
		return nil, fmt.Errorf("%w: %w", emv.ErrCardRemoved, errCardPulled)
	}
	return block, err
}

// errCardPulled ends a PIN entry whose inserted card left the slot.
var errCardPulled = errors.New("the card left the slot during PIN entry")

// cardPoll is how often an inserted card's presence is asked during PIN
// entry.
const cardPoll = 250 * time.Millisecond

// watchCard returns ctx cancelled with errCardPulled as soon as the
// inserted card c is known to have left the slot (asked every cardPoll:
// the reader tells without disturbing the card, which sits idle while
// the PIN is typed), and stop, which ends the watch and waits for it.
// A tapped card, or a reader that cannot tell, is not watched.
func (e *Engine) watchCard(ctx context.Context, c *Chip) (context.Context, func()) {
	if c == nil || c.Interface != emv.Contact {
		return ctx, func() {}
	}
	if _, ok := c.Card.(apdu.Presence); !ok {
		return ctx, func() {}
	}
	wctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-wctx.Done():
				return
			case <-e.clock.After(cardPoll):
			}
			if cardLeft(wctx, c) {
				cancel(errCardPulled)
				return
			}
		}
	}()
	return wctx, func() { cancel(nil); <-done }
}

// runChip runs the EMV kernel on the card of s, up to the request's
// commit (online), or to the sale's end (offline outcomes, failures).
func (e *Engine) runChip(ctx context.Context, s *sale) (chipOutcome, error) {
	chip := s.card.Chip
	if e.o.Kernel == nil {
		s.releaseChip()
		e.fail(s, FailCardRead, fmt.Errorf("%w: chip cards are not accepted (no EMV kernel)", ErrCardRead))
		return chipDone, nil
	}
	// The DUKPT session first: a PIN entered for the card goes into a
	// block under its key.
	sess, err := e.session(s)
	if err != nil {
		s.releaseChip()
		e.fail(s, FailKeys, fmt.Errorf("%w: %w", ErrKeys, err))
		return chipDone, nil
	}
	s.sess = sess
	kind := host.Kind(s.rec.Kind)
	// Only a sale may be approved by the card offline, within the
	// offline rules.
	forceOnline := kind != host.KindPurchase || !e.offlineAllowed(ctx, s)
	es, err := e.o.Kernel.Start(ctx, chip.Card, chip.Interface, emv.Txn{
		Amount: s.rec.Amount, Currency: s.rec.Currency, Type: emvType(kind), Date: e.clock.Now(),
		HostReachable: true, ForceOnline: forceOnline,
	}, chipUI{e: e, s: s})
	if es != nil {
		s.emv = es
		sum := es.Summary()
		s.chip = chipRecord(sum)
	}
	if err != nil || es.Outcome() == emv.OutcomeEndApplication || es.Outcome() == emv.OutcomeTryAnotherInterface {
		return e.chipEnded(ctx, s, es, err)
	}
	cd := es.Card()
	s.card.PAN, s.card.ServiceCode = cd.PAN, cd.ServiceCode
	masked := redact.MaskPAN(cd.PAN)
	s.card.EntryMode = entryModeChip
	if chip.Interface == emv.Contactless {
		s.card.EntryMode = entryModeContactless
	}
	if done, err := e.checkRisk(ctx, s, masked); done || err != nil {
		s.releaseChip()
		return chipDone, err
	}
	outcome := es.Outcome()
	if outcome == emv.OutcomeApprovedOffline && forceOnline {
		// The kernels refuse a card's offline approval the reader did
		// not allow; should one still come, it is not the terminal's.
		e.log.Warn("chip approved offline what the terminal sent online: declined", "id", s.rec.ID, "pan", masked)
		outcome = emv.OutcomeDeclinedOffline
	}
	switch outcome {
	case emv.OutcomeApprovedOffline:
		e.log.Info("chip approved offline", "id", s.rec.ID, "pan", masked)
		s.releaseChip()
		// The advice's card data, sealed: the track 2 equivalent as an
		// online request would carry it, and the TC's chip data.
		t2 := []byte(strings.ToUpper(hex.EncodeToString(cd.Track2Equivalent)))
		sealed, serr := e.sealAdvice(s.rec.ID, t2, es.OnlineData())
		clear(t2)
		if serr != nil {
			e.fail(s, FailKeys, fmt.Errorf("%w: sealing the offline approval: %w", ErrKeys, serr))
			return chipDone, nil
		}
		recorded := false
		err := e.commit(s, PhaseDone, func(tx *store.Tx, r *store.Txn) error {
			if s.pending != nil {
				if err := s.pending.Save(tx.Bolt()); err != nil {
					return err
				}
			}
			// The advice's STAN, once: every attempt is the same advice.
			stan, err := tx.NextSTAN()
			if err != nil {
				return err
			}
			if err := tx.AssignNumbers(r); err != nil {
				return err
			}
			r.State, r.ResponseCode, r.MaskedPAN, r.EntryMode = store.StateOfflineApproved, host.OfflineApproved, masked, s.card.EntryMode
			r.Chip, r.CVM, r.STAN = s.chip, chipCVM(es), stan
			// The velocity entry: an offline sale is a sale of the card.
			recorded = e.recordRiskTx(tx, s)
			// The advice that forwards it to the host.
			return tx.Enqueue(&store.Job{Kind: store.JobAdvice, TxnID: r.ID, Data: sealed})
		})
		if err == nil {
			if !recorded {
				e.recordRisk(s, true)
			}
			e.wake()
		}
		return chipDone, err
	case emv.OutcomeDeclinedOffline:
		e.log.Info("chip declined offline", "id", s.rec.ID, "pan", masked)
		s.releaseChip()
		err := e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.ResponseCode, r.MaskedPAN, r.EntryMode = store.StateDeclined, "Z1", masked, s.card.EntryMode
			r.Chip, r.CVM = s.chip, chipCVM(es)
			return nil
		})
		return chipDone, err
	}
	// Online request: the online PIN when the card's CVM list chose it
	// (the kernel left its capture to the sale), or when the risk rules
	// want one (over the no-CVM limit, a balance inquiry) and the card
	// verified no PIN itself: the stricter of the two wins. The record
	// says what was verified (signature, offline PIN, a phone's CDCVM),
	// as offline outcomes' records do.
	s.cvm = risk.CVMNone
	m := es.CVM().Method
	if m != emv.CVMNone && m != emv.CVMOnlinePIN {
		s.cvm = risk.CVM(m.String())
	}
	pinDone := m == emv.CVMOfflinePlainPIN || m == emv.CVMOfflineEncPIN || m == emv.CVMCDCVM
	pinRead := false
	if m == emv.CVMOnlinePIN || (!pinDone && s.decision.CVM == risk.CVMOnlinePIN) {
		pinCtx, stop := e.watchCard(ctx, chip)
		done := e.readPIN(pinCtx, s)
		stop()
		if done {
			s.releaseChip()
			return chipDone, nil
		}
		pinRead = true
	}
	if pinRead && cardLeft(ctx, chip) {
		// Pulled out of the slot while the PIN was typed: nothing is sent
		// for a card that cannot finish the transaction; the host would
		// approve, then have to take the approval back.
		e.log.Info("chip card removed before the request, nothing sent", "id", s.rec.ID, "pan", masked)
		s.releaseChip()
		e.fail(s, FailCardRemoved, fmt.Errorf("%w: the card left the slot before the request was sent", ErrCardRemoved))
		return chipDone, nil
	}
	s.icc = es.OnlineData()
	s.card.Track2 = []byte(strings.ToUpper(hex.EncodeToString(cd.Track2Equivalent)))
	return chipDone, e.commitRequest(ctx, s, masked)
}

// cardLeft says whether an inserted card is known to have left the slot:
// the reader tells without disturbing the card (apdu.Presence). A tapped
// card may leave the field once the kernel is done, and a reader that
// cannot tell, or fails to, says nothing.
func cardLeft(ctx context.Context, c *Chip) bool {
	if c == nil || c.Interface != emv.Contact {
		return false
	}
	p, ok := c.Card.(apdu.Presence)
	if !ok {
		return false
	}
	present, err := p.CardPresent(ctx)
	return err == nil && !present
}

// chipEnded ends a kernel run that did not reach a decision: another
// interface, a fallback to the stripe, or a failure with its code.
func (e *Engine) chipEnded(ctx context.Context, s *sale, es *emv.Session, err error) (chipOutcome, error) {
	contactless := s.card != nil && s.card.Chip != nil && s.card.Chip.Interface == emv.Contactless
	s.releaseChip()
	var reason emv.Reason
	if es != nil {
		reason = es.Reason()
	}
	switch {
	case es != nil && (es.Outcome() == emv.OutcomeTryAnotherInterface || reason == emv.ReasonOverLimit || reason == emv.ReasonInterface):
		return chipOtherMedium, nil
	case e.ctx.Err() != nil:
		e.fail(s, FailShutdown, ErrShutdown)
	case ctx.Err() != nil:
		e.fail(s, FailCancelled, ErrCancelled)
	case (errors.Is(err, emv.ErrCardRemoved) || reason == emv.ReasonCardRemoved) && contactless:
		// Torn: the card left the field before the kernel's outcome, and
		// nothing was sent. A reader asks for it again (EMV Book A's Try
		// Again, "present card again"); the card timeout still bounds the
		// sale.
		s.torn = true
		e.log.Info("contactless card left the field too early, asking again", "id", s.rec.ID, "err", orErr(err, reason))
		return chipTapAgain, nil
	case (errors.Is(err, emv.ErrSeePhone) || reason == emv.ReasonSeePhone) && contactless:
		// The phone wants its holder to confirm on it (unlock,
		// fingerprint): nothing was sent and the chip did not fail; the
		// holder looks at the phone and taps again (EMV Book A's
		// "see phone"), within the card timeout.
		e.log.Info("the phone asks its holder to confirm on it, asking for another tap", "id", s.rec.ID, "err", orErr(err, reason))
		return chipSeePhone, nil
	case errors.Is(err, emv.ErrCardRemoved) || reason == emv.ReasonCardRemoved:
		e.fail(s, FailCardRemoved, fmt.Errorf("%w: %w", ErrCardRemoved, orErr(err, reason)))
	case errors.Is(err, errNoAppChosen):
		e.fail(s, FailCardNotAccepted, fmt.Errorf("%w: %w", ErrCardNotAccepted, err))
	case errors.Is(err, emv.ErrCancelled) && errors.Is(err, pin.ErrTimeout):
		// The customer entered no PIN in time: not a Cancel.
		e.fail(s, FailPINTimeout, err)
	case errors.Is(err, emv.ErrCancelled) || reason == emv.ReasonCancelled:
		e.fail(s, FailPINCancelled, orErr(err, reason))
	case reason == emv.ReasonCardBlocked || reason == emv.ReasonAppBlocked || reason == emv.ReasonNoApplication ||
		reason == emv.ReasonServiceNotAllowed || errors.Is(err, emv.ErrAppBlocked) || errors.Is(err, emv.ErrCardBlocked) ||
		errors.Is(err, emv.ErrNoApplication):
		e.fail(s, FailCardNotAccepted, fmt.Errorf("%w: %w", ErrCardNotAccepted, orErr(err, reason)))
	default:
		// The chip could not be read: ask again, the stripe allowed
		// (fallback).
		s.chipFailed = true
		e.log.Info("chip read failed, asking again", "id", s.rec.ID, "err", orErr(err, reason))
		return chipReadAgainAll, nil
	}
	return chipDone, nil
}

// OfflineChecker is implemented by risk rules that judge, before the card
// is read, whether a sale could be approved offline (terminal/risk.Engine).
type OfflineChecker interface {
	CheckOffline(ctx context.Context, t risk.Txn) risk.Decision
}

// canSeal says whether an offline approval's card data can be kept for
// its advice: there is a sealer, and it has room.
func (e *Engine) canSeal() bool {
	if e.o.Sealer == nil {
		return false
	}
	f, ok := e.o.Sealer.(interface{ Full() bool })
	return !ok || !f.Full()
}

// offlineAllowed says whether the card may approve this sale offline: a
// sealer keeps its advice's card data, and the risk rules' offline limits
// (floor limit, count, amount and age of the approvals still waiting to
// be forwarded) leave room for it. When they do not, the kernel is told
// to go online, and the rule is kept: should the host be unreachable, it
// is the sale's reason.
func (e *Engine) offlineAllowed(ctx context.Context, s *sale) bool {
	if !e.canSeal() {
		return false
	}
	if e.o.Risk == nil {
		return true
	}
	oc, ok := e.o.Risk.(OfflineChecker)
	if !ok {
		return false // rules that cannot judge offline approvals allow none
	}
	d := oc.CheckOffline(ctx, risk.Txn{Type: risk.TypeSale, Amount: s.rec.Amount, Currency: s.rec.Currency,
		Entry: s.card.Mode, Online: false})
	if !d.Allow {
		s.offlineRefusal = &d
	}
	return d.Allow
}

func orErr(err error, r emv.Reason) error {
	if err != nil {
		return err
	}
	return errors.New(r.String())
}

// completeChip gives the kernel the host's answer (second GENERATE AC,
// issuer scripts, for a card in the slot) and says whether the card
// approved too. With no usable answer the kernel runs "unable to go
// online"; its decision does not matter, the request is reversed.
func (e *Engine) completeChip(s *sale, res host.Result, answered bool) (approved bool, err error) {
	if s.emv == nil {
		return answered && res.Approved(), nil
	}
	hr := emv.HostResponse{Responded: answered}
	if answered {
		hr.Approved = res.Approved()
		copy(hr.ARC[:], res.ARC())
		hr.IssuerAuthData = res.Issuer.AuthData
		for _, sc := range res.Issuer.Scripts {
			b, err := host.IssuerData{Scripts: []host.Script{sc}}.Encode()
			if err != nil {
				continue
			}
			if sc.After {
				hr.Scripts72 = append(hr.Scripts72, b)
			} else {
				hr.Scripts71 = append(hr.Scripts71, b)
			}
		}
	}
	ctx, cancel := context.WithTimeout(e.hostCtx, e.o.HostTimeout)
	defer cancel()
	out, err := s.emv.Complete(ctx, hr)
	s.chip = chipRecord(s.emv.Summary())
	if s.card.Chip != nil && s.card.Chip.Interface == emv.Contact {
		chipUI{e: e, s: s}.Message(ctx, emv.MsgRemoveCard)
	}
	s.releaseChip()
	return out == emv.OutcomeApproved, err
}

func chipRecord(sum emv.Summary) *store.Chip {
	return &store.Chip{Interface: sum.Interface, AID: sum.AID, Label: sum.Label, TVR: sum.TVR, TSI: sum.TSI,
		Cryptogram: sum.Cryptogram, CVMResults: sum.CVMResults, ATC: sum.ATC, Kernel: sum.Kernel}
}

func chipCVM(es *emv.Session) string { return es.CVM().Method.String() }

// releaseChip lets the card go, once.
func (s *sale) releaseChip() {
	if s.card == nil || s.card.Chip == nil || s.chipReleased {
		return
	}
	s.chipReleased = true
	if s.card.Chip.Release != nil {
		s.card.Chip.Release(context.Background())
	}
}

// emvType is the EMV transaction type (9C) of kind: a pre-authorization
// is a purchase to the card.
func emvType(k host.Kind) byte {
	switch k {
	case host.KindRefund:
		return emv.TypeRefund
	case host.KindBalance:
		return emv.TypeBalance
	}
	return emv.TypePurchase
}
