package store

import (
	"path/filepath"
	"testing"
	"time"

	"posd/conn/clock"
)

// testdata/schema2.db was written by the schema-2 store (before batches
// were kept): an approved sale (STAN 1), a declined one (2), a failed one
// (no STAN), an offline approval (3) with its advice job and a
// reversal_pending sale (4) with its reversal job; the STAN counter at 4.
func TestMigrateFromSchema2(t *testing.T) {
	path := copyFixture(t, "schema2.db")
	d := open(t, path)
	defer d.Close()
	if b := d.OpenBatch(); b != 1 {
		t.Fatalf("open batch %d after migration, want 1", b)
	}
	want := map[string]uint32{"1": 1, "2": 1, "3": 0, "4": 1, "5": 1}
	for id, batch := range want {
		r, err := d.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Batch != batch {
			t.Errorf("record %s (%s, STAN %d) in batch %d, want %d", id, r.State, r.STAN, r.Batch, batch)
		}
	}
	if r, _ := d.Get("1"); r.AuthCode != "AB12CD" || r.State != StateApproved || r.MaskedPAN != "476173******0010" {
		t.Errorf("approved record lost fields: %+v", r)
	}
	jobs, err := d.Jobs()
	if err != nil || len(jobs) != 2 || jobs[0].Kind != JobAdvice || string(jobs[0].Data) != "sealed" || jobs[1].Kind != JobReversal {
		t.Fatalf("outbox after migration: %+v %v", jobs, err)
	}
	if stan, _ := d.NextSTAN(); stan != 5 {
		t.Errorf("next STAN %d, want 5", stan)
	}
	var batch []Txn
	d.View(func(tx *Tx) error { batch, err = tx.Batch(1); return err })
	if err != nil || len(batch) != 4 {
		t.Fatalf("batch 1 holds %d records: %v", len(batch), err)
	}
}

func TestBatchCounters(t *testing.T) {
	d := open(t, filepath.Join(t.TempDir(), "posd.db"))
	defer d.Close()
	if b := d.OpenBatch(); b != 1 {
		t.Fatalf("a new database opens batch %d", b)
	}
	var next uint32
	if err := d.Do(func(tx *Tx) error { var err error; next, err = tx.CloseBatch(); return err }); err != nil || next != 2 {
		t.Fatalf("close: %d %v", next, err)
	}
	if b := d.OpenBatch(); b != 2 {
		t.Fatalf("open batch %d after a close", b)
	}
	// The numbers wrap like a STAN's, never to 0.
	d.Do(func(tx *Tx) error {
		return tx.tx.Bucket(bucketCounters).Put(keyBatch, key(999999))
	})
	d.Do(func(tx *Tx) error { next, _ = tx.CloseBatch(); return nil })
	if next != 1 {
		t.Fatalf("batch after 999999: %d", next)
	}
	for want := uint32(1); want <= 3; want++ {
		var inv uint32
		d.Do(func(tx *Tx) error { var err error; inv, err = tx.NextInvoice(); return err })
		if inv != want {
			t.Fatalf("invoice %d, want %d", inv, want)
		}
	}
}

func TestPurgeKeepsTheOpenBatch(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	d, err := Open(filepath.Join(t.TempDir(), "posd.db"), &Opts{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	closed := Txn{Kind: "purchase", Amount: 1, State: StateApproved, Batch: 1, STAN: 1}
	open := Txn{Kind: "purchase", Amount: 2, State: StateApproved, Batch: 2, STAN: 2}
	failed := Txn{Kind: "purchase", Amount: 3, State: StateFailed}
	err = d.Do(func(tx *Tx) error {
		for _, r := range []*Txn{&closed, &open, &failed} {
			if err := tx.Create(r); err != nil {
				return err
			}
		}
		_, err := tx.CloseBatch()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(100 * 24 * time.Hour)
	if n, err := d.Purge(clk.Now(), 0); err != nil || n != 2 {
		t.Fatalf("purged %d %v, want the closed batch's record and the failed one", n, err)
	}
	if _, err := d.Get(open.ID); err != nil {
		t.Fatalf("a record of the open batch was purged: %v", err)
	}
}

// testdata/schema3.db was written by the schema-3 store (before refunds
// were summed on their sale): sale 1 (10.00) with an approved refund of
// 6.00, a refund of 3.00 voided by 4 and a declined one of 0.50; a
// completion 7 (15.00) of pre-authorization 6 with a refund of 1.00; a
// wallet sale 9 (8.88) with a wallet refund of 0.88 and a reversed one.
func TestMigrateFromSchema3(t *testing.T) {
	path := copyFixture(t, "schema3.db")
	d := open(t, path)
	defer d.Close()
	for id, want := range map[string]int64{"1": 600, "6": 0, "7": 100, "9": 88, "2": 0, "3": 0} {
		r, err := d.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Refunded != want {
			t.Errorf("record %s (%s %d) refunded %d, want %d", id, r.Kind, r.Amount, r.Refunded, want)
		}
	}
	if all, err := d.List(0); err != nil || len(all) != 11 {
		t.Fatalf("%d records after migration: %v", len(all), err)
	}
}

// TestAfterAndLen: After gives the records above an id, oldest first,
// and the highest id read; Len counts every record kept.
func TestAfterAndLen(t *testing.T) {
	d := open(t, filepath.Join(t.TempDir(), "posd.db"))
	defer d.Close()
	for range 5 {
		if err := d.Create(&Txn{Kind: "purchase", Amount: 100, Currency: "156"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Update("4", func(r *Txn) error { r.State = StateFailed; return nil }); err != nil {
		t.Fatal(err)
	}
	err := d.View(func(tx *Tx) error {
		if n := tx.Len(); n != 5 {
			t.Errorf("Len %d, want 5", n)
		}
		recs, last, err := tx.After(2)
		if err != nil || len(recs) != 3 || recs[0].ID != "3" || recs[2].ID != "5" || last != 5 {
			t.Errorf("After(2): %d records, last %d, %v", len(recs), last, err)
		}
		if recs, last, _ := tx.After(5); len(recs) != 0 || last != 5 {
			t.Errorf("After(5): %d records, last %d", len(recs), last)
		}
		if recs, _, _ := tx.After(0); len(recs) != 5 {
			t.Errorf("After(0): %d records", len(recs))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
