package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"

	"posd/terminal/store"
	"posd/ui/receipt"
)

// The documents that did not print are kept across a restart in posd.db
// (bucket receiptsBucket, key unprintedKey: ids and copy names, nothing
// about the card or the customer), so a factory reset erases them with
// the records they name.
var (
	receiptsBucket = []byte("receipts")
	unprintedKey   = []byte("unprinted")
)

// maxUnprintedFile bounds what is read of the kept list.
const maxUnprintedFile = 64 << 10

// unprintedFile keeps the unprinted list in the database.
type unprintedFile struct {
	db *bbolt.DB
}

type unprintedDoc struct {
	Unprinted []Unprinted `json:"unprinted"`
}

// ErrUnprintedFile: the file of documents not printed cannot be used.
var ErrUnprintedFile = errors.New("daemon: bad file of unprinted receipts")

// load reads the kept list: nil when there is none.
func (f *unprintedFile) load() ([]Unprinted, error) {
	var b []byte
	err := f.db.View(func(tx *bbolt.Tx) error {
		if bk := tx.Bucket(receiptsBucket); bk != nil {
			b = bytes.Clone(bk.Get(unprintedKey))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnprintedFile, err)
	}
	if b == nil {
		return nil, nil
	}
	d, err := parseUnprinted(b)
	if err != nil {
		return nil, err
	}
	return d.Unprinted, nil
}

// parseUnprinted reads the kept list: at most maxUnprinted
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

// store replaces the kept list with list, in one commit (an empty list
// removes it).
func (f *unprintedFile) store(list []Unprinted) error {
	var b []byte
	if len(list) > 0 {
		var err error
		if b, err = json.Marshal(unprintedDoc{Unprinted: list}); err != nil {
			return fmt.Errorf("%w: %w", ErrUnprintedFile, err)
		}
	}
	err := f.db.Update(func(tx *bbolt.Tx) error {
		if b == nil {
			if bk := tx.Bucket(receiptsBucket); bk != nil {
				return bk.Delete(unprintedKey)
			}
			return nil
		}
		bk, err := tx.CreateBucketIfNotExists(receiptsBucket)
		if err != nil {
			return err
		}
		return bk.Put(unprintedKey, b)
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnprintedFile, err)
	}
	return nil
}

// save keeps what did not print (when a keeper is set); a write that
// fails is logged: the list in memory stays right.
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
