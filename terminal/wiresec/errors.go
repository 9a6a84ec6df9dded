package wiresec

import (
	"errors"
	"fmt"
)

// Errors of this package. None of them ever carries key bytes, clear data,
// PINs or PIN blocks; KSNs are public and may appear.
var (
	// ErrMode: the mode is neither "aes" nor "tdes".
	ErrMode = errors.New("wiresec: unknown mode")
	// ErrKSN: the KSN does not fit the mode (12 bytes for aes, 10 for tdes)
	// or is not a valid transaction KSN.
	ErrKSN = errors.New("wiresec: invalid KSN")
	// ErrKey: a key could not be derived (wrong length, bad BDK).
	ErrKey = errors.New("wiresec: key derivation failed")
	// ErrBadMAC: a MAC does not verify. Returned as *MACError.
	ErrBadMAC = errors.New("wiresec: MAC does not verify")
	// ErrCiphertext: encrypted data has a wrong length or its padding is
	// wrong after decryption (wrong key or damaged data).
	ErrCiphertext = errors.New("wiresec: bad ciphertext")
	// ErrPlaintext: data to encrypt is empty or too long.
	ErrPlaintext = errors.New("wiresec: bad plaintext")
	// ErrPIN: a PIN block could not be built or opened.
	ErrPIN = errors.New("wiresec: PIN block failed")
	// ErrWiped: the session was wiped and holds no keys any more.
	ErrWiped = errors.New("wiresec: session wiped")
)

// MACError reports which direction's MAC failed to verify. It matches
// ErrBadMAC with errors.Is.
type MACError struct {
	Direction string // "request" or "response"
}

func (e *MACError) Error() string {
	return fmt.Sprintf("wiresec: %s MAC does not verify", e.Direction)
}

// Is reports whether target is ErrBadMAC.
func (e *MACError) Is(target error) bool { return target == ErrBadMAC }
