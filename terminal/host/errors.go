package host

import (
	"errors"
	"fmt"

	"posd/terminal/host/link"
)

// Errors returned by the acquirer client, its dialects and framers. The
// transaction engine decides on them with errors.Is:
//
//   - ErrUnreachable: no connection could be made; nothing was sent, so
//     nothing needs reversing. The engine may go offline.
//   - ErrNoResponse: the request was (or may have been) sent and no usable
//     reply arrived in time. The caller must reverse.
//   - ErrBadMAC: a reply arrived but its MAC did not verify; nothing in it is
//     trusted. The caller must reverse.
//   - ErrBadResponse: a reply arrived, its MAC verified (or the message is
//     not MACed), but it is malformed or does not match the request (MTI,
//     STAN, terminal id, amount); or, with ErrUnreadable, it did not even
//     read as a message. The caller must reverse financial requests.
//   - ErrUnreadable: the frame that came while the request was in flight
//     does not read as a message of the dialect; it is taken for the
//     request's answer, garbled. Always with ErrBadResponse: the outcome
//     is unknown. The call ends when the frame arrives, not at the
//     response timeout, and the link drops the connection.
//   - ErrRejected: a network management request (sign-on, echo) was
//     answered with a response code other than "00"; see *RejectedError.
//   - ErrInvalidRequest: the caller's input cannot be encoded; nothing was
//     sent.
//   - ErrClosed: the client was closed.
//   - ErrMalformed: bytes from the wire are not a valid frame or message of
//     the dialect (returned by framers, Dialect.Decode and
//     Dialect.DecodeRequest/DecodeResponse).
//   - ErrUnsupported: a message type the dialect does not map (yet).
//   - ErrUnknownDialect: LookupDialect was given a name no dialect has.
//
// ErrUnreachable, ErrNoResponse, ErrBadResponse, ErrUnreadable,
// ErrInvalidRequest and ErrClosed are the errors of package link, so errors.Is matches them from either package.
//
// No error text carries card data. Where an error of the iso8583 module
// (whose texts may quote field values) is the cause, it stays reachable
// with errors.Is/errors.As, but the text shows only which field failed,
// following the safe-error pattern of that module.
var (
	ErrUnreachable    = link.ErrUnreachable
	ErrNoResponse     = link.ErrNoResponse
	ErrInvalidRequest = link.ErrInvalidRequest
	ErrClosed         = link.ErrClosed
	ErrBadResponse    = link.ErrBadResponse
	ErrUnreadable     = link.ErrUnreadable

	ErrBadMAC         = errors.New("host: response MAC does not verify")
	ErrRejected       = errors.New("host: request rejected by acquirer")
	ErrMalformed      = errors.New("host: malformed message")
	ErrUnsupported    = errors.New("host: message type not supported by the dialect")
	ErrUnknownDialect = errors.New("host: unknown dialect")
)

// RejectedError carries the response code of a rejected network management
// request. It matches ErrRejected with errors.Is.
type RejectedError struct {
	MTI          string
	ResponseCode string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("host: %s rejected with response code %q", e.MTI, e.ResponseCode)
}

// Is reports whether target is ErrRejected.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// safeError shows msg and keeps cause for errors.Is/errors.As: the text of
// cause may quote field values and is never printed.
type safeError struct {
	msg   string
	cause error
}

func (e *safeError) Error() string { return e.msg }
func (e *safeError) Unwrap() error { return e.cause }

// safe wraps a library error behind a text free of message contents.
func safe(cause error, format string, args ...any) error {
	if cause == nil {
		return nil
	}
	return &safeError{msg: fmt.Sprintf(format, args...), cause: cause}
}
