package pinblock

import "errors"

// Errors returned by this package. Callers compare with errors.Is. The
// wrapping messages give lengths and positions only: never PIN digits,
// PIN block bytes, full PANs or key bytes.
var (
	// ErrPINLength means the PIN (given, or encoded in a block) has fewer
	// than 4 or more than 12 digits.
	ErrPINLength = errors.New("pinblock: PIN length must be 4..12 digits")

	// ErrPIN means the PIN given for encoding contains a non-digit.
	ErrPIN = errors.New("pinblock: PIN must be decimal digits")

	// ErrPAN means the PAN is empty, too long (more than 19 digits), too
	// short for the format, or not all decimal digits.
	ErrPAN = errors.New("pinblock: invalid PAN")

	// ErrFormat means a block does not decode as the expected format:
	// wrong control nibble, a non-digit where a PIN digit belongs, or a
	// fill digit the format does not allow. After decryption this is also
	// what a wrong key or a wrong PAN usually produces.
	ErrFormat = errors.New("pinblock: block is not a valid PIN block of this format")

	// ErrBlockLength means a block has the wrong size (8 bytes for formats
	// 0, 1, 2 and 3; 16 bytes for format 4).
	ErrBlockLength = errors.New("pinblock: wrong PIN block length")

	// ErrKeyLength means the key length does not fit the cipher (16 or 24
	// bytes for TDES; 16, 24 or 32 for AES).
	ErrKeyLength = errors.New("pinblock: invalid key length")

	// ErrRandom means the random source failed or returned too little.
	ErrRandom = errors.New("pinblock: random source failed")
)
