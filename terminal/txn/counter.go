package txn

import "context"

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
//     for unreachable (which would let a chip card approve offline).
//
// Between transactions the outbox drains as before.

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
