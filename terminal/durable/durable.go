// Package durable writes small files so that they survive a power cut:
// the content goes to a temporary file in the same directory, is synced,
// renamed over the target, and the directory is synced. A reader sees the
// old content or the new, never a mix.
package durable

import (
	"os"
	"path/filepath"
	"strings"
)

// WriteFile replaces path with data, mode perm, durably.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory, making a rename or a new file in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// RemoveStale removes from dir the temporary files WriteFile leaves when
// its process dies between creating one and renaming it (".NAME.DIGITS")
// and returns their names. Only the owner of dir may call it, at a moment
// when nothing in dir is being written: a temporary file of a write in
// progress would go too.
func RemoveStale(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !isTemp(e.Name()) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return removed, err
		}
		removed = append(removed, e.Name())
	}
	return removed, nil
}

// isTemp reports whether name is one of WriteFile's temporary names: a
// dot, the target's name, a dot and the decimal digits os.CreateTemp
// puts in place of its "*".
func isTemp(name string) bool {
	dot := strings.LastIndexByte(name, '.')
	if len(name) < 2 || name[0] != '.' || dot <= 1 || dot == len(name)-1 {
		return false
	}
	for _, c := range name[dot+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
