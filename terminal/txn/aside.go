package txn

import (
	"cmp"
	"slices"
	"time"

	"posd/terminal/facepay"
	"posd/terminal/store"
)

// Some transactions end where the terminal can do nothing more about
// them, though money may have moved: an offline approval whose advice
// the host refused for good, or whose card data was lost so its advice
// can never be sent (the acquirer has not paid the merchant), and a face
// payment its platform no longer reverses (the customer may have paid).
// Their records say so (Error); the engine also keeps them as a list,
// rebuilt from the records at start, for the merchant and the engineer to
// settle by hand with the acquirer or the platform (the status shows it).
// A record leaves the list when the retention purge deletes it.

// Why a transaction was set aside.
const (
	// AsideAdviceRefused: the host refused the advice of an offline
	// approval for good (the record's AdviceCode is its answer).
	AsideAdviceRefused = "advice_refused"
	// AsideAdviceLost: the card data of an offline approval can never
	// be opened again; its advice was never sent.
	AsideAdviceLost = "advice_lost"
	// AsideFaceNotReversed: the face-pay platform no longer reverses
	// the payment; it may have been paid.
	AsideFaceNotReversed = "face_not_reversed"
)

// SetAside is a transaction to settle by hand.
type SetAside struct {
	ID       string    `json:"id"`
	Why      string    `json:"why"` // Aside...
	Amount   int64     `json:"amount"`
	Currency string    `json:"currency"`
	Updated  time.Time `json:"updated"` // its record's last change
}

// asideWhy says why t is set aside ("" when it is not).
func asideWhy(t store.Txn) string {
	switch {
	case t.State == store.StateOfflineApproved && t.AdviceCode == AdviceLost:
		return AsideAdviceLost
	case t.State == store.StateOfflineApproved && t.AdviceCode != "":
		return AsideAdviceRefused
	case t.State == store.StateReversalPending && t.Face != nil && t.Face.Status == facepay.CodeReverseExpired:
		return AsideFaceNotReversed
	}
	return ""
}

// loadAside rebuilds the list from the records that can be set aside.
// asideMu spans the read and the swap: a record ended meanwhile is noted
// after the swap (noteAside waits), never lost under an older read.
func (e *Engine) loadAside() error {
	e.asideMu.Lock()
	defer e.asideMu.Unlock()
	recs, err := e.o.Store.List(0, store.StateOfflineApproved, store.StateReversalPending)
	if err != nil {
		return err
	}
	aside := map[string]SetAside{}
	for _, t := range recs {
		if why := asideWhy(t); why != "" {
			aside[t.ID] = SetAside{ID: t.ID, Why: why, Amount: t.Amount, Currency: t.Currency, Updated: t.Updated}
		}
	}
	e.mu.Lock()
	e.aside = aside
	e.mu.Unlock()
	return nil
}

// RefreshAside rebuilds the list from the records (after a purge).
func (e *Engine) RefreshAside() error { return e.loadAside() }

// noteAside puts t, just committed, on the list, or takes it off, as its
// record says. A record about to go on it is read again: the purge may
// have deleted it since the commit (and rebuilt the list without it).
func (e *Engine) noteAside(t store.Txn) {
	e.asideMu.Lock()
	defer e.asideMu.Unlock()
	why := asideWhy(t)
	if why != "" {
		if _, err := e.o.Store.Get(t.ID); store.IsNotFound(err) {
			why = ""
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if why != "" {
		e.aside[t.ID] = SetAside{ID: t.ID, Why: why, Amount: t.Amount, Currency: t.Currency, Updated: t.Updated}
	} else {
		delete(e.aside, t.ID)
	}
}

// Aside lists the transactions to settle by hand, in id order.
func (e *Engine) Aside() []SetAside {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]SetAside, 0, len(e.aside))
	for _, a := range e.aside {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b SetAside) int {
		return cmp.Or(cmp.Compare(len(a.ID), len(b.ID)), cmp.Compare(a.ID, b.ID)) // numeric order
	})
	return out
}
