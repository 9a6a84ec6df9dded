package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"posd/board"
	"posd/terminal/txn"
)

// A self test drives the input devices a transaction reads: on the
// simulated board the keypad's test presses a key (a digit the PIN entry
// would take as the customer's), and a reader's test talks to the reader
// the card entry polls. So a self test never runs beside a transaction:
// SelfTest refuses while one is in progress, and marks the test running
// in the same hold of the engine as that check (txn's WhenIdle); a
// transaction started meanwhile reads its card and keys only once the
// test has ended (devGate). The OTA health checks wait for the
// transaction in progress instead (selfTestWhenIdle): they run unattended.

// devGate holds a transaction's reads of the input devices (card entry,
// PIN pad) while a self test runs. Its zero value is open.
type devGate struct {
	mu   sync.Mutex
	n    int           // self tests running
	done chan struct{} // closed when the last ends; nil when none runs
}

func (g *devGate) begin() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n == 0 {
		g.done = make(chan struct{})
	}
	g.n++
}

func (g *devGate) end() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.n == 0 {
		close(g.done)
		g.done = nil
	}
}

// wait returns once no self test runs, or with ctx's error. A nil gate
// is open.
func (g *devGate) wait(ctx context.Context) error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	done := g.done
	g.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SelfTest runs the board's self test between two transactions and
// returns the devices' refreshed status. While a transaction (or a batch
// close) is in progress it runs nothing and returns an error matching
// txn.ErrBusy that names it: the customer may be at the PIN pad.
func (d *Daemon) SelfTest(ctx context.Context) ([]board.Status, error) {
	if err := d.Engine.WhenIdle(func() error { d.devTest.begin(); return nil }); err != nil {
		if errors.Is(err, txn.ErrBusy) {
			return nil, fmt.Errorf("self test refused (it would drive the devices the transaction reads): %w", err)
		}
		return nil, err
	}
	defer d.devTest.end()
	list := d.Board.SelfTest(ctx)
	d.printer.selfTested()
	return list, nil
}

// selfTestWhenIdle is SelfTest once the transaction in progress has
// ended (trying again every idleRetry), until ctx ends: for the update's
// health checks, which run unattended.
func (d *Daemon) selfTestWhenIdle(ctx context.Context) ([]board.Status, error) {
	for {
		st, err := d.SelfTest(ctx)
		if !errors.Is(err, txn.ErrBusy) {
			return st, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(idleRetry):
		}
	}
}
