package daemon

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"posd/conn/clock"
	"posd/terminal/store"
)

// purgeOld removes what is past the retention, in batches, and keeps the
// recent records, the ones not final and the ones an outbox job names.
func TestPurgeOld(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	db, err := store.Open(filepath.Join(t.TempDir(), "posd.db"), &store.Opts{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const old = 2*purgeBatch + 500
	var keep []string
	err = db.Do(func(tx *store.Tx) error {
		for range old {
			if err := tx.Create(&store.Txn{Kind: "purchase", Amount: 1, State: store.StateApproved}); err != nil {
				return err
			}
		}
		waiting := store.Txn{Kind: "purchase", Amount: 1, State: store.StateOfflineApproved}
		pending := store.Txn{Kind: "purchase", Amount: 1, State: store.StateAuthSent}
		for _, x := range []*store.Txn{&waiting, &pending} {
			if err := tx.Create(x); err != nil {
				return err
			}
			keep = append(keep, x.ID)
		}
		return tx.Enqueue(&store.Job{Kind: store.JobAdvice, TxnID: waiting.ID})
	})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(100 * 24 * time.Hour)
	recent := store.Txn{Kind: "purchase", Amount: 1, State: store.StateApproved}
	if err := db.Create(&recent); err != nil {
		t.Fatal(err)
	}
	keep = append(keep, recent.ID)
	n, err := purgeOld(context.Background(), db, clk.Now(), 90*24*time.Hour)
	if err != nil || n != old {
		t.Fatalf("purged %d of %d: %v", n, old, err)
	}
	for _, id := range keep {
		if _, err := db.Get(id); err != nil {
			t.Errorf("record %s was purged: %v", id, err)
		}
	}
	if n, _ := purgeOld(context.Background(), db, clk.Now(), 90*24*time.Hour); n != 0 {
		t.Errorf("a second purge removed %d", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := purgeOld(ctx, db, clk.Now(), time.Hour); err == nil {
		t.Error("a cancelled purge did not say so")
	}
}
