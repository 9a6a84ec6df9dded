package store

import (
	"bytes"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
)

// bbolt never overwrites a page in place and never zeroes one it frees: a
// purged record, an old version of an updated one, and every old version
// of what other parts rewrite in the file (the key store's DUKPT state,
// wrapped under the device KEK) stay in its free pages until bbolt
// happens to reuse them. scrub zeroes them, and the part of the file past
// the pages in use (what a transaction that failed or was cut short wrote
// there), so that a purge really erases and an old key state cannot be
// read back.
//
// scrub must run while no transaction is open, as Open does before it
// hands the database out: a free page may still be read by a transaction
// begun before the commit that freed it, and the key store, the risk
// engine and others read the file through Bolt() where the store cannot
// hold them off. What is purged or rewritten while posd runs is therefore
// zeroed at the next start (or when bbolt reuses the page). Pages already
// zero are not written (a hole in the file stays one). As for
// terminal/shred, the erase relies on the file system overwriting the
// blocks in place; a flash translation layer may keep old copies below
// what software can reach.
func scrub(b *bolt.DB) (pages int, err error) {
	f, err := os.OpenFile(b.Path(), os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	ps := int64(b.Info().PageSize)
	buf, zero := make([]byte, ps), make([]byte, ps)
	wipe := func(off int64) error {
		n, err := f.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			return err
		}
		if bytes.Equal(buf[:n], zero[:n]) {
			return nil
		}
		pages++
		_, err = f.WriteAt(zero[:n], off)
		return err
	}
	var end int64
	err = b.View(func(tx *bolt.Tx) error {
		end = tx.Size()
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil {
				return err
			}
			if info == nil {
				return nil
			}
			if info.Type == "free" {
				if err := wipe(int64(id) * ps); err != nil {
					return err
				}
			}
		}
	})
	if err != nil {
		return pages, err
	}
	fi, err := f.Stat()
	if err != nil {
		return pages, err
	}
	for off := end; off < fi.Size(); off += ps {
		if err := wipe(off); err != nil {
			return pages, err
		}
	}
	if pages > 0 {
		err = f.Sync()
	}
	return pages, err
}
