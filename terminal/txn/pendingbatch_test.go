package txn

import (
	"testing"

	"posd/terminal/host"
	"posd/terminal/store"
)

// TestOpenBatchPending: the offline approvals of the open batch whose
// advice waits are told apart from its totals, which leave them out; an
// acknowledged one moves into the totals.
func TestOpenBatchPending(t *testing.T) {
	e, _, db, _ := setup(t, &fakeHost{})
	fillBatch(t, db, host.KindPurchase, 3)
	off := fillBatchAs(t, db, host.KindPurchase, store.StateOfflineApproved, 2)
	pending, err := e.OpenBatchPending()
	if err != nil || len(pending) != 1 || pending[0].Currency != "156" || pending[0].DebitCount != 2 || pending[0].DebitAmount != 200 ||
		pending[0].CreditCount != 0 {
		t.Fatalf("pending %+v, %v; want 2 debits of 2.00 CNY", pending, err)
	}
	if _, totals, _ := e.OpenBatch(); len(totals) != 1 || totals[0].DebitCount != 3 {
		t.Fatalf("totals %+v: want the 3 online approvals", totals)
	}
	if _, err := db.Update(off, func(r *store.Txn) error { r.AdviceSent = r.Created; return nil }); err != nil {
		t.Fatal(err)
	}
	if pending, _ := e.OpenBatchPending(); len(pending) != 1 || pending[0].DebitCount != 1 {
		t.Fatalf("after one advice acknowledged: %+v", pending)
	}
}
