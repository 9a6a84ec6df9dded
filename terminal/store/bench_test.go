package store

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkStatusAndList: the cost of what /v1/status (count of pending
// reversals) and `txn list --limit 20` read, with 1,000 and 100,000
// records kept. Both must not grow with the records kept (the schema-1
// store decoded every record for the count: 12.6 ms at 1,000 records,
// 766 ms at 100,000 on the 2-core development machine).
func BenchmarkStatusAndList(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		d := fill(b, n)
		b.Run(fmt.Sprintf("status/%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if d.Count(StateReversalPending) != n/100 {
					b.Fatal("count")
				}
			}
		})
		b.Run(fmt.Sprintf("list20/%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if l, _ := d.List(20); len(l) != 20 {
					b.Fatal("list")
				}
			}
		})
		b.Run(fmt.Sprintf("list20-pending/%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if l, _ := d.List(20, StateReversalPending); len(l) != min(20, n/100) {
					b.Fatal("list")
				}
			}
		})
		d.Close()
	}
}

// fill makes a store with n approved records, one in a hundred pending a
// reversal, written in batches without fsync (setup only).
func fill(b *testing.B, n int) *DB {
	b.Helper()
	d, err := Open(filepath.Join(b.TempDir(), "posd.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	d.bolt.NoSync = true
	for i := 0; i < n; i += 1000 {
		err := d.Do(func(tx *Tx) error {
			for j := i; j < i+1000 && j < n; j++ {
				st := StateApproved
				if j%100 == 0 {
					st = StateReversalPending
				}
				x := Txn{Kind: "purchase", Amount: 100, Currency: "156", State: st, MaskedPAN: "476173******0010",
					KSN: "123456789012345600000001", AuthCode: "AB12CD", RRN: "633119000001", ResponseCode: "00"}
				if err := tx.Create(&x); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	d.bolt.NoSync = false
	return d
}

// BenchmarkSaleCommit: what a card sale's commit before its request goes
// out costs (its STAN, invoice number and batch, the record written,
// fsync), without the counters' mark, with it (one durable write of the
// mark per MarkReserve sales), and with a mark written at every sale for
// comparison. The mark must not add an fsync to every sale.
func BenchmarkSaleCommit(b *testing.B) {
	for _, c := range []struct {
		name    string
		mark    bool
		reserve uint64
	}{{"no-mark", false, 0}, {"mark-reserve-100", true, MarkReserve}, {"mark-every-sale", true, 1}} {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			o := &Opts{}
			if c.mark {
				o.Mark = filepath.Join(dir, MarkFile)
			}
			d, err := Open(filepath.Join(dir, "posd.db"), o)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			if d.mark != nil {
				d.mark.reserve = c.reserve
			}
			var first uint64
			if err := d.Do(func(tx *Tx) error { first, err = tx.ReserveIDs(uint64(b.N) + 1); return err }); err != nil {
				b.Fatal(err)
			}
			writes := 0
			if d.mark != nil {
				writes = d.mark.writes
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				err := d.Do(func(tx *Tx) error {
					r := Txn{ID: strconv.FormatUint(first+uint64(i), 10), Kind: "purchase", State: StateAuthSent, Amount: 100,
						Currency: "156", MaskedPAN: "476173******0010", KSN: "123456789012345600000001"}
					var err error
					if r.STAN, err = tx.NextSTAN(); err != nil {
						return err
					}
					if err := tx.AssignNumbers(&r); err != nil {
						return err
					}
					return tx.Insert(&r)
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if d.mark != nil {
				writes = d.mark.writes - writes
			}
			b.ReportMetric(float64(writes)/float64(b.N), "mark-writes/op")
		})
	}
}
