package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"posd/terminal/durable"
	"posd/terminal/store"
	"posd/ui/receipt"
)

// unprintedName is the file in the data directory that keeps the
// documents that did not print across a restart (ids and copy names:
// nothing about the card or the customer), 0600.
const unprintedName = "receipts-unprinted.json"

// maxUnprintedFile bounds what is read of the file.
const maxUnprintedFile = 64 << 10

// unprintedFile is the unprinted list on disk. Instance is the
// database's (store.DB.Instance): a factory reset starts a new database
// whose ids begin at 1 again, and a list kept for the old one is not
// read.
type unprintedFile struct {
	path     string
	instance string
}

type unprintedDoc struct {
	Instance  string      `json:"instance"`
	Unprinted []Unprinted `json:"unprinted"`
}

// ErrUnprintedFile: the file of documents not printed cannot be used.
var ErrUnprintedFile = errors.New("daemon: bad file of unprinted receipts")

// load reads the list kept for this database: nil when there is none,
// or it was kept for another database.
func (f *unprintedFile) load() ([]Unprinted, error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnprintedFile, err)
	}
	d, err := parseUnprinted(b)
	if err != nil {
		return nil, err
	}
	if d.Instance != f.instance {
		return nil, nil
	}
	return d.Unprinted, nil
}

// parseUnprinted reads the file's content: at most maxUnprinted
// transactions, each with a record id of digits and known copies.
func parseUnprinted(b []byte) (unprintedDoc, error) {
	var d unprintedDoc
	if len(b) > maxUnprintedFile {
		return d, fmt.Errorf("%w: %d bytes", ErrUnprintedFile, len(b))
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return unprintedDoc{}, fmt.Errorf("%w: %w", ErrUnprintedFile, err)
	}
	if len(d.Unprinted) > maxUnprinted {
		return unprintedDoc{}, fmt.Errorf("%w: %d transactions", ErrUnprintedFile, len(d.Unprinted))
	}
	for _, u := range d.Unprinted {
		if !isRecordID(u.ID) || len(u.Copies) == 0 || len(u.Copies) > 3 {
			return unprintedDoc{}, fmt.Errorf("%w: bad entry", ErrUnprintedFile)
		}
		for i, c := range u.Copies {
			if (c != receipt.Merchant && c != receipt.Cardholder && c != ReportCopy) || slices.Contains(u.Copies[:i], c) {
				return unprintedDoc{}, fmt.Errorf("%w: bad copy in entry %s", ErrUnprintedFile, u.ID)
			}
		}
	}
	return d, nil
}

// isRecordID reports whether s is a record id: 1 to 20 decimal digits.
func isRecordID(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// store replaces the file with list, durably (an empty list removes it).
func (f *unprintedFile) store(list []Unprinted) error {
	if len(list) == 0 {
		err := os.Remove(f.path)
		if err == nil {
			err = durable.SyncDir(filepath.Dir(f.path))
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %w", ErrUnprintedFile, err)
		}
		return nil
	}
	b, err := json.Marshal(unprintedDoc{Instance: f.instance, Unprinted: list})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnprintedFile, err)
	}
	if err := durable.WriteFile(f.path, b, 0o600); err != nil {
		return fmt.Errorf("%w: %w", ErrUnprintedFile, err)
	}
	return nil
}

// save writes what did not print to the file (when there is one); a
// write that fails is logged: the list in memory stays right.
func (r *receipts) save() {
	if r.keep == nil {
		return
	}
	r.keepMu.Lock()
	defer r.keepMu.Unlock()
	r.mu.Lock()
	_, list := r.unprintedLocked()
	r.mu.Unlock()
	if err := r.keep.store(list); err != nil {
		r.log.Warn("list of unprinted receipts not saved", "err", err)
	}
}

// restore reads back what did not print before a restart, leaving out
// the transactions get no longer finds.
func (r *receipts) restore() {
	if r.keep == nil {
		return
	}
	list, err := r.keep.load()
	if err != nil {
		r.log.Warn("list of unprinted receipts not read", "err", err)
		return
	}
	list = slices.DeleteFunc(list, func(u Unprinted) bool {
		_, err := r.get(u.ID)
		return errors.Is(err, store.ErrNotFound)
	})
	if len(list) > 0 {
		r.log.Info("receipts not printed before the restart", "count", len(list))
	}
	r.mu.Lock()
	r.unprinted = list
	r.mu.Unlock()
}
