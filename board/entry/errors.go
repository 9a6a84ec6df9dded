package entry

import "errors"

// Errors of Read. The first two mean a card was presented that cannot be
// used: the caller asks for it (or another) again.
var (
	// ErrUnreadable: a card was presented but could not be read (a
	// damaged stripe, a chip that does not answer).
	ErrUnreadable = errors.New("entry: card unreadable")
	// ErrUnsupportedCard: a card in the field is not a payment card
	// (not ISO 14443-4).
	ErrUnsupportedCard = errors.New("entry: card not supported")
	// ErrNoReader: no reader of the requested modes is there, or every
	// one failed.
	ErrNoReader = errors.New("entry: no card reader available")
)
