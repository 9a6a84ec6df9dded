package dukpt

import "errors"

// Errors returned by this package. They are sentinel values: compare them
// with errors.Is, because most are returned wrapped with context. No error
// produced here carries key material; KSNs are public and may appear.
var (
	// ErrKSNLength: a KSN is neither 10 bytes (TDES, X9.24-1) nor
	// 12 bytes (AES, X9.24-3), or is of the wrong size for the operation.
	ErrKSNLength = errors.New("dukpt: wrong KSN length")

	// ErrKSNTooManyOnes: the transaction counter of a KSN has more one-bits
	// than the standard allows (10 for TDES, 16 for AES). No device ever
	// uses such a counter, so a host must reject it.
	ErrKSNTooManyOnes = errors.New("dukpt: KSN transaction counter has too many one-bits")

	// ErrKSNCounterZero: a transaction key was asked for a KSN whose
	// counter is zero. Counter zero names the initial key itself, which is
	// never used for a transaction.
	ErrKSNCounterZero = errors.New("dukpt: KSN transaction counter is zero")

	// ErrKSNFormat: ParseKSN was given text that is not hexadecimal.
	ErrKSNFormat = errors.New("dukpt: KSN is not hexadecimal")

	// ErrExhausted: the transaction counter has no valid successor. The
	// device needs a new initial key; this is final, not transient.
	ErrExhausted = errors.New("dukpt: transaction counter exhausted")

	// ErrKeyLength: a key has a length the operation does not accept
	// (TDES BDK/IK/transaction key: 16 bytes; AES derivation keys: 16, 24
	// or 32 bytes).
	ErrKeyLength = errors.New("dukpt: wrong key length")

	// ErrKeyType: an unknown KeyType, or a key type the standard forbids
	// here (e.g. a working key stronger than its derivation key, or a
	// non-AES initial key).
	ErrKeyType = errors.New("dukpt: unsupported key type")

	// ErrUsage: an unknown key usage or TDES variant.
	ErrUsage = errors.New("dukpt: unsupported key usage")

	// ErrState: an originator is wiped, or a saved originator state is
	// malformed, corrupted or inconsistent.
	ErrState = errors.New("dukpt: invalid originator state")
)
