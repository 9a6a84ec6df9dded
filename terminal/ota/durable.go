package ota

import (
	"fmt"
	"os"
	"path/filepath"
)

// writeDurably replaces the file at p with data so that a power cut at
// any moment leaves either the old file or the new one, whole: a
// temporary file beside it, synced, renamed over it, and the directory
// synced.
func writeDurably(p string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), filepath.Base(p)+".tmp*")
	if err != nil {
		return fmt.Errorf("ota: %w", err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("ota: %w", err)
	}
	return syncDir(filepath.Dir(p))
}

// syncDir makes the renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("ota: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("ota: %w", err)
	}
	return nil
}

// syncFiles makes the named files of dir, and dir, durable (a missing
// file is skipped).
func syncFiles(dir string, names ...string) error {
	var first error
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			continue
		}
		if err := f.Sync(); err != nil && first == nil {
			first = fmt.Errorf("ota: %w", err)
		}
		f.Close()
	}
	if err := syncDir(dir); err != nil && first == nil {
		first = err
	}
	return first
}
