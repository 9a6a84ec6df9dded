package linksig

import "errors"

// Errors of the package. Callers decide on them with errors.Is:
//
//   - ErrBadSignature: the signature does not verify under the key (a
//     forged or damaged request or answer, the wrong key, an answer to
//     another request). Nothing in the message is trusted.
//   - ErrBadTimestamp: the timestamp header is not decimal unix seconds.
//   - ErrStale: the timestamp is more than the window off the receiver's
//     clock (a replay, or a clock that needs setting).
//
// No error text carries a key or a signature.
var (
	ErrBadSignature = errors.New("linksig: signature does not verify")
	ErrBadTimestamp = errors.New("linksig: bad timestamp")
	ErrStale        = errors.New("linksig: timestamp outside the window")
)
