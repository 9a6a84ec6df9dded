package host

import (
	"errors"
	"fmt"
)

// Errors returned by the acquirer link. The transaction engine decides on
// them with errors.Is:
//
//   - ErrUnreachable: no connection could be made; nothing was sent, so
//     nothing needs reversing. The engine may go offline.
//   - ErrNoResponse: the request was (or may have been) sent and no usable
//     reply arrived in time. The caller must reverse.
//   - ErrBadMAC: a reply arrived but its MAC did not verify; nothing in it is
//     trusted. The caller must reverse.
//   - ErrBadResponse: a reply arrived, its MAC verified (or the message is
//     not MACed), but it is malformed or does not match the request (MTI,
//     STAN, terminal id). The caller must reverse financial requests.
//   - ErrRejected: a network management request (sign-on, echo) was
//     answered with a response code other than "00"; see *RejectedError.
//   - ErrInvalidRequest: the caller's input cannot be encoded; nothing was
//     sent.
//   - ErrClosed: the client was closed.
//   - ErrMalformed: bytes from the wire are not a valid frame or message of
//     Spec (returned by Framer and Decode).
var (
	ErrUnreachable    = errors.New("host: acquirer unreachable")
	ErrNoResponse     = errors.New("host: no response from acquirer")
	ErrBadMAC         = errors.New("host: response MAC does not verify")
	ErrBadResponse    = errors.New("host: bad response from acquirer")
	ErrRejected       = errors.New("host: request rejected by acquirer")
	ErrInvalidRequest = errors.New("host: invalid request")
	ErrClosed         = errors.New("host: client closed")
	ErrMalformed      = errors.New("host: malformed message")
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
