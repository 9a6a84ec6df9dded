package tdes

import "errors"

// ErrKeyLength: the key is neither 16 nor 24 bytes. Returned wrapped with
// the length found (never the key bytes); compare with errors.Is.
var ErrKeyLength = errors.New("tdes: key must be 16 or 24 bytes")
