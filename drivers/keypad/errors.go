package keypad

import "errors"

// Errors returned by the driver.
var (
	// ErrConfig means the pins or the key layout do not fit together.
	ErrConfig = errors.New("keypad: bad configuration")
	// ErrPin wraps a failure to configure or drive a GPIO pin.
	ErrPin = errors.New("keypad: gpio pin error")
)
