package txn

import (
	"errors"
	"fmt"
)

// Errors of the engine. Callers decide on them with errors.Is; a sale that
// fails records the matching Failure code.
var (
	// ErrBusy: a transaction (or a batch close) is already in progress,
	// named in the error; the terminal has one set of
	// readers and one customer at a time.
	ErrBusy = errors.New("txn: a transaction is already in progress")
	// ErrAmount: the amount is not positive or over the terminal's limit.
	ErrAmount = errors.New("txn: invalid amount")
	// ErrCurrency: the currency is not one the terminal accepts.
	ErrCurrency = errors.New("txn: unsupported currency")
	// ErrNoCard: no card was presented before the card timeout.
	ErrNoCard = errors.New("txn: no card presented")
	// ErrCancelled: the cashier cancelled the sale while it waited for a
	// card.
	ErrCancelled = errors.New("txn: cancelled")
	// ErrUnreadable is returned (wrapped) by a CardReader when a card was
	// presented but could not be read (a damaged stripe): the sale asks
	// for the card again until the card timeout.
	ErrUnreadable = errors.New("txn: card presented but unreadable")
	// ErrCollision is returned (wrapped) by a CardReader when more than
	// one card is in the contactless field (a wallet tapped whole): the
	// sale asks for one card only and goes on until the card timeout.
	ErrCollision = errors.New("txn: more than one card in the contactless field")
	// ErrCardRead: the card could not be read (the last of the unreadable
	// presentations at the card timeout, or a reader failure).
	ErrCardRead = errors.New("txn: card read error")
	// ErrCardExpired: the card's expiry date has passed.
	ErrCardExpired = errors.New("txn: card expired")
	// ErrKeys: no transaction key could be produced (not provisioned,
	// state lost, exhausted): the terminal must be serviced. Start
	// returns it for a transaction for the acquirer when the key source
	// (a KeyState) says it has no key, before anything is recorded.
	ErrKeys = errors.New("txn: transaction key unavailable")
	// ErrRisk: a risk rule refused the sale.
	ErrRisk = errors.New("txn: refused by the risk rules")
	// ErrPIN: a PIN was needed and could not be read (no PIN pad, keypad
	// failure).
	ErrPIN = errors.New("txn: PIN entry unavailable")
	// ErrCardRemoved: a chip card left the slot or the field before the
	// terminal was done with it.
	ErrCardRemoved = errors.New("txn: card removed")
	// ErrCardNotAccepted: the chip has no application the terminal takes,
	// or it is blocked.
	ErrCardNotAccepted = errors.New("txn: card not accepted")
	// ErrHalted: the engine is shutting down.
	ErrHalted = errors.New("txn: engine halted")
	// ErrShutdown: the sale ended because the terminal was shutting down
	// while it waited for a card.
	ErrShutdown = errors.New("txn: sale ended by shutdown")
	// ErrKind: the cashier asked for a transaction type the terminal does
	// not run.
	ErrKind = errors.New("txn: unknown transaction type")
	// ErrOriginal: the original a void, completion or refund names does
	// not exist or cannot be used (not approved, voided, completed, of
	// another batch or kind); the text says which.
	ErrOriginal = errors.New("txn: original transaction not usable")
	// ErrAdviceWaiting: the original of a void was approved offline and
	// its advice has not reached the host yet, so the host has nothing
	// to void; the error is an *AdviceWaitingError, which also matches
	// ErrOriginal.
	ErrAdviceWaiting = errors.New("txn: the original's advice has not reached the host yet")
	// ErrWrongCard: the card presented for a refund is not the one that
	// paid its sale (masked PANs differ); the refund is not sent.
	ErrWrongCard = errors.New("txn: not the card of the original transaction")
	// ErrNoResponse: a balance inquiry's answer was lost (nothing to
	// reverse: it moves no money).
	ErrNoResponse = errors.New("txn: no usable answer from the host")
	// ErrPending: a batch cannot close while reversals or advices of it
	// wait to reach the host; the text says how many.
	ErrPending = errors.New("txn: transactions still waiting for the host")
	// ErrBatchFull: the open batch holds as many debits (or credits) as
	// the host's settlement carries (cup: 999 each): a sale or
	// completion (a refund) would push it past, and a batch past it can
	// never be settled. Nothing was recorded or sent; the cashier closes
	// the batch first. The error is a *BatchFullError.
	ErrBatchFull = errors.New("txn: batch full: settle the batch first")
	// ErrSettleAgain: the open batch's last close got no answer (it was
	// lost, or the terminal restarted while it waited) and the host names
	// the batch in every request: the host may have closed the batch, and
	// then declines "77" whatever else of it comes. Nothing was recorded
	// or sent; the cashier closes the batch again, which either finds the
	// host closed it or closes it. The error is a *SettleAgainError.
	ErrSettleAgain = errors.New("txn: the last batch close got no answer: settle the batch again")
	// ErrUnrecorded: a transaction's outcome could not be written (the
	// disk failed or filled up in the middle of it); none starts until it
	// is, which the engine retries by itself (the transaction is then
	// reversed when it had reached the host). The terminal needs service
	// when it lasts.
	ErrUnrecorded = errors.New("txn: a transaction's outcome could not be written")
	// ErrSettlement: the host did not accept the batch's totals, even
	// after the batch upload.
	ErrSettlement = errors.New("txn: settlement not accepted")
	// ErrNotPaymentCode: the code shown is not a wallet payment code the
	// terminal takes; nothing was sent.
	ErrNotPaymentCode = errors.New("txn: not a payment code")
	// ErrWallet: the wallet platform did not take the payment (failed,
	// closed, refused).
	ErrWallet = errors.New("txn: wallet payment not completed")
	// ErrFace: face pay could not run (no camera, no platform, a device
	// or platform failure, no enrolled face matched); pay by card or code.
	ErrFace = errors.New("txn: face pay unavailable")
	// ErrFaceConsent: the customer did not consent to face pay (Cancel on
	// the keypad, or no Enter in time); no frame was read.
	ErrFaceConsent = errors.New("txn: no consent to face pay")
	// ErrFaceLiveness: the liveness check did not find a live face alone
	// in view (a spoof, two faces, not enough evidence).
	ErrFaceLiveness = errors.New("txn: face not accepted")
	// ErrFaceDeclined: the face-pay platform declined (wrong payment
	// password, account locked, refused).
	ErrFaceDeclined = errors.New("txn: face payment declined")
	// ErrNotAside: SettleByHand was given a transaction that is not on
	// the list to settle by hand: unknown (it then matches
	// store.ErrNotFound too), never set aside, or still worked on by the
	// terminal (a reversal or an advice it still sends). Nothing was
	// written.
	ErrNotAside = errors.New("txn: not on the list to settle by hand")
	// ErrHandSettled: the transaction was settled by hand already, with
	// another outcome or reference (the text says when and by whom); the
	// record keeps the first. The same outcome and reference again are
	// no error: the record is returned as it was.
	ErrHandSettled = errors.New("txn: already settled by hand")
	// ErrHandNote: what SettleByHand was asked to record is not
	// acceptable: no one named, an outcome that does not fit why the
	// transaction was set aside, or a reference that is empty, longer
	// than MaxHandRef, not printable ASCII or holding what could be a
	// card number. The text never repeats the reference.
	ErrHandNote = errors.New("txn: settle-by-hand note refused")
)

// BatchFullError is ErrBatchFull with what is full: Side ("debits" or
// "credits") of the open batch Batch in Currency holds Count
// transactions for Amount (minor units), and Limit is the most the
// host's settlement carries (its count; the amount's bound is
// AmountLimit). It matches ErrBatchFull with errors.Is.
type BatchFullError struct {
	Batch       uint32
	Currency    string
	Side        string
	Count       int
	Limit       int
	Amount      int64
	AmountLimit int64
}

func (e *BatchFullError) Error() string { return fmt.Sprintf("%v: %s", ErrBatchFull, e.Detail()) }

// Detail says what is full, for the cashier.
func (e *BatchFullError) Detail() string {
	if e.Count >= e.Limit {
		return fmt.Sprintf("batch %d holds %d %s in %s, the most one settlement carries", e.Batch, e.Count, e.Side, e.Currency)
	}
	return fmt.Sprintf("the %s of batch %d in %s would total more than one settlement carries", e.Side, e.Batch, e.Currency)
}

// Is reports whether target is ErrBatchFull.
func (e *BatchFullError) Is(target error) bool { return target == ErrBatchFull }

// AdviceWaitingError is ErrAdviceWaiting for offline approval ID: it
// says what the cashier can do (send the advice, then void; or refund).
// It matches ErrAdviceWaiting and ErrOriginal with errors.Is.
type AdviceWaitingError struct{ ID string }

func (e *AdviceWaitingError) Error() string {
	return fmt.Sprintf("%v: transaction %s was approved offline and the host does not have it yet: "+
		"wait for its advice to be sent (posctl sync), then void it, or refund it", ErrOriginal, e.ID)
}

// Is reports whether target is ErrAdviceWaiting or ErrOriginal.
func (e *AdviceWaitingError) Is(target error) bool {
	return target == ErrAdviceWaiting || target == ErrOriginal
}

// SettleAgainError is ErrSettleAgain for batch Batch, whose close Close
// (a settlement record's id) got no answer. It matches ErrSettleAgain
// with errors.Is.
type SettleAgainError struct {
	Batch uint32
	Close string
}

func (e *SettleAgainError) Error() string { return fmt.Sprintf("%v (%s)", ErrSettleAgain, e.Detail()) }

// Detail says what happened, for the cashier.
func (e *SettleAgainError) Detail() string {
	return fmt.Sprintf("close %s of batch %d got no answer: the bank may have closed the batch and would decline 77", e.Close, e.Batch)
}

// Is reports whether target is ErrSettleAgain.
func (e *SettleAgainError) Is(target error) bool { return target == ErrSettleAgain }
