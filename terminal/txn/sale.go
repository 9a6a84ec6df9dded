package txn

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"posd/terminal/host"
	"posd/terminal/redact"
	"posd/terminal/store"
	"posd/terminal/wiresec"
)

// sale is one sale in progress: its record as last committed, and what
// lives only in memory (the card, the session) until the sale ends.
type sale struct {
	rec  store.Txn
	card *Card
	sess *wiresec.Session
	// unreadable counts cards presented but unreadable, for the reason
	// given at the card timeout.
	unreadable int
	sentAt     time.Time
}

func (s *sale) wipe() {
	if s.card != nil && s.card.Wipe != nil {
		s.card.Wipe()
	}
	s.card = nil
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
	defer e.release(s.rec.ID)
	steps := e.steps()
	for {
		fn, ok := steps[s.rec.State]
		if !ok {
			return
		}
		if err := fn(ctx, s); err != nil {
			// Only store errors get here: the steps record every other
			// failure themselves.
			e.log.Error("sale stopped: its record could not be written", "id", s.rec.ID, "state", s.rec.State, "err", err)
			if s.rec.State == store.StateCreated {
				e.fail(s, FailInternal, err)
			}
			// auth_sent stays on disk: the next start reverses it.
			return
		}
	}
}

// release frees the terminal for the next sale.
func (e *Engine) release(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.active == id {
		e.active, e.cancel = "", nil
	}
}

// commit writes the record's next version (and whatever else fn does in
// the same transaction), then publishes it.
func (e *Engine) commit(s *sale, phase Phase, fn func(tx *store.Tx, r *store.Txn) error) error {
	var out store.Txn
	err := e.o.Store.Do(func(tx *store.Tx) error {
		var err error
		out, err = tx.Update(s.rec.ID, func(r *store.Txn) error { return fn(tx, r) })
		return err
	})
	if err != nil {
		return err
	}
	s.rec = out
	e.mu.Lock()
	if phase == PhaseDone {
		// Whoever sees the outcome may start the next sale at once.
		if e.active == out.ID {
			e.active, e.cancel = "", nil
		}
	}
	e.publishLocked(phase, out)
	e.mu.Unlock()
	return nil
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
		e.log.Error("recording a failed sale", "id", s.rec.ID, "err", err)
	}
}

// stepCreated waits for a usable card, then takes a transaction key and a
// STAN and commits auth_sent: from then on a crash ends in a reversal,
// never in a lost or doubled sale.
func (e *Engine) stepCreated(ctx context.Context, s *sale) error {
	deadline := e.clock.Now().Add(e.o.CardTimeout)
	for s.card == nil {
		cardCtx, cancel := context.WithTimeout(ctx, deadline.Sub(e.clock.Now()))
		card, err := e.o.Reader.ReadCard(cardCtx)
		cancel()
		e.mu.Lock()
		if err == nil && ctx.Err() != nil {
			// Cancelled as the card arrived: drop it.
			card.Wipe()
			err = ctx.Err()
		}
		e.cardRead = err == nil
		e.mu.Unlock()
		switch {
		case err == nil:
			s.card = card
		case e.ctx.Err() != nil:
			e.fail(s, FailShutdown, ErrShutdown)
			return nil
		case ctx.Err() != nil:
			e.fail(s, FailCancelled, ErrCancelled)
			return nil
		case errors.Is(err, ErrUnreadable) && e.clock.Now().Before(deadline):
			// Ask for the card again; the sale goes on until the card
			// timeout.
			s.unreadable++
			e.log.Info("card unreadable, asking again", "id", s.rec.ID, "err", err)
			e.mu.Lock()
			e.publishLocked(PhaseRetryCard, s.rec)
			e.mu.Unlock()
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, ErrUnreadable):
			if s.unreadable > 0 || errors.Is(err, ErrUnreadable) {
				e.fail(s, FailCardRead, fmt.Errorf("%w: no readable card before the card timeout", ErrCardRead))
			} else {
				e.fail(s, FailNoCard, ErrNoCard)
			}
			return nil
		default:
			e.fail(s, FailCardRead, fmt.Errorf("%w: %w", ErrCardRead, err))
			return nil
		}
	}
	masked := redact.MaskPAN(s.card.PAN)
	if expired(s.card.Expiry, e.clock.Now()) {
		e.log.Info("card expired", "id", s.rec.ID, "pan", masked)
		err := e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.MaskedPAN, r.State, r.Failure, r.Error = masked, store.StateFailed, string(FailCardExpired), ErrCardExpired.Error()
			return nil
		})
		return err
	}
	sess, err := e.o.Keys.Next()
	if err != nil {
		e.fail(s, FailKeys, fmt.Errorf("%w: %w", ErrKeys, err))
		return nil
	}
	s.sess = sess
	s.sentAt = e.clock.Now()
	return e.commit(s, PhaseProcessing, func(tx *store.Tx, r *store.Txn) error {
		stan, err := tx.NextSTAN()
		if err != nil {
			return err
		}
		r.State, r.STAN, r.KSN = store.StateAuthSent, stan, hex.EncodeToString(sess.KSN())
		r.MaskedPAN, r.EntryMode, r.SentAt = masked, s.card.EntryMode, s.sentAt.UTC()
		return nil
	})
}

// stepAuthSent sends the request committed by stepCreated and commits its
// outcome: approved, declined, failed when nothing left, or
// reversal_pending with its outbox job when the outcome is unknown.
func (e *Engine) stepAuthSent(_ context.Context, s *sale) error {
	hctx, cancel := context.WithTimeout(e.hostCtx, e.o.HostTimeout)
	res, err := e.o.Host.Purchase(hctx, host.Purchase{
		STAN: s.rec.STAN, Amount: s.rec.Amount, Currency: s.rec.Currency, EntryMode: s.card.EntryMode,
		Track2: s.card.Track2, Time: s.sentAt,
	}, s.sess)
	cancel()
	s.wipe()
	switch {
	case err == nil && res.Approved():
		e.log.Info("sale approved", "id", s.rec.ID, "stan", s.rec.STAN, "pan", s.rec.MaskedPAN)
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.ResponseCode, r.AuthCode, r.RRN = store.StateApproved, res.ResponseCode, res.AuthCode, res.RRN
			return nil
		})
	case err == nil:
		e.log.Info("sale declined", "id", s.rec.ID, "stan", s.rec.STAN, "rc", res.ResponseCode)
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.ResponseCode, r.RRN = store.StateDeclined, res.ResponseCode, res.RRN
			return nil
		})
	case errors.Is(err, host.ErrUnreachable):
		// Nothing reached the host: no reversal needed.
		e.log.Info("sale failed: host unreachable", "id", s.rec.ID, "err", err)
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.Failure, r.Error = store.StateFailed, string(FailHostUnreachable), err.Error()
			return nil
		})
	default:
		// Sent, outcome unknown (no response, bad MAC, bad response): the
		// host may have approved; reverse.
		e.log.Warn("sale outcome unknown, reversal queued", "id", s.rec.ID, "stan", s.rec.STAN, "err", err)
		if cerr := e.commit(s, PhaseDone, func(tx *store.Tx, r *store.Txn) error {
			r.State, r.Error, r.Reason = store.StateReversalPending, err.Error(), string(reversalReason(err))
			return tx.Enqueue(&store.Job{Kind: store.JobReversal, TxnID: r.ID})
		}); cerr != nil {
			return cerr
		}
		e.wake()
		return nil
	}
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
