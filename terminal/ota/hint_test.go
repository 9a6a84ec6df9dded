package ota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"posd/cmd/tms-sim/repo"
	"posd/conn/clock"
)

// sendHint sends on an unbuffered hint channel, failing the test when the
// poller does not take it within a few (real) seconds: it takes it only
// from its wait, so a send that goes through also says the previous hint
// was dealt with and did not put the poller to sleep.
func sendHint(t *testing.T, hint chan<- struct{}) {
	t.Helper()
	select {
	case hint <- struct{}{}:
	case <-time.After(5 * time.Second):
		t.Fatal("the poller does not take hints: is it asleep for an earlier one?")
	}
}

// logNotes is a slog handler that passes each record's message on.
type logNotes chan string

func (l logNotes) Enabled(context.Context, slog.Level) bool { return true }
func (l logNotes) Handle(_ context.Context, r slog.Record) error {
	select {
	case l <- r.Message:
	default:
	}
	return nil
}
func (l logNotes) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logNotes) WithGroup(string) slog.Handler      { return l }

// hintSays sends a hint and waits for the poller's log line on it,
// which must start with want: the poller reads the clock after it took
// the hint, so a test that moved the clock on at once could have it judge
// the hint later than it was sent (seen under load, 8 runs in 300).
func hintSays(t *testing.T, hint chan<- struct{}, notes logNotes, want string) {
	t.Helper()
	sendHint(t, hint)
	select {
	case m := <-notes:
		if !strings.HasPrefix(m, want) {
			t.Fatalf("after a hint: %q, want %q", m, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the poller took a hint and said nothing")
	}
}

const (
	saysDropped = "ota: host hint dropped"
	saysSoon    = "ota: the host says an update is waiting"
)

// TestPollHostHint: a host hint brings one run within the hint jitter
// (not at once: the draws are spread over it); hints while that run is
// pending, and within the cooldown after a run, bring none; a hint after
// the cooldown brings the next one; the regular schedule goes on.
func TestPollHostHint(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	notes := make(logNotes, 16)
	c := pollClient(t, clk, 11, slog.New(notes))
	const every = 10 * time.Hour
	const jitter = 30 * time.Second
	runs := make(chan time.Time, 16)
	release := make(chan struct{}, 16)
	fn := func(ctx context.Context) error {
		runs <- clk.Now()
		<-release
		return nil
	}
	hint := make(chan struct{}) // unbuffered: see sendHint
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.PollWith(ctx, PollOpts{Every: every, HostHint: hint, HostHintJitter: jitter, HintCooldown: time.Minute}, fn)
	}()
	noRun := func(what string) {
		t.Helper()
		select {
		case at := <-runs:
			t.Fatalf("%s: a run at %v", what, at.Sub(t0))
		default:
		}
	}
	bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer bcancel()
	if err := clk.BlockUntil(bctx, 1); err != nil {
		t.Fatal(err)
	}
	// The first regular run is hours away (seed 11); a hint brings one
	// within the jitter.
	hinted := clk.Now()
	hintSays(t, hint, notes, saysSoon)
	if err := clk.BlockUntil(bctx, 2); err != nil {
		t.Fatal(err)
	}
	// While it is pending the poller does not read hints: one sent on the
	// daemon's channel of capacity 1 waits there, and the cooldown drops
	// it after the run (as the dropped hints below show).
	at := advanceUntilFired(t, clk, 2, jitter)
	got := <-runs
	if !got.Equal(at) || at.Sub(hinted) > jitter {
		t.Fatalf("hinted run %v after the hint, bound %v", at.Sub(hinted), jitter)
	}
	release <- struct{}{}
	// Within the cooldown: hints are dropped (the poller takes them and
	// is back at once), and nothing runs.
	if err := clk.BlockUntil(bctx, 2); err != nil { // the first regular timer, left behind in the fake clock, and the new one
		t.Fatal(err)
	}
	for range 5 {
		hintSays(t, hint, notes, saysDropped)
		clk.Advance(10 * time.Second)
	}
	hintSays(t, hint, notes, saysDropped)
	noRun("hints within the cooldown")
	if w := clk.Waiters(); w != 2 {
		t.Fatalf("%d timers pending after dropped hints, want 2", w)
	}
	// After the cooldown a hint brings one run again.
	clk.Advance(20 * time.Second)
	hinted = clk.Now()
	hintSays(t, hint, notes, saysSoon)
	if err := clk.BlockUntil(bctx, 3); err != nil {
		t.Fatal(err)
	}
	at = advanceUntilFired(t, clk, 3, jitter)
	if got := <-runs; !got.Equal(at) || at.Sub(hinted) > jitter {
		t.Fatalf("second hinted run %v after its hint", at.Sub(hinted))
	}
	release <- struct{}{}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("PollWith returned %v", err)
	}
}

// TestPollHostHintDueSooner: a hint when the regular run is due sooner
// than the hinted one would be is dropped; a closed hint channel hints no
// more.
func TestPollHostHintDueSooner(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	notes := make(logNotes, 16)
	c := pollClient(t, clk, 2, slog.New(notes))
	runs := make(chan time.Time, 16)
	hint := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	const every = 2 * time.Second
	go func() {
		done <- c.PollWith(ctx, PollOpts{Every: every, HostHint: hint, HostHintJitter: time.Hour}, func(context.Context) error {
			runs <- clk.Now()
			return nil
		})
	}()
	bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer bcancel()
	if err := clk.BlockUntil(bctx, 1); err != nil {
		t.Fatal(err)
	}
	// The jitter is bounded by every; seed 2 draws the first regular run
	// (0.38 s) sooner than the hinted one would be (1.98 s): the hint is
	// dropped (judged before the clock moves on) and the regular run
	// comes.
	hintSays(t, hint, notes, saysDropped+": a check is due sooner")
	// One second on, the regular run (due at 0.38 s) has come, and only
	// it: the poller re-arms at once, so the run itself is waited for,
	// not a count of timers.
	clk.Advance(time.Second)
	select {
	case got := <-runs:
		if !got.Equal(t0.Add(time.Second)) {
			t.Fatalf("run at %v", got.Sub(t0))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no regular run after the dropped hint")
	}
	select {
	case got := <-runs:
		t.Fatalf("a second run at %v", got.Sub(t0))
	default:
	}
	close(hint)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("PollWith returned %v", err)
	}
	if err := c.PollWith(context.Background(), PollOpts{}, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("PollWith without a period: %v", err)
	}
}

// hintFleet is what a repository saw when a fleet was hinted at once.
type hintFleet struct {
	checks     []int // runs per window after the hint
	peak, mean float64
	total      int
	again      int // runs after a second hint within the cooldown
}

// runHintFleet starts n terminals polling one repository hourly (their
// regular runs far away), hints every one of them at the same instant,
// and counts their checks per window of simulated time over the jitter
// bound; then hints them all again (within the cooldown) and counts what
// that brings. The terminals' draws come from seed.
func runHintFleet(t *testing.T, n int, jitter, window time.Duration, seed func(i int) uint64) hintFleet {
	t.Helper()
	const every = 1000 * time.Hour
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	r, err := repo.New(t.TempDir(), repo.Opts{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddTarget("params/emv-2.json", bundleJSON(2), map[string]any{"kind": KindParams, "version": 2}); err != nil {
		t.Fatal(err)
	}
	if err := r.Publish(); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: handlerTransport{r.Handler()}}
	root := r.RootJSON()
	dir := t.TempDir()
	var mu sync.Mutex
	var times []time.Time
	var failed atomic.Int64
	hints := make([]chan struct{}, n)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		s := seed(i)
		c, err := New(Opts{BaseURL: "http://tms.test", TerminalID: fmt.Sprintf("T%04d", i), Root: root,
			Dir: filepath.Join(dir, fmt.Sprint(i)), HTTP: hc, Clock: clk, Rand: rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))})
		if err != nil {
			t.Fatal(err)
		}
		hints[i] = make(chan struct{}, 1)
		wg.Go(func() {
			c.PollWith(ctx, PollOpts{Every: every, HostHint: hints[i], HostHintJitter: jitter}, func(ctx context.Context) error {
				mu.Lock()
				times = append(times, clk.Now())
				mu.Unlock()
				_, err := c.Check(ctx)
				if err != nil {
					failed.Add(1)
				}
				return err
			})
		})
	}
	defer func() { cancel(); wg.Wait() }()
	wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer wcancel()
	if err := clk.BlockUntil(wctx, n); err != nil {
		t.Fatal(err)
	}
	hint := func() {
		for _, h := range hints {
			select {
			case h <- struct{}{}:
			default:
			}
		}
	}
	// Every terminal hinted at once (the host's answers to a busy
	// lunchtime, or an engineer hinting the whole fleet).
	hinted := clk.Now()
	hint()
	// Each terminal now waits on its regular timer and its jittered one
	// (one whose draw is 0 may have run already: it waits on two again
	// once its run ended, the regular timer it left behind and a new one).
	if err := clk.BlockUntil(wctx, 2*n); err != nil {
		t.Fatal(err)
	}
	step := time.Second
	for clk.Now().Before(hinted.Add(jitter + step)) {
		clk.Advance(step)
		if err := clk.BlockUntil(wctx, 2*n); err != nil {
			t.Fatalf("the fleet stopped waiting at %v: %v", clk.Now().Sub(hinted), err)
		}
	}
	var f hintFleet
	mu.Lock()
	nw := int(jitter / window)
	f.checks = make([]int, nw)
	for _, at := range times {
		// A timer fires at the step after its time: a run at hinted+1s
		// was drawn within the first second.
		w := int(max(at.Sub(hinted)-step, 0) / window)
		if w >= nw {
			w = nw - 1 // the last step's stragglers (at most a step late)
		}
		f.checks[w]++
		f.total++
	}
	mu.Unlock()
	for _, c := range f.checks {
		f.peak = max(f.peak, float64(c))
	}
	f.mean = float64(f.total) / float64(nw)
	// The same hint again, within a minute of the checks: nothing.
	hint()
	for range 10 {
		clk.Advance(step)
		if err := clk.BlockUntil(wctx, 2*n); err != nil {
			t.Fatal(err)
		}
	}
	// Give a wrongly woken poller the time to show up.
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	f.again = len(times) - f.total
	mu.Unlock()
	if failed.Load() != 0 {
		t.Fatalf("%d checks failed", failed.Load())
	}
	return f
}

// TestFleetHintSpreads: 500 terminals hinted at the same instant check
// their TMS once each, spread over the 30 s hint jitter: the peak of
// checks over 5 s windows stays within twice the mean; the same hint again
// a few seconds later (the host hints in every answer until told to stop)
// brings no second check. The control run draws the same numbers for
// every terminal, as hinting without jitter would: they all check within
// the same window.
func TestFleetHintSpreads(t *testing.T) {
	n := *otaFleet
	const jitter = DefaultHostHintJitter
	f := runHintFleet(t, n, jitter, 5*time.Second, func(i int) uint64 { return uint64(i) + 101 })
	ratio := f.peak / f.mean
	t.Logf("%d terminals hinted at once: %d checks over %v, per 5 s %v: mean %.1f, peak %.0f, peak/mean %.2f; a second hint brought %d",
		n, f.total, jitter, f.checks, f.mean, f.peak, ratio, f.again)
	if f.total != n {
		t.Fatalf("%d checks for %d terminals hinted once", f.total, n)
	}
	if ratio > 2 {
		t.Fatalf("peak %.0f checks per 5 s is %.2f× the mean %.1f", f.peak, ratio, f.mean)
	}
	if f.again != 0 {
		t.Fatalf("a repeated hint within the cooldown brought %d more checks", f.again)
	}
	control := runHintFleet(t, 50, jitter, 5*time.Second, func(int) uint64 { return 42 })
	t.Logf("control, same random numbers for 50 terminals: per 5 s %v", control.checks)
	if control.peak != float64(control.total) {
		t.Fatalf("the control run did not stampede: %v", control.checks)
	}
}
