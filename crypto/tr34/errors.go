package tr34

import "errors"

// Errors returned by this package, wrapped with %w; decide with errors.Is.
// Messages name structures, algorithms and lengths, never key bytes, the
// content-encryption key or the clear key block.
var (
	// ErrFormat: the token (or random number token) is not the DER
	// structure described in the package comment: not DER, trailing bytes,
	// a missing or repeated field or attribute, too large.
	ErrFormat = errors.New("tr34: malformed token")

	// ErrUnsupported: a version or algorithm outside the subset this
	// package implements (see the package comment).
	ErrUnsupported = errors.New("tr34: unsupported version or algorithm")

	// ErrSigner: the signer's certificate is not in the token, does not
	// chain to a pinned KDH CA at the verification time (an unknown host,
	// an expired or altered certificate), or may not sign.
	ErrSigner = errors.New("tr34: signer not trusted")

	// ErrSignature: the message digest or the signature does not verify:
	// the token was altered after signing.
	ErrSignature = errors.New("tr34: signature does not verify")

	// ErrNonce: the token carries no random number, or not the one this
	// device issued for the exchange (a replayed or misdirected token).
	ErrNonce = errors.New("tr34: random number does not match")

	// ErrRecipient: the token is enveloped for another certificate (a
	// token for another device).
	ErrRecipient = errors.New("tr34: token is for another recipient")

	// ErrDecrypt: the content-encryption key or the content does not
	// decrypt under this device's private key.
	ErrDecrypt = errors.New("tr34: decryption failed")

	// ErrKeyBlock: the decrypted key block is malformed, names another KDH
	// than the signer, or its header differs from the signed one, or the
	// key's length does not fit its algorithm.
	ErrKeyBlock = errors.New("tr34: key block inconsistent")

	// ErrOptions: the options cannot build or open a token (missing key,
	// certificate or pinned roots, a key that is not RSA of 2048 bits or
	// more, a private key that does not match its certificate, a random
	// number of the wrong length, a key that does not fit its header).
	ErrOptions = errors.New("tr34: unusable options")

	// ErrRandom: the random source failed.
	ErrRandom = errors.New("tr34: random source failed")
)
