package txn

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"posd/terminal/facepay"
	"posd/terminal/redact"
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
// A record leaves the list when the merchant has settled it and the
// record says so (SettleByHand: who, when, the outcome and a reference,
// kept in the record as store.Hand, its state unchanged), or when the
// retention purge deletes it.

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

// asideWhy says why t is set aside ("" when it is not, or no longer:
// settled by hand).
func asideWhy(t store.Txn) string {
	switch {
	case t.Hand != nil:
		return ""
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
	aside, handRev := map[string]SetAside{}, map[string]struct{}{}
	for _, t := range recs {
		if why := asideWhy(t); why != "" {
			aside[t.ID] = SetAside{ID: t.ID, Why: why, Amount: t.Amount, Currency: t.Currency, Updated: t.Updated}
		}
		if t.Hand != nil && t.State == store.StateReversalPending {
			handRev[t.ID] = struct{}{}
		}
	}
	e.mu.Lock()
	e.aside, e.handRev = aside, handRev
	e.mu.Unlock()
	return nil
}

// RefreshAside rebuilds the list from the records (after a purge).
func (e *Engine) RefreshAside() error { return e.loadAside() }

// noteAside puts t, just committed, on the list, or takes it off, as its
// record now says: it is read again under asideMu, as the record may
// have changed since the commit (the purge deleted it, or the admin
// settled it by hand once a rebuilt list held it). Only when it cannot
// be read does the committed copy decide.
func (e *Engine) noteAside(t store.Txn) {
	e.asideMu.Lock()
	defer e.asideMu.Unlock()
	cur, err := e.o.Store.Get(t.ID)
	switch {
	case err == nil:
		t = cur
	case store.IsNotFound(err):
		t = store.Txn{ID: t.ID}
	}
	why := asideWhy(t)
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

// SettledReversals counts the reversal_pending records settled by hand:
// like the face payments on the list, reversals the terminal no longer
// works on (a status's pending reversals leave both out).
func (e *Engine) SettledReversals() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.handRev)
}

// Outcomes of a transaction settled by hand (store.Hand.Outcome).
const (
	// HandSettled: an offline approval (advice refused or lost) was
	// settled with the acquirer by hand; its only outcome.
	HandSettled = "settled"
	// HandRefunded: a face payment in doubt was reversed with the
	// platform, or the customer was refunded: in the end the customer
	// did not pay.
	HandRefunded = "refunded"
	// HandStands: a face payment in doubt was paid and the payment
	// stands.
	HandStands = "stands"
)

// HandOutcomes are the outcomes a transaction set aside for why may be
// settled with.
func HandOutcomes(why string) []string {
	switch why {
	case AsideAdviceRefused, AsideAdviceLost:
		return []string{HandSettled}
	case AsideFaceNotReversed:
		return []string{HandRefunded, HandStands}
	}
	return nil
}

// MaxHandRef bounds a settle-by-hand reference, in bytes (printable
// ASCII); MaxHandBy bounds who recorded it.
const (
	MaxHandRef = 40
	MaxHandBy  = 64
)

// HandNote is what the merchant's authorised person records for a
// transaction settled by hand: who (as their login names them), the
// outcome (Hand...) and a short reference, such as the acquirer's or the
// platform's ticket number (spaces around it are dropped).
type HandNote struct {
	By      string
	Outcome string
	Ref     string
}

// SettleByHand records that transaction id, on the list to settle by
// hand, was settled with the acquirer or the platform: the record keeps
// n with the time and why it had been set aside (store.Hand), keeps its
// state, and leaves the list (a restart's rebuild too). Nothing else
// changes: a batch's totals never held it (see counts), and no void,
// refund or reversal takes it. The same outcome and reference again
// return the record as recorded, unchanged; otherwise ErrHandSettled.
// ErrNotAside when id is not on the list; ErrHandNote for a note that is
// not acceptable.
func (e *Engine) SettleByHand(id string, n HandNote) (store.Txn, error) {
	n.Ref = strings.TrimSpace(n.Ref)
	if err := checkHandNote(n); err != nil {
		return store.Txn{}, err
	}
	if t, err := e.o.Store.Get(id); err == nil && t.Hand != nil && t.Hand.Outcome == n.Outcome && t.Hand.Ref == n.Ref {
		return t, nil // recorded before: nothing to write
	}
	e.asideMu.Lock()
	defer e.asideMu.Unlock()
	e.mu.Lock()
	_, listed := e.aside[id]
	active := e.active == id
	e.mu.Unlock()
	var (
		out  store.Txn
		done bool // recorded before, the same
	)
	err := e.o.Store.Do(func(tx *store.Tx) error {
		t, err := tx.Get(id)
		if err != nil {
			if store.IsNotFound(err) {
				return fmt.Errorf("%w: transaction %s: %w", ErrNotAside, id, err)
			}
			return err
		}
		if h := t.Hand; h != nil {
			if h.Outcome == n.Outcome && h.Ref == n.Ref {
				out, done = t, true
				return nil
			}
			return fmt.Errorf("%w: transaction %s was settled by hand at %s by %s (%s); the record keeps that",
				ErrHandSettled, id, h.At.UTC().Format(time.RFC3339), h.By, h.Outcome)
		}
		why := asideWhy(t)
		if why == "" || !listed || active {
			return fmt.Errorf("%w: transaction %s (%s) is not set aside: the terminal settles it, or has nothing to settle",
				ErrNotAside, id, t.State)
		}
		jobs, err := tx.Jobs()
		if err != nil {
			return err
		}
		for _, j := range jobs {
			if j.TxnID == id {
				return fmt.Errorf("%w: transaction %s still has a %s to send", ErrNotAside, id, j.Kind)
			}
		}
		if !slices.Contains(HandOutcomes(why), n.Outcome) {
			return fmt.Errorf("%w: transaction %s was set aside as %s: its outcome is %s, not %q",
				ErrHandNote, id, why, strings.Join(HandOutcomes(why), " or "), n.Outcome)
		}
		out, err = tx.Update(id, func(r *store.Txn) error {
			r.Hand = &store.Hand{At: e.clock.Now().UTC(), By: n.By, Why: why, Outcome: n.Outcome, Ref: n.Ref}
			return nil
		})
		return err
	})
	if err != nil || done {
		return out, err
	}
	e.mu.Lock()
	delete(e.aside, id)
	if out.State == store.StateReversalPending {
		e.handRev[id] = struct{}{}
	}
	e.mu.Unlock()
	e.log.Info("transaction settled by hand", "id", id, "why", out.Hand.Why, "outcome", out.Hand.Outcome,
		"by", out.Hand.By, "reference", out.Hand.Ref, "amount", out.Amount)
	return out, nil
}

// checkHandNote refuses a note that names no one, an outcome of none of
// the kinds, or a reference that is empty, too long, not printable ASCII
// or that could hold a card number: one that redact would mask, or
// digits joined by spaces, dashes or dots that make 13 to 19 passing the
// Luhn check (a card number written in groups). The reference itself is
// never repeated.
func checkHandNote(n HandNote) error {
	switch {
	case n.By == "" || len(n.By) > MaxHandBy || !printableASCII(n.By):
		return fmt.Errorf("%w: who records it must be named (1 to %d printable characters)", ErrHandNote, MaxHandBy)
	case n.Ref == "":
		return fmt.Errorf("%w: a reference is needed (the acquirer's or the platform's ticket)", ErrHandNote)
	case len(n.Ref) > MaxHandRef:
		return fmt.Errorf("%w: the reference is longer than %d characters", ErrHandNote, MaxHandRef)
	case !printableASCII(n.Ref):
		return fmt.Errorf("%w: the reference may hold printable ASCII characters only", ErrHandNote)
	case mayHoldPAN(n.Ref):
		return fmt.Errorf("%w: the reference looks like a card number; card data is never recorded", ErrHandNote)
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// mayHoldPAN reports whether redact would mask part of s as a card
// number, or s holds one written in groups.
func mayHoldPAN(s string) bool {
	if redact.Digits(s) != s {
		return true
	}
	// Whatever separates its groups ("4761/7390/0101/0010",
	// "4761.7390 0101_0010"): only letters part numbers.
	joined := strings.Map(func(r rune) rune {
		if (r < '0' || r > '9') && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return -1
		}
		return r
	}, s)
	for run := range strings.FieldsFuncSeq(joined, func(r rune) bool { return r < '0' || r > '9' }) {
		if len(run) >= 13 && len(run) <= 19 && redact.Luhn(run) {
			return true
		}
	}
	return false
}
