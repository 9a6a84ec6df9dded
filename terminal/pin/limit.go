package pin

import (
	"fmt"
	"sync"
	"time"

	"posd/conn/clock"
)

// The PIN pad's rate limit: at most DefaultMaxPerWindow PINs accepted in
// any DefaultWindow, an average of one every 30 s, so that the terminal
// cannot be used to try every PIN against a card or a captured PIN block
// (PCI PTS POI B10, exhaustive PIN determination).
const (
	DefaultMaxPerWindow = 120
	DefaultWindow       = time.Hour
)

// Limiter counts the PINs accepted (handed to a Builder) in a sliding
// window and refuses more than its maximum. One Limiter may be shared by
// several Entries of the same PIN pad (card PINs and payment passwords),
// so that together they stay within the limit. Safe for concurrent use.
type Limiter struct {
	max    int
	window time.Duration
	clk    clock.Clock

	mu sync.Mutex
	// at holds the times of the last accepted PINs, oldest first, at most
	// max of them.
	at []time.Time
}

// NewLimiter allows max PINs in any window (max and window positive);
// clk nil means clock.Real.
func NewLimiter(max int, window time.Duration, clk clock.Clock) (*Limiter, error) {
	if max <= 0 || window <= 0 {
		return nil, fmt.Errorf("%w: rate limit %d per %s", ErrConfig, max, window)
	}
	return &Limiter{max: max, window: window, clk: clock.Or(clk)}, nil
}

// DefaultLimiter is a Limiter of DefaultMaxPerWindow per DefaultWindow.
func DefaultLimiter(clk clock.Clock) *Limiter {
	l, _ := NewLimiter(DefaultMaxPerWindow, DefaultWindow, clk)
	return l
}

// prune drops the times that left the window. Caller holds l.mu.
func (l *Limiter) prune(now time.Time) {
	i := 0
	for i < len(l.at) && !now.Before(l.at[i].Add(l.window)) {
		i++
	}
	l.at = append(l.at[:0], l.at[i:]...)
}

// check says whether one more PIN would be accepted now: nil, or
// ErrRateLimited with the time the next one will be.
func (l *Limiter) check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checkLocked(l.clk.Now())
}

func (l *Limiter) checkLocked(now time.Time) error {
	l.prune(now)
	if len(l.at) < l.max {
		return nil
	}
	wait := l.at[0].Add(l.window).Sub(now).Round(time.Second)
	return fmt.Errorf("%w: %d PINs in %s; the next in %s", ErrRateLimited, l.max, l.window, wait)
}

// take records one accepted PIN, or refuses it with ErrRateLimited (a
// concurrent entry took the last place since check).
func (l *Limiter) take() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clk.Now()
	if err := l.checkLocked(now); err != nil {
		return err
	}
	l.at = append(l.at, now)
	return nil
}
