package txn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"posd/terminal/host"
	"posd/terminal/risk"
	"posd/terminal/shred"
	"posd/terminal/store"
)

// Sealer encrypts what an offline approval keeps until its advice is
// acknowledged (the card's track 2 equivalent and the TC's chip data),
// bound to the transaction (ad), and erases it for good once the host
// has it. terminal/shred (a key per record, in a slot file overwritten in
// place, wrapped under a key the device KEK wraps) is the daemon's:
// bbolt leaves old copies of a deleted job in freed pages, so deleting
// the job alone does not erase its card data; erasing its key does.
// Without a Sealer the engine approves nothing offline (the kernel is
// told to go online).
type Sealer interface {
	Seal(plain, ad []byte) ([]byte, error)
	Open(sealed, ad []byte) ([]byte, error)
	// Erase makes sealed unopenable for good; the engine calls it once
	// the job that held it is deleted.
	Erase(sealed []byte) error
	// Keep erases every record but live (the sealed data of the jobs
	// still queued) and says how many: those of approvals whose commit a
	// crash prevented, or whose erase it interrupted. The engine calls
	// it as it starts.
	Keep(live [][]byte) (int, error)
}

// eraseAdvice erases the sealed card data of a job that is gone (best
// effort: a failure is logged, and the next start's Keep erases it).
func (e *Engine) eraseAdvice(id string, sealed []byte) {
	if len(sealed) == 0 || e.o.Sealer == nil {
		return
	}
	if err := e.o.Sealer.Erase(sealed); err != nil {
		e.log.Error("erasing an advice's card data; retried at the next start", "id", id, "err", err)
	}
}

// advicePayload is an advice's card data, sealed in its outbox job and
// erased with it once the host has it.
type advicePayload struct {
	Track2 []byte `json:"t2"`
	ICC    []byte `json:"icc"`
}

func adviceAD(id string) []byte { return []byte("posd advice " + id) }

// sealAdvice seals the card data of offline approval id.
func (e *Engine) sealAdvice(id string, track2, icc []byte) ([]byte, error) {
	plain, err := json.Marshal(advicePayload{Track2: track2, ICC: icc})
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return e.o.Sealer.Seal(plain, adviceAD(id))
}

// errAdviceHeld: the host is busy or the advice failed; the pass leaves
// the advices after it for later so they reach the host in order.
var errAdviceHeld = errors.New("advice held back")

// advise sends one attempt of job j's advice. As for reversals the attempt
// is committed before it is sent (attempts, next try with exponential
// backoff and full jitter); the STAN was allocated when the card
// approved, so every attempt is the same advice and the host
// deduplicates it by terminal id and transaction id. On the host's
// acknowledgement the record says when, and the job goes with its sealed
// data, in one commit.
//
// j's attempt count and next try are updated in place.
func (e *Engine) advise(ctx context.Context, j *store.Job) error {
	var t store.Txn
	err := e.o.Store.Do(func(tx *store.Tx) error {
		var err error
		t, err = tx.Get(j.TxnID)
		if store.IsNotFound(err) || (err == nil && (t.State != store.StateOfflineApproved || !t.AdviceSent.IsZero())) {
			return tx.DeleteJob(j.Seq)
		}
		if err != nil {
			return err
		}
		j.Attempts++
		j.NextAt = e.clock.Now().Add(e.fullJitter(j.Attempts))
		return tx.PutJob(j)
	})
	if err != nil {
		return err
	}
	if t.State != store.StateOfflineApproved || !t.AdviceSent.IsZero() {
		e.eraseAdvice(j.TxnID, j.Data)
		return nil
	}
	if e.o.Sealer == nil {
		return fmt.Errorf("%w: no sealer to open the advice's card data", ErrKeys)
	}
	plain, err := e.o.Sealer.Open(j.Data, adviceAD(t.ID))
	if errors.Is(err, shred.ErrErased) {
		return e.adviceLost(j, t, err)
	}
	if err != nil {
		e.log.Error("advice data does not open; it stays queued for an engineer", "id", t.ID, "err", err)
		e.noteJob(*j, "card data does not open")
		return err
	}
	var p advicePayload
	err = json.Unmarshal(plain, &p)
	clear(plain)
	defer clear(p.Track2)
	if err != nil {
		e.noteJob(*j, "card data unreadable")
		return fmt.Errorf("advice %s: %w", t.ID, err)
	}
	sess, err := e.o.Keys.Next()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeys, err)
	}
	defer sess.Wipe()
	hctx, cancel := context.WithTimeout(ctx, e.o.HostTimeout)
	defer cancel()
	res, err := e.o.Host.Advice(hctx, host.Advice{
		STAN: t.STAN, Ref: t.ID, Time: t.Created, Amount: t.Amount, Currency: t.Currency,
		EntryMode: t.EntryMode, Track2: p.Track2, ICC: p.ICC, ResponseCode: t.ResponseCode, Batch: t.Batch,
	}, sess)
	if err != nil {
		e.hostRefused(j, false)
		e.noteJob(*j, err.Error())
		return err
	}
	e.hostAnswered()
	e.mu.Lock()
	e.hostSilent = 0
	if res.ResponseCode != host.AdviceBusy {
		e.hostBusy = max(0, e.hostBusy-1)
	}
	e.mu.Unlock()
	switch res.ResponseCode {
	case host.AdviceAccepted:
	case host.AdviceBusy:
		e.hostRefused(j, true)
		e.noteJob(*j, "host busy")
		return fmt.Errorf("%w: host busy (%s)", errAdviceHeld, res.ResponseCode)
	default:
		// The host refuses this advice for good (a cryptogram that does
		// not verify, an unknown card): retrying cannot change that. The
		// record keeps the answer for the engineer and the dispute; the
		// card data goes.
		e.log.Warn("advice refused by the host", "id", t.ID, "stan", t.STAN, "rc", res.ResponseCode)
	}
	t, err = e.endJob(j, t.ID, func(r *store.Txn) {
		r.AdviceSent = e.clock.Now()
		if res.ResponseCode != host.AdviceAccepted {
			r.AdviceCode = res.ResponseCode
		}
	})
	if err != nil {
		return err
	}
	e.eraseAdvice(t.ID, j.Data)
	e.log.Info("advice acknowledged", "id", t.ID, "stan", t.STAN, "rc", res.ResponseCode)
	return nil
}

// AdviceLost is the AdviceCode of an offline approval whose card data
// can never be opened again (its key is gone: the slot file was lost or
// replaced): its advice cannot be sent. The batch's totals leave it out
// and no void or refund takes it; the acquirer settles it by hand.
const AdviceLost = "lost"

// adviceLost sets job j aside for good: its card data's key is gone
// (cause), so no attempt can ever send it, and keeping it queued would
// hold every advice behind it, and the batch's close, for ever.
func (e *Engine) adviceLost(j *store.Job, t store.Txn, cause error) error {
	e.log.Error("offline approval's card data lost: its advice cannot be sent; settle it with the acquirer by hand",
		"id", t.ID, "stan", t.STAN, "amount", t.Amount, "err", cause)
	_, err := e.endJob(j, t.ID, func(r *store.Txn) {
		r.AdviceCode = AdviceLost
		r.Error = "the card data of this offline approval was lost (" + cause.Error() +
			"): its advice cannot be sent; settle it with the acquirer by hand"
	})
	return err
}

// endJob updates record id with fn and drops its outbox job j, in one
// commit (with whatever also does given the updated record), then
// publishes the record.
func (e *Engine) endJob(j *store.Job, id string, fn func(r *store.Txn), also ...func(tx *store.Tx, r *store.Txn) error) (store.Txn, error) {
	var t store.Txn
	err := e.o.Store.Do(func(tx *store.Tx) error {
		var err error
		if t, err = tx.Update(id, func(r *store.Txn) error { fn(r); return nil }); err != nil {
			return err
		}
		for _, f := range also {
			if err := f(tx, &t); err != nil {
				return err
			}
		}
		return tx.DeleteJob(j.Seq)
	})
	if err == nil {
		e.noteAside(t)
		e.publish(PhaseDone, t)
	}
	return t, err
}

// hostRefused sets j's next try after the host did not take it. Two
// runs set the pace, not the job's own attempts alone: the host's
// silence (unreachable, no answer: the outage; the job's attempts count
// too) and its busy answers (congestion). The first answer after an
// outage ends the outage's run, so an advice refused busy right after the
// host came back waits seconds to minutes, not the ten minutes the outage
// had grown to; and the advice behind one just accepted starts from the
// terminal's busy run, not from nothing. A success takes one off the
// busy run.
func (e *Engine) hostRefused(j *store.Job, busy bool) {
	e.mu.Lock()
	var n int
	if busy {
		e.hostSilent = 0
		e.hostBusy++
		n = e.hostBusy
	} else {
		e.hostSilent++
		n = max(j.Attempts, e.hostSilent)
	}
	e.mu.Unlock()
	j.NextAt = e.clock.Now().Add(e.fullJitter(n))
}

// noteJob records why the last attempt of j failed (best effort).
func (e *Engine) noteJob(j store.Job, why string) {
	j.LastError = why
	if err := e.o.Store.Do(func(tx *store.Tx) error { return tx.PutJob(&j) }); err != nil {
		e.log.Error("recording an advice attempt", "seq", j.Seq, "err", err)
	}
}

// fullJitter is the pause after attempt n (1-based) of an advice: a
// uniformly random time within a window of ReversalRetry doubled per
// attempt. Full jitter spreads a fleet that lost its host together over
// the whole window, so it does not come back in waves. Once the window
// reaches MaxRetry it is aligned on the clock (the next whole multiple of
// MaxRetry since the epoch, then uniform within it): every terminal then
// tries once per aligned window, so however long the outage, the host sees
// an even stream rather than the crowd of retries that unaligned windows
// pile up right after it comes back.
func (e *Engine) fullJitter(n int) time.Duration {
	d := e.retryWindow(n)
	e.mu.Lock()
	defer e.mu.Unlock()
	if d < e.o.MaxRetry {
		return time.Duration(e.rng.Int64N(int64(d) + 1))
	}
	now := e.clock.Now()
	return now.Truncate(d).Add(d).Sub(now) + time.Duration(e.rng.Int64N(int64(d)))
}

// pace waits until the next advice may leave under Opts.AdviceRate.
func (e *Engine) pace(ctx context.Context) error {
	if e.o.AdviceRate <= 0 {
		return nil
	}
	gap := time.Duration(float64(time.Second) / e.o.AdviceRate)
	now := e.clock.Now()
	e.mu.Lock()
	at := e.nextAdvice
	if at.Before(now) {
		e.nextAdvice = now.Add(gap)
	} else {
		e.nextAdvice = at.Add(gap)
	}
	e.mu.Unlock()
	if wait := at.Sub(now); wait > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.clock.After(wait):
		}
	}
	return nil
}

// Sync forwards the stored advices now (a pass over the whole outbox
// that starts after the call) and returns how many are still waiting, -1 when
// ctx ended first or the outbox could not be read.
func (e *Engine) Sync(ctx context.Context) int {
	// A pass under way may have read the outbox before the caller's last
	// approval, or be the retry loop's over the due jobs only.
	if e.freshPass(ctx) == nil {
		return -1
	}
	s, err := OfflineLedger{Store: e.o.Store}.OfflinePending(ctx)
	if err != nil {
		return -1
	}
	return s.Count
}

// OfflineLedger reads the offline approvals waiting for their advice to
// be acknowledged, for the risk rules' offline limits and the status.
type OfflineLedger struct{ Store *store.DB }

// OfflinePending implements risk.OfflineLedger.
func (l OfflineLedger) OfflinePending(context.Context) (risk.OfflineSummary, error) {
	var s risk.OfflineSummary
	err := l.Store.View(func(tx *store.Tx) error {
		jobs, err := tx.Jobs()
		if err != nil {
			return err
		}
		for _, j := range jobs {
			if j.Kind != store.JobAdvice {
				continue
			}
			t, err := tx.Get(j.TxnID)
			if store.IsNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			if t.State != store.StateOfflineApproved || !t.AdviceSent.IsZero() {
				continue
			}
			s.Count++
			s.Amount += t.Amount
			if s.Oldest.IsZero() || t.Created.Before(s.Oldest) {
				s.Oldest = t.Created
			}
			if t.Created.After(s.Newest) {
				s.Newest = t.Created
			}
		}
		return nil
	})
	return s, err
}
