package api

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
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

// TestWaitAwaitsTheSlipPrinting: when the outcome comes while its slip
// is printing, the wait's answer waits for the printing to end and says
// how it went: a slip that failed as the outcome was told is reported
// not printed, not left out.
func TestWaitAwaitsTheSlipPrinting(t *testing.T) {
	a, h := newTestAPI(t)
	recs := []store.Txn{{Kind: "purchase", Amount: 1500, Currency: "156", State: store.StateApproved, STAN: 1}}
	storetest.Seed(t, a.d.DB, recs, nil)
	id := recs[0].ID
	var mu sync.Mutex
	asked := 0
	var cached daemon.PrinterStatus
	a.printerState = func() *daemon.PrinterStatus { mu.Lock(); defer mu.Unlock(); c := cached; return &c }
	a.printerAsk = func(context.Context) *daemon.PrinterStatus {
		mu.Lock()
		defer mu.Unlock()
		asked++
		if asked < 3 {
			return &daemon.PrinterStatus{Printing: true}
		}
		// The printing ended: the slip did not print.
		cached = daemon.PrinterStatus{Error: "printer: out of paper", Unprinted: []string{id},
			UnprintedCopies: []daemon.Unprinted{{ID: id, Copies: []receipt.Copy{receipt.Cardholder}}}}
		return &daemon.PrinterStatus{Status: &printer.Status{PaperOut: true}, Error: "printer: out of paper"}
	}
	code, _, body := do(h, call{method: "GET", path: "/v1/txns/" + id + "?wait=1s"})
	var v txnView
	if err := json.Unmarshal([]byte(body), &v); err != nil || code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if v.Slip == nil || v.Slip.Status != slipNotPrinted || !strings.Contains(v.Slip.Message, "Slip not printed: out of paper") {
		t.Errorf("slip %+v after its printing ended; body %s", v.Slip, body)
	}
}

// TestCloseSaysReportNotPrinted: a batch close's answer (here an empty
// batch's, closed at once) says when its report may not have printed,
// as a sale's outcome does for its slip.
func TestCloseSaysReportNotPrinted(t *testing.T) {
	a, h := newTestAPI(t)
	a.printerState = func() *daemon.PrinterStatus { return &daemon.PrinterStatus{} }
	a.printerAsk = func(context.Context) *daemon.PrinterStatus {
		return &daemon.PrinterStatus{Status: &printer.Status{CoverOpen: true}}
	}
	code, _, body := do(h, call{method: "POST", path: "/v1/batch/close", body: `{}`})
	var v txnView
	if err := json.Unmarshal([]byte(body), &v); err != nil || code != 200 || v.Kind != "settlement" {
		t.Fatalf("%d %s", code, body)
	}
	want := "Settlement report may not have printed: printer cover open — close the cover; if it did not come out, reprint it (posctl receipt print " + v.ID + ")"
	if v.Slip == nil || v.Slip.Message != want {
		t.Errorf("slip %+v, want %q", v.Slip, want)
	}
}
