package sealbox

import "errors"

// Errors of the package. ErrOpen is the one callers decide on: the record
// is damaged or not theirs; it never says which byte.
var (
	// ErrKey: the key is not a 32-byte AES key.
	ErrKey = errors.New("sealbox: bad key")
	// ErrRandom: no nonce could be drawn.
	ErrRandom = errors.New("sealbox: random source failed")
	// ErrOpen: the record does not open (changed, another key or place).
	ErrOpen = errors.New("sealbox: record does not open")
)
