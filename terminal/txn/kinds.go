package txn

import (
	"context"
	"fmt"
	"strings"

	"posd/terminal/host"
	"posd/terminal/money"
	"posd/terminal/risk"
	"posd/terminal/store"
)

// The transaction types, as the record's Kind and the host's message kind:
// one state machine (created -> auth_sent -> approved | declined | failed |
// reversal_pending -> reversed) runs them all. What differs is what each
// reads and sends:
//
//	kind        card   amount                    host message        approval also
//	purchase    yes    > 0                       Purchase            velocity recorded
//	refund      yes    > 0 (<= the original's)   Purchase (refund)   -
//	preauth     yes    > 0                       Purchase (preauth)  velocity recorded
//	balance     yes    0                         Purchase (balance)  Balance kept; no reversal
//	void        no     the original's            FollowUp (void)     original VoidedBy
//	completion  no     <= the pre-authorization  FollowUp            original CompletedBy
//
// A void takes a sale, refund or completion of the open batch that is
// approved and not voided (a sale the card approved offline once the
// host accepted its advice: the host then has it, under the advice's
// STAN, and the void names it so; while the advice waits the void is
// refused, AdviceWaitingError), or cancels a pre-authorization of the open
// batch that is approved, not completed (its completion is voided first)
// and not voided: the host releases the hold, no money moves (the
// pre-authorization was never in the totals, nor is its cancellation),
// and the cancellation itself is not voided. A completion takes an
// approved pre-authorization not completed nor voided. The original is checked when the cashier asks and
// again in the commit that sends the request, and it is marked in the
// commit that records the approval, so a crash never leaves it half
// voided. A balance inquiry moves no money: when its answer is lost it
// fails, nothing is reversed.
//
// Only sales are approved offline (the risk rules' offline_type rule); the
// others force the chip online. The risk rules check every kind that reads
// a card (hotlist, limits, velocity of sales and pre-authorizations, PIN
// tiers; a balance inquiry always asks for the PIN); a void or completion
// has no card of its own: its original was checked when it was approved,
// and its amount is bounded by the original's.

// Request is what the cashier asks for.
type Request struct {
	// Kind is host.KindPurchase (also when empty), KindRefund,
	// KindPreauth, KindBalance, KindVoid or KindCompletion.
	Kind     host.Kind
	Amount   int64 // minor units; 0 for a balance inquiry and for a void (the original's)
	Currency string
	// OrigID is the record a void or a completion refers to (required),
	// or the sale a refund gives money back for (optional; required to
	// refund a wallet payment, which goes back through its platform).
	OrigID string
	// Method is how a sale is paid: "" a card, MethodQR the customer's
	// payment code, MethodMPM the terminal's code scanned by the
	// customer's wallet app.
	Method string
	// Platform is the wallet platform whose code a MethodMPM sale shows
	// ("unionpay", "wechat", "alipay").
	Platform string
}

// Kinds lists the transaction types the cashier can start.
var Kinds = []host.Kind{host.KindPurchase, host.KindRefund, host.KindPreauth, host.KindBalance, host.KindVoid, host.KindCompletion}

// needsCard reports whether kind reads a card.
func needsCard(k host.Kind) bool { return k != host.KindVoid && k != host.KindCompletion }

// ReadsCard reports whether a transaction of kind reads the customer's
// card (a void or a completion takes its original's: no card is
// presented for it).
func ReadsCard(kind string) bool { return needsCard(host.Kind(kind)) }

// movesMoney reports whether an unknown outcome of kind must be reversed.
func movesMoney(k host.Kind) bool { return k != host.KindBalance && k != host.KindSettlement }

// riskType is the risk rules' name of kind.
func riskType(k host.Kind) risk.TxnType {
	switch k {
	case host.KindRefund:
		return risk.TypeRefund
	case host.KindPreauth:
		return risk.TypePreauth
	case host.KindBalance:
		return risk.TypeBalance
	case host.KindVoid:
		return risk.TypeVoid
	case host.KindCompletion:
		return risk.TypeCompletion
	}
	return risk.TypeSale
}

// checkRequest checks what the cashier asked for, before anything is
// recorded, and returns the request completed (a void's amount and
// currency are its original's) with the original when it has one.
func (e *Engine) checkRequest(req Request) (Request, *store.Txn, error) {
	if req.Kind == "" {
		req.Kind = host.KindPurchase
	}
	known := false
	for _, k := range Kinds {
		known = known || k == req.Kind
	}
	if !known {
		return req, nil, fmt.Errorf("%w: %q", ErrKind, req.Kind)
	}
	if req.OrigID != "" && (req.Kind == host.KindPurchase || req.Kind == host.KindPreauth || req.Kind == host.KindBalance) {
		return req, nil, fmt.Errorf("%w: a %s refers to no original", ErrOriginal, req.Kind)
	}
	var orig *store.Txn
	if req.OrigID != "" || !needsCard(req.Kind) {
		if req.OrigID == "" {
			return req, nil, fmt.Errorf("%w: a %s needs the id of the original", ErrOriginal, req.Kind)
		}
		var o store.Txn
		err := e.o.Store.View(func(tx *store.Tx) error {
			var err error
			if o, err = tx.Get(req.OrigID); err != nil {
				return err
			}
			return usableOriginal(tx, req.Kind, o)
		})
		if store.IsNotFound(err) {
			return req, nil, fmt.Errorf("%w: %w", ErrOriginal, err)
		}
		if err != nil {
			return req, nil, err
		}
		orig = &o
		if req.Currency == "" {
			req.Currency = o.Currency
		}
		if req.Currency != o.Currency {
			return req, nil, fmt.Errorf("%w: the original is in %s", ErrCurrency, o.Currency)
		}
	}
	switch req.Kind {
	case host.KindBalance:
		if req.Amount != 0 {
			return req, nil, fmt.Errorf("%w: a balance inquiry has no amount", ErrAmount)
		}
	case host.KindVoid:
		if req.Amount == 0 {
			req.Amount = orig.Amount
		}
		if req.Amount != orig.Amount {
			return req, nil, fmt.Errorf("%w: a void is for the original's whole amount", ErrAmount)
		}
	default:
		if req.Amount <= 0 {
			return req, nil, fmt.Errorf("%w: must be greater than zero", ErrAmount)
		}
		if e.o.MaxAmount > 0 && req.Amount > e.o.MaxAmount {
			return req, nil, fmt.Errorf("%w: over the terminal's limit", ErrAmount)
		}
		if orig != nil && req.Amount > orig.Amount {
			return req, nil, fmt.Errorf("%w: more than the original's amount", ErrAmount)
		}
		if orig != nil && req.Kind == host.KindRefund && req.Amount > orig.Amount-orig.Refunded {
			return req, nil, fmt.Errorf("%w: %s of %s left to refund of transaction %s", ErrAmount,
				formatAmount(orig.Amount-orig.Refunded, orig.Currency), formatAmount(orig.Amount, orig.Currency), orig.ID)
		}
	}
	if len(e.o.Currencies) > 0 && !contains(e.o.Currencies, req.Currency) {
		taken := make([]string, len(e.o.Currencies))
		for i, c := range e.o.Currencies {
			taken[i] = currencyName(c)
		}
		return req, nil, fmt.Errorf("%w: %s is not taken here (this terminal takes %s)", ErrCurrency,
			currencyName(req.Currency), strings.Join(taken, ", "))
	}
	return req, orig, nil
}

// usableOriginal says whether o can be the original of a kind (see the
// table above); its errors wrap ErrOriginal.
func usableOriginal(tx *store.Tx, kind host.Kind, o store.Txn) error {
	ok := o.State == store.StateApproved || (kind == host.KindRefund || kind == host.KindVoid) && o.State == store.StateOfflineApproved
	if !ok {
		return fmt.Errorf("%w: transaction %s is %s, not approved", ErrOriginal, o.ID, o.State)
	}
	if o.VoidedBy != "" {
		return fmt.Errorf("%w: transaction %s was voided by %s", ErrOriginal, o.ID, o.VoidedBy)
	}
	if o.State == store.StateOfflineApproved && o.AdviceCode == AdviceLost {
		return fmt.Errorf("%w: transaction %s was approved offline but its card data was lost: the host never had it",
			ErrOriginal, o.ID)
	}
	if o.State == store.StateOfflineApproved && o.AdviceCode != "" {
		// The host refused its advice for good: it never had the sale,
		// which is in no batch total; a refund would pay out for it.
		return fmt.Errorf("%w: transaction %s was refused by the host (%s) after the card approved it offline",
			ErrOriginal, o.ID, o.AdviceCode)
	}
	if o.State == store.StateOfflineApproved && kind == host.KindVoid && o.AdviceSent.IsZero() {
		// The host does not have the sale yet: a void would name
		// nothing it knows.
		return &AdviceWaitingError{ID: o.ID}
	}
	k := host.Kind(o.Kind)
	if o.Wallet != nil && kind != host.KindRefund {
		if k == host.KindRefund {
			// Its platform has paid the money back: nothing at the
			// terminal takes a wallet refund back.
			return fmt.Errorf("%w: transaction %s is a wallet refund: a wallet refund cannot be voided, it stands", ErrOriginal, o.ID)
		}
		return fmt.Errorf("%w: transaction %s is a wallet payment: refund it", ErrOriginal, o.ID)
	}
	if o.Face != nil {
		// The face-pay platform took the money, not the acquirer: a void
		// would name a sale the acquirer never had, a card refund would
		// pay it out to whatever card is presented.
		return fmt.Errorf("%w: transaction %s was paid by face: the terminal neither voids nor refunds it; "+
			"refund it on the face-pay platform's side", ErrOriginal, o.ID)
	}
	switch kind {
	case host.KindVoid:
		switch k {
		case host.KindPurchase, host.KindRefund, host.KindCompletion:
		case host.KindPreauth:
			if o.CompletedBy != "" {
				return fmt.Errorf("%w: pre-authorization %s was completed by %s: void its completion first",
					ErrOriginal, o.ID, o.CompletedBy)
			}
			if o.Batch != tx.OpenBatch() {
				return fmt.Errorf("%w: pre-authorization %s is in batch %d, closed", ErrOriginal, o.ID, o.Batch)
			}
			return nil
		case host.KindVoid:
			if p, err := tx.Get(o.OrigID); err == nil && host.Kind(p.Kind) == host.KindPreauth {
				return fmt.Errorf("%w: transaction %s cancelled pre-authorization %s: a cancellation cannot be voided",
					ErrOriginal, o.ID, p.ID)
			}
			return fmt.Errorf("%w: a %s cannot be voided", ErrOriginal, k)
		default:
			return fmt.Errorf("%w: a %s cannot be voided", ErrOriginal, k)
		}
		if o.Refunded > 0 {
			// Voided whole, the sale would come back on top of its
			// refunds.
			return fmt.Errorf("%w: transaction %s was refunded %s: void its refunds first, or refund the rest",
				ErrOriginal, o.ID, formatAmount(o.Refunded, o.Currency))
		}
		if o.Batch != tx.OpenBatch() {
			if k == host.KindRefund {
				// A refund is not refunded: the money is the
				// customer's again, and only a new sale takes it.
				return fmt.Errorf("%w: refund %s is in batch %d, closed: it cannot be voided; if the money must be taken back, "+
					"make a new sale for %s", ErrOriginal, o.ID, o.Batch, formatAmount(o.Amount, o.Currency))
			}
			return fmt.Errorf("%w: transaction %s is in batch %d, closed; refund it instead", ErrOriginal, o.ID, o.Batch)
		}
	case host.KindCompletion:
		if k != host.KindPreauth {
			return fmt.Errorf("%w: only a pre-authorization is completed, %s is a %s", ErrOriginal, o.ID, k)
		}
		if o.CompletedBy != "" {
			return fmt.Errorf("%w: pre-authorization %s was completed by %s", ErrOriginal, o.ID, o.CompletedBy)
		}
	case host.KindRefund:
		if k != host.KindPurchase && k != host.KindCompletion {
			return fmt.Errorf("%w: a %s is not refunded", ErrOriginal, k)
		}
		if o.Wallet != nil {
			switch id, err := refundPending(tx, o.ID); {
			case err != nil:
				return err
			case id != "":
				return fmt.Errorf("%w: refund %s of transaction %s has an outcome its platform has not told yet; "+
					"the terminal asks again: refund again once it is known", ErrOriginal, id, o.ID)
			}
		}
	}
	return nil
}

// original is what the host is told of s's original.
func original(o *store.Txn) host.Original {
	if o == nil {
		return host.Original{}
	}
	sent := o.SentAt
	if o.State == store.StateOfflineApproved || sent.IsZero() {
		// The host has an offline approval as its advice: the advice's
		// STAN and time (when the card approved), its batch, and no RRN
		// or auth code of the host's (the record has none).
		sent = o.Created
	}
	return host.Original{Kind: host.Kind(o.Kind), STAN: o.STAN, Time: sent, RRN: o.RRN, AuthCode: o.AuthCode, Batch: o.Batch}
}

// stepReference runs a void or a completion: no card; the session and the
// request's commit, which checks the original again.
func (e *Engine) stepReference(ctx context.Context, s *sale) error {
	sess, err := e.session(s)
	if err != nil {
		e.fail(s, FailKeys, fmt.Errorf("%w: %w", ErrKeys, err))
		return nil
	}
	s.sess = sess
	// The risk rules judged the card when the original was approved; a
	// void is for its amount, a completion for at most it.
	return e.commitRequest(ctx, s, s.orig.MaskedPAN)
}

// markOriginal marks the original of an approved void, completion or
// refund, in the approval's commit: a void or completion names itself on
// its original (a cancelled pre-authorization's VoidedBy: it can no
// longer be completed), a refund adds its amount to its sale's Refunded, the
// void of a refund takes the refund's amount off its sale's, and the void
// of a completion re-opens its pre-authorization.
func markOriginal(tx *store.Tx, r *store.Txn) error {
	if r.OrigID == "" {
		return nil // a refund that names no sale
	}
	var mark func(o *store.Txn)
	switch host.Kind(r.Kind) {
	case host.KindVoid:
		mark = func(o *store.Txn) { o.VoidedBy = r.ID }
	case host.KindCompletion:
		mark = func(o *store.Txn) { o.CompletedBy = r.ID }
	case host.KindRefund:
		return refundedBy(tx, r.OrigID, r.Amount)
	default:
		return nil
	}
	o, err := tx.Update(r.OrigID, func(o *store.Txn) error { mark(o); return nil })
	if err != nil || host.Kind(r.Kind) != host.KindVoid || o.OrigID == "" {
		return err
	}
	switch host.Kind(o.Kind) {
	case host.KindRefund:
		return refundedBy(tx, o.OrigID, -o.Amount)
	case host.KindCompletion:
		// A voided completion releases its pre-authorization, as the host
		// re-opens it: the hold can be completed again.
		return reopened(tx, o.OrigID, o.ID)
	}
	return nil
}

// reopened clears the CompletedBy of pre-authorization id when completion
// names it. A pre-authorization already purged is left alone.
func reopened(tx *store.Tx, id, completion string) error {
	_, err := tx.Update(id, func(o *store.Txn) error {
		if o.CompletedBy == completion {
			o.CompletedBy = ""
		}
		return nil
	})
	if store.IsNotFound(err) {
		return nil
	}
	return err
}

// refundedBy adds delta to the Refunded of sale id. A sale already purged
// is left alone (the host still refuses refunds past it).
func refundedBy(tx *store.Tx, id string, delta int64) error {
	_, err := tx.Update(id, func(o *store.Txn) error {
		o.Refunded = max(o.Refunded+delta, 0)
		return nil
	})
	if store.IsNotFound(err) {
		return nil
	}
	return err
}

// formatAmount writes minor units of a currency (ISO 4217 numeric) in
// its major unit, for a message to the cashier.
func formatAmount(minor int64, currency string) string {
	c, err := money.Lookup(currency)
	if err != nil {
		return fmt.Sprint(minor)
	}
	return c.Format(minor)
}

// currencyName is an ISO 4217 numeric code's alphabetic one when known.
func currencyName(numeric string) string {
	if c, err := money.Lookup(numeric); err == nil {
		return c.Alpha
	}
	return numeric
}
