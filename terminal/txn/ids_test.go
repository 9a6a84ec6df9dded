package txn

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"posd/terminal/store"
)

// idRig runs the engine on posd.db with its counters' mark, as posd
// does, and restarts it.
type idRig struct {
	t          *testing.T
	path, mark string
	db         *store.DB
	e          *Engine
	r          *fakeReader
}

func (g *idRig) start() {
	g.t.Helper()
	db, err := store.Open(g.path, &store.Opts{Mark: g.mark})
	if err != nil {
		g.t.Fatal(err)
	}
	r := newReader()
	e, err := New(Opts{Store: db, Host: approveAll(), Keys: newKeys(g.t), Reader: r, CardTimeout: 5 * time.Second,
		HostTimeout: 5 * time.Second, ReversalRetry: 20 * time.Millisecond,
		Clock: newOffsetClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))})
	if err != nil {
		db.Close()
		g.t.Fatal(err)
	}
	g.db, g.e, g.r = db, e, r
}

// stop stops posd cleanly (SIGTERM): the engine, then the database.
func (g *idRig) stop() {
	g.t.Helper()
	if err := g.e.Shutdown(context.Background()); err != nil {
		g.t.Fatal(err)
	}
	if err := g.db.Close(); err != nil {
		g.t.Fatal(err)
	}
}

// sell makes an approved card sale and returns its record id.
func (g *idRig) sell() uint64 {
	g.t.Helper()
	tx, err := g.e.StartSale(100, "156")
	if err != nil {
		g.t.Fatal(err)
	}
	g.r.cards <- card("3012")
	if got := wait(g.t, g.e, tx.ID); got.State != store.StateApproved {
		g.t.Fatalf("sale: %+v", got)
	}
	id, err := strconv.ParseUint(tx.ID, 10, 64)
	if err != nil {
		g.t.Fatal(err)
	}
	return id
}

func copyTo(t *testing.T, from, to string) {
	t.Helper()
	raw, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCleanRestartContinuesIDs: a clean stop gives back the record ids
// reserved and not used, so each clean restart continues at the next
// id (the counters' mark lowered to the last id used); a stop that is
// not clean still skips at most the reservation, never reuses an id.
func TestCleanRestartContinuesIDs(t *testing.T) {
	dir := t.TempDir()
	g := &idRig{t: t, path: filepath.Join(dir, "posd.db"), mark: filepath.Join(dir, store.MarkFile)}
	g.start()
	g.sell()
	last := g.sell()
	for restart := range 2 {
		g.stop()
		g.start()
		got := g.sell()
		if got != last+1 {
			t.Errorf("clean restart %d: the next id is %d, the last used was %d", restart+1, got, last)
		}
		last = got
	}
	// A kill: the files as the process left them mid-run.
	db, mark := g.path+".cut", g.mark+".cut"
	copyTo(t, g.path, db)
	copyTo(t, g.mark, mark)
	g.stop()
	copyTo(t, db, g.path)
	copyTo(t, mark, g.mark)
	g.start()
	defer g.stop()
	if got := g.sell(); got <= last || got > last+idReserve+store.MarkReserve+1 {
		t.Errorf("after a kill the next id is %d, the last used was %d", got, last)
	}
}
