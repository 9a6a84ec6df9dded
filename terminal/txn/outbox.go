package txn

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"posd/terminal/host"
	"posd/terminal/store"
)

// wake asks the outbox loop for a pass now.
func (e *Engine) wake() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// outboxLoop works the outbox: a pass over every job at start (a restart
// is a trigger), then a pass over the jobs that are due whenever one falls
// due or a new job is queued.
func (e *Engine) outboxLoop() {
	defer e.wg.Done()
	e.runPass(e.ctx, true)
	for {
		wait := e.untilDue()
		select {
		case <-e.ctx.Done():
			return
		case <-e.clock.After(wait):
		case <-e.kick:
		}
		e.retryStranded()
		e.runPass(e.ctx, false)
	}
}

// untilDue is how long until the next job is due (at most a minute, so a
// job queued by another process or a clock step is not missed for long).
func (e *Engine) untilDue() time.Duration {
	jobs, err := e.o.Store.Jobs()
	if err != nil || e.strandedWaiting() {
		return e.o.ReversalRetry
	}
	wait := time.Minute
	now := e.clock.Now()
	quiet := e.retryAt()
	advice := false
	for _, j := range jobs {
		if j.Kind == store.JobAdvice {
			// Advices go in order: only the first one's time counts.
			if advice {
				continue
			}
			advice = true
		}
		at := j.NextAt
		if acquirerJob(j) && quiet.After(at) {
			at = quiet
		}
		wait = min(wait, at.Sub(now))
	}
	return max(wait, 0)
}

// SendReversals makes sure a pass over every queued reversal runs now,
// whether due or not, and waits for it (or for ctx). It returns how many
// reversals are still pending, -1 when ctx ended first or the outbox could
// not be read.
func (e *Engine) SendReversals(ctx context.Context) int {
	p := e.freshPass(ctx)
	if p == nil {
		return -1
	}
	return p.left
}

// freshPass waits for a pass over every job, due or not, that read the
// outbox after the call: one it starts, or one another caller started
// since. A pass already under way when it is called (the retry loop's,
// over the due jobs only, or one that read the outbox before the
// caller's change) is waited for, then another runs. It returns nil when
// ctx or the engine ended first.
func (e *Engine) freshPass(ctx context.Context) *pass {
	e.passMu.Lock()
	floor := e.passSeq
	e.passMu.Unlock()
	for {
		p := e.startPass(true)
		if p == nil {
			return nil
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			return nil
		}
		if p.all && p.seq > floor {
			return p
		}
	}
}

// runPass runs a pass (or joins the running one) and waits for it.
func (e *Engine) runPass(ctx context.Context, all bool) {
	if p := e.startPass(all); p != nil {
		select {
		case <-p.done:
		case <-ctx.Done():
		}
	}
}

func (e *Engine) startPass(all bool) *pass {
	e.passMu.Lock()
	defer e.passMu.Unlock()
	if e.pass != nil {
		return e.pass
	}
	if e.ctx.Err() != nil {
		return nil
	}
	e.passSeq++
	p := &pass{done: make(chan struct{}), seq: e.passSeq, all: all}
	e.pass = p
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		p.left = e.work(e.ctx, all)
		e.passMu.Lock()
		e.pass = nil
		e.passMu.Unlock()
		close(p.done)
	}()
	return p
}

// work runs the jobs (all of them, or those due) and returns how many
// reversals are left. It waits for the customer's transaction in
// progress, if any, and again before each attempt: the counter comes
// first (see counter.go). The jobs go in passOrder; once the acquirer
// leaves an attempt unanswered or cannot be reached, the pass sends it
// nothing more (the wallet and face platforms' cancels go on).
func (e *Engine) work(ctx context.Context, all bool) int {
	if e.waitCounter(ctx) != nil {
		return -1
	}
	jobs, err := e.o.Store.Jobs()
	if err != nil {
		e.log.Error("reading the outbox", "err", err)
		return -1
	}
	left := 0
	// Advices go in the order the cards approved: once one is held back
	// (host busy, unreachable), the others wait for a later pass.
	holdAdvices := false
	// silent: the acquirer did not answer in this pass, or it did not
	// answer an earlier one and its retry time has not come (a pass over
	// every job tries it once again).
	silent := !all && e.retryAt().After(e.clock.Now())
	for _, j := range passOrder(jobs) {
		if ctx.Err() != nil {
			return -1
		}
		due := all || !j.NextAt.After(e.clock.Now())
		if acquirerJob(j) && silent {
			due = false
		}
		var (
			end func()
			err error
		)
		switch j.Kind {
		case store.JobAdvice:
			if !due || holdAdvices {
				holdAdvices = true
				continue
			}
			if err := e.pace(ctx); err != nil {
				return -1
			}
			if end, err = e.beginAttempt(ctx, true); err != nil {
				return -1
			}
			err = e.advise(ctx, &j)
			end()
			if err != nil {
				holdAdvices = true
				e.log.Warn("advice not acknowledged", "id", j.TxnID, "attempt", j.Attempts, "err", err)
			}
		case store.JobReversal:
			if !due {
				left++
				continue
			}
			if end, err = e.beginAttempt(ctx, true); err != nil {
				return -1
			}
			err = e.reverse(ctx, &j)
			end()
			if err != nil {
				left++
				e.log.Warn("reversal not acknowledged", "id", j.TxnID, "attempt", j.Attempts, "err", err)
			}
		case store.JobWalletCancel, store.JobWalletRefund, store.JobFaceCancel:
			if !due {
				left++
				continue
			}
			if end, err = e.beginAttempt(ctx, false); err != nil {
				return -1
			}
			p := platformJobs[j.Kind]
			err = p.run(e, ctx, j)
			end()
			if err != nil {
				left++
				e.log.Warn(p.notDone, "id", j.TxnID, "attempt", j.Attempts+1, "err", err)
			}
		default:
			e.log.Error("outbox job of unknown kind left in place", "kind", j.Kind, "seq", j.Seq)
			continue
		}
		if acquirerJob(j) && err != nil && hostSilent(err) && ctx.Err() == nil {
			// A dead or silent host: the rest wait for this job's next
			// try instead of each taking the link for a timeout.
			silent = true
			e.hostQuietUntil(j.NextAt)
		}
	}
	return left
}

// platformJobs are the outbox's jobs for the wallet and face-pay
// platforms: what does one attempt, and what the log says when it did
// not get through.
var platformJobs = map[store.JobKind]struct {
	run     func(e *Engine, ctx context.Context, j store.Job) error
	notDone string
}{
	store.JobWalletCancel: {(*Engine).walletCancel, "wallet cancel not acknowledged"},
	store.JobWalletRefund: {(*Engine).walletRefundAgain, "wallet refund outcome still unknown"},
	store.JobFaceCancel:   {(*Engine).faceCancel, "face payment reversal not acknowledged"},
}

// backoff is the pause after attempt n (1-based): ReversalRetry doubled
// per attempt up to MaxRetry, the upper half jittered so a fleet that lost
// its host together does not come back in step.
func (e *Engine) backoff(n int) time.Duration {
	d := e.retryWindow(n)
	e.mu.Lock()
	j := time.Duration(e.rng.Int64N(int64(d/2) + 1))
	e.mu.Unlock()
	return d/2 + j
}

// retryWindow is the window after attempt n (1-based): ReversalRetry
// doubled per attempt, at most MaxRetry.
func (e *Engine) retryWindow(n int) time.Duration {
	d := e.o.ReversalRetry
	for i := 1; i < n && d < e.o.MaxRetry; i++ {
		d *= 2
	}
	return min(d, e.o.MaxRetry)
}

// reverse sends one attempt of job j's reversal. Before it is sent, the
// attempt is committed: the reversal's STAN (allocated on the first attempt
// and reused by every retry, so the host sees one reversal, repeated, never
// several), the attempt count and when to try next. On the host's
// acknowledgement the record becomes reversed and the job goes, in one
// commit.
//
// j's attempt count and next try are updated in place.
func (e *Engine) reverse(ctx context.Context, j *store.Job) error {
	var (
		t       store.Txn
		voided  host.Kind
		unknown bool
	)
	// The next try is drawn before the commit: backoff takes e.mu, which
	// a sale or a close holds while it commits (newIDLocked).
	next := e.clock.Now().Add(e.backoff(j.Attempts + 1))
	err := e.o.Store.Do(func(tx *store.Tx) error {
		var err error
		t, err = tx.Get(j.TxnID)
		if store.IsNotFound(err) || (err == nil && (t.State != store.StateReversalPending || t.Face != nil || t.Wallet != nil)) {
			// Nothing to reverse (any more), or nothing the card
			// acquirer had (a wallet or face-pay platform's payment is
			// reversed there, by its own job): the job is spent.
			return tx.DeleteJob(j.Seq)
		}
		if err != nil {
			return err
		}
		if voided, unknown, err = voidedKind(tx, t); err != nil {
			return err
		}
		t, err = tx.Update(t.ID, func(r *store.Txn) error {
			if r.ReversalSTAN == 0 {
				stan, err := tx.NextSTAN()
				if err != nil {
					return err
				}
				r.ReversalSTAN = stan
			}
			r.Attempts++
			return nil
		})
		if err != nil {
			return err
		}
		j.Attempts++
		j.NextAt = next
		return tx.PutJob(j)
	})
	if err != nil {
		return err
	}
	if t.State != store.StateReversalPending {
		return nil
	}
	if unknown {
		e.log.Warn("what the void voided is not on record: its reversal goes out as the reversal of the void of a sale",
			"id", t.ID, "orig_id", t.OrigID)
	}
	e.publish(PhaseDone, t)
	sess, err := e.o.Keys.Next()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeys, err)
	}
	defer sess.Wipe()
	hctx, cancel := context.WithTimeout(ctx, e.o.HostTimeout)
	defer cancel()
	origKSN, _ := hex.DecodeString(t.KSN)
	res, err := e.o.Host.Reverse(hctx, host.Reversal{
		STAN: t.ReversalSTAN, OrigKind: host.Kind(t.Kind), VoidedKind: voided, Batch: t.Batch,
		OrigSTAN: t.STAN, OrigTime: t.SentAt, OrigEntryMode: t.EntryMode, OrigKSN: origKSN,
		Amount: t.Amount, Currency: t.Currency, Reason: host.ReversalReason(t.Reason),
		// A repeat only once an attempt may have reached the host.
		Repeat: t.ReversalSent,
	}, sess)
	if err != nil {
		if !errors.Is(err, host.ErrUnreachable) && !t.ReversalSent {
			// It may have arrived: later attempts are repeats.
			if _, uerr := e.o.Store.Update(t.ID, func(r *store.Txn) error { r.ReversalSent = true; return nil }); uerr != nil {
				e.log.Error("recording a reversal attempt", "id", t.ID, "err", uerr)
			}
		}
		return err
	}
	e.hostAnswered()
	if res.ResponseCode != "00" && res.ResponseCode != "25" { // 25: original not found, nothing to undo
		return fmt.Errorf("reversal answered %q", res.ResponseCode)
	}
	err = e.o.Store.Do(func(tx *store.Tx) error {
		var err error
		if t, err = tx.Update(t.ID, func(r *store.Txn) error { r.State = store.StateReversed; return nil }); err != nil {
			return err
		}
		return tx.DeleteJob(j.Seq)
	})
	if err != nil {
		return err
	}
	e.publish(PhaseDone, t)
	e.log.Info("reversal acknowledged", "id", t.ID, "stan", t.ReversalSTAN)
	return nil
}

// voidedKind gives what t voided when t is a void, read from its
// original's record: the reversal of a void resends the void's codes,
// which depend on it. It is read when the reversal is sent, so a job
// queued by an older release (the void's OrigID is all it needs) is sent
// right too. When the original is not on record (or is of no kind a void
// takes) unknown is set and voided is "": the codes of the void of a
// sale, what every reversal of a void carried before.
func voidedKind(tx *store.Tx, t store.Txn) (voided host.Kind, unknown bool, err error) {
	if host.Kind(t.Kind) != host.KindVoid {
		return "", false, nil
	}
	if t.OrigID == "" {
		return "", true, nil
	}
	o, err := tx.Get(t.OrigID)
	if store.IsNotFound(err) {
		return "", true, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading what void %s voided: %w", t.ID, err)
	}
	switch k := host.Kind(o.Kind); k {
	case host.KindPurchase, host.KindRefund, host.KindCompletion, host.KindPreauth:
		return k, false, nil
	}
	return "", true, nil
}

// publish publishes a change made outside a sale (the outbox).
func (e *Engine) publish(phase Phase, t store.Txn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.active != "" && e.active != t.ID || e.active == "" && e.last.Txn.ID != t.ID {
		// The display follows the sale in progress, or when idle the
		// transaction it shows last (its reversal acknowledged): an
		// older record changing in the background (an advice taken, a
		// reversal of another) must not put that transaction's amount
		// and card before the next customer. Only waiters learn of it.
		close(e.changed)
		e.changed = make(chan struct{})
		return
	}
	e.publishLocked(phase, t)
}

// publishEnded publishes the outcome of a transaction run outside a sale
// (a batch closing): PhaseDone, Ended.
func (e *Engine) publishEnded(t store.Txn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.publishEvent(Event{Phase: PhaseDone, Txn: t, Ended: true})
}

// takeCancelJob counts an attempt of j, a platform cancel of a record
// still reversal_pending (of the platform's kind: mine), and schedules the
// next (takePlatformJob).
func (e *Engine) takeCancelJob(j *store.Job, mine func(store.Txn) bool) (store.Txn, bool, error) {
	return e.takePlatformJob(j, func(t store.Txn) bool { return t.State == store.StateReversalPending && mine(t) })
}

// takePlatformJob counts an attempt of j, a platform's job for a record
// still waiting for it (wanted), and schedules the next; a job whose
// record is gone or no longer waits is dropped (ok false).
func (e *Engine) takePlatformJob(j *store.Job, wanted func(store.Txn) bool) (t store.Txn, ok bool, err error) {
	next := e.clock.Now().Add(e.backoff(j.Attempts + 1)) // before the commit, as in reverse
	err = e.o.Store.Do(func(tx *store.Tx) error {
		var err error
		t, err = tx.Get(j.TxnID)
		if store.IsNotFound(err) || (err == nil && !wanted(t)) {
			return tx.DeleteJob(j.Seq)
		}
		if err != nil {
			return err
		}
		j.Attempts++
		j.NextAt = next
		return tx.PutJob(j)
	})
	return t, err == nil && wanted(t), err
}
