package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"posd/conn/clock"
	"posd/terminal/store"
	"posd/terminal/txn"
)

// batchCloser is what the daily settlement needs of the sale engine.
type batchCloser interface {
	OpenBatch() (uint32, []store.Totals, error)
	CloseBatch(ctx context.Context) (store.Txn, error)
	OpenBatchSince() (time.Time, error)
}

// Auto-settlement retries: a transaction in progress is waited out a
// minute at a time; a close the host did not take is tried again every
// settleRetry, for at most settleGiveUp after the time of day (then the
// next day's time, or the cashier, closes it).
const (
	settleBusyRetry = time.Minute
	settleRetry     = 10 * time.Minute
	settleGiveUp    = 6 * time.Hour
)

// AutoSettleStatus is the daily settlement's state, for the engineer.
type AutoSettleStatus struct {
	// At is the time of day ("23:30", local).
	At string `json:"at"`
	// Next is when the terminal next tries (RFC 3339).
	Next string `json:"next"`
	// Last is the last try's outcome ("" before one): "settled batch 7
	// (record 312)", "nothing to settle", "failed: ...".
	Last   string `json:"last,omitempty"`
	LastAt string `json:"last_at,omitempty"`
}

// autoSettle closes the open batch every day at a time of day.
type autoSettle struct {
	e   batchCloser
	clk clock.Clock
	at  time.Duration // since midnight, local
	log *slog.Logger

	mu     sync.Mutex
	status AutoSettleStatus
}

// newAutoSettle settles e's batch every day at at (since midnight, in
// clk's zone).
func newAutoSettle(e batchCloser, clk clock.Clock, at time.Duration, log *slog.Logger) *autoSettle {
	return &autoSettle{e: e, clk: clk, at: at, log: log,
		status: AutoSettleStatus{At: fmt.Sprintf("%02d:%02d", int(at/time.Hour), int(at%time.Hour/time.Minute))}}
}

// nextAt is the first time of day at after now, in now's zone.
func nextAt(now time.Time, at time.Duration) time.Time {
	y, m, d := now.Date()
	t := time.Date(y, m, d, int(at/time.Hour), int(at%time.Hour/time.Minute), 0, 0, now.Location())
	if !t.After(now) {
		t = time.Date(y, m, d+1, int(at/time.Hour), int(at%time.Hour/time.Minute), 0, 0, now.Location())
	}
	return t
}

// prevAt is the last time of day at not after now, in now's zone.
func prevAt(now time.Time, at time.Duration) time.Time {
	y, m, d := now.Date()
	t := time.Date(y, m, d, int(at/time.Hour), int(at%time.Hour/time.Minute), 0, 0, now.Location())
	if t.After(now) {
		t = time.Date(y, m, d-1, int(at/time.Hour), int(at%time.Hour/time.Minute), 0, 0, now.Location())
	}
	return t
}

// run settles every day at a.at until ctx ends. A close missed while the
// terminal was off (the open batch holds a record from before the last
// time of day) is made at once.
func (a *autoSettle) run(ctx context.Context) {
	now := a.clk.Now()
	if since, err := a.e.OpenBatchSince(); err != nil {
		a.log.Error("the daily settlement cannot read the open batch", "err", err)
	} else if missed := prevAt(now, a.at); !since.IsZero() && since.Before(missed) {
		a.log.Warn("the daily settlement was missed (terminal off at the time): settling now",
			"missed", missed.Format(time.RFC3339), "oldest", since.Format(time.RFC3339))
		a.setNext(now)
		a.settle(ctx, now)
	}
	for {
		due := nextAt(a.clk.Now(), a.at)
		a.setNext(due)
		if !a.sleepUntil(ctx, due) {
			return
		}
		a.settle(ctx, due)
	}
}

// settle closes the open batch once it is due, retrying while a
// transaction runs or the host does not take it, until settleGiveUp
// after due.
func (a *autoSettle) settle(ctx context.Context, due time.Time) {
	for {
		n, totals, err := a.e.OpenBatch()
		if err == nil && len(totals) == 0 {
			a.done("nothing to settle")
			return
		}
		var rec store.Txn
		if err == nil {
			rec, err = a.e.CloseBatch(ctx)
		}
		wait := settleRetry
		switch {
		case err == nil && rec.State == store.StateApproved:
			a.log.Info("batch settled by the daily settlement", "batch", n, "id", rec.ID)
			a.done(fmt.Sprintf("settled batch %d (record %s)", n, rec.ID))
			return
		case errors.Is(err, txn.ErrHalted) || ctx.Err() != nil:
			return
		case errors.Is(err, txn.ErrBusy):
			wait = settleBusyRetry
		case err == nil:
			err = errors.New(orDefault(rec.Error, string(rec.State)))
		}
		next := a.clk.Now().Add(wait)
		if next.Sub(due) > settleGiveUp {
			a.log.Error("the daily settlement gave up: close the batch by hand", "batch", n, "err", err)
			a.done("failed: " + err.Error())
			return
		}
		if !errors.Is(err, txn.ErrBusy) {
			a.log.Warn("the daily settlement failed, trying again", "batch", n, "retry_in", wait, "err", err)
			a.done("failed, trying again: " + err.Error())
		}
		a.setNext(next)
		if !a.sleepUntil(ctx, next) {
			return
		}
	}
}

// sleepUntil waits for t on a.clk; false when ctx ended first.
func (a *autoSettle) sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-a.clk.After(t.Sub(a.clk.Now())):
		return true
	}
}

func (a *autoSettle) setNext(t time.Time) {
	a.mu.Lock()
	a.status.Next = t.Format(time.RFC3339)
	a.mu.Unlock()
}

func (a *autoSettle) done(what string) {
	a.mu.Lock()
	a.status.Last, a.status.LastAt = what, a.clk.Now().Format(time.RFC3339)
	a.mu.Unlock()
}

// Status is the daily settlement's state.
func (a *autoSettle) Status() *AutoSettleStatus {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.status
	return &s
}
