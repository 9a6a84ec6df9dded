package keypad

import "errors"

// Errors returned by the driver. Callers test them with errors.Is.
var (
	// ErrConfig means the pins or the key layout do not fit together.
	ErrConfig = errors.New("keypad: bad configuration")
	// ErrPin wraps a failure to configure or drive a GPIO pin.
	ErrPin = errors.New("keypad: gpio pin error")
	// ErrHalted is returned by Next and CheckScanning while the Dev is
	// halted (after Halt, before Start).
	ErrHalted = errors.New("keypad: halted")
	// ErrStalled is returned (wrapped) by CheckScanning when no scan of
	// the matrix completed in the time it was given: the pins hang or keep
	// failing (the last pin error is wrapped too).
	ErrStalled = errors.New("keypad: scanner stalled")
)
