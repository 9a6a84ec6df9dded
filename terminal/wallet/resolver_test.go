package wallet

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"posd/conn/clock"
)

// fakeClient answers queries from a script and records when each call came.
type fakeClient struct {
	clk     *clock.Fake
	mu      sync.Mutex
	answers []error  // per query: nil → status
	status  []Status // per query
	queries []time.Time
	cancels []time.Time
	cancel  error
}

func (f *fakeClient) Pay(context.Context, Platform, Order) (Result, error) { return Result{}, nil }
func (f *fakeClient) Precreate(context.Context, Platform, Order) (Result, error) {
	return Result{Status: StatusUserPaying}, nil
}
func (f *fakeClient) Refund(context.Context, Platform, string, string, int64) (Result, error) {
	return Result{}, nil
}

func (f *fakeClient) Query(context.Context, Platform, string) (Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := len(f.queries)
	f.queries = append(f.queries, f.clk.Now())
	st := StatusUserPaying
	if i < len(f.status) && f.status[i] != "" {
		st = f.status[i]
	}
	if i < len(f.answers) && f.answers[i] != nil {
		return Result{}, f.answers[i]
	}
	return Result{Status: st}, nil
}

func (f *fakeClient) Cancel(context.Context, Platform, string) (Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancels = append(f.cancels, f.clk.Now())
	if f.cancel != nil {
		return Result{}, f.cancel
	}
	return Result{Status: StatusClosed}, nil
}

// drive runs Resolve on the fake clock, advancing it whenever the
// resolver waits, and returns its answer.
func drive(t *testing.T, clk *clock.Fake, rv *Resolver) (Result, error) {
	t.Helper()
	type out struct {
		r   Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		r, err := rv.Resolve(context.Background(), WeChat, "O1")
		done <- out{r, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		select {
		case o := <-done:
			return o.r, o.err
		default:
		}
		bctx, bcancel := context.WithTimeout(ctx, 10*time.Millisecond)
		err := clk.BlockUntil(bctx, 1)
		bcancel()
		if ctx.Err() != nil {
			t.Fatal("Resolve never returned")
		}
		if err == nil {
			clk.Advance(100 * time.Millisecond)
		}
	}
}

func newRig(t *testing.T, f *fakeClient, seed uint64) (*clock.Fake, *Resolver) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	f.clk = clk
	rv, err := NewResolver(ResolverOpts{Client: f, Clock: clk, Limiter: NewLimiter(clk, DefaultRate, DefaultBurst),
		Rand: rand.New(rand.NewPCG(seed, seed))})
	if err != nil {
		t.Fatal(err)
	}
	return clk, rv
}

func TestResolverBoundedScheduleThenCancel(t *testing.T) {
	for seed := range uint64(20) {
		f := &fakeClient{}
		clk, rv := newRig(t, f, seed)
		start := clk.Now()
		r, err := drive(t, clk, rv)
		if err != nil || r.Status != StatusClosed {
			t.Fatalf("seed %d: %+v %v", seed, r, err)
		}
		if len(f.cancels) != 1 || len(f.queries) < 3 || len(f.queries) > 9 {
			t.Fatalf("seed %d: %d queries, %d cancels", seed, len(f.queries), len(f.cancels))
		}
		prev := start
		for k, q := range f.queries {
			gap := q.Sub(prev)
			// wait k is at most First·2^k (+ the clock's step), at least the floor.
			if gap < DefaultFirst/4 || gap > min(DefaultFirst<<k, DefaultMaxWait)+200*time.Millisecond && gap > 2*time.Second+200*time.Millisecond {
				t.Fatalf("seed %d: wait %d is %v", seed, k, gap)
			}
			if q.Sub(start) > DefaultTotal {
				t.Fatalf("seed %d: query %d at %v, after Total", seed, k, q.Sub(start))
			}
			prev = q
		}
	}
}

func TestResolverUserPayingThenSuccess(t *testing.T) {
	f := &fakeClient{status: []Status{StatusUserPaying, StatusSuccess}}
	clk, rv := newRig(t, f, 7)
	r, err := drive(t, clk, rv)
	if err != nil || r.Status != StatusSuccess || len(f.queries) != 2 || len(f.cancels) != 0 {
		t.Fatalf("%+v %v, %d queries, %d cancels", r, err, len(f.queries), len(f.cancels))
	}
}

func TestResolverTooFrequentBacksOff(t *testing.T) {
	tf := &RejectedError{Op: OpQuery, Code: CodeTooFrequent}
	var all, calm int
	for seed := range uint64(20) {
		f := &fakeClient{answers: []error{tf, tf, tf, tf, tf, tf, tf, tf, tf, tf}}
		clk, rv := newRig(t, f, seed)
		r, err := drive(t, clk, rv)
		if err != nil || r.Status != StatusClosed {
			t.Fatalf("%+v %v", r, err)
		}
		all += len(f.queries)
		g := &fakeClient{}
		clk, rv = newRig(t, g, seed)
		if _, err := drive(t, clk, rv); err != nil {
			t.Fatal(err)
		}
		calm += len(g.queries)
	}
	// Each too-frequent answer doubles the cap once more.
	if all >= calm {
		t.Fatalf("%d queries answered too frequent, %d with the same random numbers answered", all, calm)
	}
	t.Logf("20 runs: %d queries answered too frequent, %d answered", all, calm)
}

func TestResolverNotFoundCancelsAtOnce(t *testing.T) {
	f := &fakeClient{answers: []error{&RejectedError{Op: OpQuery, Code: CodeNotFound}}}
	clk, rv := newRig(t, f, 3)
	r, err := drive(t, clk, rv)
	if err != nil || r.Status != StatusClosed || len(f.queries) != 1 || len(f.cancels) != 1 {
		t.Fatalf("%+v %v %d %d", r, err, len(f.queries), len(f.cancels))
	}
}

func TestResolverCancelFailsIsUnresolved(t *testing.T) {
	f := &fakeClient{cancel: ErrUnreachable}
	clk, rv := newRig(t, f, 5)
	r, err := drive(t, clk, rv)
	if !OutcomeUnknown(err) || r.Status != StatusUnknown || len(f.cancels) != DefaultCancelTries {
		t.Fatalf("%+v %v, %d cancels", r, err, len(f.cancels))
	}
}

// The terminal's limiter holds every resolver of the terminal to its rate.
func TestLimiterSharedRate(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	l := NewLimiter(clk, 0.5, 2)
	ctx := context.Background()
	for range 2 {
		if err := l.Wait(ctx, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Wait(ctx, clk.Now().Add(time.Second)); err != errPastDeadline {
		t.Fatalf("third token within a second: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx, time.Time{}) }()
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// The schedule uses all of Total: when the next drawn wait would run past
// it, the last query is sent at the end of Total instead of cancelling
// early (a customer still confirming on the phone has until then).
func TestResolverQueriesUntilTotal(t *testing.T) {
	for seed := range uint64(40) {
		f := &fakeClient{}
		clk, rv := newRig(t, f, seed)
		start := clk.Now()
		if _, err := drive(t, clk, rv); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		last := f.queries[len(f.queries)-1].Sub(start)
		if last < DefaultTotal-time.Second || last > DefaultTotal+200*time.Millisecond {
			t.Fatalf("seed %d: last query at %v of a %v schedule", seed, last, DefaultTotal)
		}
		if c := f.cancels[0].Sub(start); c < last {
			t.Fatalf("seed %d: cancel at %v before the last query %v", seed, c, last)
		}
	}
}

// A long schedule (wallet.query_first up to MaxWait, query_total up to
// 10 minutes, too_frequent answers counting twice) reaches waits whose
// doubling overflows: their cap stays MaxWait, jittered as every other
// wait, never a fixed Floor that puts a fleet's queries in step.
func TestResolverLateWaitsStayJittered(t *testing.T) {
	rv, err := NewResolver(ResolverOpts{Client: &fakeClient{}, First: 20 * time.Second, Total: 10 * time.Minute,
		Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{3, 28, 29, 40, 62, 63, 64, 1000} {
		above := false
		for range 50 {
			w := rv.wait(k)
			if w < rv.o.Floor || w > rv.o.MaxWait {
				t.Fatalf("wait %d is %v, outside [%v, %v]", k, w, rv.o.Floor, rv.o.MaxWait)
			}
			above = above || w > rv.o.Floor
		}
		if !above {
			t.Errorf("wait %d: 50 draws all the floor %v", k, rv.o.Floor)
		}
	}
}
