package api

import (
	"errors"
	"fmt"
	"strings"

	"posd/conn/printer"
	"posd/internal/daemon"
	"posd/terminal/store"
	"posd/terminal/txn"
	"posd/ui/receipt"
)

// The cashier reads the API's error answers (posctl prints them as they
// are): they say what happened and what to do, not which package said
// it. The status codes carry the machine-readable part and do not
// change; the details the engine words for the cashier (what is left to
// refund, which transaction voided which) are kept.

// haltedWords answer a transaction asked for once the engine is closed
// (txn.ErrHalted): posd is restarting, after a console restart or a
// factory reset, a firmware trial, or stopping.
const haltedWords = "posd is restarting (or stopping): no transaction starts now; try again once it is back"

// cashierWords rewords a sentinel's own text, wherever an answer
// carries it: "" drops it with its ": ", leaving the detail after it.
var cashierWords = []struct {
	err  error
	word string
}{
	{txn.ErrKind, ""},
	{txn.ErrOriginal, ""},
	{txn.ErrAmount, "amount"},
	{txn.ErrCurrency, "currency"},
	{txn.ErrBusy, "a transaction is already in progress"},
	{txn.ErrPending, "transactions are still waiting for the host"},
	{txn.ErrSettlement, "the host did not accept the settlement"},
	{txn.ErrHalted, haltedWords},
	{daemon.ErrNoPrinter, "this terminal has no receipt printer"},
	{daemon.ErrSyncUnfinished, "the forwarding pass did not finish"},
	{receipt.ErrNotPrintable, "no slip for this record"},
	{printer.ErrPaperOut, "the printer is out of paper"},
	{printer.ErrCoverOpen, "the printer's cover is open"},
	{printer.ErrFault, "the printer reports a fault"},
}

// cashierText is err's text with the sentinels' words replaced.
func cashierText(err error) string {
	s := err.Error()
	for _, c := range cashierWords {
		if !errors.Is(err, c.err) {
			continue
		}
		if c.word == "" {
			s = strings.Replace(s, c.err.Error()+": ", "", 1)
		} else {
			s = strings.Replace(s, c.err.Error(), c.word, 1)
		}
	}
	return s
}

// notFound is the answer for an id no transaction has (err: what the
// look-up said).
func notFound(id string, err error) error {
	if errors.Is(err, store.ErrNotRecorded) {
		return fmt.Errorf("transaction %s not found: check the id (posctl txn list); %w", shorten(id), store.ErrNotRecorded)
	}
	return fmt.Errorf("transaction %s not found: check the id (posctl txn list)", shorten(id))
}

// cannotCancel says why transaction id, which the engine no longer
// lets cancel, cannot be, and what the cashier can do instead.
func (a *api) cannotCancel(id string) error {
	t, err := a.d.Engine.Get(id)
	id = shorten(id)
	switch {
	case err != nil:
		return fmt.Errorf("transaction %s can no longer be cancelled", id)
	case t.State == store.StateApproved || t.State == store.StateOfflineApproved:
		return fmt.Errorf("transaction %s has already ended (%s): it cannot be cancelled; void it instead (posctl void %s)", id, t.State, id)
	case t.State.Final():
		return fmt.Errorf("transaction %s has already ended (%s): nothing to cancel", id, t.State)
	default:
		return fmt.Errorf("transaction %s is past the card and PIN and can no longer be cancelled: follow it (posctl txn show %s) and void it if it is approved", id, id)
	}
}
