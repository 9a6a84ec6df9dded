package risk

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestOfflineClockAgainstTheAcquirer: a clock set forward is seen once
// the acquirer has told its time: nothing is approved offline while the
// terminal's clock is more than the tolerance away from the acquirer's,
// in either direction, and the acquirer's time seen earlier keeps
// counting while the host is unreachable.
func TestOfflineClockAgainstTheAcquirer(t *testing.T) {
	f := newFixture(t, onlyOffline())
	hc := NewHostClock(f.clk)
	o := f.opts()
	o.HostClock = hc
	e, err := New(onlyOffline(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tap := sale(100, EntryTap, panA).offline()
	wantAllow(t, "no acquirer time seen yet", e.Check(ctx, tap), CVMNone)

	// The terminal's clock runs a day ahead of the acquirer's.
	hc.Observe(f.clk.Now().Add(-24 * time.Hour))
	wantRefuse(t, "a day ahead", e.Check(ctx, tap), RuleOfflineClock)
	wantRefuse(t, "a day ahead, before the card", e.CheckOffline(ctx, tap), RuleOfflineClock)
	wantAllow(t, "online", e.Check(ctx, sale(100, EntryTap, panA)), CVMNone)
	if err := e.CheckClock(ctx); !errors.Is(err, ErrClock) || !strings.Contains(err.Error(), "24h0m0s ahead of the acquirer's") {
		t.Errorf("CheckClock a day ahead: %v", err)
	}
	// An hour later, without a new answer, still a day ahead.
	f.clk.Advance(time.Hour)
	wantRefuse(t, "an hour on", e.Check(ctx, tap), RuleOfflineClock)

	// Behind the acquirer's.
	hc.Observe(f.clk.Now().Add(ClockTolerance + time.Second))
	if err := e.CheckClock(ctx); !errors.Is(err, ErrClock) || !strings.Contains(err.Error(), "behind the acquirer's") {
		t.Errorf("CheckClock behind: %v", err)
	}
	// Within the tolerance: fine.
	hc.Observe(f.clk.Now().Add(ClockTolerance - time.Second))
	wantAllow(t, "within the tolerance", e.Check(ctx, tap), CVMNone)
	if skew, seen, ok := hc.Skew(); !ok || skew != -(ClockTolerance-time.Second) || !seen.Equal(f.clk.Now()) {
		t.Errorf("Skew = %v %v %t", skew, seen, ok)
	}
}
