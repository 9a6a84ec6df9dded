package barcode

import "errors"

// Reasons a message from the scanner was not delivered as a Scan. They are
// sentinels for errors.Is and never carry the message's content. The
// reader goes on reading after each of them: ask the customer to scan
// again.
var (
	// ErrGarbled: the message held bytes that are not printable text
	// (control characters, invalid UTF-8: noise, a wrong baud rate, a
	// binary symbol), or nothing but a symbology identifier.
	ErrGarbled = errors.New("barcode: garbled symbol")
	// ErrTooLong: the message exceeded Opts.MaxLen bytes; it was
	// discarded up to its suffix.
	ErrTooLong = errors.New("barcode: symbol too long")
)

// ErrHalted: the device was halted.
var ErrHalted = errors.New("barcode: halted")

// PortError is an I/O error of the serial port. It is transient: the
// reader goroutine keeps going after it.
type PortError struct{ Err error }

func (e *PortError) Error() string { return "barcode: port: " + e.Err.Error() }
func (e *PortError) Unwrap() error { return e.Err }
