package paycode

import "errors"

// Errors of this package, wrapped with %w; decide with errors.Is. No
// message carries the scanned text, a payment code, a PAN, a track or a
// cardholder name: they name tags, field IDs, lengths and positions only.
// Classify returns no error: an unrecognised code is KindUnknown with a
// Reason built the same way.
var (
	// ErrCPM: the text is not an EMV QRCPS consumer-presented code this
	// terminal can use: not base64, not BER-TLV, no payload format
	// indicator "CPV01", no application template, a data object of the
	// wrong length or format, a repeated data object, no PAN.
	ErrCPM = errors.New("paycode: malformed consumer-presented code")

	// ErrMPM: the text is not a well-formed EMV QRCPS merchant-presented
	// payload: bad ID/length framing, a mandatory field missing or
	// malformed, a repeated field.
	ErrMPM = errors.New("paycode: malformed merchant-presented code")

	// ErrCRC: a merchant-presented payload whose CRC (ID 63) does not
	// match its content. Matches ErrMPM too.
	ErrCRC = errors.New("paycode: merchant-presented code CRC mismatch")

	// ErrMerchant: BuildMPM was given a merchant, amount, currency or
	// reference it cannot encode (missing or too long field, characters
	// outside the allowed set, unknown currency, amount not positive).
	ErrMerchant = errors.New("paycode: invalid merchant-presented code request")
)
