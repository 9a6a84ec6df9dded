package txn

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"posd/terminal/host"
	"posd/terminal/store"
)

// faultyDisk fails commits (EIO) while failing holds, and counts those
// it failed.
type faultyDisk struct {
	failing atomic.Bool
	failed  atomic.Int64
}

// setupFaulty is setupHost on d.
func setupFaulty(t *testing.T, h Host, d *faultyDisk) (*Engine, *fakeReader, *store.DB) {
	t.Helper()
	e, r, db, _ := setupStore(t, h, &store.Opts{Fault: func() error {
		if d.failing.Load() {
			d.failed.Add(1)
			return syscall.EIO
		}
		return nil
	}})
	return e, r, db
}

// The disk fails once the host approved: the approval cannot be written.
// The cashier and the customer learn at once that the sale did not go
// through (the wait does not hang), no other transaction starts while
// the record cannot be written, and once the disk takes writes again the
// sale is reversed without a restart.
func TestDiskFailsAfterTheHostApproved(t *testing.T) {
	var disk faultyDisk
	var sales atomic.Int32
	h := &fakeHost{purchase: func(host.Purchase) (host.Result, error) {
		disk.failing.Store(sales.Add(1) == 1)
		return host.Result{ResponseCode: "00", AuthCode: "ABC123", RRN: "000000000001"}, nil
	}}
	e, r, db := setupFaulty(t, h, &disk)
	rec, err := e.StartSale(5000, "156")
	if err != nil {
		t.Fatal(err)
	}
	events, stop := e.Subscribe()
	defer stop()
	r.cards <- card("3012")
	got := wait(t, e, rec.ID)
	if got.State != store.StateFailed || got.Failure != string(FailInternal) || got.AuthCode != "" {
		t.Fatalf("the cashier's outcome: %+v", got)
	}
	var ended *Event
	for ended == nil {
		select {
		case ev := <-events:
			if ev.Ended && ev.Txn.ID == rec.ID {
				ended = &ev
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no ended event for the display")
		}
	}
	if ended.Txn.State != store.StateFailed || ended.Txn.Failure != string(FailInternal) {
		t.Fatalf("the display's outcome: %+v", ended.Txn)
	}
	if disk, err := db.Get(rec.ID); err != nil || disk.State != store.StateAuthSent {
		t.Fatalf("on disk: %+v, %v", disk, err)
	}
	if _, err := e.StartSale(100, "156"); !errors.Is(err, ErrUnrecorded) {
		t.Fatalf("a sale while the outcome is not recorded: %v", err)
	}
	if ids := e.Stranded(); len(ids) != 1 || ids[0] != rec.ID {
		t.Fatalf("stranded %v", ids)
	}
	// Listed as its waiters were told, not as the disk holds it.
	if l, err := e.List(0); err != nil || len(l) != 1 || l[0].State != store.StateFailed || l[0].Failure != string(FailInternal) {
		t.Fatalf("the list while stranded: %+v, %v", l, err)
	}
	if l, err := e.List(0, store.StateAuthSent); err != nil || len(l) != 0 {
		t.Fatalf("the in-flight list while stranded: %+v, %v", l, err)
	}

	disk.failing.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		disk, err := db.Get(rec.ID)
		if err == nil && disk.State == store.StateReversed {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the sale was not reversed once the disk took writes: %+v, %v", disk, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if ids := e.Stranded(); len(ids) != 0 {
		t.Fatalf("still stranded: %v", ids)
	}
	h.mu.Lock()
	n := len(h.reversals)
	h.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d reversals sent", n)
	}
	if next := run(t, e, r, Request{Amount: 100, Currency: "156"}); next.State != store.StateApproved {
		t.Fatalf("the next sale: %+v", next)
	}
}

// A sale that fails before anything was written (cancelled), on a disk
// that fails: its waiter gets the failure, a later look at it too, and
// the sale stops there (it does not wait for a card again, nor retry its
// commit in a loop: the outbox tries its record once per ReversalRetry);
// nothing is on disk meanwhile, and the engine stops at once.
func TestDiskFailsBeforeAnythingWasWritten(t *testing.T) {
	var disk faultyDisk
	e, _, db := setupFaulty(t, kindHost(), &disk)
	rec := cancelOnFailingDisk(t, e, &disk)
	if got := wait(t, e, rec.ID); got.State != store.StateFailed || got.Failure != string(FailInternal) {
		t.Fatalf("the cashier's outcome: %+v", got)
	}
	if got, err := e.Get(rec.ID); err != nil || got.State != store.StateFailed || got.Failure != string(FailInternal) {
		t.Fatalf("a later look: %+v, %v", got, err)
	}
	if _, err := db.Get(rec.ID); !store.IsNotFound(err) {
		t.Fatalf("on disk: %v", err)
	}
	if l, err := e.List(5, store.StateFailed); err != nil || len(l) != 1 || l[0].ID != rec.ID {
		t.Fatalf("the list while stranded: %+v, %v", l, err)
	}
	before := disk.failed.Load()
	const window = 200 * time.Millisecond
	time.Sleep(window)
	if n, most := disk.failed.Load()-before, int64(window/(20*time.Millisecond))+2; n > most {
		t.Fatalf("%d commits tried in %v after the sale was stranded (at most %d)", n, window, most)
	}
	halted := make(chan struct{})
	go func() { e.Halt(); close(halted) }()
	select {
	case <-halted:
	case <-time.After(10 * time.Second):
		t.Fatalf("Halt hangs on a failing disk (%d commits tried meanwhile)", disk.failed.Load()-before)
	}
}

// Once the disk works again, the cancelled sale is on disk as its waiter
// was told (failed, not a gap in the ids), and the next sale goes through.
func TestDiskWorksAgainAfterAFailedCancel(t *testing.T) {
	var disk faultyDisk
	e, r, db := setupFaulty(t, kindHost(), &disk)
	first := cancelOnFailingDisk(t, e, &disk)
	wait(t, e, first.ID)
	disk.failing.Store(false)
	next := run(t, e, r, Request{Amount: 100, Currency: "156"})
	if next.State != store.StateApproved {
		t.Fatalf("the next sale: %+v", next)
	}
	got, err := db.Get(first.ID)
	if err != nil || got.State != store.StateFailed || got.Failure != string(FailInternal) || got.Amount != 5000 {
		t.Fatalf("the cancelled sale on disk: %+v, %v", got, err)
	}
	if ids := e.Stranded(); len(ids) != 0 {
		t.Fatalf("still stranded: %v", ids)
	}
}

// cancelOnFailingDisk starts a sale, makes the disk fail and cancels it.
func cancelOnFailingDisk(t *testing.T, e *Engine, disk *faultyDisk) store.Txn {
	t.Helper()
	rec, err := e.StartSale(5000, "156")
	if err != nil {
		t.Fatal(err)
	}
	disk.failing.Store(true)
	if err := e.Cancel(rec.ID); err != nil {
		t.Fatal(err)
	}
	return rec
}
