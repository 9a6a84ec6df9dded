package engauth

import "errors"

// Errors returned by this package, wrapped with %w; decide with errors.Is.
// Messages name a field or a length, never the token, a signature or key
// bytes.
var (
	// ErrMalformed: the token or challenge is not in the format (length,
	// characters, base64url, JSON, version, a field out of its rules).
	ErrMalformed = errors.New("engauth: malformed")

	// ErrSignature: the signature does not verify under the pinned engineer
	// authority (another key, or a tampered payload or signature).
	ErrSignature = errors.New("engauth: signature does not verify")

	// ErrExpired: the token's expiry has passed, or lies further ahead than
	// the verifier's MaxTTL allows.
	ErrExpired = errors.New("engauth: token outside its validity")

	// ErrTerminal: the token is for another terminal or a fleet group this
	// terminal is not in (or the verifier has no terminal id).
	ErrTerminal = errors.New("engauth: token is for another terminal")

	// ErrChallenge: the token answers another challenge (an old one: a
	// replay, or one printed on another terminal).
	ErrChallenge = errors.New("engauth: token answers another challenge")

	// ErrRole: the token's role is not engineer, custodian or admin.
	ErrRole = errors.New("engauth: unknown role")

	// ErrKey: a key file does not hold an Ed25519 key in hex or base64, a
	// key has the wrong length, or the random source failed.
	ErrKey = errors.New("engauth: unusable key")
)
