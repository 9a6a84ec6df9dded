package risk

import (
	"sync"
	"time"

	"posd/conn/clock"
)

// HostClock is the acquirer's clock as the terminal last saw it: the
// time an answer from the host carried (a sign-on's or echo's DE7, or
// DE12/DE13), against the terminal's own clock when it arrived. A board
// without a battery-backed clock, or one whose NTP answers were forged,
// may run a day or a year ahead; only an outside time can tell, and the
// acquirer's is the one the terminal trusts. Its methods are safe for
// concurrent use.
type HostClock struct {
	clock clock.Clock

	mu    sync.Mutex
	host  time.Time // the acquirer's time in the answer
	local time.Time // the terminal's clock when it arrived
	ok    bool
}

// NewHostClock is a HostClock on the terminal's clock c (nil: the wall
// clock).
func NewHostClock(c clock.Clock) *HostClock { return &HostClock{clock: clock.Or(c)} }

// Observe notes the acquirer's time host, as an answer just received
// tells it. The terminal's clock is read now: with the wall clock that
// reading carries Go's monotonic clock, so a wall clock set later in the
// same run is still measured against the acquirer's.
func (h *HostClock) Observe(host time.Time) {
	if host.IsZero() {
		return
	}
	now := h.clock.Now()
	h.mu.Lock()
	h.host, h.local, h.ok = host, now, true
	h.mu.Unlock()
}

// Skew is how far the terminal's clock is ahead of the acquirer's now
// (negative: behind), and when the acquirer's time was last seen; ok is
// false until it has been.
func (h *HostClock) Skew() (skew time.Duration, seen time.Time, ok bool) {
	if h == nil {
		return 0, time.Time{}, false
	}
	h.mu.Lock()
	host, local, ok := h.host, h.local, h.ok
	h.mu.Unlock()
	if !ok {
		return 0, time.Time{}, false
	}
	now := h.clock.Now()
	// The acquirer's time now: its answer plus the time elapsed since
	// (monotonic when both readings have it), against the wall clock.
	expected := host.Add(now.Sub(local))
	return now.Round(0).Sub(expected), local, true
}
