package api

import (
	"time"

	"posd/terminal/money"
	"posd/terminal/store"
	"posd/terminal/txn"
	"posd/ui"
)

// displayHold is how long the outcome of a sale stays on the customer
// display before it returns to the welcome screen.
const displayHold = 30 * time.Second

// displayState builds the display model's input from the engine's latest
// event: ui sees states, never the engine, and nothing reads the database.
func displayState(ev txn.Event, merchant string, now time.Time) ui.State {
	// The sale engine takes magnetic stripes today; the prompt asks for
	// nothing else.
	s := ui.State{Phase: ui.PhaseIdle, Merchant: merchant, Entry: []string{"swipe"}}
	t := ev.Txn
	if ev.Phase == txn.PhaseIdle || (ev.Phase == txn.PhaseDone && now.Sub(ev.Time) > displayHold) {
		return s
	}
	if c, err := money.Lookup(t.Currency); err == nil {
		s.Amount, s.Currency = c.Format(t.Amount), c.Alpha
	}
	s.MaskedPAN, s.ResponseCode, s.AuthCode = t.MaskedPAN, t.ResponseCode, t.AuthCode
	switch {
	case ev.Phase == txn.PhaseWaitCard:
		s.Phase = ui.PhaseCard
	case ev.Phase == txn.PhaseRetryCard:
		s.Phase, s.Retry = ui.PhaseCard, true
	case ev.Phase == txn.PhasePIN:
		s.Phase, s.PINDigits = ui.PhasePIN, ev.PINDigits
	case ev.Phase == txn.PhaseProcessing:
		s.Phase = ui.PhaseProcessing
	case t.State == store.StateApproved:
		s.Phase = ui.PhaseApproved
	case t.State == store.StateDeclined:
		s.Phase = ui.PhaseDeclined
	case t.State == store.StateReversalPending, t.State == store.StateReversed:
		s.Phase = ui.PhaseUnknown
	default:
		s.Phase, s.Failure, s.RiskRule = ui.PhaseFailed, t.Failure, t.RiskRule
	}
	return s
}
