package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A partition with less than the reserve free refuses new transactions
// with ErrNoSpace; the measure comes from the file system holding the
// database.
func TestCheckRoom(t *testing.T) {
	var avail uint64 = 10 << 20
	var asked string
	path := filepath.Join(t.TempDir(), "posd.db")
	d, err := Open(path, &Opts{Reserve: 1 << 20, Statfs: func(dir string) (uint64, uint64, error) {
		asked = dir
		return avail, 64 << 20, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.CheckRoom(); err != nil {
		t.Fatalf("10 MiB free: %v", err)
	}
	r, err := d.Room()
	if err != nil || r.Free != 10<<20 || r.Total != 64<<20 || r.Reserve != 1<<20 || r.File <= 0 || r.Low() || asked != filepath.Dir(path) {
		t.Fatalf("room %+v, %v (measured %s)", r, err, asked)
	}
	avail = 1<<20 - 1
	err = d.CheckRoom()
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), filepath.Dir(path)) || !strings.Contains(err.Error(), "Free space") {
		t.Fatalf("below the reserve: %v", err)
	}
	// A partition that cannot be measured does not stop sales.
	d.statfs = func(string) (uint64, uint64, error) { return 0, 0, errors.New("no statfs") }
	if err := d.CheckRoom(); err != nil {
		t.Fatalf("unmeasured: %v", err)
	}
}

// On a real file system filled to below the reserve.
func TestCheckRoomFull(t *testing.T) {
	dir := mountTmpfs(t, "8m")
	d, err := Open(filepath.Join(dir, "posd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.CheckRoom(); err != nil {
		t.Fatalf("fresh partition: %v", err)
	}
	r, err := d.Room()
	if err != nil || r.Reserve != DefaultReserve {
		t.Fatalf("room %+v, %v", r, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, r.Free-DefaultReserve+4096), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.CheckRoom(); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("filled: %v", err)
	}
}

// Opts.Fault fails commits as a full disk does: nothing of the failed
// one is written, and the error is the disk's.
func TestFaultFailsCommits(t *testing.T) {
	var fault error
	d, err := Open(filepath.Join(t.TempDir(), "posd.db"), &Opts{Fault: func() error { return fault }})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	first, err := d.NextSTAN()
	if err != nil {
		t.Fatal(err)
	}
	fault = syscall.ENOSPC
	if _, err := d.NextSTAN(); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("commit on a faulty disk: %v", err)
	}
	fault = nil
	if n, err := d.NextSTAN(); err != nil || n != first+1 {
		t.Fatalf("next STAN %d, %v; want %d", n, err, first+1)
	}
}

// BenchmarkCheckRoom is what every transaction's start pays to measure
// the data partition (one statfs and one stat).
func BenchmarkCheckRoom(b *testing.B) {
	d, err := Open(filepath.Join(b.TempDir(), "posd.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.ReportAllocs()
	for b.Loop() {
		if err := d.CheckRoom(); err != nil {
			b.Fatal(err)
		}
	}
}
