package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"posd/conn/clock"
	"posd/terminal/console"
)

// TestConsoleServedAgainAfterAPortFailure: a port that fails (a
// USB-serial adapter pulled out) does not end the console until posd
// restarts: it is served again, a second later, then two, four...
func TestConsoleServedAgainAfterAPortFailure(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
	calls := make(chan time.Time, 10)
	serve := func(ctx context.Context) error {
		calls <- clk.Now()
		if len(calls) < 4 {
			return fmt.Errorf("%w: read: input/output error", console.ErrIO)
		}
		<-ctx.Done()
		return ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); serveConsole(ctx, serve, clk, slog.New(slog.DiscardHandler)) }()
	start := <-calls
	for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := clk.BlockUntil(bctx, 1); err != nil {
			t.Fatal(err)
		}
		bcancel()
		clk.Advance(wait)
		if at := <-calls; at.Sub(start) != wait {
			t.Fatalf("served again after %v, want %v", at.Sub(start), wait)
		} else {
			start = at
		}
	}
	cancel()
	<-done

	// Another error (a bug, not the port) stops it.
	n := 0
	serveConsole(context.Background(), func(context.Context) error { n++; return errors.New("console: no terminal") }, clk, slog.New(slog.DiscardHandler))
	if n != 1 {
		t.Fatalf("served %d times after a non-port error", n)
	}
}

// TestConsoleServedAgainSoonAfterAHangUp: an engineer who left (the line
// hung up) is followed by the next one within a second, however many
// hang-ups came before: the prompt is there as soon as a laptop plugs in.
func TestConsoleServedAgainSoonAfterAHangUp(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
	calls := make(chan time.Time, 10)
	serve := func(ctx context.Context) error {
		calls <- clk.Now()
		if len(calls) < 5 {
			return fmt.Errorf("%w: read: EOF", console.ErrDisconnected)
		}
		<-ctx.Done()
		return ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go serveConsole(ctx, serve, clk, slog.New(slog.DiscardHandler))
	start := <-calls
	for range 4 {
		waiting(t, clk, "the console")
		clk.Advance(time.Second)
		select {
		case at := <-calls:
			if at.Sub(start) != time.Second {
				t.Fatalf("served again after %v, want 1s", at.Sub(start))
			}
			start = at
		case <-time.After(10 * time.Second):
			t.Fatal("not served again a second after the hang-up")
		}
	}
}
