package ota

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"posd/cmd/tms-sim/repo"
	"posd/conn/clock"
)

// restartRun starts a poller on dir as a fresh start of posd would, with
// an acquirer's hint waiting, and steps clk until its first run. With
// dieInRun, posd dies in that run (the run never returns); otherwise the
// run returns fail and posd dies after it. It returns when that run
// happened.
func restartRun(t *testing.T, e *env, clk *clock.Fake, dir string, seed uint64, dieInRun bool, fail error, limit time.Duration) time.Time {
	t.Helper()
	notes := make(logNotes, 64)
	c := e.client("T1", func(o *Opts) {
		o.Dir, o.Clock, o.Rand = dir, clk, rand.New(rand.NewPCG(seed, seed))
		o.Logger = slog.New(notes)
	})
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Pointer[time.Time]
	ranCh, dead := make(chan struct{}), make(chan struct{})
	fn := func(context.Context) error {
		now := clk.Now()
		ran.Store(&now)
		close(ranCh)
		if dieInRun {
			<-dead // the process is gone: nothing after this point happens
		}
		return fail
	}
	hint := make(chan struct{}, 1)
	hint <- struct{}{}
	done := make(chan error, 1)
	go func() {
		done <- c.PollWith(ctx, PollOpts{Every: time.Hour, HostHint: hint}, fn)
	}()
	// (Cleanups run last in first: this one before the removal of dir.)
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); close(dead); <-done }) }
	t.Cleanup(stop)
	// The poller judges the hint before the clock moves.
	for judged := false; !judged; {
		select {
		case m := <-notes:
			judged = strings.HasPrefix(m, saysDropped) || strings.HasPrefix(m, saysSoon)
		case <-time.After(5 * time.Second):
			t.Fatal("the poller said nothing of the hint")
		}
	}
	bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer bcancel()
	start := clk.Now()
	for clk.Now().Sub(start) <= limit {
		if err := clk.BlockUntil(bctx, 1); err != nil {
			t.Fatalf("the poller is not waiting: %v", err)
		}
		fired := clk.Fired()
		clk.Advance(10 * time.Second)
		if clk.Fired() == fired {
			continue
		}
		// A timer fired: the run comes, or the poller waits again.
		select {
		case <-ranCh:
			at := *ran.Load()
			if !dieInRun {
				// The run is recorded as ended before posd dies.
				for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
					if st := c.readPollState(); !st.Ended.Before(at) {
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("the successful run is not recorded")
					}
				}
				stop() // posd dies while it waits: nothing is written
			}
			return at
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("no run within %v", limit)
	return time.Time{}
}

// TestPollRestartKeepsBackoff: a terminal whose TMS is down, and that
// dies after every check (a crash elsewhere, a watchdog, a power cut),
// starts again at once, each time with a hint from the acquirer waiting.
// Its checks do not come sooner for the restarts: each waits the regular
// period after the last one, backing off as the failures add up, and a
// success brings the regular period back.
func TestPollRestartKeepsBackoff(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	e := newEnv(t, repo.Opts{})
	dir := t.TempDir()
	const every = time.Hour
	down := fmt.Errorf("check: %w", ErrUnreachable)
	prev := restartRun(t, e, clk, dir, 1, false, down, every)
	for i := 1; i <= 5; i++ {
		at := restartRun(t, e, clk, dir, uint64(i+1), false, down, 20*every)
		// i failures so far: every·2^i, at most 4 times.
		factor := time.Duration(min(1<<i, maxBackoff))
		gap := at.Sub(prev)
		if gap < every*3/4*factor || gap > every*5/4*factor+time.Minute {
			t.Fatalf("start %d: the check came %v after the last one, want every·%d·(1 ± 25 %%)", i, gap, factor)
		}
		t.Logf("start %d: %v after the last check", i, gap)
		prev = at
	}
	// The TMS answers again: the run after a success is a regular one.
	at := restartRun(t, e, clk, dir, 10, false, nil, 20*every)
	prev = at
	at = restartRun(t, e, clk, dir, 11, false, nil, 20*every)
	if gap := at.Sub(prev); gap < every*3/4 || gap > every*5/4+time.Minute {
		t.Fatalf("after a success the check came %v after the last one", gap)
	}
}

// TestPollRestartDyingInRuns: a terminal that dies in every check starts
// again at once with a hint waiting: its checks still come a period
// apart (a run that never ended is a run; not a failure, since a reboot
// into new firmware ends one too).
func TestPollRestartDyingInRuns(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	e := newEnv(t, repo.Opts{})
	dir := t.TempDir()
	const every = time.Hour
	prev := restartRun(t, e, clk, dir, 1, true, nil, every)
	for i := 1; i <= 4; i++ {
		at := restartRun(t, e, clk, dir, uint64(i+1), true, nil, 20*every)
		if gap := at.Sub(prev); gap < every*3/4 || gap > every*5/4+time.Minute {
			t.Fatalf("start %d: the check came %v after the last one, want every·(1 ± 25 %%)", i, gap)
		}
		prev = at
	}
}

// TestPollBackoffBounds: the back-off doubles the period up to 4 times,
// never beyond a day unless the period itself is longer.
func TestPollBackoffBounds(t *testing.T) {
	c := pollClient(t, clock.NewFake(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)), 3)
	for _, tc := range []struct {
		every    time.Duration
		failures int
		lo, hi   time.Duration
	}{
		{time.Hour, 0, 45 * time.Minute, 75 * time.Minute},
		{time.Hour, 1, 90 * time.Minute, 150 * time.Minute},
		{time.Hour, 2, 3 * time.Hour, 5 * time.Hour},
		{time.Hour, 50, 3 * time.Hour, 5 * time.Hour},
		{6 * time.Hour, 3, 18 * time.Hour, 24 * time.Hour},
		{48 * time.Hour, 3, 36 * time.Hour, 60 * time.Hour},
	} {
		for range 100 {
			if w := c.backoff(tc.every, tc.failures); w < tc.lo || w > tc.hi {
				t.Fatalf("every %v, %d failures: wait %v outside [%v, %v]", tc.every, tc.failures, w, tc.lo, tc.hi)
			}
		}
	}
}
