package daemon

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"posd/conn/clock"
	"posd/internal/config"
	"posd/terminal/host"
)

// heartbeatRig runs a heartbeat of 5 minutes on a fake clock; the fake
// link records every echo as an exchange, as the host client does.
type heartbeatRig struct {
	t      *testing.T
	clk    *clock.Fake
	mu     sync.Mutex
	state  host.LinkState
	busy   bool
	fail   error
	echoes chan time.Time
}

func newHeartbeatRig(t *testing.T) *heartbeatRig {
	r := &heartbeatRig{t: t, clk: clock.NewFake(settleDay), echoes: make(chan time.Time, 100)}
	h := &heartbeat{
		echo: func(context.Context) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			now := r.clk.Now()
			if r.fail != nil {
				r.state.LastFailure = now
			} else {
				r.state.LastAnswer = now
			}
			r.echoes <- now
			return r.fail
		},
		link: func() host.LinkState { r.mu.Lock(); defer r.mu.Unlock(); return r.state },
		busy: func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.busy },
		clk:  r.clk, idle: 5 * time.Minute, log: slog.New(slog.DiscardHandler),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// advance waits for the heartbeat to wait, then moves the clock by d.
func (r *heartbeatRig) advance(d time.Duration) {
	r.t.Helper()
	waiting(r.t, r.clk, "the heartbeat")
	r.clk.Advance(d)
}

func (r *heartbeatRig) echoed() time.Time {
	r.t.Helper()
	select {
	case at := <-r.echoes:
		return at
	case <-time.After(10 * time.Second):
		r.t.Fatal("no echo")
	}
	return time.Time{}
}

func (r *heartbeatRig) noEcho() {
	r.t.Helper()
	waiting(r.t, r.clk, "the heartbeat")
	select {
	case at := <-r.echoes:
		r.t.Fatalf("echo at %v", at)
	default:
	}
}

// An idle link gets an echo every 5 minutes; a sale's exchange puts the
// next one off; a transaction in progress holds it back; a host that
// does not answer is probed at the same pace.
func TestHeartbeat(t *testing.T) {
	r := newHeartbeatRig(t)
	r.advance(4 * time.Minute)
	r.noEcho()
	r.advance(time.Minute)
	if got := r.echoed(); !got.Equal(settleDay.Add(5 * time.Minute)) {
		t.Fatalf("first echo at %v", got)
	}
	// A sale answered at +8 min: the next echo is due at +13, not +10.
	r.advance(3 * time.Minute)
	r.mu.Lock()
	r.state.LastAnswer = r.clk.Now()
	r.mu.Unlock()
	r.advance(2 * time.Minute)
	r.noEcho()
	r.advance(3 * time.Minute)
	if got := r.echoed(); !got.Equal(settleDay.Add(13 * time.Minute)) {
		t.Fatalf("echo after a sale at %v", got)
	}
	// A transaction runs at +18: the echo waits until it ended.
	r.mu.Lock()
	r.busy = true
	r.mu.Unlock()
	r.advance(5 * time.Minute)
	r.noEcho()
	r.mu.Lock()
	r.busy = false
	r.mu.Unlock()
	r.advance(10 * time.Second)
	if got := r.echoed(); !got.Equal(settleDay.Add(18*time.Minute + 10*time.Second)) {
		t.Fatalf("echo after the transaction at %v", got)
	}
	r.mu.Lock()
	r.fail = errors.New("host unreachable")
	r.mu.Unlock()
	r.advance(5 * time.Minute)
	r.echoed()
	r.advance(5 * time.Minute)
	if got := r.echoed(); !got.Equal(settleDay.Add(28*time.Minute + 10*time.Second)) {
		t.Fatalf("echo to a silent host at %v", got)
	}
}

// posd with host.echo_idle runs the heartbeat and stops it before the
// host link closes.
func TestHeartbeatWiredAndStopped(t *testing.T) {
	cfg, err := config.Parse([]byte(`{"data_dir":"` + filepath.Join(t.TempDir(), "data") + `","host":{"addr":"127.0.0.1:1","echo_idle":"5m"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Settings().EchoIdle != 5*time.Minute {
		t.Fatalf("echo_idle %v", cfg.Settings().EchoIdle)
	}
	d, err := Open(context.Background(), cfg, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.heartbeatDone == nil {
		d.Close(context.Background())
		t.Fatal("no heartbeat with host.echo_idle")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.heartbeatDone:
	default:
		t.Fatal("the heartbeat runs on after Close")
	}
}
