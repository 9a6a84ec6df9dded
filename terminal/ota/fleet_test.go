package ota

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"posd/cmd/tms-sim/repo"
	"posd/conn/clock"
)

var otaFleet = flag.Int("ota-fleet", 500, "terminals in the OTA polling simulation")

// fleetRun is what the repository saw of a fleet's polling.
type fleetRun struct {
	requests   int
	windows    []int // requests per window
	peak, mean float64
	polls      int
}

// runFleet starts n terminals, each with its Poll checking one repository
// every `every`, on a simulated clock that steps by five seconds once every
// terminal waits (timers fire at most a step late; the terminals a step
// fires check concurrently), for `periods` periods, counting the repository's requests
// per window of simulated time. seed gives terminal i its random source.
// The terminals were in service before (they trust the repository's
// current metadata): each poll is then the root probe and the timestamp.
func runFleet(t *testing.T, n int, every time.Duration, periods int, window time.Duration, seed func(i int) uint64) fleetRun {
	t.Helper()
	const step = 5 * time.Second
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	var (
		mu       sync.Mutex
		counting bool
		counts   = map[int64]int{}
	)
	r, err := repo.New(t.TempDir(), repo.Opts{Clock: clk, OnRequest: func(q repo.Request) {
		mu.Lock()
		defer mu.Unlock()
		if counting {
			counts[int64(q.Time.Sub(start)/window)]++
		}
	}})
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
	clients := make([]*Client, n)
	for i := range n {
		s := seed(i)
		c, err := New(Opts{BaseURL: "http://tms.test", TerminalID: fmt.Sprintf("T%04d", i), Root: root,
			Dir: filepath.Join(dir, fmt.Sprint(i)), HTTP: hc, Clock: clk, Rand: rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, err := c.Check(context.Background()); err != nil {
				t.Fatal(err)
			}
		} else {
			// In service: the same trusted metadata as the first terminal.
			copyMetadata(t, clients[0].metaDir, c.metaDir)
		}
		clients[i] = c
	}
	mu.Lock()
	counting = true
	mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var polls, failed atomic.Int64
	for _, c := range clients {
		wg.Go(func() {
			c.Poll(ctx, every, nil, func(ctx context.Context) error {
				polls.Add(1)
				_, err := c.Check(ctx)
				if err != nil {
					failed.Add(1)
				}
				return err
			})
		})
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer wcancel()
	end := start.Add(time.Duration(periods) * every)
	for clk.Now().Before(end) {
		if err := clk.BlockUntil(wctx, n); err != nil {
			t.Fatalf("the fleet stopped waiting at %v: %v", clk.Now().Sub(start), err)
		}
		clk.Advance(step)
	}
	if err := clk.BlockUntil(wctx, n); err != nil {
		t.Fatal(err)
	}
	cancel()
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d checks failed", failed.Load(), polls.Load())
	}

	var fr fleetRun
	fr.polls = int(polls.Load())
	nw := int64(time.Duration(periods) * every / window)
	for w := range nw {
		c := counts[w]
		fr.windows = append(fr.windows, c)
		fr.requests += c
		fr.peak = max(fr.peak, float64(c))
	}
	fr.mean = float64(fr.requests) / float64(nw)
	return fr
}

// TestFleetPollingSpreads: 500 terminals that start polling at the same
// instant (a power cut ends, a site opens) poll one repository at a rate
// whose peak over a minute stays within twice its mean: the first poll
// is spread over a whole period and each next one drifts by ±25 %. The
// control run gives every terminal the same random numbers, as polling
// without jitter would: they all poll within the same second.
func TestFleetPollingSpreads(t *testing.T) {
	const every = 10 * time.Minute
	n := *otaFleet
	fr := runFleet(t, n, every, 2, time.Minute, func(i int) uint64 { return uint64(i) + 1 })
	ratio := fr.peak / fr.mean
	t.Logf("%d terminals, %d polls, %d requests over %d one-minute windows: mean %.1f, peak %.0f a minute, peak/mean %.2f",
		n, fr.polls, fr.requests, len(fr.windows), fr.mean, fr.peak, ratio)
	t.Logf("requests per minute: %v", fr.windows)
	if fr.polls < n*3/2 {
		t.Fatalf("only %d polls of %d terminals over two periods", fr.polls, n)
	}
	if ratio > 2 {
		t.Fatalf("peak request rate %.0f a minute is %.2f× the mean %.1f", fr.peak, ratio, fr.mean)
	}

	control := runFleet(t, 50, every, 1, time.Minute, func(int) uint64 { return 42 })
	t.Logf("control, same random numbers for 50 terminals: peak/mean %.2f (%v)", control.peak/control.mean, control.windows)
	if control.peak/control.mean < 5 {
		t.Fatalf("the control run did not stampede: %v", control.windows)
	}
}

func copyMetadata(t *testing.T, from, to string) {
	t.Helper()
	es, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
