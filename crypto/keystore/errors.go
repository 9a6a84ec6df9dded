package keystore

import "errors"

// Errors returned by this package, wrapped with %w; decide with errors.Is.
// Messages name entries and files, never key bytes.
var (
	// ErrNotFound: no entry of that name.
	ErrNotFound = errors.New("keystore: no such entry")

	// ErrName: the entry name is empty, too long or not printable ASCII.
	ErrName = errors.New("keystore: invalid entry name")

	// ErrKEK: the KEK is not a 32-byte AES key.
	ErrKEK = errors.New("keystore: invalid KEK")

	// ErrWrongKEK: the store was created under another KEK (its recorded
	// check value differs).
	ErrWrongKEK = errors.New("keystore: KEK does not match the store")

	// ErrKEKFile: the KEK file has permissions looser than 0600, is not a
	// regular file, or does not hold exactly 32 bytes.
	ErrKEKFile = errors.New("keystore: unusable KEK file")

	// ErrCorrupt: a stored block does not verify under the KEK (tampered
	// database or wrong KEK) or is not bound to its name. Wraps the tr31
	// error.
	ErrCorrupt = errors.New("keystore: stored entry does not verify")

	// ErrKind: a key was asked for as a secret or the other way round.
	ErrKind = errors.New("keystore: entry is of the other kind")

	// ErrUsage: Import was given a KBPK entry whose key usage does not
	// allow unwrapping key blocks (must be K0 or K1, mode B, D or N).
	ErrUsage = errors.New("keystore: key usage does not allow this operation")

	// ErrImport: the TR-31 block given to Import does not unwrap under the
	// named KBPK. Wraps the tr31 error (tr31.ErrMAC for a wrong KBPK or a
	// tampered block).
	ErrImport = errors.New("keystore: key block import failed")

	// ErrSchema: the meta bucket records a schema version this code does
	// not know.
	ErrSchema = errors.New("keystore: unknown schema version")

	// ErrTooLarge: a secret larger than MaxSecret bytes.
	ErrTooLarge = errors.New("keystore: secret too large")
)
