package wallet

import (
	"context"
	"errors"
	"sync"
	"time"

	"posd/conn/clock"
)

// errPastDeadline: the limiter's next token comes after the caller's
// deadline; nothing was taken.
var errPastDeadline = errors.New("wallet: query token comes after the deadline")

// Limiter is a token bucket on a clock: Rate tokens a second, up to Burst
// saved. One terminal shares one Limiter between all its resolvers, so
// its queries stay within Rate however many payments are unresolved.
// Waiters reserve their token and sleep until it is theirs (first come,
// first served); a waiter that gives up hands its token back.
type Limiter struct {
	clk   clock.Clock
	rate  float64
	burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// NewLimiter returns a full bucket of burst (at least 1) tokens refilled
// at rate a second; rate <= 0 means no limit. c nil is clock.Real.
func NewLimiter(c clock.Clock, rate float64, burst int) *Limiter {
	c = clock.Or(c)
	b := float64(max(burst, 1))
	return &Limiter{clk: c, rate: rate, burst: b, tokens: b, last: c.Now()}
}

// Wait takes a token, sleeping until it is due. It gives up (taking
// nothing) when ctx ends, or at once with errPastDeadline when the token
// would be due after deadline (zero: no deadline).
func (l *Limiter) Wait(ctx context.Context, deadline time.Time) error {
	if l == nil || l.rate <= 0 {
		return ctx.Err()
	}
	l.mu.Lock()
	now := l.clk.Now()
	if now.After(l.last) {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
		l.last = now
	}
	l.tokens--
	wait := time.Duration(0)
	if l.tokens < 0 {
		wait = time.Duration(-l.tokens / l.rate * float64(time.Second))
	}
	if !deadline.IsZero() && now.Add(wait).After(deadline) {
		l.tokens++
		l.mu.Unlock()
		return errPastDeadline
	}
	l.mu.Unlock()
	if err := clock.Sleep(ctx, l.clk, wait); err != nil {
		l.mu.Lock()
		l.tokens++
		l.mu.Unlock()
		return err
	}
	return nil
}
