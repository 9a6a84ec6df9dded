// Package facepay is the terminal's client of the face-pay platform.
//
// A face payment, as terminal/txn runs it: the terminal checks liveness
// locally, seals the best face crop (a 160x160 JPEG held in memory) to
// the platform's pinned X25519 key with crypto/faceseal, the associated
// data binding it to the sale (AAD: terminal id "|" order id "|" amount
// "|" currency), and sends the envelope with the amount (Identify). The
// platform opens it, matches the face against its enrolled customers and
// answers a Candidate: a session and the account masked for the display
// (never the account number). The customer types the 6-digit payment
// password on the PIN pad; it is enciphered like an online PIN
// (terminal/wiresec EncryptPINDigits: ISO 9564 format 0 under TDES
// DUKPT, format 4 under AES DUKPT) bound to PasswordBinding of the
// terminal, session, order and amount in the PAN's place, and sent with
// the KSN, the order and the amount (Confirm). The platform answers
// approved, or declined (wrong password, TriesLeft; or locked), stating
// the amount and currency it charged or holds the order at: an answer
// stating another, or none, is no approval (ErrAmountMismatch, the
// outcome unknown: the order is reversed); a
// session takes one confirm, and a KSN the platform has seen before is
// refused, so a recorded PIN block pays nothing again. Cancel ends a
// session the customer gave up (or that was declined); Reverse takes
// back an order whose Confirm got no answer.
//
// HTTPClient speaks the platform's HTTP+JSON protocol (the simulator,
// cmd/acquirer-sim/facepay, documents it): POST {base}/face/v1/identify,
// confirm, cancel, reverse. Every request is signed with the terminal's
// HMAC key and a timestamp (terminal/linksig, the wallet link's scheme:
// HeaderTerminal, HeaderTimestamp, HeaderSignature); every answer must be
// signed by the platform under the same key and bound to its request's
// signature, or nothing in it is trusted (ErrBadSignature). Answers are
// then parsed strictly (size limits, unknown fields refused, every field
// checked).
//
// The face crop never reaches this package in the clear: only its
// envelope. No account number reaches it at all: an answer carrying one
// is refused, and a masked account must show at most 10 digits.
package facepay

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Client is the face-pay platform as the sale sees it.
type Client interface {
	// Identify sends the sealed crop with the order; the platform
	// answers the candidate account, or ErrNoMatch, ErrOverLimit,
	// ErrLocked, ErrRejected (bad envelope...), ErrUnavailable.
	Identify(ctx context.Context, r IdentifyRequest) (Candidate, error)
	// Confirm sends the payment password's PIN block: an approved
	// Result, or a declined one with ErrWrongPassword (TriesLeft) or
	// ErrLocked; ErrUnavailable leaves the outcome unknown (Reverse). An
	// answer that does not state the order's amount and currency is
	// ErrAmountMismatch, with ErrUnavailable: never an approval.
	Confirm(ctx context.Context, r ConfirmRequest) (Result, error)
	// Cancel ends a session the sale will not confirm (again): the
	// customer or the cashier gave up before the password, or the
	// password was declined.
	Cancel(ctx context.Context, session string) error
	// Reverse takes back the order: reversed when it was approved,
	// cancelled when it was not (or never reached the platform), the
	// Result stating the amount and currency given back or closed. Safe
	// to repeat. ErrReverseExpired: the platform no longer reverses it
	// (it may have been paid): stop, and settle it by hand.
	Reverse(ctx context.Context, orderID string) (Result, error)
}

// IdentifyRequest is an identify: the order and the sealed crop.
type IdentifyRequest struct {
	OrderID  string // 1-32 letters and digits, the sale's order id at the platform
	Amount   int64  // minor units
	Currency string // ISO 4217, "156" or "CNY"
	// Sealed is the faceseal envelope of the JPEG crop, sealed with
	// AAD(terminal id, OrderID, Amount, Currency).
	Sealed []byte
	// Liveness are the scores of the local liveness check, for the
	// platform's risk rules (at most MaxLiveness, finite).
	Liveness map[string]float64
	// Challenge is the liveness challenge the customer met (ValidChallenge).
	Challenge string
	// ConsentAt is when the customer consented (required).
	ConsentAt time.Time
}

// Validate checks r before it is sent.
func (r IdentifyRequest) Validate() error {
	switch {
	case !ValidID(r.OrderID):
		return fmt.Errorf("%w: order id must be 1 to 32 letters and digits", ErrInvalidRequest)
	case r.Amount <= 0:
		return fmt.Errorf("%w: amount must be more than 0", ErrInvalidRequest)
	case !ValidCurrency(r.Currency):
		return fmt.Errorf("%w: currency must be 3 digits or 3 letters", ErrInvalidRequest)
	case len(r.Sealed) == 0 || len(r.Sealed) > MaxSealed:
		return fmt.Errorf("%w: sealed crop of %d bytes", ErrInvalidRequest, len(r.Sealed))
	case !ValidLiveness(r.Liveness):
		return fmt.Errorf("%w: liveness scores", ErrInvalidRequest)
	case !ValidChallenge(r.Challenge):
		return fmt.Errorf("%w: challenge", ErrInvalidRequest)
	case r.ConsentAt.IsZero():
		return fmt.Errorf("%w: no consent time", ErrInvalidRequest)
	}
	return nil
}

// Candidate is the platform's answer to an identify: a session handle
// and the account masked for the display, never the account number.
type Candidate struct {
	// Session names the identification in Confirm and Cancel.
	Session string
	// Masked is what the display shows, e.g. "6230 **** 0012" (at most
	// 10 digits: ValidMasked).
	Masked string
}

// String implements fmt.Stringer.
func (c Candidate) String() string {
	return fmt.Sprintf("candidate{session %s, account %s}", c.Session, c.Masked)
}

// GoString implements fmt.GoStringer (%#v).
func (c Candidate) GoString() string {
	return fmt.Sprintf("facepay.Candidate{Session:%q, Masked:%q}", c.Session, c.Masked)
}

// LogValue implements slog.LogValuer.
func (c Candidate) LogValue() slog.Value {
	return slog.GroupValue(slog.String("session", c.Session), slog.String("masked", c.Masked))
}

// ConfirmRequest is a confirm: the session, its order and amount, and
// the encrypted payment password.
type ConfirmRequest struct {
	Session  string
	OrderID  string
	Amount   int64  // minor units: the identify's
	Currency string // the identify's
	// PINBlock is the encrypted PIN block of the password bound to
	// PasswordBinding(terminal id, Session, OrderID, Amount, Currency)
	// (8 bytes format 0, 16 bytes format 4).
	PINBlock []byte
	// KSN is the DUKPT key serial number of the PIN block's key (10
	// bytes TDES, 12 bytes AES).
	KSN []byte
}

// Validate checks r before it is sent.
func (r ConfirmRequest) Validate() error {
	switch {
	case !ValidSession(r.Session):
		return fmt.Errorf("%w: session must be 1 to 64 letters and digits", ErrInvalidRequest)
	case !ValidID(r.OrderID):
		return fmt.Errorf("%w: order id must be 1 to 32 letters and digits", ErrInvalidRequest)
	case r.Amount <= 0:
		return fmt.Errorf("%w: amount must be more than 0", ErrInvalidRequest)
	case !ValidCurrency(r.Currency):
		return fmt.Errorf("%w: currency must be 3 digits or 3 letters", ErrInvalidRequest)
	case len(r.PINBlock) != 8 && len(r.PINBlock) != 16:
		return fmt.Errorf("%w: PIN block of %d bytes", ErrInvalidRequest, len(r.PINBlock))
	case len(r.KSN) != 10 && len(r.KSN) != 12:
		return fmt.Errorf("%w: KSN of %d bytes", ErrInvalidRequest, len(r.KSN))
	}
	return nil
}

// Result is the platform's outcome of a Confirm or Reverse.
type Result struct {
	Status        string // StatusApproved, StatusDeclined; StatusReversed, StatusCancelled (Reverse)
	Reason        string // a declined one's: ReasonWrongPassword or ReasonLocked
	PlatformTxnID string
	TriesLeft     int // declined: wrong passwords still allowed before the lock
	// Amount (minor units) and Currency are what the platform states it
	// holds the order at: what it charged (approved), what it gave back
	// (reversed), what it closed (cancelled; none for an order it never
	// had).
	Amount   int64
	Currency string
}
