package api

import (
	"context"
	"slices"
	"strings"
	"time"

	"posd/conn/printer"
	"posd/internal/daemon"
	"posd/terminal/store"
	"posd/ui/receipt"
)

// slipView tells the cashier that a transaction's slip (a settlement's
// report) did not print, or may not have, and how to get it: the
// customer's receipt is the cashier's business, not the customer
// display's.
type slipView struct {
	// Status is "not_printed" (the terminal tried and the printer
	// refused: those copies wait for a reprint) or "at_risk" (the
	// printer reports a fault now, and the slip, printing as the
	// outcome came, may not have printed).
	Status string `json:"status"`
	// Copies are the copies that did not print ("merchant",
	// "cardholder", or "report" for a settlement).
	Copies []receipt.Copy `json:"copies,omitempty"`
	// Problem is the printer's trouble ("out of paper").
	Problem string `json:"problem,omitempty"`
	// Message is the sentence for the cashier.
	Message string `json:"message"`
}

// The statuses of a slipView.
const (
	slipNotPrinted = "not_printed"
	slipAtRisk     = "at_risk"
)

// printerLiveTimeout bounds the question to the printer a wait's
// outcome asks (the printer itself answers in 2 s or is said silent).
const printerLiveTimeout = 3 * time.Second

// slipWait bounds how long a wait's answer waits for the printer to
// finish printing (the slip of the outcome, most likely), and
// slipPoll how often it asks meanwhile: the receipts say when a
// document is printing, not when one ends.
const (
	slipWait = 5 * time.Second
	slipPoll = 100 * time.Millisecond
)

// slipAfterWait is what is known of t's slip as the outcome a cashier
// waited for is answered (t prints itself): printing runs after the
// outcome, so while the printer prints, it waits (slipWait at most) for
// the printing to end; then the slip is not printed when the receipts
// list it so, at risk when the printer reports a fault, else nil (it
// printed, or prints on a printer that reports no trouble).
func (a *api) slipAfterWait(ctx context.Context, t store.Txn) *slipView {
	live := a.printerNow(ctx)
	if live != nil && live.Printing {
		tick := time.NewTicker(slipPoll)
		defer tick.Stop()
		bound := time.NewTimer(slipWait)
		defer bound.Stop()
	poll:
		for live != nil && live.Printing {
			select {
			case <-ctx.Done():
				break poll
			case <-bound.C:
				break poll
			case <-tick.C:
				live = a.printerNow(ctx)
			}
		}
	}
	if s := unprintedSlip(t, a.printerCached()); s != nil {
		return s
	}
	return atRiskSlip(t, live)
}

// printerCached is the receipts' state as posd last knew it (nil: no
// printer), without asking the printer.
func (a *api) printerCached() *daemon.PrinterStatus {
	if a.printerState != nil {
		return a.printerState()
	}
	return a.d.Status().Printer
}

// printerNow asks the printer how it is (nil: no printer).
func (a *api) printerNow(ctx context.Context) *daemon.PrinterStatus {
	if a.printerAsk != nil {
		return a.printerAsk(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, printerLiveTimeout)
	defer cancel()
	return a.d.Printer(ctx)
}

// unprintedSlip is t's slip as st lists it among what did not print
// (nil: not listed).
func unprintedSlip(t store.Txn, st *daemon.PrinterStatus) *slipView {
	if st == nil {
		return nil
	}
	i := slices.IndexFunc(st.UnprintedCopies, func(u daemon.Unprinted) bool { return u.ID == t.ID })
	if i < 0 {
		return nil
	}
	problem, fix := printerProblem(st.Error)
	return &slipView{Status: slipNotPrinted, Copies: slices.Clone(st.UnprintedCopies[i].Copies), Problem: problem,
		Message: docName(t) + " not printed: " + problem + " — " + fix + " and reprint (posctl receipt print " + t.ID + ")"}
}

// atRiskSlip is t's slip when the printer reports a fault now (live)
// and the slip is not (yet) among what did not print: printing runs
// after the outcome, so it may have failed, or be about to.
func atRiskSlip(t store.Txn, live *daemon.PrinterStatus) *slipView {
	var fault string
	switch {
	case live == nil || live.Printing:
		return nil
	case live.Status != nil && live.Status.Err() != nil:
		fault = live.Status.Err().Error()
	case live.Status == nil && live.Error != "":
		fault = live.Error // the printer did not answer
	default:
		return nil
	}
	problem, fix := printerProblem(fault)
	return &slipView{Status: slipAtRisk, Problem: problem,
		Message: docName(t) + " may not have printed: " + problem + " — " + fix + "; if it did not come out, reprint it (posctl receipt print " + t.ID + ")"}
}

// docName is what t prints: a settlement its report, the others a slip.
func docName(t store.Txn) string {
	if t.Kind == "settlement" {
		return "Settlement report"
	}
	return "Slip"
}

// printerProblem words the printer's error (as the receipts keep it, a
// text) for the cashier: what is wrong and what to do.
func printerProblem(err string) (problem, fix string) {
	switch {
	case strings.Contains(err, printer.ErrPaperOut.Error()):
		return "out of paper", "load paper"
	case strings.Contains(err, printer.ErrCoverOpen.Error()):
		return "printer cover open", "close the cover"
	case strings.Contains(err, printer.ErrNoAnswer.Error()):
		return "the printer does not answer", "check that it is on and connected"
	case strings.Contains(err, printer.ErrFault.Error()):
		return "printer fault", "check the printer"
	}
	return "printer problem", "check the printer (posctl printer)"
}
