package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory; read-only
// bind mounts of it and disk-full conditions need it. Skipped where the
// test may not mount.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// readOnlyView bind-mounts dir read-only on a new directory.
func readOnlyView(t *testing.T, dir string) string {
	t.Helper()
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(dir, ro, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(ro, syscall.MNT_DETACH) })
	if err := syscall.Mount(dir, ro, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot remount read-only here: %v", err)
	}
	return ro
}

// A data directory mounted read-only (a file system check remounted it,
// an fstab mistake): the engineer reads what is wrong and what to do,
// for a database that exists and for a first start.
func TestOpenReadOnlyDataDir(t *testing.T) {
	dir := mountTmpfs(t, "4m")
	d, err := Open(filepath.Join(dir, "posd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	ro := readOnlyView(t, dir)
	empty := readOnlyView(t, mountTmpfs(t, "1m"))
	for _, path := range []string{filepath.Join(ro, "posd.db"), filepath.Join(empty, "posd.db")} {
		_, err := Open(path, nil)
		if !errors.Is(err, ErrReadOnly) || !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: %v, want ErrReadOnly", path, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "read-write") {
			t.Errorf("%s: the message does not say what to do: %v", path, err)
		}
	}
}

// A full data partition: the commit that does not fit fails with
// ErrNoSpace, saying what to do; nothing of it is saved and the counters
// go on from where they were (no STAN is reused or reset).
func TestDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	path := filepath.Join(dir, "posd.db")
	d, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var last uint32
	var full error
	for i := 0; i < 10000 && full == nil; i++ {
		full = d.Do(func(tx *Tx) error {
			n, err := tx.NextSTAN()
			if err != nil {
				return err
			}
			last = n
			return tx.Create(&Txn{Kind: "purchase", State: StateApproved, STAN: n, Error: strings.Repeat("x", 3000)})
		})
	}
	if !errors.Is(full, ErrNoSpace) || !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("a commit on a full disk: %v, want ErrNoSpace", full)
	}
	if !strings.Contains(strings.ToLower(full.Error()), "free space") {
		t.Errorf("the message does not say what to do: %v", full)
	}
	// The failed commit's STAN was not saved: the next one is that STAN
	// again, never one below.
	n, err := d.NextSTAN()
	if err != nil || n != last {
		t.Fatalf("next STAN after the failed commit: %d, %v; the failed commit drew %d", n, err, last)
	}
}
