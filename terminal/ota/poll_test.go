package ota

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"posd/cmd/tms-sim/repo"
	"posd/conn/clock"
)

// pollClient is a client for schedule tests (Poll needs no server).
func pollClient(t *testing.T, clk clock.Clock, seed uint64, log ...*slog.Logger) *Client {
	t.Helper()
	e := newEnv(t, repo.Opts{})
	return e.client("T1", func(o *Opts) {
		o.Clock = clk
		o.Rand = rand.New(rand.NewPCG(seed, seed))
		if len(log) > 0 {
			o.Logger = log[0]
		}
	})
}

// advanceUntilFired waits for n timers, then steps clk by a second until
// one fires, within limit; it returns the time it fired.
func advanceUntilFired(t *testing.T, clk *clock.Fake, n int, limit time.Duration) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clk.BlockUntil(ctx, n); err != nil {
		t.Fatalf("the poller is not waiting: %v", err)
	}
	// Counted, not read off Waiters: a poller that fires and sets its
	// next timer before this loop looks would leave Waiters at n and the
	// firing unseen (CI: "nothing fired within 1m0s" in TestPollDue).
	start, fired := clk.Now(), clk.Fired()
	for clk.Now().Sub(start) <= limit {
		clk.Advance(time.Second)
		if clk.Fired() > fired {
			return clk.Now()
		}
	}
	t.Fatalf("nothing fired within %v", limit)
	return time.Time{}
}

// TestPollSchedule: the first run within [0, every), each next one
// every·(1 ± 25 %) after the previous (to the second the fake clock steps
// by), one at a time; errors do not stop it; a hint brings the next run
// within 5 s, and a hint during a run is one more run; Poll returns when
// ctx ends.
func TestPollSchedule(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	c := pollClient(t, clk, 7)
	const every = time.Minute
	runs := make(chan time.Time, 16)
	release := make(chan struct{}, 16)
	var running, n atomic.Int32
	var overlap atomic.Bool
	fn := func(ctx context.Context) error {
		if running.Add(1) > 1 {
			overlap.Store(true)
		}
		defer running.Add(-1)
		runs <- clk.Now()
		<-release
		if n.Add(1)%2 == 0 {
			return errors.New("tms said no")
		}
		return nil
	}
	hint := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Poll(ctx, every, hint, fn) }()

	got := func() time.Time {
		t.Helper()
		select {
		case at := <-runs:
			return at
		case <-time.After(10 * time.Second):
			t.Fatal("no run")
		}
		return time.Time{}
	}
	// Each run waits for release: the poller sets no new timer until the
	// test saw the run, so a timer count that dropped stays dropped.
	first := advanceUntilFired(t, clk, 1, every)
	if at := got(); !at.Equal(first) || at.Sub(t0) >= every+time.Second {
		t.Fatalf("first run at %v (fired %v)", at.Sub(t0), first.Sub(t0))
	}
	prev := first
	for range 12 {
		release <- struct{}{}
		at := advanceUntilFired(t, clk, 1, 2*every)
		got()
		gap := at.Sub(prev)
		if gap < every*3/4 || gap > every*5/4+time.Second {
			t.Fatalf("gap %v outside every·(1 ± 25 %%)", gap)
		}
		prev = at
	}

	// A hint: a run within HintJitter (the regular timer stays pending).
	release <- struct{}{}
	ctxb, cancelb := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelb()
	if err := clk.BlockUntil(ctxb, 1); err != nil {
		t.Fatal(err)
	}
	hinted := clk.Now()
	hint <- struct{}{}
	at := advanceUntilFired(t, clk, 2, HintJitter)
	if got(); at.Sub(hinted) > HintJitter {
		t.Fatalf("hinted run after %v", at.Sub(hinted))
	}
	// A hint while that run is under way: one more run soon after it.
	hint <- struct{}{}
	release <- struct{}{}
	// Pending now: the first regular timer, the one after the run.
	at2 := advanceUntilFired(t, clk, 3, HintJitter)
	if got(); at2.Sub(at) > HintJitter+time.Second {
		t.Fatalf("run for the hint during a run after %v", at2.Sub(at))
	}
	if overlap.Load() {
		t.Fatal("two runs at once")
	}
	cancel()
	release <- struct{}{}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll returned %v", err)
	}
	if err := c.Poll(context.Background(), 0, nil, fn); !errors.Is(err, ErrConfig) {
		t.Fatalf("Poll every 0: %v", err)
	}
}

// TestPollDraws: the draws cover their ranges uniformly.
func TestPollDraws(t *testing.T) {
	c := pollClient(t, nil, 3)
	const every = time.Hour
	const n = 20000
	var sumU, sumS float64
	lowS, highS := 2.0, 0.0
	for range n {
		u, s := c.uniform(every), c.spread(every)
		if u < 0 || u >= every {
			t.Fatalf("first wait %v", u)
		}
		if s < every*3/4 || s > every*5/4 {
			t.Fatalf("wait %v", s)
		}
		sumU += u.Hours()
		sumS += s.Hours()
		lowS, highS = min(lowS, s.Hours()), max(highS, s.Hours())
	}
	if m := sumU / n; m < 0.48 || m > 0.52 {
		t.Fatalf("first waits average %.3f h", m)
	}
	if m := sumS / n; m < 0.99 || m > 1.01 || lowS > 0.76 || highS < 1.24 {
		t.Fatalf("waits average %.3f h in [%.3f, %.3f]", m, lowS, highS)
	}
}

func TestNewer(t *testing.T) {
	ts := []Target{
		{Name: "params/a-3.json", Kind: KindParams, Version: 3},
		{Name: "params/b-5.json", Kind: KindParams, Version: 5},
		{Name: "params/a-5.json", Kind: KindParams, Version: 5},
		{Name: "firmware/p-9.img", Kind: KindFirmware, Version: 9},
		{Name: "other", Version: 99},
	}
	for _, c := range []struct {
		kind    string
		running int
		want    string
	}{
		{KindParams, 0, "params/a-5.json"},
		{KindParams, 4, "params/a-5.json"},
		{KindParams, 5, ""},
		{KindParams, 9, ""},
		{KindFirmware, 8, "firmware/p-9.img"},
		{KindFirmware, 9, ""},
		{"", 0, ""},
		{"nothing", 0, ""},
	} {
		got, ok := Newer(ts, c.kind, c.running)
		if ok != (c.want != "") || got.Name != c.want {
			t.Errorf("Newer(%s, %d) = %q %v, want %q", c.kind, c.running, got.Name, ok, c.want)
		}
	}
	if _, ok := Newer(nil, KindParams, 0); ok {
		t.Error("Newer of nothing")
	}
}

// TestPollDue: Due is told when each run is due, and the run comes then;
// a hint brings the due time forward and says so.
func TestPollDue(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	c := pollClient(t, clk, 11)
	const every = time.Minute
	dues := make(chan time.Time, 16)
	runs := make(chan time.Time, 16)
	hint := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.PollWith(ctx, PollOpts{Every: every, Now: hint, Due: func(t time.Time) { dues <- t }},
		func(context.Context) error { runs <- clk.Now(); return nil })
	recv := func(ch chan time.Time, what string) time.Time {
		t.Helper()
		select {
		case v := <-ch:
			return v
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s", what)
		}
		return time.Time{}
	}
	due := recv(dues, "due time")
	if due.Before(t0) || due.Sub(t0) >= every {
		t.Fatalf("first run due at %v", due.Sub(t0))
	}
	fired := advanceUntilFired(t, clk, 1, every)
	if at := recv(runs, "run"); !at.Equal(fired) || at.Before(due) || at.Sub(due) > time.Second {
		t.Fatalf("run at %v, due %v", at.Sub(t0), due.Sub(t0))
	}
	next := recv(dues, "next due time")
	if gap := next.Sub(fired); gap < every*3/4 || gap > every*5/4 {
		t.Fatalf("next due %v after the run", gap)
	}
	ctxb, cancelb := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelb()
	if err := clk.BlockUntil(ctxb, 1); err != nil {
		t.Fatal(err)
	}
	asked := clk.Now()
	hint <- struct{}{}
	if d := recv(dues, "due time of the asked check"); d.Before(asked) || d.Sub(asked) > HintJitter || !d.Before(next) {
		t.Fatalf("asked check due %v after the ask (regular one due %v after)", d.Sub(asked), next.Sub(asked))
	}
}
