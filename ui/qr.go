package ui

import (
	"errors"
	"fmt"

	qrcode "github.com/skip2/go-qrcode"
)

// ErrQR: a payload cannot be drawn as a QR code (empty or too long).
var ErrQR = errors.New("ui: payload cannot be drawn as a QR code")

// QRPNG draws payload as a QR code in a PNG of size x size pixels, for
// the customer display (a merchant-presented code the customer scans
// with a phone). Error correction level M (15 %) survives the glare and
// the angle of a phone held over a screen; the quiet zone of four
// modules is included. The payload is not secret (it names the merchant,
// the amount and the order) but it is never logged here.
func QRPNG(payload string, size int) ([]byte, error) {
	if payload == "" || size < 64 || size > 2048 {
		return nil, fmt.Errorf("%w: empty payload or size out of 64..2048", ErrQR)
	}
	b, err := qrcode.Encode(payload, qrcode.Medium, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrQR, err)
	}
	return b, nil
}
