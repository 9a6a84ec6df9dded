package emv

import "errors"

// Errors returned by this package. They are sentinel values returned
// wrapped with context: compare with errors.Is. No message carries key
// bytes; certificates and signatures are public but are not quoted either.
var (
	// ErrKeyLength: a DES key (issuer master key, ICC master key, session
	// key) is not 16 bytes.
	ErrKeyLength = errors.New("emv: wrong key length")

	// ErrPAN: a PAN is not 1 to 19 decimal digits, or a PAN sequence number
	// is not two decimal digits.
	ErrPAN = errors.New("emv: invalid PAN or PAN sequence number")

	// ErrMethod: an unknown master key option, session key method, padding
	// method or ARPC method.
	ErrMethod = errors.New("emv: unknown method")

	// ErrFieldLength: an input of fixed size (ATC, unpredictable number,
	// ARQC, ARC, CSU, proprietary authentication data, R) has the wrong
	// length.
	ErrFieldLength = errors.New("emv: wrong field length")

	// ErrCryptogram: a cryptogram does not match the one recomputed.
	ErrCryptogram = errors.New("emv: cryptogram mismatch")

	// ErrPublicKey: an RSA public key cannot be used: modulus shorter than
	// 64 or longer than 248 bytes or with a zero leading byte, exponent
	// other than 3 or 65537, or a key longer than the key that certifies it.
	ErrPublicKey = errors.New("emv: unusable RSA public key")

	// ErrSignatureLength: a certificate or signature is not exactly as long
	// as the modulus of the key that opens it.
	ErrSignatureLength = errors.New("emv: certificate or signature length differs from the modulus length")

	// ErrRecovery: the recovered data is not an EMV signature: its value is
	// not below the modulus, or the header is not 6A or the trailer not BC.
	ErrRecovery = errors.New("emv: recovered data header or trailer invalid")

	// ErrFormat: the recovered data has another format than the one
	// expected (02 issuer certificate, 03 SSAD, 04 ICC certificate, 05
	// SDAD).
	ErrFormat = errors.New("emv: wrong recovered data format")

	// ErrAlgorithm: a hash algorithm indicator or public key algorithm
	// indicator other than 01 (SHA-1, RSA).
	ErrAlgorithm = errors.New("emv: unsupported algorithm indicator")

	// ErrHash: the hash in the recovered data differs from the hash of the
	// data it signs.
	ErrHash = errors.New("emv: hash mismatch")

	// ErrRemainder: a public key remainder is missing, too short or too
	// long for the key length the certificate states.
	ErrRemainder = errors.New("emv: public key remainder length wrong")

	// ErrExponent: the public key exponent given differs in length from the
	// one the certificate states, or is neither 3 nor 65537.
	ErrExponent = errors.New("emv: public key exponent wrong")

	// ErrDynamicData: the ICC dynamic data of a signed dynamic application
	// data is malformed (longer than its room, or without the ICC dynamic
	// number, CID, AC and transaction data hash CDA needs).
	ErrDynamicData = errors.New("emv: malformed ICC dynamic data")

	// ErrDate: a date is not valid BCD (MMYY certificate expiry, YYMMDD
	// transaction date).
	ErrDate = errors.New("emv: invalid date")

	// ErrCAPK: a certification authority public key is invalid: its
	// checksum is missing or differs from the SHA-1 of RID, index, modulus
	// and exponent, or a field is malformed.
	ErrCAPK = errors.New("emv: invalid CA public key")

	// ErrCAPKNotFound: no CA public key with that RID and index.
	ErrCAPKNotFound = errors.New("emv: CA public key not found")

	// ErrCAPKFile: the CA public key parameter file is not valid JSON of
	// the expected shape.
	ErrCAPKFile = errors.New("emv: malformed CA public key file")

	// ErrSign: the signing side was asked for something EMV cannot carry
	// (data too long for the signer's modulus, a key longer than its
	// signer's, an invalid key size or exponent for GenerateKey, a private
	// key that does not match its public key).
	ErrSign = errors.New("emv: cannot sign")
)
