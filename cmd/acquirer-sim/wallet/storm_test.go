package wallet_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/wallet"
	"posd/conn/clock"
	tw "posd/terminal/wallet"
)

var stormSize = flag.Int("storm", 200, "terminals in the wallet query storm simulation")

// memTransport hands requests straight to a handler: the storm runs
// thousands of calls without sockets.
type memTransport struct{ h http.Handler }

func (m memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	m.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// stormResult is what the platform saw during the storm.
type stormResult struct {
	queries          int
	perSecond        map[int64]int
	peakSec          int     // most queries in one simulated second
	peak, mean       float64 // queries/s: peak over a bucket, mean over the storm
	buckets          []int
	totals           wallet.Totals
	wrong, unresolve int64 // resolutions that ended otherwise than their magic amount says
	sales            int64
}

// runStorm: n terminals sell through one simulated platform for window;
// every wallet sale stays unresolved at first (amount ending 62, never
// paid, or 61, paid after the 2nd query) and each terminal resolves it with
// its own Resolver and query Limiter, then sells again after a pause. A
// terminal's first sale comes after a pause too, unless sync (the worst
// case: every terminal's payment goes unknown at the same instant). seed
// gives terminal i its random source. Queries are counted per simulated
// second.
func runStorm(t *testing.T, n int, window, bucket time.Duration, together bool, seed func(i int) uint64) stormResult {
	t.Helper()
	const tick = 200 * time.Millisecond
	start := time.Date(2026, 11, 11, 20, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	sim := wallet.New(wallet.Opts{Clock: clk, QueryRate: 1, QueryBurst: 3, PayAfter: 2})
	var mu sync.Mutex
	per := map[int64]int{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/"+tw.OpQuery) {
			mu.Lock()
			per[int64(clk.Now().Sub(start)/time.Second)]++
			mu.Unlock()
		}
		sim.ServeHTTP(w, r)
	})
	hc := &http.Client{Transport: memTransport{h}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var res stormResult
	var live atomic.Int64
	for i := range n {
		tid := fmt.Sprintf("T%04d", i)
		c, err := tw.NewHTTPClient(tw.Opts{BaseURL: "http://wallet.sim", TerminalID: tid,
			Key: wallet.TerminalKey([]byte(wallet.TestMasterKey), tid), HTTP: hc, Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		s := seed(i)
		lim := tw.NewLimiter(clk, tw.DefaultRate, tw.DefaultBurst)
		rv, err := tw.NewResolver(tw.ResolverOpts{Client: c, Limiter: lim, Clock: clk, Rand: rand.New(rand.NewPCG(s, 1))})
		if err != nil {
			t.Fatal(err)
		}
		gaps := rand.New(rand.NewPCG(s, 2))
		live.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer live.Add(-1)
			for k := 0; ; k++ {
				if !together || k > 0 {
					// The next customer: 5 to 45 s later.
					if clock.Sleep(ctx, clk, 5*time.Second+time.Duration(gaps.Int64N(int64(40*time.Second)))) != nil {
						return
					}
				}
				amount := int64(1062)
				want := tw.StatusClosed
				if k%3 == 1 {
					amount, want = 2061, tw.StatusSuccess
				}
				id := fmt.Sprintf("O%d", k)
				r, err := c.Pay(ctx, tw.WeChat, tw.Order{ID: id, Amount: amount, Currency: "CNY", Code: fmt.Sprintf("13%04d%012d", i, k)})
				if err != nil || r.Status != tw.StatusUserPaying {
					t.Errorf("%s pay %s: %+v %v", tid, id, r, err)
					return
				}
				atomic.AddInt64(&res.sales, 1)
				r, err = rv.Resolve(ctx, tw.WeChat, id)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					atomic.AddInt64(&res.unresolve, 1)
				} else if r.Status != want {
					atomic.AddInt64(&res.wrong, 1)
				}
			}
		}()
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer wcancel()
	for clk.Now().Sub(start) < window {
		if err := clk.BlockUntil(wctx, int(live.Load())); err != nil {
			t.Fatalf("the terminals stopped waiting at %v: %v", clk.Now().Sub(start), err)
		}
		clk.Advance(tick)
	}
	cancel()
	wg.Wait()
	res.perSecond = per
	res.totals = sim.Totals()
	secs := int64(window / time.Second)
	for s, c := range per {
		if s < secs {
			res.queries += c
			res.peakSec = max(res.peakSec, c)
		}
	}
	res.mean = float64(res.queries) / window.Seconds()
	w := int64(bucket / time.Second)
	for b := int64(0); b < secs; b += w {
		c := 0
		for s := b; s < b+w; s++ {
			c += per[s]
		}
		res.buckets = append(res.buckets, c)
		res.peak = max(res.peak, float64(c)/bucket.Seconds())
	}
	return res
}

// TestStormQueriesStaySpread: 200 terminals (-storm=N) sell through one
// wallet platform during a ten-minute storm in which every payment is
// answered user_paying; each resolves its own with full jitter and a
// terminal query limit. The platform's query rate, per 10 s bucket, peaks
// within twice its mean over the storm; no simulated second goes over
// its per-terminal limit (1/s) × terminals; nothing is paid twice and
// every payment ends as its magic amount says. The control run gives
// every terminal the same random numbers (what no jitter does) and
// fails the same measure. The worst case (every payment unknown at the
// same instant) is logged: bounded, but front-loaded (see its figures).
func TestStormQueriesStaySpread(t *testing.T) {
	n := *stormSize
	if testing.Short() {
		n = 50
	}
	const window, bucket = 10 * time.Minute, 10 * time.Second
	r := runStorm(t, n, window, bucket, false, func(i int) uint64 { return uint64(i) + 1 })
	t.Logf("%d terminals, %d sales: %d queries over %v, mean %.1f/s, peak %.1f/s per %v (%.2f× the mean), busiest second %d (limit %d); platform %+v",
		n, r.sales, r.queries, window, r.mean, r.peak, bucket, r.peak/r.mean, r.peakSec, n, r.totals)
	t.Logf("queries per %v: %v", bucket, r.buckets)
	if r.peak > 2*r.mean {
		t.Errorf("peak %.1f queries/s is more than twice the mean %.1f", r.peak, r.mean)
	}
	if r.peakSec > n*1 {
		t.Errorf("%d queries in one second, over %d terminals × 1/s", r.peakSec, n)
	}
	if r.totals.PaidTwice != 0 || r.wrong != 0 || r.unresolve != 0 || r.totals.TooFrequent != 0 {
		t.Errorf("paid twice %d, wrong outcomes %d, unresolved %d, too frequent %d", r.totals.PaidTwice, r.wrong, r.unresolve, r.totals.TooFrequent)
	}
	if r.sales < int64(n) {
		t.Errorf("only %d sales", r.sales)
	}

	c := runStorm(t, n, window, bucket, false, func(int) uint64 { return 1 })
	t.Logf("control, same random numbers everywhere: mean %.1f/s, peak %.1f/s (%.2f×), busiest second %d", c.mean, c.peak, c.peak/c.mean, c.peakSec)
	if c.peak <= 2*c.mean {
		t.Errorf("the control run did not stampede: peak %.1f, mean %.1f; the measure cannot tell", c.peak, c.mean)
	}

	w := runStorm(t, n, 2*time.Minute, bucket, true, func(i int) uint64 { return uint64(i) + 1 })
	t.Logf("worst case, every payment unknown at once: %d queries in 2m, busiest second %d (limit %d), per %v: %v",
		w.queries, w.peakSec, n, bucket, w.buckets)
	if w.peakSec > n || w.totals.PaidTwice != 0 {
		t.Errorf("worst case: busiest second %d, paid twice %d", w.peakSec, w.totals.PaidTwice)
	}
}
