package txn

import (
	"context"
	"errors"
	"slices"
	"time"

	"posd/terminal/host"
	"posd/terminal/store"
)

// The customer at the counter comes first. The acquirer link sends one
// request at a time, and the outbox (reversals, advices) shares it with
// the sales; so:
//
//   - the outbox starts no attempt while a customer's transaction is in
//     progress, from Start until its outcome (beginAttempt): a sale
//     waits at most for the one attempt that was already under way when
//     it started;
//   - a sale's request waits for that attempt before its host timeout
//     starts (waitForOutbox), so the wait for the link is not taken out
//     of its own window: it is neither reversed for an answer the host
//     was still giving in time nor, having found the link busy, taken
//     for unreachable (which would let a chip card approve offline);
//   - a pass stops sending to the acquirer after an attempt it did not
//     answer or could not reach (the rest wait for hostRetryAt), so a
//     sale does not queue behind every pending reversal against a dead
//     host; and it tries the jobs that waited longest first.
//
// Between transactions the outbox drains as before; an answer to a sale
// ends the wait for a silent host at once.

// counterFreeLocked notes that the customer's transaction has its
// outcome (nothing more of it goes to a host): the outbox may go on.
// Caller holds e.mu.
func (e *Engine) counterFreeLocked() {
	if e.counter != nil {
		close(e.counter)
		e.counter = nil
	}
}

// waitCounter waits until no customer's transaction is in progress.
func (e *Engine) waitCounter(ctx context.Context) error {
	for {
		e.mu.Lock()
		busy := e.counter
		e.mu.Unlock()
		if busy == nil {
			return nil
		}
		select {
		case <-busy:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// beginAttempt waits until no customer's transaction is in progress.
// For an attempt over the acquirer link (onLink) it marks it under way:
// a transaction starting meanwhile lets it end before its request goes
// to the host. end marks it over.
func (e *Engine) beginAttempt(ctx context.Context, onLink bool) (end func(), err error) {
	for {
		if err := e.waitCounter(ctx); err != nil {
			return nil, err
		}
		e.mu.Lock()
		if e.counter != nil {
			// A transaction started between the wait and the lock.
			e.mu.Unlock()
			continue
		}
		if !onLink {
			e.mu.Unlock()
			return func() {}, nil
		}
		done := make(chan struct{})
		e.attempt = done
		e.mu.Unlock()
		return func() {
			e.mu.Lock()
			if e.attempt == done {
				e.attempt = nil
			}
			e.mu.Unlock()
			close(done)
		}, nil
	}
}

// waitForOutbox waits for the outbox attempt under way, if any (no other
// starts while the sale is in progress), before the sale's request has
// its turn on the link. An attempt is bounded by its own host timeout;
// ctx ends the wait (a shutdown cutting the exchange short).
func (e *Engine) waitForOutbox(ctx context.Context, s *sale) {
	e.mu.Lock()
	busy := e.attempt
	e.mu.Unlock()
	if busy == nil {
		return
	}
	e.log.Info("request waits for the outbox's attempt at the host to end", "id", s.rec.ID)
	select {
	case <-busy:
	case <-ctx.Done():
	}
}

// hostSilent says whether err means the acquirer did not answer, could
// not be reached, or answered nothing that reads as a message (garbage
// fails an attempt at once, but the next would fare no better): the
// pass then stops sending to it.
func hostSilent(err error) bool {
	return errors.Is(err, host.ErrUnreachable) || errors.Is(err, host.ErrNoResponse) ||
		errors.Is(err, host.ErrUnreadable) || errors.Is(err, context.DeadlineExceeded)
}

// acquirerJob: the job's attempts go over the acquirer link.
func acquirerJob(j store.Job) bool {
	return j.Kind == store.JobReversal || j.Kind == store.JobAdvice
}

// hostQuietUntil makes the acquirer's jobs wait until at (the next try of
// the job it left unanswered), or later if already set so.
func (e *Engine) hostQuietUntil(at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if at.After(e.hostRetryAt) {
		e.hostRetryAt = at
	}
}

// hostAnswered notes that the acquirer answered: the jobs held for its
// silence are due again (a pass runs once the terminal is idle).
func (e *Engine) hostAnswered() {
	e.mu.Lock()
	held := !e.hostRetryAt.IsZero()
	e.hostRetryAt = time.Time{}
	e.mu.Unlock()
	if held {
		e.wake()
	}
}

// retryAt is when the acquirer's jobs may be tried again (zero: now).
func (e *Engine) retryAt() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hostRetryAt
}

// passOrder orders a pass: the job whose try has waited longest first
// (a new job, never tried, before all), so one the host never answers
// does not end every pass before the others are tried. Advices keep
// their approval order and move together, at the place of the first.
func passOrder(jobs []store.Job) []store.Job {
	var firstAdvice time.Time
	for _, j := range jobs {
		if j.Kind == store.JobAdvice {
			firstAdvice = j.NextAt
			break
		}
	}
	at := func(j store.Job) time.Time {
		if j.Kind == store.JobAdvice {
			return firstAdvice
		}
		return j.NextAt
	}
	out := slices.Clone(jobs)
	slices.SortStableFunc(out, func(a, b store.Job) int { return at(a).Compare(at(b)) })
	return out
}
