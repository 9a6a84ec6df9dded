package escpos

import "errors"

// Print and Status return the contract's errors (posd/conn/printer),
// wrapped with %w so errors.Is finds them:
//
//   - printer.ErrPaperOut, ErrCoverOpen, ErrFault: the printer's state
//     stopped the document (before anything was sent, or in the middle:
//     the receipt is incomplete and must be printed again);
//   - printer.ErrNoAnswer: a DLE EOT query got no status byte within
//     Opts.StatusTimeout, or the printer, ready by its status, did not
//     confirm the document within Opts.PrintTimeout.
//
// A document that failed once its first byte was sent is cleared from
// the printer (DLE DC4 fn=8); when the printer does not confirm that,
// the error wraps ErrNotCleared as well.
//
// The errors below are this driver's own.
var (
	// ErrBadStatus: a byte offered as a DLE EOT answer lacks the fixed
	// bits (ParseStatus). The driver itself skips such bytes as noise
	// while it waits for an answer.
	ErrBadStatus = errors.New("escpos: not a status byte")
	// ErrHalted: the device was halted.
	ErrHalted = errors.New("escpos: halted")
	// ErrNotCleared comes with a document's error when the printer did
	// not confirm clearing its buffers (DLE DC4 fn=8): it may hold the
	// rest of the document and print it once it is back on line.
	ErrNotCleared = errors.New("escpos: buffer not cleared: the rest may print when the printer is back on line")
)

// PortError is an I/O error of the serial port (a write that failed).
// The document may be incomplete; the next Print starts over with ESC @.
type PortError struct{ Err error }

func (e *PortError) Error() string { return "escpos: port: " + e.Err.Error() }
func (e *PortError) Unwrap() error { return e.Err }
