package acquirer

import "errors"

// Errors of the acquirer simulator. Request problems never surface as Go
// errors: they become response codes and journal entries (see acquirer.go).
var (
	// ErrConfig: the options are unusable (unknown mode, BDK of the wrong
	// length, bad TPDU).
	ErrConfig = errors.New("acquirer: bad configuration")
	// ErrClosed: Serve was called on a closed server.
	ErrClosed = errors.New("acquirer: server closed")
	// ErrControl: a request to the control endpoint is malformed
	// (ParseFaultSpec); the endpoint answers it 400.
	ErrControl = errors.New("acquirer: bad control request")
	// ErrNoTerminal: Echo was asked for a terminal that has no
	// connection open (none of its requests came on one still open).
	ErrNoTerminal = errors.New("acquirer: no connection of that terminal")
	// ErrEcho: Echo's echo test could not be sent, got no answer in time
	// (or before the connection closed), or an answer of another MTI or
	// that does not decode.
	ErrEcho = errors.New("acquirer: echo test failed")
)
