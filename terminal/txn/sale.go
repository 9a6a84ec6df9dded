package txn

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"posd/terminal/dukptkeys"
	"posd/terminal/emv"
	"posd/terminal/host"
	"posd/terminal/pin"
	"posd/terminal/redact"
	"posd/terminal/risk"
	"posd/terminal/store"
	"posd/terminal/wiresec"

	"go.etcd.io/bbolt"
)

// sale is one sale in progress: its record as last committed, and what
// lives only in memory (the card, the session) until the sale ends.
type sale struct {
	rec store.Txn
	// stranded: its outcome could not be written and its waiters were
	// told it failed (strand): it runs no further step.
	stranded bool
	// handedOver: its outcome is the outbox's to learn (a wallet refund
	// in doubt); it runs no further step.
	handedOver bool
	// stored: rec is on disk. A sale lives in memory until its first
	// commit (the request, or its end): a crash before that loses a sale
	// nothing was sent for, and saves a commit on every sale.
	stored bool
	// pending is the DUKPT session whose state is stored with the
	// request's commit.
	pending *dukptkeys.Pending
	card    *Card
	sess    *wiresec.Session
	// unreadable counts cards presented but unreadable, for the reason
	// given at the card timeout.
	unreadable int
	sentAt     time.Time
	// decision is the risk rules' verdict (its Card, the keyed hash, goes
	// to Risk.Record after an approval).
	decision risk.Decision
	// pinBlock is the encrypted PIN block, when a PIN was entered.
	pinBlock []byte
	cvm      risk.CVM
	// mode is how the card was presented (kept after the card is wiped).
	mode risk.EntryMode
	// The chip's side: the kernel's session (wiped with the sale), the
	// record's summary, the DE55 of the request, and whether the chip
	// failed (the stripe is then accepted: fallback).
	emv          *emv.Session
	chip         *store.Chip
	icc          []byte
	chipFailed   bool
	chipReleased bool
	// torn: a contactless card left the field before the kernel was
	// done; it was asked for again.
	torn bool
	// offlineRefusal is the offline rule that kept the card from
	// approving offline (the kernel was told to go online).
	offlineRefusal *risk.Decision
	// orig is the record a void, completion or refund refers to.
	orig *store.Txn
	// cancelled: the cashier cancelled after the request left; an
	// approval is then reversed (cancelled at the terminal).
	cancelled bool
	// lateCancel: the step in flight honours a cancel that comes after
	// the request left (it reads cancelled once the answer is in and
	// undoes an approval). Engine.Cancel refuses one for a step that
	// does not (a wallet refund: nothing undoes it at the platform).
	lateCancel bool
	// method is Request.Method, platform Request.Platform.
	method, platform string
	// onCancel, when set, is called (under the engine's lock) when the
	// cashier cancels after the request left: a merchant-presented sale
	// stops waiting for the customer.
	onCancel func()
	// stopCardWait ends the wait for a card when the customer chooses
	// face pay on the display instead (faceChosen).
	stopCardWait func()
	faceChosen   bool
	// holdsCard: a card is read and in use (card set); ChooseFace reads
	// it from another goroutine without the sale's own fields.
	holdsCard atomic.Bool
}

// cancelledAfterSend says whether the cashier cancelled sale s after
// its request had left (Engine.Cancel then accepts and sets it).
func (e *Engine) cancelledAfterSend(s *sale) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return s.cancelled
}

func (s *sale) wipe() {
	s.releaseChip()
	if s.emv != nil {
		s.emv.Wipe()
	}
	if s.card != nil && s.card.Wipe != nil {
		s.card.Wipe()
	}
	s.card = nil
	s.holdsCard.Store(false)
	clear(s.pinBlock)
	s.pinBlock = nil
	if s.sess != nil {
		s.sess.Wipe()
		s.sess = nil
	}
}

// step does the work of the record's current state and commits the next
// one. A nil error with a state that has no step ends the run.
type step func(ctx context.Context, s *sale) error

func (e *Engine) steps() map[store.State]step {
	return map[store.State]step{
		store.StateCreated:  e.stepCreated,
		store.StateAuthSent: e.stepAuthSent,
	}
}

// runSale drives s through its states until one has no step (final, or
// reversal_pending, which the outbox takes over).
func (e *Engine) runSale(ctx context.Context, s *sale) {
	defer s.wipe()
	defer e.release(s)
	steps := e.steps()
	for {
		fn, ok := steps[s.rec.State]
		if !ok {
			return
		}
		err := fn(ctx, s)
		if s.stranded || s.handedOver {
			return
		}
		if err != nil {
			// Only store errors get here: the steps record every other
			// failure themselves.
			e.log.Error("sale stopped: its record could not be written", "id", s.rec.ID, "state", s.rec.State, "err", err)
			if s.rec.State == store.StateCreated && !s.stored {
				// Nothing on disk, nothing sent.
				e.fail(s, FailInternal, err)
				return
			}
			// auth_sent stays on disk: the engine reverses it once
			// the disk takes writes (a restart would too).
			e.strand(s, err)
			return
		}
	}
}

// release frees the terminal for the next sale.
func (e *Engine) release(s *sale) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.active == s.rec.ID {
		e.active, e.cancel = "", nil
		e.counterFreeLocked()
	}
	if e.sale == s {
		e.sale = nil
	}
}

// commit writes the record's next version (and whatever else fn does in
// the same transaction), then publishes it.
func (e *Engine) commit(s *sale, phase Phase, fn func(tx *store.Tx, r *store.Txn) error) error {
	if phase == PhaseDone {
		step := fn
		fn = func(tx *store.Tx, r *store.Txn) error {
			if err := step(tx, r); err != nil {
				return err
			}
			s.noteInsertedCard(r)
			return nil
		}
	}
	var out store.Txn
	err := e.o.Store.Do(func(tx *store.Tx) error {
		if !s.stored {
			// The sale's first write: the record goes to disk in the
			// state this step reached (until now it lived in memory).
			out = s.rec
			if err := fn(tx, &out); err != nil {
				return err
			}
			return tx.Insert(&out)
		}
		var err error
		out, err = tx.Update(s.rec.ID, func(r *store.Txn) error { return fn(tx, r) })
		return err
	})
	if err != nil {
		return err
	}
	e.mu.Lock()
	s.rec, s.stored = out, true
	ended := false
	if phase == PhaseDone {
		// Whoever sees the outcome may start the next sale at once.
		if e.active == out.ID {
			e.active, e.cancel, ended = "", nil, true
			e.counterFreeLocked()
		}
	}
	e.publishEvent(Event{Phase: phase, Txn: out, Ended: ended})
	e.mu.Unlock()
	return nil
}

// noteInsertedCard records, on an outcome whose step left the entry mode
// unset (the sale ended before its request: a PIN entry cancelled or timed
// out, the card refused), that the sale's card was inserted: it is still
// in the contact slot, and the outcome's screen reminds the customer to
// take it, as after a decline. A card pulled out is not there to take.
func (s *sale) noteInsertedCard(r *store.Txn) {
	if r.EntryMode != "" || r.Failure == string(FailCardRemoved) || s.card == nil || s.card.Chip == nil ||
		s.card.Chip.Interface != emv.Contact {
		return
	}
	r.EntryMode = entryModeChip
}

// fail ends s failed with code f. The store error, if any, is logged: the
// record then stays as it was for crash recovery.
func (e *Engine) fail(s *sale, f Failure, cause error) {
	e.log.Info("sale failed", "id", s.rec.ID, "failure", f, "err", cause)
	err := e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
		r.State, r.Failure, r.Error = store.StateFailed, string(f), cause.Error()
		return nil
	})
	if err != nil {
		e.strand(s, err)
	}
}

// stepCreated waits for a usable card, then takes a transaction key and a
// STAN and commits auth_sent: from then on a crash ends in a reversal,
// never in a lost or doubled sale.
func (e *Engine) stepCreated(ctx context.Context, s *sale) error {
	switch {
	case s.method == MethodQR:
		return e.stepWallet(ctx, s)
	case s.method == MethodMPM:
		return e.stepMPM(ctx, s)
	case s.method == MethodFace:
		return e.stepFace(ctx, s)
	case s.orig != nil && s.orig.Wallet != nil:
		return e.stepWalletRefund(s)
	case !needsCard(host.Kind(s.rec.Kind)):
		return e.stepReference(ctx, s)
	}
	deadline := e.clock.Now().Add(e.o.CardTimeout)
	modes := e.o.Modes
	waitCtx, stopWait := context.WithCancel(ctx)
	defer stopWait()
	e.mu.Lock()
	s.stopCardWait = stopWait
	if s.faceChosen {
		stopWait()
	}
	e.mu.Unlock()
	for {
		card, err := e.readCard(waitCtx, deadline, modes)
		if err != nil && e.endIfStopped(ctx, s) {
			return nil
		}
		e.mu.Lock()
		chosen := s.faceChosen && s.card == nil && err != nil
		if chosen {
			s.method, s.stopCardWait = MethodFace, nil
		}
		e.mu.Unlock()
		if chosen {
			e.log.Info("customer chose face pay", "id", s.rec.ID)
			return e.stepFace(ctx, s)
		}
		switch {
		case err == nil:
		case errors.Is(err, ErrCollision) && e.clock.Now().Before(deadline):
			// The reader picks no card while two are in the field.
			e.log.Info("more than one card in the field, asking for one", "id", s.rec.ID)
			e.publishRetry(s, "one_card")
			continue
		case errors.Is(err, ErrUnreadable) && e.clock.Now().Before(deadline):
			// Ask for the card again; the sale goes on until the card
			// timeout.
			s.unreadable++
			e.log.Info("card unreadable, asking again", "id", s.rec.ID, "err", err)
			e.publishRetry(s, "")
			continue
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, ErrUnreadable):
			switch {
			case s.torn && s.unreadable == 0 && !s.chipFailed && !errors.Is(err, ErrUnreadable):
				e.fail(s, FailCardRemoved, fmt.Errorf("%w: the contactless card left the field too early and was not presented again", ErrCardRemoved))
			case s.unreadable > 0 || s.chipFailed || errors.Is(err, ErrUnreadable):
				e.fail(s, FailCardRead, fmt.Errorf("%w: no readable card before the card timeout", ErrCardRead))
			default:
				e.fail(s, FailNoCard, ErrNoCard)
			}
			return nil
		default:
			e.fail(s, FailCardRead, fmt.Errorf("%w: %w", ErrCardRead, err))
			return nil
		}
		s.card = card
		s.holdsCard.Store(true)
		s.mode = card.Mode
		if card.Chip != nil {
			out, err := e.runChip(ctx, s)
			switch out {
			case chipOtherMedium:
				// A contactless card asked for another interface.
				modes = without(e.o.Modes, risk.EntryTap)
				s.wipeCard()
				e.publishRetry(s, "insert_or_swipe")
				continue
			case chipReadAgainAll:
				s.wipeCard()
				e.publishRetry(s, "")
				continue
			case chipTapAgain:
				s.wipeCard()
				e.readAgain()
				e.publishRetry(s, "tap_again")
				continue
			case chipSeePhone:
				s.wipeCard()
				e.readAgain()
				e.publishRetry(s, "see_phone")
				continue
			}
			return err
		}
		if chipOnStripe(card.ServiceCode) && slices.Contains(modes, risk.EntryInsert) && !s.chipFailed {
			// A chip card swiped: the chip goes first (fallback to the
			// stripe only after the chip failed).
			e.log.Info("chip card swiped, asking for the chip", "id", s.rec.ID)
			s.wipeCard()
			e.publishRetry(s, "insert")
			continue
		}
		if s.chipFailed {
			card.EntryMode = entryModeFallback
		}
		return e.swiped(ctx, s)
	}
}

// readCard waits for a card in modes until deadline; a card that arrives
// as the sale is cancelled is dropped.
func (e *Engine) readCard(ctx context.Context, deadline time.Time, modes []risk.EntryMode) (*Card, error) {
	cardCtx, cancel := context.WithTimeout(ctx, deadline.Sub(e.clock.Now()))
	defer cancel()
	var (
		card *Card
		err  error
	)
	if mr, ok := e.o.Reader.(ModalReader); ok && len(modes) > 0 {
		card, err = mr.ReadCardIn(cardCtx, modes)
	} else {
		card, err = e.o.Reader.ReadCard(cardCtx)
	}
	if err == nil && ctx.Err() != nil {
		card.Release()
		return nil, ctx.Err()
	}
	return card, err
}

// readAgain tells the card reader, when it can be told, that the card
// still in the contactless field is to be read again (a phone its holder
// confirms on while holding it there): a reader that waits for a new
// card would never see it.
func (e *Engine) readAgain() {
	if r, ok := e.o.Reader.(interface{ ReadAgain() }); ok {
		r.ReadAgain()
	}
}

// publishRetry asks for the card again; hint says how ("insert",
// "insert_or_swipe", "tap_again" after a contactless card left the field
// too early, "see_phone" after a phone asked its holder to confirm on it,
// "one_card" when more than one card was in the field; "" after an
// unreadable card).
func (e *Engine) publishRetry(s *sale, hint string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.publishEvent(Event{Phase: PhaseRetryCard, Txn: s.rec, Prompt: hint})
}

// chipOnStripe: the service code says the card has a chip (2xx, 6xx).
func chipOnStripe(sc string) bool { return len(sc) == 3 && (sc[0] == '2' || sc[0] == '6') }

func without(modes []risk.EntryMode, m risk.EntryMode) []risk.EntryMode {
	var out []risk.EntryMode
	for _, x := range modes {
		if x != m {
			out = append(out, x)
		}
	}
	return out
}

// wipeCard forgets a card the sale does not use.
func (s *sale) wipeCard() {
	s.releaseChip()
	if s.emv != nil {
		s.emv.Wipe()
		s.emv = nil
	}
	if s.card != nil {
		s.card.Release()
	}
	s.card, s.chip, s.chipReleased = nil, nil, false
	s.holdsCard.Store(false)
}

// swiped runs a swiped card: expiry, risk rules, PIN when they ask for
// one, then the request's commit.
func (e *Engine) swiped(ctx context.Context, s *sale) error {
	masked := redact.MaskPAN(s.card.PAN)
	if expired(s.card.Expiry, e.clock.Now()) {
		e.log.Info("card expired", "id", s.rec.ID, "pan", masked)
		err := e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.MaskedPAN, r.State, r.Failure, r.Error = masked, store.StateFailed, string(FailCardExpired), ErrCardExpired.Error()
			return nil
		})
		return err
	}
	if done, err := e.checkRisk(ctx, s, masked); done || err != nil {
		return err
	}
	sess, err := e.session(s)
	if err != nil {
		e.fail(s, FailKeys, fmt.Errorf("%w: %w", ErrKeys, err))
		return nil
	}
	s.sess = sess
	s.cvm = risk.CVMNone
	if s.decision.CVM == risk.CVMOnlinePIN {
		if done := e.readPIN(ctx, s); done {
			return nil
		}
	}
	return e.commitRequest(ctx, s, masked)
}

// commitRequest commits auth_sent (record, STAN, the session's DUKPT
// state): from then on a crash ends in a reversal, never in a lost or
// doubled sale.
func (e *Engine) commitRequest(ctx context.Context, s *sale, masked string) error {
	s.sentAt = e.clock.Now()
	e.mu.Lock()
	if ctx.Err() != nil {
		// Cancelled while the PIN was being entered, or by a shutdown.
		e.mu.Unlock()
		s.releaseChip()
		e.endIfStopped(ctx, s)
		return nil
	}
	e.sending, s.lateCancel = true, true
	e.mu.Unlock()
	sess := s.sess
	entry := ""
	if s.card != nil {
		entry = s.card.EntryMode
	} else if s.orig != nil {
		entry = s.orig.EntryMode
	}
	err := e.commit(s, PhaseProcessing, func(tx *store.Tx, r *store.Txn) error {
		if s.orig != nil && !needsCard(host.Kind(r.Kind)) {
			// The original again, in the commit that sends the request:
			// nothing voided or completed it since the cashier asked.
			o, err := tx.Get(s.orig.ID)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrOriginal, err)
			}
			if err := usableOriginal(tx, host.Kind(r.Kind), o); err != nil {
				return err
			}
			s.orig = &o
		}
		if s.pending != nil {
			// The DUKPT state of this KSN commits with the request.
			if err := s.pending.Save(tx.Bolt()); err != nil {
				return err
			}
		}
		stan, err := tx.NextSTAN()
		if err != nil {
			return err
		}
		if err := tx.AssignNumbers(r); err != nil {
			return err
		}
		r.State, r.STAN, r.KSN = store.StateAuthSent, stan, hex.EncodeToString(sess.KSN())
		r.MaskedPAN, r.EntryMode, r.SentAt, r.CVM = masked, entry, s.sentAt.UTC(), string(s.cvm)
		if s.chip != nil {
			r.Chip = s.chip
		}
		return nil
	})
	if errors.Is(err, ErrOriginal) {
		e.fail(s, FailOriginal, err)
		return nil
	}
	return err
}

// stepAuthSent sends the request committed by stepCreated and commits its
// outcome: approved, declined, failed when nothing left, or
// reversal_pending with its outbox job when the outcome is unknown.
//
// An outbox attempt at the host as the request is ready keeps the link
// until it ends; the request's host timeout starts after it.
func (e *Engine) stepAuthSent(_ context.Context, s *sale) error {
	kind := host.Kind(s.rec.Kind)
	e.waitForOutbox(e.hostCtx, s)
	hctx, cancel := context.WithTimeout(e.hostCtx, e.o.HostTimeout)
	var (
		res host.Result
		err error
	)
	if needsCard(kind) {
		res, err = e.o.Host.Purchase(hctx, host.Purchase{
			Kind: kind, Orig: original(s.orig), Batch: s.rec.Batch,
			STAN: s.rec.STAN, Amount: s.rec.Amount, Currency: s.rec.Currency, EntryMode: s.card.EntryMode,
			Track2: s.card.Track2, PINBlock: s.pinBlock, ICC: s.icc, Time: s.sentAt,
		}, s.sess)
	} else {
		res, err = e.o.Host.FollowUp(hctx, host.Reference{
			Kind: kind, STAN: s.rec.STAN, Time: s.sentAt, Amount: s.rec.Amount, Currency: s.rec.Currency,
			EntryMode: s.rec.EntryMode, Batch: s.rec.Batch, Orig: original(s.orig),
		}, s.sess)
	}
	cancel()
	answered := err == nil
	if answered {
		e.hostAnswered()
	}
	cardApproved, cardErr := e.completeChip(s, res, answered)
	if kind == host.KindBalance {
		// The balance is shown whatever the card says after it: no
		// money moved.
		cardApproved, cardErr = true, nil
	}
	cancelled := e.cancelledAfterSend(s)
	// Nothing reached the host and the card approved anyway ("unable to
	// go online", its TC): within the offline limits that is an offline
	// approval, its advice sealed before the card data is wiped.
	var advice []byte
	if errors.Is(err, host.ErrUnreachable) && cardApproved && cardErr == nil && e.offlineFallback(s) {
		t2 := bytes.Clone(s.card.Track2)
		advice, err = e.sealAdvice(s.rec.ID, t2, s.emv.OnlineData())
		clear(t2)
		if err != nil {
			err = fmt.Errorf("%w: sealing the offline approval: %w", ErrKeys, err)
		}
	}
	s.wipe()
	switch {
	case advice != nil:
		e.log.Info("host unreachable, chip approved offline", "id", s.rec.ID, "stan", s.rec.STAN, "pan", s.rec.MaskedPAN)
		recorded := false
		if err := e.commit(s, PhaseDone, func(tx *store.Tx, r *store.Txn) error {
			r.State, r.ResponseCode, r.Chip = store.StateOfflineApproved, offlineUnableOnline, s.chip
			recorded = e.recordRiskTx(tx, s)
			// The request's STAN never reached the host: the advice uses it.
			return tx.Enqueue(&store.Job{Kind: store.JobAdvice, TxnID: r.ID, Data: advice})
		}); err != nil {
			return err
		}
		if !recorded {
			e.recordRisk(s, true)
		}
		e.wake()
		return nil
	case errors.Is(err, ErrKeys):
		e.log.Error("offline approval not kept", "id", s.rec.ID, "err", err)
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.Failure, r.Error, r.Chip = store.StateFailed, string(FailKeys), err.Error(), s.chip
			return nil
		})
	case err == nil && res.Approved() && cardApproved && !(cancelled && movesMoney(kind)):
		e.log.Info("transaction approved", "id", s.rec.ID, "kind", kind, "stan", s.rec.STAN, "pan", s.rec.MaskedPAN)
		recorded := false
		if err := e.commit(s, PhaseDone, func(tx *store.Tx, r *store.Txn) error {
			r.State, r.ResponseCode, r.AuthCode, r.RRN = store.StateApproved, res.ResponseCode, res.AuthCode, res.RRN
			r.Chip = s.chip
			if res.HasBalance {
				b := res.Balance
				r.Balance, r.BalanceCurrency = &b, res.BalanceCurrency
			}
			// A void or completion marks its original in the same
			// commit.
			if err := markOriginal(tx, r); err != nil {
				return err
			}
			// The velocity entry commits with the approval when the
			// rules can write in the same transaction.
			recorded = e.recordRiskTx(tx, s)
			return nil
		}); err != nil {
			return err
		}
		if !recorded {
			e.recordRisk(s, true)
		}
		return nil
	case err == nil && res.Approved():
		// The host approved, the card did not (an AAC at the second
		// GENERATE AC, or the card left before it), or the cashier
		// cancelled while the request was out: undo the approval.
		reason := host.ReasonOther
		why := "the card declined after the host approved"
		switch {
		case cancelled:
			reason, why = host.ReasonTerminalCancel, "the cashier cancelled before the transaction completed"
		case errors.Is(cardErr, emv.ErrCardRemoved):
			reason, why = host.ReasonCardRemoved, "the card was removed after the host approved"
		}
		e.log.Warn("host approved, card did not: reversal queued", "id", s.rec.ID, "stan", s.rec.STAN, "err", cardErr)
		if cerr := e.commit(s, PhaseDone, func(tx *store.Tx, r *store.Txn) error {
			r.State, r.ResponseCode, r.AuthCode, r.RRN = store.StateReversalPending, res.ResponseCode, res.AuthCode, res.RRN
			r.Error, r.Reason, r.Chip = why, string(reason), s.chip
			return tx.Enqueue(&store.Job{Kind: store.JobReversal, TxnID: r.ID})
		}); cerr != nil {
			return cerr
		}
		e.wake()
		return nil
	case err == nil:
		e.log.Info("sale declined", "id", s.rec.ID, "stan", s.rec.STAN, "rc", res.ResponseCode)
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.ResponseCode, r.RRN, r.Chip = store.StateDeclined, res.ResponseCode, res.RRN, s.chip
			return nil
		})
	case errors.Is(err, host.ErrUnreachable) && s.offlineRefusal != nil:
		// Nothing reached the host, and the offline limits kept the card
		// from approving offline: that rule is the reason.
		d := s.offlineRefusal
		e.log.Info("sale failed: host unreachable, offline limit", "id", s.rec.ID, "rule", d.Rule, "err", err)
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.Failure, r.RiskRule, r.Chip = store.StateFailed, string(FailRisk), string(d.Rule), s.chip
			r.Error = unreachableRefusal(d).Error()
			return nil
		})
	case errors.Is(err, host.ErrUnreachable):
		// Nothing reached the host: no reversal needed.
		e.log.Info("sale failed: host unreachable", "id", s.rec.ID, "err", err)
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.Failure, r.Error, r.Chip = store.StateFailed, string(FailHostUnreachable), err.Error(), s.chip
			return nil
		})
	case !movesMoney(kind):
		// A balance inquiry without a usable answer: nothing to undo.
		e.log.Info("balance inquiry without an answer", "id", s.rec.ID, "stan", s.rec.STAN, "err", err)
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.Failure, r.Chip = store.StateFailed, string(FailNoResponse), s.chip
			r.Error = fmt.Errorf("%w: %w", ErrNoResponse, err).Error()
			return nil
		})
	default:
		// Sent, outcome unknown (no response, bad MAC, bad response): the
		// host may have approved; reverse.
		e.log.Warn("sale outcome unknown, reversal queued", "id", s.rec.ID, "stan", s.rec.STAN, "err", err)
		if cerr := e.commit(s, PhaseDone, func(tx *store.Tx, r *store.Txn) error {
			r.State, r.Error, r.Reason, r.Chip = store.StateReversalPending, err.Error(), string(reversalReason(err)), s.chip
			return tx.Enqueue(&store.Job{Kind: store.JobReversal, TxnID: r.ID})
		}); cerr != nil {
			return cerr
		}
		e.wake()
		return nil
	}
}

// unreachableRefusal is the record's detail of a sale the host could not
// be reached for and the offline rule d kept from approving offline. Most
// offline rules already say the host was unreachable (their reasons are
// written for the offline check alone); it is said once.
func unreachableRefusal(d *risk.Decision) error {
	if strings.Contains(d.Reason, "host unreachable") {
		return fmt.Errorf("%w: %s", ErrRisk, d.Reason)
	}
	return fmt.Errorf("%w: host unreachable and %s", ErrRisk, d.Reason)
}

// offlineUnableOnline is DE39 of an offline approval the card gave
// because the host could not be reached (EMV Y3; Y1 is below the floor
// limit).
const offlineUnableOnline = "Y3"

// offlineFallback says whether a chip sale whose request could not reach
// the host may stand on the card's offline approval: a contact card (a
// tapped one has left the field), no online PIN (nobody verified it), a
// sealer for the advice, and the offline limits left room before the
// kernel started.
func (e *Engine) offlineFallback(s *sale) bool {
	return host.Kind(s.rec.Kind) == host.KindPurchase &&
		s.emv != nil && s.card != nil && s.card.Chip != nil && s.card.Chip.Interface == emv.Contact &&
		len(s.pinBlock) == 0 && e.canSeal() && s.offlineRefusal == nil
}

// checkRisk runs the risk rules on the card read. A refusal ends the sale
// (done) with FailRisk and the rule's code in the record.
func (e *Engine) checkRisk(ctx context.Context, s *sale, masked string) (done bool, err error) {
	if done, err := e.checkRefundCard(s, masked); done || err != nil {
		return done, err
	}
	if e.o.Risk == nil {
		s.decision = risk.Decision{Allow: true, CVM: risk.CVMNone}
		return false, nil
	}
	pan := []byte(s.card.PAN)
	s.decision = e.o.Risk.Check(ctx, risk.Txn{Type: riskType(host.Kind(s.rec.Kind)), Amount: s.rec.Amount, Currency: s.rec.Currency,
		Entry: s.card.Mode, PAN: pan, Online: true, Original: s.orig != nil})
	clear(pan)
	if s.decision.Allow {
		return false, nil
	}
	e.log.Info("sale refused by a risk rule", "id", s.rec.ID, "rule", s.decision.Rule, "reason", s.decision.Reason)
	return true, e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
		r.MaskedPAN, r.State, r.Failure = masked, store.StateFailed, string(FailRisk)
		r.RiskRule, r.Error = string(s.decision.Rule), fmt.Errorf("%w: %s", ErrRisk, s.decision.Reason).Error()
		return nil
	})
}

// checkRefundCard ends a refund of a card sale (done, FailWrongCard)
// when the card read is not the one that paid: the money goes back where
// it came from, never to whichever card the cashier presents. The cards
// are compared by their masked PANs (first 6, last 4 and length), all the
// terminal keeps of the sale's card; the host holds the full number. A
// sale paid with a phone's EMV payment code is not compared: its code
// carries the wallet's token number, which is not the card's.
func (e *Engine) checkRefundCard(s *sale, masked string) (done bool, err error) {
	if host.Kind(s.rec.Kind) != host.KindRefund || s.orig == nil || s.orig.MaskedPAN == "" || masked == s.orig.MaskedPAN ||
		s.orig.EntryMode == entryModeQR {
		return false, nil
	}
	e.log.Info("refund refused: not the card that paid", "id", s.rec.ID, "orig", s.orig.ID, "pan", masked, "orig_pan", s.orig.MaskedPAN)
	return true, e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
		r.MaskedPAN, r.State, r.Failure = masked, store.StateFailed, string(FailWrongCard)
		r.Error = fmt.Errorf("%w: transaction %s was paid with %s", ErrWrongCard, s.orig.ID, s.orig.MaskedPAN).Error()
		return nil
	})
}

// riskKeeps says whether the risk rules keep anything of s's approval:
// a card's (velocity), or any refund's (the terminal's refund total).
func (s *sale) riskKeeps() bool {
	return !s.decision.Card.IsZero() || host.Kind(s.rec.Kind) == host.KindRefund
}

// recordRisk tells the risk rules of an approval (velocity, refunds); a
// failure is logged, the approval stands.
func (e *Engine) recordRisk(s *sale, approved bool) {
	if e.o.Risk == nil || !s.riskKeeps() {
		return
	}
	err := e.o.Risk.Record(context.Background(), risk.Txn{Type: riskType(host.Kind(s.rec.Kind)), Amount: s.rec.Amount, Currency: s.rec.Currency,
		Entry: s.mode, Card: s.decision.Card, Online: true}, approved)
	if err != nil {
		e.log.Error("recording the sale for the risk rules", "id", s.rec.ID, "err", err)
	}
}

// RiskTx is implemented by risk rules that can record an approval inside
// the engine's own transaction (terminal/risk.Engine).
type RiskTx interface {
	RecordTx(ctx context.Context, tx *bbolt.Tx, t risk.Txn, approved bool) error
}

// recordRiskTx records the approval in tx; false when the rules cannot
// (the caller records it on its own) or it failed (logged: the approval
// stands).
func (e *Engine) recordRiskTx(tx *store.Tx, s *sale) bool {
	rt, ok := e.o.Risk.(RiskTx)
	if !ok || !s.riskKeeps() {
		return !ok && !s.riskKeeps()
	}
	err := rt.RecordTx(context.Background(), tx.Bolt(), risk.Txn{Type: riskType(host.Kind(s.rec.Kind)), Amount: s.rec.Amount,
		Currency: s.rec.Currency, Entry: s.mode, Card: s.decision.Card, Online: true}, true)
	if err != nil {
		e.log.Error("recording the sale for the risk rules", "id", s.rec.ID, "err", err)
	}
	return true
}

// KeyPreparer is implemented by key sources whose state can be stored in
// the engine's transaction (terminal/dukptkeys.Source).
type KeyPreparer interface {
	Prepare() (*dukptkeys.Pending, error)
}

// session takes the sale's DUKPT session: prepared (its state stored with
// the request's commit) when the key source can, else stored at once.
func (e *Engine) session(s *sale) (*wiresec.Session, error) {
	if kp, ok := e.o.Keys.(KeyPreparer); ok {
		p, err := kp.Prepare()
		if err != nil {
			return nil, err
		}
		s.pending = p
		return p.Sess, nil
	}
	return e.o.Keys.Next()
}

// readPIN asks the customer for the PIN, building the encrypted block
// under the sale's session. It ends the sale (done) when no PIN comes.
func (e *Engine) readPIN(ctx context.Context, s *sale) (done bool) {
	if e.o.PIN == nil {
		e.fail(s, FailPINUnavailable, fmt.Errorf("%w: no PIN pad", ErrPIN))
		return true
	}
	e.mu.Lock()
	e.publishPIN(s.rec, pin.Progress{})
	e.mu.Unlock()
	pan := s.card.PAN
	block, err := e.o.PIN.ReadPIN(ctx, func(p pin.Progress) {
		e.mu.Lock()
		e.publishPIN(s.rec, p)
		e.mu.Unlock()
	}, func(digits []byte) ([]byte, error) { return s.sess.EncryptPINDigits(digits, pan) })
	switch {
	case err == nil:
		s.pinBlock, s.cvm = block, risk.CVMOnlinePIN
		return false
	case e.ctx.Err() != nil:
		e.fail(s, FailShutdown, ErrShutdown)
	case context.Cause(ctx) == errCardPulled:
		// The card left the slot while the PIN was typed (watchCard):
		// nothing is sent for it.
		e.log.Info("chip card removed during PIN entry, nothing sent", "id", s.rec.ID)
		e.fail(s, FailCardRemoved, fmt.Errorf("%w: %w", ErrCardRemoved, errCardPulled))
	case ctx.Err() != nil:
		e.fail(s, FailCancelled, ErrCancelled)
	case errors.Is(err, pin.ErrCancelled), errors.Is(err, pin.ErrTimeout):
		e.fail(s, failureOf(err), err)
	default:
		e.fail(s, FailPINUnavailable, fmt.Errorf("%w: %w", ErrPIN, err))
	}
	return true
}

// endIfStopped ends s failed when the terminal is shutting down or the
// cashier cancelled it (ctx), and says whether it did.
func (e *Engine) endIfStopped(ctx context.Context, s *sale) bool {
	switch {
	case e.ctx.Err() != nil:
		e.fail(s, FailShutdown, ErrShutdown)
	case ctx.Err() != nil:
		e.fail(s, FailCancelled, ErrCancelled)
	default:
		return false
	}
	return true
}

// expired reports whether a YYMM expiry is before now's month.
func expired(yymm string, now time.Time) bool {
	if len(yymm) != 4 {
		return true
	}
	for i := 0; i < 4; i++ {
		if yymm[i] < '0' || yymm[i] > '9' {
			return true
		}
	}
	y := 2000 + int(yymm[0]-'0')*10 + int(yymm[1]-'0')
	m := int(yymm[2]-'0')*10 + int(yymm[3]-'0')
	ny, nm := now.Year(), int(now.Month())
	return m < 1 || m > 12 || y < ny || (y == ny && m < nm)
}

// reversalReason says why a sale is being reversed.
func reversalReason(err error) host.ReversalReason {
	switch {
	case errors.Is(err, host.ErrNoResponse):
		return host.ReasonNoResponse
	case errors.Is(err, host.ErrBadMAC):
		return host.ReasonMACFailure
	default:
		return host.ReasonBadResponse
	}
}
