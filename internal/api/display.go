package api

import (
	"time"

	"posd/terminal/money"
	"posd/terminal/risk"
	"posd/terminal/store"
	"posd/terminal/txn"
	"posd/ui"
)

// displayHold is how long the outcome of a sale stays on the customer
// display before it returns to the welcome screen.
const displayHold = 30 * time.Second

// displayState builds the display model's input from the engine's latest
// event: ui sees states, never the engine, and nothing reads the database.
func displayState(ev txn.Event, merchant string, modes []risk.EntryMode, now time.Time) ui.State {
	// The prompt asks for the cards the board can read.
	var entry []string
	for _, m := range modes {
		entry = append(entry, string(m))
	}
	s := ui.State{Phase: ui.PhaseIdle, Merchant: merchant, Entry: entry}
	t := ev.Txn
	if ev.Phase == txn.PhaseIdle || (ev.Phase == txn.PhaseDone && now.Sub(ev.Time) > displayHold) {
		return s
	}
	if c, err := money.Lookup(t.Currency); err == nil {
		s.Amount, s.Currency = c.Format(t.Amount), c.Alpha
	}
	s.MaskedPAN, s.ResponseCode, s.AuthCode, s.Kind, s.OrigKind = t.MaskedPAN, t.ResponseCode, t.AuthCode, t.Kind, ev.OrigKind
	s.FacePay, s.TxnID = t.Face != nil, t.ID
	if t.Balance != nil {
		if c, err := money.Lookup(t.BalanceCurrency); err == nil {
			s.Balance = c.Alpha + " " + c.Format(*t.Balance)
		}
	}
	s.RemoveCard = ev.Phase == txn.PhaseDone && t.EntryMode == "051" && txn.ReadsCard(t.Kind)
	switch {
	case ev.Phase == txn.PhaseWaitCard && ev.Prompt == "code":
		s.Phase, s.Entry = ui.PhaseCard, []string{"qr"}
	case ev.Phase == txn.PhaseWaitCard:
		s.Phase = ui.PhaseCard
	case ev.Phase == txn.PhaseRetryCard && ev.Prompt == "insert":
		s.Phase, s.Entry, s.Hint = ui.PhaseCard, []string{"insert"}, "chip"
	case ev.Phase == txn.PhaseRetryCard && ev.Prompt == "insert_or_swipe":
		s.Phase, s.Entry, s.Hint = ui.PhaseCard, without(entry, "tap"), "other_interface"
	case ev.Phase == txn.PhaseRetryCard && (ev.Prompt == "tap_again" || ev.Prompt == "see_phone" || ev.Prompt == "one_card"):
		s.Phase, s.Hint = ui.PhaseCard, ev.Prompt
	case ev.Phase == txn.PhaseRetryCard:
		s.Phase, s.Retry = ui.PhaseCard, true
	case ev.Phase == txn.PhaseMessage:
		s.Phase, s.Message = ui.PhaseMessage, ev.Message
	case ev.Phase == txn.PhasePIN && ev.Prompt == "password":
		s.Phase, s.PINDigits, s.Message, s.PINRefused = ui.PhasePassword, ev.PINDigits, ev.Message, string(ev.PINRefused)
	case ev.Phase == txn.PhaseSelectApp:
		s.Phase, s.Apps = ui.PhaseSelectApp, ev.Apps
	case ev.Phase == txn.PhaseFaceConsent:
		s.Phase = ui.PhaseFaceConsent
	case ev.Phase == txn.PhaseFaceCheck:
		s.Phase, s.Challenge, s.Message = ui.PhaseFaceCheck, ev.Challenge, ev.Message
	case ev.Phase == txn.PhasePIN:
		s.Phase, s.PINDigits, s.PINLastTry, s.PINRefused = ui.PhasePIN, ev.PINDigits, ev.PINLastTry, string(ev.PINRefused)
	case ev.Phase == txn.PhaseShowCode:
		s.Phase, s.Code = ui.PhaseShowCode, ev.Code
		if t.Wallet != nil {
			s.Platform = t.Wallet.Platform
		}
	case ev.Phase == txn.PhaseProcessing:
		s.Phase = ui.PhaseProcessing
	case t.State == store.StateApproved, t.State == store.StateOfflineApproved:
		s.Phase, s.Signature = ui.PhaseApproved, t.CVM == "signature"
	case t.State == store.StateDeclined:
		s.Phase = ui.PhaseDeclined
	case t.State == store.StateReversalPending, t.State == store.StateReversed:
		s.Phase, s.Reversal, s.Reversed = ui.PhaseUnknown, t.Reason, t.State == store.StateReversed
	default:
		s.Phase, s.Failure, s.RiskRule = ui.PhaseFailed, t.Failure, t.RiskRule
	}
	return s
}

func without(list []string, x string) []string {
	var out []string
	for _, v := range list {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}
