package pin

import "errors"

// Errors of PIN entry. Callers decide on them with errors.Is. None of them
// ever carries a digit or the number of digits entered.
var (
	// ErrConfig: the options are out of range (Min below 4, Max above 12,
	// Min above Max, a negative Timeout), or Read lacks keys or a Builder.
	ErrConfig = errors.New("pin: bad configuration")
	// ErrBusy: another Read of the same Entry is in progress.
	ErrBusy = errors.New("pin: a PIN entry is already in progress")
	// ErrCancelled: the customer pressed Cancel.
	ErrCancelled = errors.New("pin: cancelled on the PIN pad")
	// ErrTimeout: the entry took longer than Opts.Timeout, or no key was
	// pressed for Opts.InterKeyTimeout after the last one.
	ErrTimeout = errors.New("pin: PIN entry timed out")
	// ErrBypassed: the customer pressed Enter without a digit and the
	// caller allows PIN entry bypass (Opts.AllowBypass). No Builder ran.
	ErrBypassed = errors.New("pin: PIN entry bypassed")
	// ErrKeypad: reading the PIN pad failed (the error is wrapped).
	ErrKeypad = errors.New("pin: PIN pad failed")
	// ErrBuild: the Builder refused the accepted digits (its error is
	// wrapped).
	ErrBuild = errors.New("pin: PIN block could not be built")
	// ErrRateLimited: the PIN pad accepted its maximum of PINs in the
	// window (Opts.Limiter; 120 an hour by default): no prompt is shown
	// and no Builder runs until the oldest leaves the window.
	ErrRateLimited = errors.New("pin: too many PIN entries; PIN entry is paused")
	// ErrStopped: the caller's context ended the entry (its error is
	// wrapped: context.Canceled or context.DeadlineExceeded).
	ErrStopped = errors.New("pin: PIN entry stopped")
)
