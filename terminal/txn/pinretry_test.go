package txn

import (
	"context"
	"fmt"
	"testing"
	"time"

	"posd/conn/apdu"
	"posd/conn/clock"
	"posd/terminal/emv"
	"posd/terminal/pin"
	"posd/terminal/risk"
	"posd/terminal/store"
)

// wrongPINKernel asks for an offline PIN, says it was wrong, asks again,
// then ends as the customer's Cancel would: the kernel's steps on a card
// that refused the first PIN (VERIFY 63C2).
type wrongPINKernel struct{}

func (wrongPINKernel) Start(ctx context.Context, _ apdu.Transceiver, _ emv.Interface, _ emv.Txn, ui emv.UI) (*emv.Session, error) {
	b, err := ui.OfflinePIN(ctx, emv.OfflinePINRequest{TriesLeft: 3})
	clear(b)
	if err != nil {
		return nil, err
	}
	ui.Message(ctx, emv.MsgIncorrectPIN)
	b, err = ui.OfflinePIN(ctx, emv.OfflinePINRequest{TriesLeft: 2})
	clear(b)
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: offline PIN: %w", emv.ErrCancelled, pin.ErrCancelled)
}

// spyClock is a fake clock that reports every wait asked of it.
type spyClock struct {
	*clock.Fake
	asked chan time.Duration
}

func (c spyClock) After(d time.Duration) <-chan time.Time {
	ch := c.Fake.After(d)
	select {
	case c.asked <- d:
	default:
	}
	return ch
}

// chipSaleWith starts a sale on an engine running kernel, on a spying
// fake clock, and inserts a chip card; events are the engine's from the
// start.
func chipSaleWith(t *testing.T, kernel Kernel) (*Engine, spyClock, <-chan Event, store.Txn) {
	t.Helper()
	clk := spyClock{Fake: clock.NewFake(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)), asked: make(chan time.Duration, 64)}
	e, rd, _ := setupWith(t, approveAll(), func(o *Opts) {
		o.Kernel, o.PIN, o.Clock = kernel, &fakePIN{digits: "0000"}, clk
	})
	events, stop := e.Subscribe()
	t.Cleanup(stop)
	tx, err := e.StartSale(2000, "156")
	if err != nil {
		t.Fatal(err)
	}
	rd.cards <- &Card{Mode: risk.EntryInsert, Wipe: func() {},
		Chip: &Chip{Interface: emv.Contact, Release: func(context.Context) error { return nil }}}
	return e, clk, events, tx
}

// waitHold waits until the engine holds the message on display (asks
// the clock for a wait of a few seconds), then ends the wait; an event
// of phase next before that fails the test: it replaced the message at
// once.
func waitHold(t *testing.T, clk spyClock, events <-chan Event, next Phase, what string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Phase == next {
				t.Fatalf("%s replaced the message at once", what)
			}
		case d := <-clk.asked:
			// The outbox waits a minute between passes; the display's
			// hold is a few seconds.
			if d >= time.Second && d <= 5*time.Second {
				clk.Advance(d)
				return
			}
		case <-timeout:
			t.Fatalf("neither a hold nor %s", what)
		}
	}
}

// "Incorrect PIN" stays on the display a moment, on the terminal's
// clock, before the next PIN prompt replaces it: the customer sees why
// the PIN is asked again.
func TestIncorrectPINShownBeforeTheNextPrompt(t *testing.T) {
	e, clk, events, tx := chipSaleWith(t, wrongPINKernel{})
	msg := waitPhase(t, events, PhaseMessage)
	if msg.Message != "incorrect PIN" {
		t.Fatalf("message %q", msg.Message)
	}
	waitHold(t, clk, events, PhasePIN, "the next PIN prompt")
	ev := waitPhase(t, events, PhasePIN)
	if shown := ev.Time.Sub(msg.Time); shown < time.Second {
		t.Fatalf("\"incorrect PIN\" shown for %v", shown)
	}
	if got := wait(t, e, tx.ID); got.State != store.StateFailed || Failure(got.Failure) != FailPINCancelled {
		t.Fatalf("state %s failure %q", got.State, got.Failure)
	}
}

// blockedPINKernel finds the card's PIN blocked, says so, and ends as
// the card refusing would.
type blockedPINKernel struct{}

func (blockedPINKernel) Start(ctx context.Context, _ apdu.Transceiver, _ emv.Interface, _ emv.Txn, ui emv.UI) (*emv.Session, error) {
	ui.Message(ctx, emv.MsgPINBlocked)
	return nil, fmt.Errorf("%w: offline PIN: %w", emv.ErrCancelled, pin.ErrCancelled)
}

// "PIN blocked" too stays on the display a moment before the outcome
// replaces it: the customer learns why the card was not taken.
func TestPINBlockedShownBeforeTheOutcome(t *testing.T) {
	e, clk, events, tx := chipSaleWith(t, blockedPINKernel{})
	msg := waitPhase(t, events, PhaseMessage)
	if msg.Message != emv.MsgPINBlocked.String() {
		t.Fatalf("message %q", msg.Message)
	}
	waitHold(t, clk, events, PhaseDone, "the outcome")
	if got := wait(t, e, tx.ID); got.State != store.StateFailed {
		t.Fatalf("state %s failure %q", got.State, got.Failure)
	}
}
