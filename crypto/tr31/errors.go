package tr31

import "errors"

// Errors returned by this package. Every error is wrapped with %w, so callers
// decide with errors.Is. Error strings never contain key material: at most
// they name a header field, an optional block ID or a length.
var (
	// ErrFormat: the key block is not made of the permitted characters
	// (printable ASCII; upper-case hex in the payload and MAC) or is too
	// short to hold a header, a payload and a MAC.
	ErrFormat = errors.New("tr31: malformed key block")

	// ErrHeader: a field of the 16-character fixed header holds a value the
	// standard does not allow (key usage, algorithm, mode of use, key
	// version, exportability, block count, key context, reserved).
	ErrHeader = errors.New("tr31: invalid header field")

	// ErrUnsupportedVersion: the version ID is not A, B, C or D.
	ErrUnsupportedVersion = errors.New("tr31: unsupported key block version")

	// ErrLength: the length field does not match the key block, or the
	// encrypted payload has a length the version does not allow, or the
	// block would exceed 9999 characters.
	ErrLength = errors.New("tr31: invalid key block length")

	// ErrOptBlock: an optional block is malformed (ID, length, data
	// characters, duplicate ID, padding block not last, total length not a
	// multiple of the cipher block size) or its data does not fit its ID
	// (KS, IK, KC, KP, TS).
	ErrOptBlock = errors.New("tr31: invalid optional block")

	// ErrKBPK: the key block protection key has a length the version cannot
	// use (A/B/C: 16 or 24 bytes TDES; D: 16, 24 or 32 bytes AES).
	ErrKBPK = errors.New("tr31: invalid key block protection key")

	// ErrMAC: the key block MAC does not verify. The block was altered or
	// the KBPK is wrong; the two cannot be told apart.
	ErrMAC = errors.New("tr31: key block MAC verification failed")

	// ErrKeyLength: the wrapped key (or the requested masked length) has a
	// length the header's algorithm does not allow, or the decrypted key
	// length field is inconsistent with the payload.
	ErrKeyLength = errors.New("tr31: invalid key length")

	// ErrKCV: a KC optional block does not match the unwrapped key, or a
	// check value cannot be computed for the algorithm.
	ErrKCV = errors.New("tr31: key check value mismatch")

	// ErrRandom: the random source failed while padding the payload.
	ErrRandom = errors.New("tr31: random source failed")
)
