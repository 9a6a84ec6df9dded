package console

import (
	"errors"
	"fmt"
)

// Errors of this package, wrapped with %w; decide with errors.Is. None of
// them carries a token, a key component, a key block or card data.
var (
	// ErrConfig: New was given unusable options (no Terminal or DB, a
	// terminal id that is not 1-32 printable characters, a Verifier
	// for another terminal id, a negative IdleTimeout), or Serve a nil rw.
	ErrConfig = errors.New("console: invalid options")
	// ErrBusy: Serve was called for an rw that another Serve is running on
	// (one session at a time per port).
	ErrBusy = errors.New("console: port already served")
	// ErrIO: the port failed (read or write error, end of file). Serve
	// returns it; the caller decides whether to open the port again.
	ErrIO = errors.New("console: port failed")
	// ErrDisconnected (an ErrIO): the other side hung up: end of file,
	// EIO from a pseudo-terminal whose other side closed (or a line the
	// board saw hang up), ENXIO or ENODEV from a device that went away,
	// a broken or closed pipe. The session it
	// ends is audited as disconnected; a new Serve starts logged out.
	ErrDisconnected = fmt.Errorf("%w: disconnected", ErrIO)
	// ErrSchema: the database holds this package's buckets in a newer (or
	// unknown) schema. Fatal: this build cannot know what they mean.
	ErrSchema = errors.New("console: unsupported schema version")
	// ErrDamaged: this package's stored state (lockout state, an audit
	// entry) does not decode.
	ErrDamaged = errors.New("console: stored state damaged")
	// ErrStorage: a bbolt transaction failed (closed database, full disk).
	// The console fails closed on it: no login without the lockout state,
	// no command that could not be audited.
	ErrStorage = errors.New("console: storage failed")
)
