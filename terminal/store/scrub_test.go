package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"posd/conn/clock"
)

func countIn(t *testing.T, path string, s string) int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(raw, []byte(s))
}

// bbolt leaves a deleted or rewritten value in the freed page that held
// it. The data retention is what Purge keeps: once a record is purged,
// its bytes are gone from the file by the next start at the latest, and
// so are the old versions of values other parts rewrite (the key store's
// DUKPT state, wrapped: each old one would give past keys back).
func TestPurgedRecordsLeaveNoBytesAfterOpen(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "posd.db")
	d, err := Open(path, &Opts{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		r := Txn{Kind: "purchase", State: StateApproved, Amount: 100, Currency: "156", MaskedPAN: "476173******0010",
			RRN: fmt.Sprintf("PURGED%06d", i)}
		if err := d.Create(&r); err != nil {
			t.Fatal(err)
		}
		// Another part rewrites its secret in the same file.
		if err := d.Bolt().Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("other"))
			if err != nil {
				return err
			}
			return b.Put([]byte("state"), []byte(fmt.Sprintf("OLDSTATE%06d", i)))
		}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Hour)
	if got, err := d.Purge(clk.Now(), 0); err != nil || got != n {
		t.Fatalf("purged %d of %d: %v", got, n, err)
	}
	d.Close()
	before, stale := countIn(t, path, "PURGED"), countIn(t, path, "OLDSTATE")
	d, err = Open(path, &Opts{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := countIn(t, path, "PURGED"); got != 0 {
		t.Errorf("%d copies of purged records in the file after Open (%d before)", got, before)
	}
	if got := countIn(t, path, "OLDSTATE"); got != 1 {
		t.Errorf("%d versions of a rewritten value in the file after Open, want the current one (%d before)", got, stale)
	}
	if err := d.bolt.View(func(tx *bolt.Tx) error {
		if v := string(tx.Bucket([]byte("other")).Get([]byte("state"))); v != fmt.Sprintf("OLDSTATE%06d", n-1) {
			return fmt.Errorf("current value %q", v)
		}
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkScrub: the scrub Open runs, on a file of 10,000 sales just
// purged: the first one zeroes the freed pages (first-pages, first-ms);
// each op is a later one, at a start where the free pages are zero
// already (read and compared only).
func BenchmarkScrub(b *testing.B) {
	clk := clock.NewFake(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	path := filepath.Join(b.TempDir(), "posd.db")
	d, err := Open(path, &Opts{Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	d.bolt.NoSync = true
	sales(b, d, 10000)
	clk.Advance(time.Hour)
	if _, err := d.Purge(clk.Now(), 0); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	first, err := scrub(d.bolt)
	if err != nil {
		b.Fatal(err)
	}
	firstMS := float64(time.Since(start).Microseconds()) / 1000
	b.ResetTimer()
	for range b.N {
		if n, err := scrub(d.bolt); err != nil || n != 0 {
			b.Fatalf("scrubbed %d pages again: %v", n, err)
		}
	}
	b.ReportMetric(firstMS, "first-ms")
	b.ReportMetric(float64(first), "first-pages")
	b.ReportMetric(float64(fileSize(b, path))/(1<<20), "MB-file")
}
