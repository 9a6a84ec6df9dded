package main

import (
	"strings"
	"time"

	"posd/terminal/money"
	"posd/terminal/store"
	"posd/ui"
)

// displayHold is how long the outcome of a sale stays on the customer
// display before it returns to the welcome screen.
const displayHold = 30 * time.Second

// displayState builds the display model's input from the sale in progress
// or the last one: ui sees states, never the engine.
func (a *api) displayState(now time.Time) ui.State {
	// The sale engine takes magnetic stripes today; the prompt asks for
	// nothing else.
	s := ui.State{Phase: ui.PhaseIdle, Merchant: a.cfg.Terminal.MerchantID, Entry: []string{"swipe"}}
	var t store.Txn
	if id := a.engine.Active(); id != "" {
		x, err := a.db.Get(id)
		if err != nil {
			return s
		}
		t = x
	} else {
		last, err := a.db.List(1)
		if err != nil || len(last) == 0 || now.Sub(last[0].Updated) > displayHold {
			return s
		}
		t = last[0]
	}
	if c, err := money.Lookup(t.Currency); err == nil {
		s.Amount, s.Currency = c.Format(t.Amount), c.Alpha
	}
	s.MaskedPAN, s.ResponseCode, s.AuthCode = t.MaskedPAN, t.ResponseCode, t.AuthCode
	switch t.State {
	case store.StateCreated:
		s.Phase = ui.PhaseCard
	case store.StateAuthSent:
		s.Phase = ui.PhaseProcessing
	case store.StateApproved:
		s.Phase = ui.PhaseApproved
	case store.StateDeclined:
		s.Phase = ui.PhaseDeclined
	case store.StateReversalPending, store.StateReversed:
		s.Phase = ui.PhaseUnknown
	default:
		s.Phase, s.Reason = ui.PhaseFailed, failReason(t.Error)
	}
	return s
}

// failReason turns an engine error into words for the customer; the error
// itself (for the cashier and engineer) stays in the record.
func failReason(err string) string {
	switch {
	case strings.Contains(err, "card read error"):
		return "Card could not be read, please try again / 读卡失败，请重试"
	case strings.Contains(err, "expired"):
		return "Card expired / 卡已过期"
	case strings.Contains(err, "no card presented"):
		return "No card presented / 未检测到卡"
	case strings.Contains(err, "host unreachable"):
		return "Bank not reachable / 无法连接银行"
	case strings.Contains(err, "key unavailable"):
		return "Terminal needs service / 终端需要维护"
	default:
		return "Transaction failed / 交易失败"
	}
}
