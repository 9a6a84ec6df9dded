package api

import (
	"encoding/json"
	"testing"
	"time"

	"posd/terminal/store"
	"posd/terminal/store/storetest"
)

// TestBatchShowsPendingOffline: GET /v1/batch shows, next to the
// totals, the offline approvals taken but not yet sent to the bank
// (count and amount), which the totals leave out, in words a manager
// understands.
func TestBatchShowsPendingOffline(t *testing.T) {
	a, h := newTestAPI(t)
	b := a.d.DB.OpenBatch()
	storetest.Seed(t, a.d.DB, []store.Txn{
		{Kind: "purchase", Amount: 1999, Currency: "156", State: store.StateApproved, STAN: 1, Batch: b},
		{Kind: "purchase", Amount: 3000, Currency: "156", State: store.StateOfflineApproved, STAN: 2, Batch: b},
		{Kind: "purchase", Amount: 4000, Currency: "156", State: store.StateOfflineApproved, STAN: 3, Batch: b,
			AdviceSent: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)},
	}, nil)
	code, _, body := do(h, call{method: "GET", path: "/v1/batch"})
	var v struct {
		Totals  []totalsView  `json:"totals"`
		Pending []pendingView `json:"pending_offline"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if len(v.Totals) != 1 || v.Totals[0].DebitCount != 2 || v.Totals[0].DebitAmount != "59.99" {
		t.Errorf("totals %+v: want 2 debits of 59.99", v.Totals)
	}
	want := "1 offline approval (30.00 CNY) taken but not yet sent to the bank: not in the totals until the host acknowledges it; posctl sync sends it now"
	if len(v.Pending) != 1 || v.Pending[0].Currency != "CNY" || v.Pending[0].Count != 1 || v.Pending[0].Amount != "30.00" || v.Pending[0].Message != want {
		t.Errorf("pending %+v, want 1 of 30.00 CNY saying %q; body %s", v.Pending, want, body)
	}
}
