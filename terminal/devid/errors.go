package devid

import "errors"

// Errors returned by this package, wrapped with %w; decide with errors.Is.
// Messages name entries, lengths and certificate subjects, never key bytes.
var (
	// ErrNoIdentity: the key store holds no device identity yet (provision
	// one), or no factory was given to provision it.
	ErrNoIdentity = errors.New("devid: no device identity")

	// ErrIdentity: the stored identity is unusable: its key does not parse
	// or does not match its certificate, or the chain is damaged. A
	// re-provisioning (new key, new certificate) is needed.
	ErrIdentity = errors.New("devid: device identity damaged")

	// ErrFactory: the factory refused to certify the device key, or
	// returned a chain that does not certify it (another key, another
	// serial, not signed by the issuing CA, not for key encipherment).
	ErrFactory = errors.New("devid: factory certification failed")

	// ErrOptions: a missing serial number, an RSA size other than 2048 or
	// 3072, a failed random source.
	ErrOptions = errors.New("devid: unusable options")

	// ErrNonceUnknown: the random number was never issued here, was
	// already used (single use, also across restarts), or was dropped
	// because newer ones were issued.
	ErrNonceUnknown = errors.New("devid: random number not issued or already used")

	// ErrNonceExpired: the random number was issued but its time to live
	// has passed; it is used up all the same.
	ErrNonceExpired = errors.New("devid: random number expired")

	// ErrNonceStore: the nonce bucket records a schema this code does not
	// know, or the database failed.
	ErrNonceStore = errors.New("devid: nonce store failed")
)
