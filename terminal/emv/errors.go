package emv

import (
	"errors"
	"fmt"

	"posd/conn/apdu"
)

// Errors returned by this package. They are sentinel values returned
// wrapped with context (compare with errors.Is); no message carries card
// data: PANs, tracks, names, expiry dates and PIN blocks are never quoted,
// and APDUs appear only as their header and length, or in full for the
// commands that cannot carry card data (see Divergence).
//
// Start returns a non-nil Session with OutcomeEndApplication together
// with one of the card errors below; the Session still has its Summary
// (TVR, TSI) for the record.
var (
	// ErrCardRemoved: the card left the field or slot, or the reader
	// failed while the card was being read (the transport error stays
	// reachable with errors.Is, apdu.ErrCardRemoved included). After an
	// online request the sale must be reversed when the host approved.
	ErrCardRemoved = errors.New("emv: card removed")

	// ErrCardBlocked: the card answered SELECT with 6A81 (function not
	// supported: card blocked).
	ErrCardBlocked = errors.New("emv: card blocked")

	// ErrAppBlocked: every application the terminal and the card share is
	// blocked (SELECT answered 6283).
	ErrAppBlocked = errors.New("emv: application blocked")

	// ErrNoApplication: the card has no application the terminal
	// supports, or every candidate failed.
	ErrNoApplication = errors.New("emv: no supported application")

	// ErrDataMissing: a data object the kernel must have is missing (AIP,
	// AFL, PAN, expiry date, CDOL1, CDOL2, the cryptogram...). The
	// transaction is terminated.
	ErrDataMissing = errors.New("emv: mandatory card data missing")

	// ErrFormat: a card response is malformed: bad BER-TLV, wrong template,
	// a data object of the wrong length, a repeated data object, an AFL
	// that makes no sense, a cryptogram type the terminal did not allow,
	// a CDOL asking for more data than one command carries (255 bytes).
	// The transaction is terminated.
	ErrFormat = errors.New("emv: malformed card response")

	// ErrStatus: the card answered a command with a status word the kernel
	// cannot go on with. The transaction is terminated.
	ErrStatus = errors.New("emv: unexpected status word")

	// ErrSeePhone: a contactless device (a phone or a watch) wants its
	// holder to confirm on it before it pays (GET PROCESSING OPTIONS
	// 6986 for kernels 3 and 7; for kernel 2 an AAC whose POS cardholder
	// interaction information, DF4B, asks for on-device cardholder
	// verification). Nothing was approved or declined: the caller shows
	// "see phone" and asks for the same device again (EMV Book A's Try
	// Again, Book C-2's restart at Start B). The Session's Reason is
	// ReasonSeePhone.
	ErrSeePhone = errors.New("emv: see phone: confirm on the device, then present it again")

	// ErrServiceNotAllowed: the cryptogram information data said "service
	// not allowed".
	ErrServiceNotAllowed = errors.New("emv: service not allowed by the card")

	// ErrCancelled: the UI returned an error (the cardholder cancelled) or
	// the context ended.
	ErrCancelled = errors.New("emv: cancelled")

	// ErrPINBypass is what UI.OfflinePIN and OnlinePINEntry.OnlinePIN
	// return when the cardholder bypasses PIN entry.
	ErrPINBypass = errors.New("emv: PIN entry bypassed")

	// ErrState: a Session method was called out of order (Complete twice,
	// Complete without an online request).
	ErrState = errors.New("emv: session not in the right state")

	// ErrParams: the parameter file or a Config is invalid.
	ErrParams = errors.New("emv: invalid parameters")

	// ErrTLV: bytes are not valid BER-TLV (returned by ParseTLV).
	ErrTLV = errors.New("emv: malformed BER-TLV")

	// ErrDOL: a data object list is malformed.
	ErrDOL = errors.New("emv: malformed data object list")

	// ErrTrace: a trace file is malformed.
	ErrTrace = errors.New("emv: malformed trace")

	// ErrDiverged: the replayed card received a command other than the
	// one recorded; see *Divergence.
	ErrDiverged = errors.New("emv: card diverged from the trace")
)

// Divergence is the error of a replayed card whose command differs from
// the recording. Commands are shown in full except the data of VERIFY,
// CHANGE/UNBLOCK PIN and proprietary-class commands, which may carry PIN
// blocks, shown as their length.
type Divergence struct {
	Index     int    // index of the exchange in the trace
	Want      []byte // the recorded command (nil: the trace has no more exchanges)
	Got       []byte // the command the kernel sent
	Exhausted bool   // the trace has no exchange left
}

func (d *Divergence) Error() string {
	if d.Exhausted {
		return fmt.Sprintf("%v: exchange %d: the trace has no more exchanges, kernel sent %s", ErrDiverged, d.Index, safeAPDU(d.Got))
	}
	return fmt.Sprintf("%v: exchange %d: recorded %s, kernel sent %s", ErrDiverged, d.Index, safeAPDU(d.Want), safeAPDU(d.Got))
}

// Unwrap makes errors.Is(err, ErrDiverged) true.
func (d *Divergence) Unwrap() error { return ErrDiverged }

// removed wraps a transport error as ErrCardRemoved, keeping the cause.
func removed(step string, cause error) error {
	if errors.Is(cause, apdu.ErrCardRemoved) {
		return fmt.Errorf("%w: %s: %w", ErrCardRemoved, step, cause)
	}
	return fmt.Errorf("%w: %s: transport: %w", ErrCardRemoved, step, cause)
}

// statusErr reports an unexpected status word.
func statusErr(step string, sw uint16) error {
	return fmt.Errorf("%w: %s answered %04X", ErrStatus, step, sw)
}
