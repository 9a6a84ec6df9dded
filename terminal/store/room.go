package store

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// DefaultReserve is the free space (bytes) the data partition keeps for
// the transactions in progress when Opts.Reserve is 0: what a sale writes
// after it started (its approval, a reversal, an advice), many times over.
const DefaultReserve = 2 << 20

// Statfs reports the bytes free for posd's user and the size of the file
// system holding dir.
type Statfs func(dir string) (avail, total uint64, err error)

// statfs is Statfs of the running system.
func statfs(dir string) (avail, total uint64, err error) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		return 0, 0, err
	}
	return s.Bavail * uint64(s.Bsize), s.Blocks * uint64(s.Bsize), nil
}

// Room is the data partition's space, for the engineer and for the
// check before a transaction starts.
type Room struct {
	// Free is the space left on the data partition for posd (bytes);
	// Total its size.
	Free  uint64 `json:"free_bytes"`
	Total uint64 `json:"total_bytes"`
	// File is the database file's size (bytes).
	File int64 `json:"db_bytes"`
	// Reserve is what a new transaction leaves free: below it, none
	// starts (CheckRoom).
	Reserve uint64 `json:"reserve_bytes"`
}

// Low reports whether no new transaction may start.
func (r Room) Low() bool { return r.Free < r.Reserve }

// Room measures the data partition.
func (d *DB) Room() (Room, error) {
	r := Room{Reserve: d.reserve}
	var err error
	if r.Free, r.Total, err = d.statfs(filepath.Dir(d.Path())); err != nil {
		return r, fmt.Errorf("store: measuring the data partition: %w", err)
	}
	if fi, err := os.Stat(d.Path()); err == nil {
		r.File = fi.Size()
	}
	return r, nil
}

// CheckRoom is nil when a new transaction may start: the data partition
// keeps the reserve free for the transactions in progress, so that a
// sale the host approves can always be recorded (or reversed). Below it,
// ErrNoSpace says what to do. A partition that cannot be measured does
// not stop sales: the commits themselves still fail with ErrNoSpace.
func (d *DB) CheckRoom() error {
	r, err := d.Room()
	if err != nil || !r.Low() {
		return nil
	}
	return fmt.Errorf("%w: only %d KiB free in %s, and %d KiB are kept for the transactions in progress and their "+
		"reversals: no new transaction starts. Free space on that partition (old logs, downloaded firmware images)",
		ErrNoSpace, r.Free>>10, filepath.Dir(d.Path()), r.Reserve>>10)
}
