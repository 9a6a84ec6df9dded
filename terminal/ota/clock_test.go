package ota

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"posd/cmd/tms-sim/repo"
	"posd/conn/clock"
)

// TestFreezeClockSetBackWhileDown: the repository freezes; posd stops
// with the trusted timestamp still valid, and the clock is set back ten
// days while it is down. After the restart the time that passed since
// (Opts.Elapsed) counts from the time of the last check, kept in Dir,
// not from the clock set back: the frozen timestamp is refused once that
// much time passed, not ten days later.
func TestFreezeClockSetBackWhileDown(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	var mono time.Duration // advances only as time really passes
	pass := func(d time.Duration) { clk.Advance(d); mono += d }
	e := newEnv(t, repo.Opts{Clock: clk})
	e.add("params/emv-2.json", bundleJSON(2), KindParams, 2)
	e.publish()
	c := e.client("T1", func(o *Opts) { o.Clock = clk; o.Elapsed = func() time.Duration { return mono } })
	mustCheck(t, c)
	pass(23 * time.Hour)
	mustCheck(t, c) // the timestamp lives a day: still valid

	// posd stops; the clock is set back; posd starts again (its monotonic
	// clock starts over).
	clk.Advance(-10 * 24 * time.Hour)
	mono = 0
	restarted := e.client("T1", func(o *Opts) {
		o.Clock = clk
		o.Dir = c.o.Dir
		o.Elapsed = func() time.Duration { return mono }
	})
	mustCheck(t, restarted) // no time passed since the last check: still valid
	pass(2 * time.Hour)
	ts, err := restarted.Check(context.Background())
	refused(t, ts, err, ErrExpired, "timestamp.json", "check the time source")

	// A kept time that does not read is none: the check goes on (the
	// floor, raised just now, still holds).
	for _, bad := range []string{"", "{", `{"seen":"2026-03-02T07:00:00Z"}`} {
		if err := os.WriteFile(filepath.Join(c.o.Dir, seenFile), []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		again := e.client("T1", func(o *Opts) { o.Clock = clk; o.Dir = c.o.Dir })
		ts, err := again.Check(context.Background())
		refused(t, ts, err, ErrExpired, "timestamp.json")
	}
}

// TestFreezeClockAheadSameRun: a clock that ran ahead for a while costs
// the terminal no more than the wait for the repository's next timestamp
// within one run too: once the clock is right again, a timestamp the
// repository signed is accepted, and not judged expired at the next
// check because the clock was once ahead.
func TestFreezeClockAheadSameRun(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	e := newEnv(t, repo.Opts{Clock: clk})
	e.publish()
	c := e.client("T1", func(o *Opts) { o.Clock = clk })
	mustCheck(t, c)
	clk.Advance(3 * 24 * time.Hour)
	ts, err := c.Check(context.Background())
	refused(t, ts, err, ErrExpired, "timestamp.json")
	clk.Advance(-3*24*time.Hour + 2*time.Hour) // right again
	e.publish()                                // the repository's next timestamp
	mustCheck(t, c)
	clk.Advance(time.Hour) // the next poll: the timestamp has 23 hours left
	mustCheck(t, c)
	restarted := e.client("T1", func(o *Opts) { o.Clock = clk; o.Dir = c.o.Dir })
	mustCheck(t, restarted)
}
