package mac

import "errors"

// Errors returned by this package. Callers compare with errors.Is; the
// wrapping message never carries key bytes or message contents.
var (
	// ErrKeyLength means a key has a length the chosen algorithm does not
	// accept (for example a 12-byte TDES key or a 20-byte AES key).
	ErrKeyLength = errors.New("mac: invalid key length")

	// ErrPadding means an unknown Padding value was asked for.
	ErrPadding = errors.New("mac: unknown padding method")

	// ErrAlgorithm means an unknown algorithm name was given to KCV.
	ErrAlgorithm = errors.New("mac: unknown algorithm")
)
