package daemon

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"posd/terminal/paycode"
	"posd/terminal/store"
)

// codePaid finds whether a code paid the sale it was read for last: the
// newest code sale with its masked form is approved.
func TestCodePaid(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d := openTest(t, dir)
	d.Close(context.Background())
	const paid, refused, unpaid, unknown = "134567890123450011", "134567890123450022", "134567890123450033", "134567890123450044"
	mask := func(s string) string { return paycode.Classify(s).Masked }
	recs := []store.Txn{ // oldest first
		{Kind: "purchase", State: store.StateApproved, MaskedPAN: mask(paid), EntryMode: "qr"},
		{Kind: "purchase", State: store.StateApproved, MaskedPAN: mask(refused), EntryMode: "qr"},
		{Kind: "purchase", State: store.StateFailed, MaskedPAN: mask(refused), EntryMode: "qr"},
		{Kind: "purchase", State: store.StateFailed, MaskedPAN: mask(unpaid), EntryMode: "qr"},
		{Kind: "purchase", State: store.StateApproved, MaskedPAN: mask(unknown), EntryMode: "071"},
	}
	db, err := store.Open(filepath.Join(dir, "posd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		err := db.Do(func(tx *store.Tx) error {
			first, err := tx.ReserveIDs(1)
			if err != nil {
				return err
			}
			r := &recs[i]
			r.ID, r.Amount, r.Currency = strconv.FormatUint(first, 10), 100, "156"
			end := r.State
			r.State = store.StateAuthSent
			if err := tx.Insert(r); err != nil {
				return err
			}
			_, err = tx.Update(r.ID, func(r *store.Txn) error { r.State = end; return nil })
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	d = openTest(t, dir)
	defer d.Close(context.Background())
	for code, want := range map[string]bool{paid: true, refused: false, unpaid: false, unknown: false, "not a code": false} {
		if got := d.codePaid(code); got != want {
			t.Errorf("codePaid(%s) = %v", code, got)
		}
	}
}
