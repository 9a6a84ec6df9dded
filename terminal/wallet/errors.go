package wallet

import (
	"context"
	"errors"
	"fmt"
)

// Errors of the package. Callers decide on them with errors.Is:
//
//   - ErrInvalidRequest: the caller's input is not valid (platform, order
//     id, amount, currency, code, refund id); nothing was sent.
//   - ErrNotSent: the request never left the terminal: no connection to
//     the platform could be made (the dial failed, connection refused, no
//     DNS answer, the TLS handshake failed), so no byte of it was written.
//     Nothing reached the platform and nothing was done: a Pay took no
//     payment (the sale fails, there is nothing to cancel), a Refund gave
//     nothing back (failed, not pending), a query or cancel learned or
//     did nothing. Not an unknown outcome (OutcomeUnknown is false).
//   - ErrUnreachable: no answer came (the connection cut or reset once
//     the request was on its way, a timeout waiting for the answer): the
//     request may or may not have reached the platform. After a Pay the
//     outcome is unknown: resolve it.
//   - ErrBadResponse: an answer came but it is not a valid, correctly
//     signed answer to the request; nothing in it is trusted. After a Pay
//     the outcome is unknown: resolve it. An unsigned bad_signature
//     refusal (the platform cannot sign it: it does not know our key) is
//     a refusal (ErrRejected) of a query, cancel or precreate, but this
//     of a pay or a refund, which it may not have refused.
//   - ErrSystemError: the platform answered, signed, that it failed
//     (code system_error, or any HTTP 5xx): it refused nothing and may
//     have executed the request. After a Pay the outcome is unknown:
//     resolve it; a query or cancel answered so is asked again.
//   - ErrTooFrequent: the platform refused the request as too frequent
//     (its per-terminal rate limit); try later, more slowly.
//   - ErrNotFound: the platform has no order of that id (a query or
//     cancel of a pay it never received).
//   - ErrRejected: the platform refused the request (bad signature, an
//     order id reused for another payment, a refund over the paid
//     amount...); see *RejectedError for its code. Not transient.
//   - ErrUnresolved: a Resolver could neither learn the outcome nor
//     cancel the payment within its schedule; the payment stays unknown
//     and must be kept (and cancelled later) by the caller.
//   - ErrAmountMismatch (*AmountMismatchError): the platform's answer
//     states another amount or currency than the order's, or none on a
//     paid (or payable) order: the platform holds, or charged, something
//     the terminal did not ask. Never an approval. From Pay, Precreate or
//     Query it comes wrapped in ErrBadResponse (an answer not trusted,
//     the outcome unknown: resolve it); the Resolver then cancels the
//     order and returns the mismatch alone with the cancel's result
//     (closed, or refunded when it was paid): the sale failed and was
//     undone, no unknown outcome. With ErrUnresolved when that cancel did
//     not get through.
//
// OutcomeUnknown tells the errors after which a payment's outcome is
// unknown. No error text carries a payment code.
var (
	ErrInvalidRequest = errors.New("wallet: invalid request")
	ErrNotSent        = errors.New("wallet: platform not reachable, request not sent")
	ErrUnreachable    = errors.New("wallet: platform unreachable")
	ErrBadResponse    = errors.New("wallet: bad response from platform")
	ErrSystemError    = errors.New("wallet: platform system error, outcome unknown")
	ErrTooFrequent    = errors.New("wallet: platform answered too frequent")
	ErrNotFound       = errors.New("wallet: order not found at platform")
	ErrRejected       = errors.New("wallet: request rejected by platform")
	ErrUnresolved     = errors.New("wallet: payment outcome unresolved")
	ErrAmountMismatch = errors.New("wallet: platform states another amount than the order's")
)

// AmountMismatchError is an answer stating another amount or currency
// than the order's.
type AmountMismatchError struct {
	Op, OrderID               string
	Want, Got                 int64
	WantCurrency, GotCurrency string
}

func (e *AmountMismatchError) Error() string {
	return fmt.Sprintf("wallet: %s of order %s: the platform states %d %s, the order is %d %s",
		e.Op, e.OrderID, e.Got, e.GotCurrency, e.Want, e.WantCurrency)
}

// Is matches ErrAmountMismatch.
func (e *AmountMismatchError) Is(target error) bool { return target == ErrAmountMismatch }

// RejectedError is a refusal by the platform with its code (one of the
// Code* constants) and reason. It matches ErrRejected (ErrNotFound for
// CodeNotFound, ErrTooFrequent for CodeTooFrequent) with errors.Is.
type RejectedError struct {
	Op     string
	Code   string
	Reason string
}

func (e *RejectedError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("wallet: %s rejected by platform: %s", e.Op, e.Code)
	}
	return fmt.Sprintf("wallet: %s rejected by platform: %s (%s)", e.Op, e.Code, e.Reason)
}

// Is matches the sentinel of the code.
func (e *RejectedError) Is(target error) bool {
	switch e.Code {
	case CodeNotFound:
		return target == ErrNotFound
	case CodeTooFrequent:
		return target == ErrTooFrequent
	}
	return target == ErrRejected
}

// OutcomeUnknown reports whether err, returned by Pay (or Cancel), leaves
// the payment's outcome unknown: the platform may have taken it; returned
// by Refund, that the refund may have been made: the record of it must
// stay unknown (not failed) and the refund be asked again with the same
// refund id, which the platform never executes twice — never be made
// another way, which would give the money back twice. The client's result
// with such an error has StatusUnknown. A call
// cut short by its context (posd stopping while the customer confirms on
// the phone) is unknown too: the order may have reached the platform, and
// the customer may still pay it. A request that never left (ErrNotSent)
// has a known outcome: nothing was done, even when its context ended
// while the connection was being made.
func OutcomeUnknown(err error) bool {
	if errors.Is(err, ErrUnresolved) {
		return true
	}
	if errors.Is(err, ErrNotSent) {
		return false
	}
	return errors.Is(err, ErrUnreachable) || errors.Is(err, ErrBadResponse) || errors.Is(err, ErrSystemError) ||
		errors.Is(err, ErrUnresolved) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
