package api

import (
	"context"
	"encoding/json"
	"testing"

	"posd/conn/printer"
	"posd/internal/daemon"
	"posd/terminal/store"
	"posd/terminal/store/storetest"
	"posd/ui/receipt"
)

// TestTxnViewSaysSlipNotPrinted: the record of an approval whose slip
// did not print says so, with the copies, the printer's trouble and
// how to reprint; waited for while the printer reports a fault, it says
// the slip may not have printed (printing runs after the outcome); a
// slip that printed says nothing.
func TestTxnViewSaysSlipNotPrinted(t *testing.T) {
	a, h := newTestAPI(t)
	if len(a.d.Settings.ReceiptCopies) == 0 {
		t.Fatal("the test configuration prints no slip by itself")
	}
	recs := []store.Txn{
		{Kind: "purchase", Amount: 1500, Currency: "156", State: store.StateApproved, STAN: 1},
		{Kind: "purchase", Amount: 1600, Currency: "156", State: store.StateApproved, STAN: 2},
	}
	storetest.Seed(t, a.d.DB, recs, nil)
	unprinted, printed := recs[0].ID, recs[1].ID
	var cached daemon.PrinterStatus
	live := daemon.PrinterStatus{Status: &printer.Status{}}
	a.printerState = func() *daemon.PrinterStatus { c := cached; return &c }
	a.printerAsk = func(context.Context) *daemon.PrinterStatus { l := live; return &l }
	slipOf := func(path string) *slipView {
		t.Helper()
		code, _, body := do(h, call{method: "GET", path: path})
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		var v txnView
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		return v.Slip
	}

	// Printing not over when the outcome came; the printer is out of paper.
	live.Status = &printer.Status{PaperOut: true}
	s := slipOf("/v1/txns/" + unprinted + "?wait=1s")
	if s == nil || s.Status != slipAtRisk || s.Problem != "out of paper" ||
		s.Message != "Slip may not have printed: out of paper — load paper; if it did not come out, reprint it (posctl receipt print "+unprinted+")" {
		t.Errorf("waited, printer out of paper: %+v", s)
	}
	// The print failed.
	cached = daemon.PrinterStatus{Error: "printer: out of paper", Unprinted: []string{unprinted},
		UnprintedCopies: []daemon.Unprinted{{ID: unprinted, Copies: []receipt.Copy{receipt.Merchant, receipt.Cardholder}}}}
	for _, path := range []string{"/v1/txns/" + unprinted, "/v1/txns/" + unprinted + "?wait=1s"} {
		s := slipOf(path)
		if s == nil || s.Status != slipNotPrinted || len(s.Copies) != 2 ||
			s.Message != "Slip not printed: out of paper — load paper and reprint (posctl receipt print "+unprinted+")" {
			t.Errorf("%s: %+v", path, s)
		}
	}
	code, _, body := do(h, call{method: "GET", path: "/v1/txns"})
	var list []txnView
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil {
		t.Fatalf("list: %d %s", code, body)
	}
	for _, v := range list {
		if (v.Slip != nil) != (v.ID == unprinted) {
			t.Errorf("list: %s slip %+v", v.ID, v.Slip)
		}
	}
	// Printed, printer fine.
	live.Status = &printer.Status{}
	if s := slipOf("/v1/txns/" + printed + "?wait=1s"); s != nil {
		t.Errorf("printed slip: %+v", s)
	}
}
