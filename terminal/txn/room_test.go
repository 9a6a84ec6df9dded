package txn

import (
	"context"
	"errors"
	"sync/atomic"
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
