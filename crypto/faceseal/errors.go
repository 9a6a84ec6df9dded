package faceseal

import "errors"

// Errors of the package; callers decide on them with errors.Is. No error
// text carries key bytes, the shared secret or any plaintext.
var (
	// ErrKey: a key is missing, not an X25519 key, or cannot be parsed
	// (ParsePublicKey, ParsePrivateKey); or a public key to seal to is
	// of small order (no shared secret) or not canonically encoded.
	ErrKey = errors.New("faceseal: bad key")
	// ErrEnvelope: the bytes are not an envelope of this package: too
	// short or an unknown version byte.
	ErrEnvelope = errors.New("faceseal: not a sealed envelope")
	// ErrOpen: the envelope does not authenticate: it was altered (any
	// byte of the ephemeral key, nonce, ciphertext or tag; an ephemeral
	// key of small order gives no shared secret), sealed to another key,
	// or the associated data differ.
	ErrOpen = errors.New("faceseal: envelope does not open")
	// ErrRand: the randomness source failed while sealing.
	ErrRand = errors.New("faceseal: randomness source failed")
	// ErrPlaintext: the plaintext to seal is empty or over MaxPlaintext.
	ErrPlaintext = errors.New("faceseal: bad plaintext")
)
