package ota

import (
	"context"
	"testing"
	"time"

	"posd/cmd/tms-sim/repo"
	"posd/conn/clock"
)

// TestTimestampAdvancesAlone: the repository signs fresh timestamps that
// name the same snapshot (nothing new to offer). The terminal keeps the
// targets it trusts; once the snapshot itself has expired, fresh
// timestamps do not keep it alive: the snapshot is refused as frozen.
func TestTimestampAdvancesAlone(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	e := newEnv(t, repo.Opts{Clock: clk})
	e.add("params/emv-2.json", bundleJSON(2), KindParams, 2)
	e.publish() // snapshot 2, living 7 days
	c := e.client("T1", func(o *Opts) { o.Clock = clk })
	mustCheck(t, c)
	snap := e.repo.Version(repo.Snapshot)
	for range 6 {
		clk.Advance(24 * time.Hour)
		if err := e.repo.PublishWith(repo.PublishOpts{NameSnapshot: snap}); err != nil {
			t.Fatal(err)
		}
		if ts := mustCheck(t, c); len(ts) != 1 {
			t.Fatalf("with a fresh timestamp alone: %v", ts)
		}
	}
	clk.Advance(2 * 24 * time.Hour)
	if err := e.repo.PublishWith(repo.PublishOpts{NameSnapshot: snap}); err != nil {
		t.Fatal(err)
	}
	ts, err := c.Check(context.Background())
	refused(t, ts, err, ErrExpired, "snapshot.json")
	restarted := e.client("T1", func(o *Opts) { o.Clock = clk; o.Dir = c.o.Dir })
	ts, err = restarted.Check(context.Background())
	refused(t, ts, err, ErrExpired, "snapshot.json")
}
