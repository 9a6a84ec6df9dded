// Package apdu is the contract between card readers and the EMV kernel: a
// reader that holds one activated card (contact: powered up, contactless:
// selected ISO 14443-4 target) exchanges command APDUs for response APDUs.
//
// The PN532 (contactless) and the TDA8029 (contact) drivers satisfy
// Transceiver; terminal/emv talks to a card only through it.
package apdu

import (
	"context"
	"errors"
)

// Transceiver exchanges one command APDU (ISO 7816-4 C-APDU) for one
// response APDU (data followed by SW1 SW2). Transport-level procedure
// bytes (T=0 61xx/6Cxx handling left to the kernel) are not hidden.
type Transceiver interface {
	Transmit(ctx context.Context, capdu []byte) (rapdu []byte, err error)
}

// Presence is implemented by readers that can tell whether a card is still
// there (in the slot, in the field) without disturbing it.
type Presence interface {
	CardPresent(ctx context.Context) (bool, error)
}

// ErrCardRemoved is returned (wrapped) by a Transceiver whose card left
// the slot or field during or before the exchange.
var ErrCardRemoved = errors.New("apdu: card removed")

// MinResponse is the length of the shortest valid response: SW1 SW2.
const MinResponse = 2

// SW returns the status word of a response APDU, or 0 when r is shorter
// than two bytes.
func SW(r []byte) uint16 {
	if len(r) < MinResponse {
		return 0
	}
	return uint16(r[len(r)-2])<<8 | uint16(r[len(r)-1])
}

// Data returns the response data without the status word.
func Data(r []byte) []byte {
	if len(r) < MinResponse {
		return nil
	}
	return r[:len(r)-2]
}
