package txn

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"posd/terminal/store"
)

// A transaction is stranded when the disk fails (or fills up) in the
// middle of it: its outcome cannot be written, and what the disk holds
// is the last state that could be (a request sent, auth_sent, which a
// restart would reverse). Its waiters and the display learn at once that
// it did not go through (failed, internal_error); no other transaction
// starts (ErrUnrecorded); and the outbox loop, and each Start, retry the
// restart's recovery of the record until the disk takes it: a request
// that reached the host is then reversed without waiting for a restart.

// strand ends s, whose record could not be written (cause), for its
// waiters and the display.
func (e *Engine) strand(s *sale, cause error) {
	view := s.rec
	view.State, view.Failure = store.StateFailed, string(FailInternal)
	view.Error = fmt.Sprintf("the outcome could not be written (%v): not completed; "+
		"reversed once the terminal can write again if it reached the host", cause)
	view.AuthCode, view.ResponseCode = "", ""
	e.log.Error("transaction stranded: its outcome could not be written", "id", s.rec.ID, "state", s.rec.State, "err", cause)
	s.stranded = true
	// The outbox loop may be asleep for a minute (it had nothing due):
	// it retries the record from now on, every ReversalRetry.
	defer e.wake()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stranded[s.rec.ID] = view
	if e.active == s.rec.ID {
		// Whatever the sale still waits for (a card, a PIN) ends: its
		// waiters were told it failed.
		if e.cancel != nil {
			e.cancel()
		}
		e.active, e.cancel = "", nil
		e.counterFreeLocked()
	}
	e.publishEvent(Event{Phase: PhaseDone, Txn: view, Ended: true})
}

// errWrittenMeanwhile: a stranded record found missing was there when
// the retry went to write it.
var errWrittenMeanwhile = errors.New("written meanwhile")

// strandedView is the outcome the waiters of id were told, while its
// record cannot be written.
func (e *Engine) strandedView(id string) (store.Txn, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.stranded[id]
	return t, ok
}

// Stranded names the transactions whose outcome could not be written
// yet, in order (none: nil).
func (e *Engine) Stranded() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.strandedIDsLocked()
}

func (e *Engine) strandedIDsLocked() []string {
	var ids []string
	for id := range e.stranded {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b)) }) // numeric order
	return ids
}

// strandedLocked is ErrUnrecorded while a transaction is stranded.
func (e *Engine) strandedLocked() error {
	ids := e.strandedIDsLocked()
	if len(ids) == 0 {
		return nil
	}
	return fmt.Errorf("%w: transaction %s; no transaction starts until the disk takes it (the terminal retries by itself)",
		ErrUnrecorded, ids[0])
}

// retryStranded tries to record the stranded transactions as a restart
// would; those it records (or finds settled, or never written) are no
// longer stranded.
func (e *Engine) retryStranded() {
	e.strandMu.Lock()
	defer e.strandMu.Unlock()
	e.mu.Lock()
	ids := e.strandedIDsLocked()
	e.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	jobs, err := e.o.Store.Jobs()
	if err != nil {
		return
	}
	for _, id := range ids {
		t, err := e.o.Store.Get(id)
		switch {
		case store.IsNotFound(err):
			// Never written: nothing reached the host. The outcome the
			// cashier was told goes to disk under its reserved id, so
			// the list has no gap and a later look finds it.
			view, _ := e.strandedView(id)
			err := e.o.Store.Do(func(tx *store.Tx) error {
				if _, err := tx.Get(id); !store.IsNotFound(err) {
					// Written since the look above: the next
					// retry recovers it as it is.
					return errWrittenMeanwhile
				}
				return tx.Insert(&view)
			})
			switch {
			case errors.Is(err, errWrittenMeanwhile):
				continue
			case errors.Is(err, store.ErrState):
				// Its id was never reserved on disk: nothing can
				// hold it; what its waiters were told stands.
				e.log.Error("stranded transaction cannot be recorded", "id", id, "err", err)
			case err != nil:
				continue
			default:
				e.log.Warn("stranded transaction recorded as failed: the disk takes writes again", "id", id)
			}
		case err != nil:
			continue
		case t.State == store.StateCreated || t.State == store.StateAuthSent:
			queued := slices.ContainsFunc(jobs, func(j store.Job) bool { return j.TxnID == id })
			if err := e.recoverRecord(t, queued); err != nil {
				continue
			}
			e.log.Warn("stranded transaction recorded: the disk takes writes again", "id", id, "was", t.State)
		}
		e.mu.Lock()
		delete(e.stranded, id)
		e.mu.Unlock()
	}
}

// strandedWaiting reports whether a stranded transaction waits for a
// retry (the outbox loop then comes back soon).
func (e *Engine) strandedWaiting() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.stranded) > 0
}
