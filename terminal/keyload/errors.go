package keyload

import "errors"

// Errors returned by this package, wrapped with %w; decide with errors.Is.
// Messages name lengths, header fields and entry names, never key bytes,
// components or key blocks. Errors of the key store, the TR-31 package and
// the DUKPT source (e.g. dukptkeys.ErrKSNReuse) are wrapped too.
var (
	// ErrComponent: a KBPK component is not hex of a length the algorithm
	// allows, the two components differ in length, are equal, one is all
	// zeros, or their XOR is a weak key (TDES with equal halves).
	ErrComponent = errors.New("keyload: unusable key component")

	// ErrAlgorithm: the algorithm is neither 'T' (TDES) nor 'A' (AES).
	ErrAlgorithm = errors.New("keyload: unknown key algorithm")

	// ErrNoKBPK: no key block protection key is stored (load one from two
	// components first), or the Loader has no key store.
	ErrNoKBPK = errors.New("keyload: no KBPK loaded")

	// ErrBlock: the key block does not unwrap under the stored KBPK (wraps
	// the tr31 error: tr31.ErrMAC for a block made under another KBPK or
	// altered), names another KBPK by its check value (optional block KP;
	// the message gives both check values), or its version does not fit
	// the KBPK's algorithm.
	ErrBlock = errors.New("keyload: key block refused")

	// ErrUsage: the key block holds a key this loader does not install
	// (only B1, the DUKPT initial key, with mode of use X or N and
	// exportability N), or a key whose algorithm or length does not fit
	// the terminal's DUKPT mode, or that is stronger than the KBPK it came
	// under.
	ErrUsage = errors.New("keyload: key usage not accepted")

	// ErrKSN: a B1 key block without a usable initial KSN: KS (TDES DUKPT,
	// the initial key serial number) or IK (AES DUKPT, the initial key ID).
	ErrKSN = errors.New("keyload: key block has no usable initial KSN")

	// ErrNoDUKPT: the Loader has no DUKPT source.
	ErrNoDUKPT = errors.New("keyload: no DUKPT slot")

	// ErrKeyToken: a TR-34 key token (remote key loading) is refused.
	// Wraps the crypto/tr34 error that says why (tr34.ErrSigner for a
	// token from an unknown host, tr34.ErrRecipient for one made for
	// another device, tr34.ErrNonce for another exchange's, ...), or the
	// nonce store's (devid.ErrNonceUnknown for a replayed token), or says
	// the key is not a KBPK this loader installs (usage K0 or K1, mode of
	// use B or D, algorithm A or T, not weak).
	ErrKeyToken = errors.New("keyload: key token refused")

	// ErrRemote: the remote key loading exchange failed before a token
	// could be checked: the key distribution host did not answer, refused
	// (the status and its short reason are in the message), or answered
	// with something that is not a keys response.
	ErrRemote = errors.New("keyload: remote key loading failed")
)
