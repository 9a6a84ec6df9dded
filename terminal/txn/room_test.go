package txn

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"

	"posd/terminal/host"
	"posd/terminal/store"
)

// A data partition below its reserve starts no transaction (nothing is
// recorded, no STAN drawn): a sale the host approved could not be
// recorded. The batch can still be closed; sales start again once space
// is freed.
func TestNoTransactionStartsOnAFullPartition(t *testing.T) {
	var avail atomic.Uint64
	avail.Store(64 << 20)
	e, r, db, _ := setupStore(t, kindHost(), &store.Opts{Reserve: 1 << 20,
		Statfs: func(string) (uint64, uint64, error) { return avail.Load(), 128 << 20, nil }})
	sale := run(t, e, r, Request{Amount: 5000, Currency: "156"})
	stan, err := db.NextSTAN()
	if err != nil {
		t.Fatal(err)
	}
	before, err := db.List(0)
	if err != nil {
		t.Fatal(err)
	}
	avail.Store(1<<20 - 1)
	for _, req := range []Request{
		{Amount: 100, Currency: "156"},
		{Kind: host.KindRefund, Amount: 100, Currency: "156"},
		{Kind: host.KindVoid, OrigID: sale.ID},
	} {
		if rec, err := e.Start(req); !errors.Is(err, store.ErrNoSpace) {
			t.Fatalf("%s on a full partition: %+v, %v", req.Kind, rec, err)
		}
	}
	after, err := db.List(0)
	if err != nil || len(after) != len(before) {
		t.Fatalf("records %d before, %d after (%v)", len(before), len(after), err)
	}
	if next, err := db.NextSTAN(); err != nil || next != stan+1 {
		t.Fatalf("STAN %d after the refused starts, want %d (%v)", next, stan+1, err)
	}
	if rec, err := e.CloseBatch(context.Background()); err != nil || rec.State != store.StateApproved {
		t.Fatalf("close on a full partition: %+v, %v", rec, err)
	}
	avail.Store(2 << 20)
	if rec := run(t, e, r, Request{Amount: 100, Currency: "156"}); rec.State != store.StateApproved {
		t.Fatalf("after freeing space: %+v", rec)
	}
}

// A sale stranded because the partition filled up: the next start says
// the partition is full (what to mend), not only that a transaction is
// unrecorded.
func TestStrandedOnAFullPartitionSaysSo(t *testing.T) {
	var avail atomic.Uint64
	avail.Store(64 << 20)
	var disk faultyDisk
	var sales atomic.Int32
	h := &fakeHost{purchase: func(host.Purchase) (host.Result, error) {
		if sales.Add(1) == 1 {
			disk.failing.Store(true)
			avail.Store(1 << 10)
		}
		return host.Result{ResponseCode: "00", AuthCode: "ABC123", RRN: "000000000001"}, nil
	}}
	e, r, _, _ := setupStore(t, h, &store.Opts{Reserve: 1 << 20,
		Statfs: func(string) (uint64, uint64, error) { return avail.Load(), 128 << 20, nil },
		Fault: func() error {
			if disk.failing.Load() {
				return syscall.ENOSPC
			}
			return nil
		}})
	rec := run(t, e, r, Request{Amount: 5000, Currency: "156"})
	if rec.State != store.StateFailed {
		t.Fatalf("the sale on a filling disk: %+v", rec)
	}
	_, err := e.StartSale(100, "156")
	if !errors.Is(err, store.ErrNoSpace) || !errors.Is(err, ErrUnrecorded) {
		t.Fatalf("the next start: %v", err)
	}
}
