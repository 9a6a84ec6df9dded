package link

import (
	"errors"
	"io"
	"net"

	connection "github.com/moov-io/iso8583-connection"
)

// Errors of a Link. Package host re-exports them under the same names, so
// callers decide with errors.Is on either:
//
//   - ErrUnreachable: no connection could be made, or the call ended before
//     the request was handed to the connection; nothing was sent.
//   - ErrNoResponse: the request was (or may have been) sent and no reply
//     arrived in time, or the connection failed while waiting.
//   - ErrBadResponse: a reply arrived but cannot be used. The link returns
//     it only with ErrUnreadable; package host also for replies that
//     decode but fail its checks. The request may have been taken: the
//     outcome is unknown.
//   - ErrUnreadable: with one request in flight, a frame arrived whole
//     but does not read as a message (or has no usable MTI and STAN): it
//     is taken for that request's answer, garbled. The call ends at once
//     with ErrBadResponse and ErrUnreadable, not at its response timeout,
//     and the connection is dropped.
//   - ErrInvalidRequest: the request could not be encoded; nothing was sent.
//   - ErrClosed: the link was closed.
//
// Error texts never quote message contents: errors from the connection
// module are kept as causes (errors.Is and errors.As reach them) behind a
// text that names only what failed.
var (
	ErrUnreachable    = errors.New("host: acquirer unreachable")
	ErrNoResponse     = errors.New("host: no response from acquirer")
	ErrBadResponse    = errors.New("host: bad response from acquirer")
	ErrUnreadable     = errors.New("host: acquirer's answer does not read as a message")
	ErrInvalidRequest = errors.New("host: invalid request")
	ErrClosed         = errors.New("host: client closed")
)

// quiet keeps an error as the cause while showing only msg: the text of a
// library error may quote field values (card data), its identity is still
// useful to a caller.
type quiet struct {
	msg   string
	cause error
}

func (q *quiet) Error() string { return q.msg }
func (q *quiet) Unwrap() error { return q.cause }

// connErr describes an error of the connection or the socket. Network
// errors and end-of-stream carry no message contents and keep their text;
// anything else from the connection module is shown as "connection failed".
func connErr(err error) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, connection.ErrConnectionClosed):
		return err
	}
	return &quiet{msg: "connection failed", cause: err}
}
