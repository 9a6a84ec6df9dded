package daemon

import (
	"context"
	"path/filepath"
	"testing"

	"posd/terminal/paycode"
	"posd/terminal/store"
	"posd/terminal/store/storetest"
)

// codePaid finds whether a code paid a sale: a recent code sale with its
// masked form is approved, whatever its later reads got (code_used).
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
	for i := range recs {
		recs[i].Amount, recs[i].Currency = 100, "156"
	}
	storetest.SeedDir(t, dir, recs)
	d = openTest(t, dir)
	defer d.Close(context.Background())
	for code, want := range map[string]bool{paid: true, refused: true, unpaid: false, unknown: false, "not a code": false} {
		if got := d.codePaid(code); got != want {
			t.Errorf("codePaid(%s) = %v", code, got)
		}
	}
}
