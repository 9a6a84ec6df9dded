package txn

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"posd/conn/clock"
	"posd/terminal/host"
	"posd/terminal/store"
	"posd/terminal/wiresec"
)

var fleetSize = flag.Int("fleet", 200, "terminals in the fleet simulation (make fleet runs more)")

// fleetHost is an acquirer shared by the fleet, on the simulation's clock:
// unreachable until up, then accepting at most rate advices a simulated
// second (a token bucket, burst rate) and answering busy (91) beyond. It
// counts every request by simulated second and every advice it accepted.
type fleetHost struct {
	clk  *clock.Fake
	up   time.Time
	rate float64

	mu       sync.Mutex
	tokens   float64
	last     time.Time
	requests map[int64]int // per simulated second since up
	accepted map[string]int
}

func (h *fleetHost) Purchase(context.Context, host.Purchase, *wiresec.Session) (host.Result, error) {
	return host.Result{}, host.ErrUnreachable
}

func (h *fleetHost) Reverse(context.Context, host.Reversal, *wiresec.Session) (host.Result, error) {
	return host.Result{}, host.ErrUnreachable
}

func (h *fleetHost) FollowUp(context.Context, host.Reference, *wiresec.Session) (host.Result, error) {
	return host.Result{}, host.ErrUnreachable
}

func (h *fleetHost) Settle(context.Context, host.Settlement, *wiresec.Session) (host.Result, error) {
	return host.Result{}, host.ErrUnreachable
}

func (h *fleetHost) Upload(context.Context, host.UploadItem, *wiresec.Session) (host.Result, error) {
	return host.Result{}, host.ErrUnreachable
}

func (h *fleetHost) Advice(_ context.Context, a host.Advice, _ *wiresec.Session) (host.Result, error) {
	now := h.clk.Now()
	if now.Before(h.up) {
		return host.Result{}, host.ErrUnreachable
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests[int64(now.Sub(h.up)/time.Second)]++
	h.tokens = min(h.rate, h.tokens+now.Sub(h.last).Seconds()*h.rate)
	h.last = now
	if h.tokens < 1 {
		return host.Result{ResponseCode: host.AdviceBusy}, nil
	}
	h.tokens--
	h.accepted[string(a.Track2)]++ // the track names terminal and advice
	return host.Result{ResponseCode: host.AdviceAccepted}, nil
}

// fleetResult is what the host saw after the outage.
type fleetResult struct {
	requests, accepted, duplicates int
	drain                          time.Duration // from up to the last request
	peak, mean                     float64       // requests per second, peak over a bucket
	buckets                        []int         // requests per bucket
}

// runFleet starts n terminals, each with per offline approvals waiting,
// at one instant while the host is down; the host comes up after outage.
// The run ends when the host has every advice, or horizon after it came
// up (0: no horizon).
// The simulation's clock steps by a second once every terminal waits. seed
// gives terminal i the random source seed(i).
func runFleet(t *testing.T, n, per int, outage, horizon time.Duration, rate float64, bucket time.Duration, seed func(i int) uint64) fleetResult {
	const tick = time.Second
	t.Helper()
	start := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	h := &fleetHost{clk: clk, up: start.Add(outage), rate: rate, last: start.Add(outage), requests: map[int64]int{}, accepted: map[string]int{}}
	dir := t.TempDir()
	var engines []*Engine
	for i := range n {
		db, err := store.Open(filepath.Join(dir, fmt.Sprintf("t%d.db", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		box := newRing(t, filepath.Join(dir, fmt.Sprintf("t%d.slots", i)), per)
		err = db.Do(func(tx *store.Tx) error {
			first, err := tx.ReserveIDs(uint64(per))
			if err != nil {
				return err
			}
			for k := range per {
				id := strconv.FormatUint(first+uint64(k), 10)
				plain, _ := json.Marshal(advicePayload{Track2: []byte(fmt.Sprintf("T%d-%s", i, id))})
				sealed, err := box.Seal(plain, adviceAD(id))
				if err != nil {
					return err
				}
				stan, _ := tx.NextSTAN()
				rec := store.Txn{ID: id, Kind: "purchase", State: store.StateOfflineApproved, Amount: 100, Currency: "156",
					STAN: stan, EntryMode: "051", ResponseCode: host.OfflineApproved}
				if err := tx.Insert(&rec); err != nil {
					return err
				}
				if err := tx.Enqueue(&store.Job{Kind: store.JobAdvice, TxnID: id, Data: sealed}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		s := seed(i)
		e, err := New(Opts{Store: db, Host: h, Keys: newKeys(t), Reader: newReader(), Clock: clk,
			Rand: rand.New(rand.NewPCG(s, s)), Sealer: box, CardTimeout: time.Second, HostTimeout: time.Second,
			// posd's defaults
			ReversalRetry: 30 * time.Second, MaxRetry: 10 * time.Minute, Currencies: []string{"156"}})
		if err != nil {
			t.Fatal(err)
		}
		engines = append(engines, e)
	}
	t.Cleanup(func() {
		for _, e := range engines {
			e.Halt()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	total := n * per
	for step := 0; ; step++ {
		if err := clk.BlockUntil(ctx, n); err != nil {
			t.Fatalf("the fleet stopped waiting at step %d: %v", step, err)
		}
		h.mu.Lock()
		done := len(h.accepted)
		h.mu.Unlock()
		if done == total || horizon > 0 && clk.Now().Sub(start) >= outage+horizon {
			break
		}
		if clk.Now().Sub(start) > outage+24*time.Hour {
			t.Fatalf("after a day %d of %d advices at the host", done, total)
		}
		clk.Advance(tick)
	}
	var r fleetResult
	lastSec := int64(0)
	for sec, c := range h.requests {
		r.requests += c
		lastSec = max(lastSec, sec)
	}
	for _, c := range h.accepted {
		r.accepted++
		r.duplicates += c - 1
	}
	r.drain = time.Duration(lastSec+1) * time.Second
	r.mean = float64(r.requests) / r.drain.Seconds()
	w := int64(bucket / time.Second)
	for b := int64(0); b <= lastSec; b += w {
		c := 0
		for s := b; s < b+w; s++ {
			c += h.requests[s]
		}
		r.buckets = append(r.buckets, c)
		r.peak = max(r.peak, float64(c)/bucket.Seconds())
	}
	return r
}

// TestFleetDoesNotStampede: a fleet of terminals lost the host together
// and each has offline approvals waiting. When the host comes back (with
// a rate limit and busy answers), full jitter spreads their advices: the
// host's peak request rate over a minute stays within twice its
// mean over the drain, every advice arrives exactly once. The control run
// gives every terminal the same random numbers, which is what no jitter
// does: the fleet comes back in waves and the same measure fails.
func TestFleetDoesNotStampede(t *testing.T) {
	n := *fleetSize
	if testing.Short() {
		n = 50
	}
	// posd's retry defaults (30 s doubling to 10 minutes), an hour's
	// outage, a host that takes 10 advices a second; the rate is measured
	// over a minute, a tenth of the longest retry window.
	const per, rate, bucket, outage = 3, 10.0, time.Minute, time.Hour
	r := runFleet(t, n, per, outage, 0, rate, bucket, func(i int) uint64 { return uint64(i) + 1 })
	t.Logf("%d terminals, %d advices: %d requests over %v, mean %.1f/s, peak %.1f/s (%.2f× the mean), %d duplicates",
		n, n*per, r.requests, r.drain, r.mean, r.peak, r.peak/r.mean, r.duplicates)
	t.Logf("requests per %v after the host came back: %v", bucket, r.buckets)
	if r.accepted != n*per || r.duplicates != 0 {
		t.Errorf("%d advices accepted of %d, %d duplicates", r.accepted, n*per, r.duplicates)
	}
	if r.peak > 2*r.mean {
		t.Errorf("peak %.1f requests/s is more than twice the mean %.1f", r.peak, r.mean)
	}
	// The control runs for two retry windows after the host is back.
	c := runFleet(t, n, per, outage, 20*time.Minute, rate, bucket, func(int) uint64 { return 1 })
	t.Logf("control, same random numbers everywhere: %d requests over %v, mean %.1f/s, peak %.1f/s (%.2f×)",
		c.requests, c.drain, c.mean, c.peak, c.peak/c.mean)
	if c.peak <= 2*c.mean {
		t.Errorf("the control run did not stampede: peak %.1f, mean %.1f; the measure cannot tell", c.peak, c.mean)
	}
}
