package wallet

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"posd/conn/clock"
)

// Defaults of ResolverOpts.
const (
	DefaultFirst       = 2 * time.Second
	DefaultMaxWait     = 30 * time.Second
	DefaultTotal       = 60 * time.Second
	DefaultCancelTries = 3
	// DefaultRate and DefaultBurst are a terminal's query limit
	// (NewLimiter): one query every two seconds, bursts of 2.
	DefaultRate  = 0.5
	DefaultBurst = 2
)

// ResolverOpts configures a Resolver.
type ResolverOpts struct {
	Client Client
	// Limiter is the terminal's query rate limit, shared by every
	// resolver of the terminal (nil: none).
	Limiter *Limiter
	// First is the cap of the first wait (default 2 s): wait k (from 0)
	// is drawn uniformly between Floor and min(First·2^k, MaxWait)
	// ("full jitter" above a floor).
	First time.Duration
	// Floor is the shortest wait (default First/4).
	Floor time.Duration
	// MaxWait caps one wait (default 30 s).
	MaxWait time.Duration
	// Total bounds the queries: none is sent later than Total after
	// Resolve began (default 60 s). Then the payment is cancelled.
	Total time.Duration
	// CancelTries is how many times the cancel is sent before giving up
	// (default 3), on the same jittered schedule.
	CancelTries int
	Clock       clock.Clock // nil: clock.Real
	// Rand draws the jitter (nil: seeded from crypto/rand). Resolve
	// serializes its use.
	Rand   *rand.Rand
	Logger *slog.Logger // nil: discard
}

// Resolver learns the outcome of payments whose Pay answered
// user_paying or did not answer.
type Resolver struct {
	o   ResolverOpts
	clk clock.Clock
	log *slog.Logger

	mu  sync.Mutex // guards rnd
	rnd *rand.Rand
}

// NewResolver checks o, fills its defaults and returns a resolver.
func NewResolver(o ResolverOpts) (*Resolver, error) {
	if o.Client == nil {
		return nil, fmt.Errorf("%w: resolver without a client", ErrInvalidRequest)
	}
	if o.First <= 0 {
		o.First = DefaultFirst
	}
	if o.Floor <= 0 {
		o.Floor = o.First / 4
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.Total <= 0 {
		o.Total = DefaultTotal
	}
	if o.CancelTries <= 0 {
		o.CancelTries = DefaultCancelTries
	}
	if o.Floor > o.First || o.First > o.MaxWait {
		return nil, fmt.Errorf("%w: resolver needs Floor <= First <= MaxWait", ErrInvalidRequest)
	}
	r := &Resolver{o: o, clk: clock.Or(o.Clock), log: o.Logger, rnd: o.Rand}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.rnd == nil {
		var seed [32]byte
		if _, err := crand.Read(seed[:]); err != nil {
			return nil, fmt.Errorf("wallet: seeding the jitter: %w", err)
		}
		r.rnd = rand.New(rand.NewChaCha8(seed))
	}
	return r, nil
}

// wait is the k-th wait: uniform in [Floor, min(First·2^k, MaxWait)].
func (r *Resolver) wait(k int) time.Duration {
	// First·2^k without overflowing: past MaxWait it is MaxWait.
	c := r.o.MaxWait
	if k >= 0 && k < 63 && r.o.First <= r.o.MaxWait>>k {
		c = r.o.First << k
	}
	span := c - r.o.Floor
	r.mu.Lock()
	defer r.mu.Unlock()
	if span <= 0 {
		return r.o.Floor
	}
	return r.o.Floor + time.Duration(r.rnd.Int64N(int64(span)+1))
}

// Resolve queries the platform about orderID on the bounded schedule
// (ResolverOpts) until the payment is final, then returns its result.
// When the schedule ends with the payment still unpaid or unknown, or
// the platform does not know the order, it cancels it and returns the
// cancel's result (closed; refunded when it had been paid in the
// meantime). A "too frequent" answer doubles the next wait once more.
// A query answer stating another amount or currency than the order's
// (ErrAmountMismatch: the platform holds, or charged, another amount)
// cancels the payment at once; the cancel's result (closed, or refunded
// when it was paid) comes with the *AmountMismatchError, which is no
// unknown outcome: the sale failed and nothing of it stays taken.
// When the cancel fails CancelTries times the result is unknown and the
// error ErrUnresolved: the caller keeps the payment and cancels it later.
// It returns ctx's error when ctx ends first.
func (r *Resolver) Resolve(ctx context.Context, p Platform, orderID string) (Result, error) {
	if !p.Valid() || !ValidID(orderID) {
		return Result{}, fmt.Errorf("%w: platform or order id", ErrInvalidRequest)
	}
	log := r.log.With("platform", string(p), "order", orderID)
	deadline := r.clk.Now().Add(r.o.Total)
	k := 0
	queries := 0
	var why error // the query's finding that makes the cancel the outcome
	for last := false; !last; {
		d := r.wait(k)
		if left := deadline.Sub(r.clk.Now()); d >= left {
			// The last query goes out at the end of Total, not early:
			// the customer may still be confirming on the phone.
			if left < r.o.Floor {
				break
			}
			d, last = left, true
		}
		if err := clock.Sleep(ctx, r.clk, d); err != nil {
			return Result{Status: StatusUnknown}, err
		}
		if err := r.o.Limiter.Wait(ctx, deadline); err != nil {
			if errors.Is(err, errPastDeadline) {
				break
			}
			return Result{Status: StatusUnknown}, err
		}
		k++
		queries++
		res, err := r.o.Client.Query(ctx, p, orderID)
		switch {
		case err == nil && res.Status.Final():
			log.Info("wallet payment resolved", "status", string(res.Status), "queries", queries)
			return res, nil
		case err == nil:
			log.Debug("wallet payment still open", "status", string(res.Status))
			continue
		case ctx.Err() != nil:
			return Result{Status: StatusUnknown}, ctx.Err()
		case errors.Is(err, ErrAmountMismatch):
			// The platform holds the order at another amount: never
			// an approval of this one, nor anything to wait for.
			log.Warn("wallet order at another amount; cancelling", "err", err)
			var me *AmountMismatchError
			if errors.As(err, &me) {
				why = me
			} else {
				why = err
			}
		case errors.Is(err, ErrTooFrequent):
			log.Info("wallet query too frequent; backing off")
			k++
			continue
		case errors.Is(err, ErrNotFound):
			log.Info("wallet platform has no such order; cancelling")
		case errors.Is(err, ErrRejected):
			log.Warn("wallet query rejected; cancelling", "err", err)
		default:
			log.Info("wallet query failed", "err", err)
			continue
		}
		break
	}
	return r.cancel(ctx, log, p, orderID, queries, why)
}

// cancel sends the cancel up to CancelTries times. why, when not nil,
// is why the payment is cancelled although the platform answered (an
// amount mismatch): it is the error returned with the cancel's result.
func (r *Resolver) cancel(ctx context.Context, log *slog.Logger, p Platform, orderID string, queries int, why error) (Result, error) {
	var last error
	for try := range r.o.CancelTries {
		if try > 0 {
			if err := clock.Sleep(ctx, r.clk, r.wait(try)); err != nil {
				return Result{Status: StatusUnknown}, err
			}
		}
		res, err := r.o.Client.Cancel(ctx, p, orderID)
		if err == nil && res.Status.Final() {
			log.Info("wallet payment cancelled", "status", string(res.Status), "queries", queries)
			if why != nil {
				return res, fmt.Errorf("%w; order cancelled (%s)", why, res.Status)
			}
			return res, nil
		}
		if err == nil {
			err = fmt.Errorf("%w: cancel answered %s", ErrBadResponse, res.Status)
		}
		if ctx.Err() != nil {
			return Result{Status: StatusUnknown}, ctx.Err()
		}
		last = err
		log.Warn("wallet cancel failed", "err", err, "try", try+1)
		if errors.Is(err, ErrRejected) {
			break
		}
	}
	if why != nil {
		return Result{Status: StatusUnknown}, fmt.Errorf("%w: order %s: %w: %w", ErrUnresolved, orderID, why, last)
	}
	return Result{Status: StatusUnknown}, fmt.Errorf("%w: order %s: %w", ErrUnresolved, orderID, last)
}
