package kdh

import "errors"

// Errors of the key distribution host, wrapped with %w; decide with
// errors.Is. Messages name fields, lengths and certificate subjects, never
// key bytes.
var (
	// ErrRequest: a keys request that is not the JSON object of the
	// protocol (package comment), too large, or with a field out of range
	// (terminal id, chain length, random number token, DUKPT mode).
	// Answered 400 (413 when too large).
	ErrRequest = errors.New("kdh: malformed request")

	// ErrDevice: the device certificate was not issued by the
	// manufacturer CA, is not valid now, or its key is not RSA of 2048
	// bits or more for key encipherment. Answered 403.
	ErrDevice = errors.New("kdh: device certificate not accepted")

	// ErrCSR: the factory refuses a certificate request: not PKCS #10, a
	// signature that does not verify (no proof of possession), a key that
	// is not RSA of 2048 to 4096 bits, no usable serial number.
	ErrCSR = errors.New("kdh: certificate request refused")

	// ErrConfig: options the host cannot run with (no PKI, a BDK of the
	// wrong length).
	ErrConfig = errors.New("kdh: unusable configuration")
)
