package store

import (
	"path/filepath"
	"testing"
	"time"

	"posd/conn/clock"
)

// purgeClockCase creates one final record per stamp, in that order (ids
// follow the real order of the sales, the stamps the clock of the day),
// sets the clock to now and purges what is older than retention.
func purgeClockCase(t *testing.T, stamps []time.Time, now time.Time, retention time.Duration) (ids []string, purged int) {
	t.Helper()
	clk := clock.NewFake(stamps[0])
	d, err := Open(filepath.Join(t.TempDir(), "posd.db"), &Opts{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	for _, s := range stamps {
		clk.Advance(s.Sub(clk.Now()))
		r := Txn{Kind: "purchase", Amount: 1, State: StateFailed}
		if err := d.Create(&r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	clk.Advance(now.Sub(clk.Now()))
	n, err := d.Purge(now.Add(-retention), 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		_, err := d.Get(id)
		t.Logf("record %d stamped %s: kept %v", i, stamps[i].Format(time.DateOnly), err == nil)
	}
	return ids, n
}

// A clock that was ahead for a while (set by hand, an RTC that lost
// power and came back wrong) stamped a sale in the future, then was
// corrected. That sale must not hold back the purge of every record made
// after it: the records are kept in the order they were made, so a
// record made before one past the retention is past it too.
func TestPurgeAfterTheClockWasAhead(t *testing.T) {
	day := func(m time.Month, d int, y int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }
	stamps := []time.Time{
		day(1, 5, 2026),
		day(6, 1, 2027), // the clock a year and a half ahead
		day(1, 6, 2026), // corrected
		day(1, 7, 2026),
		day(5, 1, 2026), // within the retention
	}
	_, n := purgeClockCase(t, stamps, day(5, 10, 2026), 90*24*time.Hour)
	if n != 4 {
		t.Fatalf("purged %d records, want the 4 made before the one within the retention", n)
	}
}

// A clock that fell back (an RTC reset to its epoch by a power loss)
// stamps new sales far in the past. They are no older than the sales
// made before them, and must not be purged as if they were.
func TestPurgeAfterTheClockFellBack(t *testing.T) {
	day := func(m time.Month, d int, y int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }
	stamps := []time.Time{
		day(1, 5, 2026),
		day(5, 1, 2026),
		day(1, 1, 2000), // RTC reset after a power loss
		day(5, 2, 2026),
	}
	_, n := purgeClockCase(t, stamps, day(5, 10, 2026), 90*24*time.Hour)
	if n != 1 {
		t.Fatalf("purged %d records, want only the one from January", n)
	}
}
