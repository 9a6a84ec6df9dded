package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"posd/conn/clock"
)

// sales commits n sales as the engine does: the request (auth_sent, with
// its STAN and KSN), then the outcome (approved).
func sales(tb testing.TB, d *DB, n int) {
	tb.Helper()
	for range n {
		var id string
		err := d.Do(func(tx *Tx) error {
			stan, err := tx.NextSTAN()
			if err != nil {
				return err
			}
			x := Txn{Kind: "purchase", State: StateAuthSent, Amount: 1234, Currency: "156", STAN: stan,
				KSN: "123456789012345600000001", MaskedPAN: "476173******0010", EntryMode: "051", CVM: "none",
				Chip: &Chip{Interface: "contact", AID: "A0000000031010", Label: "VISA CREDIT", TVR: "0000000000",
					TSI: "F800", Cryptogram: "ARQC", CVMResults: "1F0302", ATC: 7}}
			if err := tx.Create(&x); err != nil {
				return err
			}
			id = x.ID
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
		_, err = d.Update(id, func(r *Txn) error {
			r.State, r.ResponseCode, r.AuthCode, r.RRN = StateApproved, "00", "AB12CD", "633119000001"
			r.Chip.Cryptogram = "TC"
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

func fileSize(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

// highWater is the end of the last page bbolt uses (the file itself grows
// in larger steps, see fileSize).
func highWater(tb testing.TB, d *DB) int64 {
	tb.Helper()
	var n int64
	if err := d.bolt.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil }); err != nil {
		tb.Fatal(err)
	}
	return n
}

// bbolt never gives pages back to the file system, but it reuses the ones
// a purge frees: after a purge, as many sales again do not grow the file
// (beyond a few pages of slack), so a terminal that purges what it no
// longer needs keeps its file at the size of what it keeps.
func TestPurgedPagesAreReused(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "posd.db")
	d, err := Open(path, &Opts{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.bolt.NoSync = true // the layout is the same; only the test is faster
	const n = 2000
	sales(t, d, n)
	full := highWater(t, d)
	clk.Advance(time.Hour)
	if got, err := d.Purge(clk.Now(), 0); err != nil || got != n {
		t.Fatalf("purged %d of %d: %v", got, n, err)
	}
	sales(t, d, n)
	if again := highWater(t, d); again > full+full/10 {
		t.Fatalf("the file grew from %d to %d bytes though the purge freed as much", full, again)
	}
}

// BenchmarkDiskPerSale: bytes on disk per stored sale (a chip sale's
// record as the engine commits it, request then outcome), the file after
// 10,000 sales, and after a purge of all of them and 10,000 more (the
// purge's pages reused: the file does not grow). 32-bit ARM maps at most
// about 2 GB: at this size a terminal would have to keep several million
// sales to reach it; the purge keeps it at what the retention keeps.
func BenchmarkDiskPerSale(b *testing.B) {
	const n = 10000
	for range b.N {
		b.StopTimer()
		clk := clock.NewFake(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
		path := filepath.Join(b.TempDir(), "posd.db")
		d, err := Open(path, &Opts{Clock: clk})
		if err != nil {
			b.Fatal(err)
		}
		d.bolt.NoSync = true
		b.StartTimer()
		sales(b, d, n)
		b.StopTimer()
		full, fullFile := highWater(b, d), fileSize(b, path)
		clk.Advance(time.Hour)
		if _, err := d.Purge(clk.Now(), 0); err != nil {
			b.Fatal(err)
		}
		sales(b, d, n)
		again, againFile := highWater(b, d), fileSize(b, path)
		d.Close()
		b.ReportMetric(float64(full)/n, "bytes/sale")
		b.ReportMetric(float64(full)/(1<<20), "MB-used-10k")
		b.ReportMetric(float64(fullFile)/(1<<20), "MB-file-10k")
		b.ReportMetric(float64(again)/(1<<20), "MB-used-purge+10k")
		b.ReportMetric(float64(againFile)/(1<<20), "MB-file-purge+10k")
		if again > full+full/10 {
			b.Errorf("the file grew from %d to %d bytes after a purge", full, again)
		}
		b.StartTimer()
	}
}
