package facepay

import (
	"errors"
	"fmt"
)

// Errors of the package. The sale decides on them with errors.Is:
//
//   - ErrInvalidRequest: the caller's input is not valid (ids, amount,
//     currency, envelope size, PIN block or KSN length); nothing was sent.
//   - ErrNoMatch: no enrolled face matched the crop: refuse face pay,
//     offer a card.
//   - ErrWrongPassword: the payment password was wrong; the answer is a
//     declined Result whose TriesLeft says how many tries remain
//     (returned as *DeclinedError with the Result).
//   - ErrLocked: too many wrong passwords: the account takes no face
//     payment for a while (declined, or refused at identify).
//   - ErrOverLimit: the amount is over the platform's face-pay limit.
//   - ErrUnavailable: no valid answer came (connection refused or cut,
//     timeout, HTTP 5xx, an answer that does not parse). Transient. After
//     a Confirm the outcome is unknown: the order may be paid; reverse it
//     (Reverse) until acknowledged.
//   - ErrBadResponse: the answer came but is not a valid answer to the
//     request; it also matches ErrUnavailable (nothing in it is trusted,
//     the outcome is unknown).
//   - ErrBadSignature: the answer is not signed by the platform under
//     the terminal's key for this very request (unsigned, forged, or an
//     answer to another request); it also matches ErrBadResponse and
//     ErrUnavailable. Never an approval.
//   - ErrRejected: the platform refused the request (HTTP 4xx: bad
//     request, our signature or timestamp refused (bad_signature), bad
//     envelope, unknown, expired or used session, an order id reused, a
//     KSN seen before (ksn_reused)); see *RejectedError for its code.
//     Not transient.
//   - ErrNoSession: a refusal (it matches ErrRejected) of a confirm or
//     cancel naming a session the platform does not hold open (code
//     no_session): unknown, expired, already confirmed or cancelled, or
//     forgotten with its decided order. To the sale's one confirm of a
//     session it means that confirm paid nothing: the sale fails (the
//     customer may start again); nothing is to be reversed. It says
//     nothing of an earlier confirm of the session: a confirm whose
//     answer was lost is never sent again to learn its outcome (a repeat
//     may well meet no_session after the platform forgot an order it
//     paid); the order is reversed instead.
//   - ErrReverseExpired: a refusal (it matches ErrRejected) of a Reverse
//     (code reverse_expired): the platform no longer holds the order and
//     cannot tell it was not paid — it paid it and has forgotten it (past
//     its window, as WeChat Pay's REVERSE_EXPIRE), or no longer
//     remembers which of the terminal's forgotten orders it paid. The
//     order may have been paid and can no longer be reversed: asking
//     again changes nothing. The reversal must stop retrying, and the
//     record must say to settle the order with the platform by hand (a
//     refund if it was paid).
//   - ErrAmountMismatch (*AmountMismatchError): a confirm's answer
//     (approved or declined) states another amount or currency than the
//     order's, or none: the platform holds, or charged, something the
//     terminal did not ask. Never an approval. It comes wrapped in
//     ErrBadResponse, so it matches ErrUnavailable: the outcome is
//     unknown (the platform may have charged what it states), and the
//     order must be reversed (Reverse), as after a lost answer. The
//     error names what the platform stated, for the record.
//
// No error text carries an account number, the crop, the envelope, the
// PIN block, the password or a key.
var (
	ErrInvalidRequest = errors.New("facepay: invalid request")
	ErrNoMatch        = errors.New("facepay: no enrolled face matched")
	ErrWrongPassword  = errors.New("facepay: wrong payment password")
	ErrLocked         = errors.New("facepay: account locked after wrong passwords")
	ErrOverLimit      = errors.New("facepay: amount over the face-pay limit")
	ErrUnavailable    = errors.New("facepay: platform unavailable")
	ErrBadResponse    = errors.New("facepay: bad response from platform")
	ErrBadSignature   = errors.New("facepay: answer signature does not verify")
	ErrRejected       = errors.New("facepay: request rejected by platform")
	ErrAmountMismatch = errors.New("facepay: platform states another amount than the order's")
	ErrReverseExpired = errors.New("facepay: platform no longer reverses the order; settle it by hand")
	ErrNoSession      = errors.New("facepay: no open session at the platform")
)

// AmountMismatchError is a confirm's answer that states another amount
// or currency than the order's, or none: the platform holds, or charged,
// something the terminal did not ask.
type AmountMismatchError struct {
	Op, OrderID               string
	Status                    string // the answer's: approved or declined
	PlatformTxnID             string // the answer's, when it names one
	Want, Got                 int64
	WantCurrency, GotCurrency string
}

func (e *AmountMismatchError) Error() string {
	got := fmt.Sprintf("%d %s", e.Got, e.GotCurrency)
	if e.Got == 0 && e.GotCurrency == "" {
		got = "no amount"
	}
	txn := ""
	if e.PlatformTxnID != "" {
		txn = " (platform txn " + e.PlatformTxnID + ")"
	}
	return fmt.Sprintf("facepay: %s of order %s answered %s%s stating %s, the order is %d %s",
		e.Op, e.OrderID, e.Status, txn, got, e.Want, e.WantCurrency)
}

// Is matches ErrAmountMismatch.
func (e *AmountMismatchError) Is(target error) bool { return target == ErrAmountMismatch }

// RejectedError is a refusal by the platform (HTTP 4xx) with its code
// (one of the Code* constants) and reason. It matches the sentinel of its
// code with errors.Is: ErrNoMatch, ErrOverLimit, ErrLocked; ErrNoSession
// and ErrReverseExpired, which match ErrRejected too; and ErrRejected for
// every other code.
type RejectedError struct {
	Op     string
	Status int // HTTP status
	Code   string
	Reason string
}

func (e *RejectedError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("facepay: %s refused by platform: %s", e.Op, e.Code)
	}
	return fmt.Sprintf("facepay: %s refused by platform: %s (%s)", e.Op, e.Code, e.Reason)
}

// Is matches the sentinel of the code.
func (e *RejectedError) Is(target error) bool {
	switch e.Code {
	case CodeNoMatch:
		return target == ErrNoMatch
	case CodeOverLimit:
		return target == ErrOverLimit
	case CodeLocked:
		return target == ErrLocked
	case CodeNoSession:
		return target == ErrNoSession || target == ErrRejected
	case CodeReverseExpired:
		return target == ErrReverseExpired || target == ErrRejected
	}
	return target == ErrRejected
}

// DeclinedError is a declined confirmation: the password was wrong
// (ErrWrongPassword; TriesLeft more tries) or the account is now locked
// (ErrLocked). Confirm returns it together with the declined Result.
type DeclinedError struct {
	Reason    string // ReasonWrongPassword or ReasonLocked
	TriesLeft int
}

func (e *DeclinedError) Error() string {
	if e.Reason == ReasonLocked {
		return "facepay: declined: account locked after wrong passwords"
	}
	return fmt.Sprintf("facepay: declined: wrong payment password, %d tries left", e.TriesLeft)
}

// Is matches ErrLocked or ErrWrongPassword.
func (e *DeclinedError) Is(target error) bool {
	if e.Reason == ReasonLocked {
		return target == ErrLocked
	}
	return target == ErrWrongPassword
}
