package wallet

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"posd/conn/clock"
)

// bucketPlatform is a platform with a query limit (one a second, three
// saved, none left at the start) where the customer pays at paidAt.
type bucketPlatform struct {
	clk    *clock.Fake
	mu     sync.Mutex
	tokens float64
	last   time.Time
	paidAt time.Time
	log    []string
	start  time.Time
}

func (f *bucketPlatform) Pay(context.Context, Platform, Order) (Result, error) { return Result{}, nil }
func (f *bucketPlatform) Precreate(context.Context, Platform, Order) (Result, error) {
	return Result{}, nil
}
func (f *bucketPlatform) Refund(context.Context, Platform, string, string, int64) (Result, error) {
	return Result{}, nil
}
func (f *bucketPlatform) Query(context.Context, Platform, string) (Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clk.Now()
	f.tokens = min(3, f.tokens+now.Sub(f.last).Seconds())
	f.last = now
	if f.tokens < 1 {
		f.log = append(f.log, now.Sub(f.start).String()+" tf")
		return Result{}, &RejectedError{Op: OpQuery, Code: CodeTooFrequent}
	}
	f.tokens--
	f.log = append(f.log, now.Sub(f.start).String()+" ok")
	if !now.Before(f.paidAt) {
		return Result{Status: StatusSuccess}, nil
	}
	return Result{Status: StatusUserPaying}, nil
}
func (f *bucketPlatform) Cancel(context.Context, Platform, string) (Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.clk.Now().Before(f.paidAt) {
		return Result{Status: StatusRefunded}, nil
	}
	return Result{Status: StatusClosed}, nil
}

// A terminal that queries faster than its platform allows still learns
// of a payment made inside the window: the backoff on too_frequent never
// leaves the window's end without an answered query.
func TestResolverSeesPaymentThroughTooFrequent(t *testing.T) {
	for seed := range uint64(60) {
		clk := clock.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
		f := &bucketPlatform{clk: clk, last: clk.Now(), start: clk.Now(), paidAt: clk.Now().Add(time.Duration(seed%10) * time.Second)}
		rv, _ := NewResolver(ResolverOpts{Client: f, Clock: clk, Limiter: NewLimiter(clk, 5, 2), First: 200 * time.Millisecond, Total: 10 * time.Second,
			Rand: rand.New(rand.NewPCG(seed, seed))})
		r, _ := drive(t, clk, rv)
		if r.Status != StatusSuccess {
			t.Errorf("seed %d (paid at %v): %s; queries %v", seed, f.paidAt.Sub(f.start), r.Status, f.log)
		}
	}
}
