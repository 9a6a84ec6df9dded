package icc

import "errors"

// Errors of the package. None carries card data (PAN, track 2
// equivalent, PIN, keys): only tag names, lengths and states.
var (
	// ErrRemoved: the card was taken out of the field or the slot; a
	// reader sees it mute.
	ErrRemoved = errors.New("icc: card removed")

	// ErrProfile: a card profile cannot be personalised (a missing key,
	// a malformed data object list, a record too long for a short APDU).
	ErrProfile = errors.New("icc: invalid card profile")

	// ErrTags: ACInput was given tags that are missing or of the wrong
	// length, or an issuer application data it cannot read.
	ErrTags = errors.New("icc: cryptogram input tags missing or malformed")

	// ErrCVN: a cryptogram version the package does not know.
	ErrCVN = errors.New("icc: unknown cryptogram version")
)
