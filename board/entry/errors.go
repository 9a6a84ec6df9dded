package entry

import (
	"errors"
	"fmt"
)

// Errors of Read. The first three mean a card was presented that cannot be
// used: the caller asks for it (or another) again.
var (
	// ErrUnreadable: a card was presented but could not be read (a
	// damaged stripe, a chip that does not answer).
	ErrUnreadable = errors.New("entry: card unreadable")
	// ErrUnsupportedCard: a card in the field is not a payment card
	// (not ISO 14443-4).
	ErrUnsupportedCard = errors.New("entry: card not supported")
	// ErrCollision: more than one card answered in the contactless field
	// (two of one type, or a type A and a type B card, as in a wallet
	// tapped whole); none was read. The caller asks the holder to present
	// one card only (EMV Book A/D collision detection). Read reports one
	// collision once: while the same cards stay, the next Read waits
	// without reporting it again, and reads the card that is left once
	// the others are taken away. It wraps ErrUnreadable, so a caller that
	// knows only that asks for the card again.
	ErrCollision = fmt.Errorf("%w: more than one card in the field, present one card only", ErrUnreadable)
	// ErrNoReader: no reader of the requested modes is there, or every
	// one failed.
	ErrNoReader = errors.New("entry: no card reader available")
)
