package emv

import (
	"crypto/sha1"
	"crypto/subtle"
	"fmt"
)

// Recovered data formats (book 2 tables 7, 13, 14 and 17).
const (
	FormatIssuerCert = 0x02 // issuer public key certificate
	FormatSSAD       = 0x03 // signed static application data
	FormatICCCert    = 0x04 // ICC public key certificate
	FormatSDAD       = 0x05 // signed dynamic application data
)

const (
	recoveredHeader  = 0x6A
	recoveredTrailer = 0xBC
	padByte          = 0xBB
	hashLen          = sha1.Size
)

// IssuerPublicKey is an issuer public key recovered from its certificate
// (tag 90), with the certificate's fields.
type IssuerPublicKey struct {
	PublicKey
	// IssuerID is the leftmost 3 to 8 digits of the PAN, BCD, right
	// padded with hex F (format cn 8).
	IssuerID [4]byte
	// Expiry is the certificate expiration date (MMYY).
	Expiry MonthYear
	// SerialNumber is the certificate serial number the CA assigned; the
	// kernel looks it up with the RID and CA index in its revocation list.
	SerialNumber [3]byte
	// HashAlgorithm and PKAlgorithm are the indicators of the certificate
	// (01 and 01).
	HashAlgorithm byte
	PKAlgorithm   byte
}

// MatchesPAN reports whether the issuer identifier matches the leftmost
// digits of pan (digits only), as book 2 section 5.3 step 8 asks. An
// issuer identifier that is not 3 to 8 digits then F padding matches
// nothing.
func (k *IssuerPublicKey) MatchesPAN(pan string) bool {
	id, ok := cnDigits(k.IssuerID[:])
	if !ok || len(id) < 3 || len(id) > 8 || len(pan) < len(id) {
		return false
	}
	return pan[:len(id)] == id
}

// ICCPublicKey is an ICC public key recovered from its certificate (tag
// 9F46), with the certificate's fields.
type ICCPublicKey struct {
	PublicKey
	// PAN is the application PAN, BCD right padded with hex F (cn 20).
	PAN [10]byte
	// Expiry is the certificate expiration date (MMYY).
	Expiry MonthYear
	// SerialNumber is the certificate serial number the issuer assigned.
	SerialNumber [3]byte
	// HashAlgorithm and PKAlgorithm are the indicators of the certificate.
	HashAlgorithm byte
	PKAlgorithm   byte
}

// MatchesPAN reports whether the certificate's PAN equals pan (digits
// only), book 2 section 6.4 step 9.
func (k *ICCPublicKey) MatchesPAN(pan string) bool {
	d, ok := cnDigits(k.PAN[:])
	return ok && d != "" && d == pan
}

// PANDigits returns the certificate's PAN without its F padding, or false
// when the field is not digits followed by F padding.
func (k *ICCPublicKey) PANDigits() (string, bool) { return cnDigits(k.PAN[:]) }

// cnDigits reads a compressed numeric field: digits, then only F nibbles.
func cnDigits(b []byte) (string, bool) {
	out := make([]byte, 0, 2*len(b))
	pad := false
	for _, x := range b {
		for _, v := range [2]byte{x >> 4, x & 0x0F} {
			switch {
			case v == 0x0F:
				pad = true
			case v <= 9 && !pad:
				out = append(out, '0'+v)
			default:
				return "", false
			}
		}
	}
	return string(out), true
}

// open recovers data under k and checks the trailer, header and format.
func open(k PublicKey, data []byte, format byte) ([]byte, error) {
	rec, err := k.Recover(data)
	if err != nil {
		return nil, err
	}
	if err := checkEnvelope(rec, format); err != nil {
		return nil, err
	}
	return rec, nil
}

// checkEnvelope checks the trailer, header and format of recovered data,
// and that it is long enough for the smallest key.
func checkEnvelope(rec []byte, format byte) error {
	if len(rec) < MinModulusLen {
		return fmt.Errorf("%w: %d bytes", ErrSignatureLength, len(rec))
	}
	if rec[len(rec)-1] != recoveredTrailer || rec[0] != recoveredHeader {
		return fmt.Errorf("%w (format %02X expected)", ErrRecovery, format)
	}
	if rec[1] != format {
		return fmt.Errorf("%w: %02X, want %02X", ErrFormat, rec[1], format)
	}
	return nil
}

// checkHash compares the hash field of rec with SHA-1 of rec's signed
// fields (from the format byte to the hash) followed by extra.
func checkHash(rec []byte, hashAlg byte, extra ...[]byte) error {
	if hashAlg != HashSHA1 {
		return fmt.Errorf("%w: hash algorithm %02X", ErrAlgorithm, hashAlg)
	}
	n := len(rec)
	h := sha1.New()
	h.Write(rec[1 : n-1-hashLen])
	for _, e := range extra {
		h.Write(e)
	}
	if subtle.ConstantTimeCompare(h.Sum(nil), rec[n-1-hashLen:n-1]) != 1 {
		return ErrHash
	}
	return nil
}

// keyFromField assembles a certified modulus from the certificate's key
// field (room bytes) and the remainder, checks the exponent against the
// length the certificate states, and validates the key.
func keyFromField(field []byte, keyLen, expLen int, remainder, exponent []byte) (PublicKey, error) {
	room := len(field)
	if keyLen <= room {
		if len(remainder) != 0 {
			return PublicKey{}, fmt.Errorf("%w: a %d-byte key needs none, got %d bytes", ErrRemainder, keyLen, len(remainder))
		}
	} else if len(remainder) != keyLen-room {
		return PublicKey{}, fmt.Errorf("%w: a %d-byte key needs %d bytes, got %d", ErrRemainder, keyLen, keyLen-room, len(remainder))
	}
	if len(exponent) != expLen || !validExponent(exponent) {
		return PublicKey{}, fmt.Errorf("%w: certificate states %d bytes, got %d", ErrExponent, expLen, len(exponent))
	}
	var mod []byte
	if keyLen <= room {
		mod = append([]byte(nil), field[:keyLen]...)
	} else {
		mod = make([]byte, 0, keyLen)
		mod = append(mod, field...)
		mod = append(mod, remainder...)
	}
	return PublicKey{Modulus: mod, Exponent: append([]byte(nil), exponent...)}, nil
}

// RecoverIssuerPublicKey recovers the issuer public key certificate cert
// (tag 90) with the CA public key ca, as book 2 section 5.3 (steps 1 to 7,
// 11 and 12) and 6.3 describe: the certificate is as long as the CA
// modulus; the recovered data has header 6A, format 02 and trailer BC;
// remainder (tag 92, empty when the card has none) has exactly the length
// the issuer key needs; exponent (tag 9F32) has the length the
// certificate states and is 3 or 65537; the SHA-1 hash matches; the key
// algorithm is RSA; the key is no longer than the CA key.
//
// The issuer identifier (MatchesPAN), the expiry (Expiry.ExpiredOn) and
// the revocation list (SerialNumber) are left to the caller, which
// records each failure its own way.
func RecoverIssuerPublicKey(ca PublicKey, cert, remainder, exponent []byte) (*IssuerPublicKey, error) {
	rec, err := open(ca, cert, FormatIssuerCert)
	if err != nil {
		return nil, fmt.Errorf("issuer certificate: %w", err)
	}
	return parseIssuerCert(rec, remainder, exponent)
}

// parseIssuerCert reads and checks recovered issuer certificate data whose
// envelope (header, format, trailer) checkEnvelope accepted.
func parseIssuerCert(rec, remainder, exponent []byte) (*IssuerPublicKey, error) {
	n := len(rec)
	k := &IssuerPublicKey{HashAlgorithm: rec[11], PKAlgorithm: rec[12]}
	copy(k.IssuerID[:], rec[2:6])
	copy(k.Expiry[:], rec[6:8])
	copy(k.SerialNumber[:], rec[8:11])
	keyLen, expLen := int(rec[13]), int(rec[14])
	if keyLen > n {
		return nil, fmt.Errorf("issuer certificate: %w: issuer key of %d bytes under a %d-byte CA key", ErrPublicKey, keyLen, n)
	}
	pk, err := keyFromField(rec[15:n-1-hashLen], keyLen, expLen, remainder, exponent)
	if err != nil {
		return nil, fmt.Errorf("issuer certificate: %w", err)
	}
	if err := checkHash(rec, k.HashAlgorithm, remainder, exponent); err != nil {
		return nil, fmt.Errorf("issuer certificate: %w", err)
	}
	if k.PKAlgorithm != PKAlgRSA {
		return nil, fmt.Errorf("issuer certificate: %w: public key algorithm %02X", ErrAlgorithm, k.PKAlgorithm)
	}
	if err := pk.Check(); err != nil {
		return nil, fmt.Errorf("issuer certificate: %w", err)
	}
	k.PublicKey = pk
	return k, nil
}

// RecoverICCPublicKey recovers the ICC public key certificate cert (tag
// 9F46) with the issuer public key, as book 2 section 6.4 describes (steps
// 1 to 8, 10 and 11): header 6A, format 04, trailer BC, remainder (tag
// 9F48) and exponent (tag 9F47) as the certificate states, and the SHA-1
// hash over the certificate fields, remainder, exponent and staticData,
// the static data to be authenticated (the records the AFL marks,
// followed by the values of the tags of the static data authentication
// tag list, normally the AIP).
//
// The PAN check (MatchesPAN) and the expiry (Expiry.ExpiredOn) are left
// to the caller.
func RecoverICCPublicKey(issuer PublicKey, cert, remainder, exponent, staticData []byte) (*ICCPublicKey, error) {
	return recoverICC(issuer, cert, remainder, exponent, staticData, true)
}

// recoverICC is RecoverICCPublicKey; verifyHash false skips the hash check
// only, for the tests of published certificates whose static data was
// not published.
func recoverICC(issuer PublicKey, cert, remainder, exponent, staticData []byte, verifyHash bool) (*ICCPublicKey, error) {
	rec, err := open(issuer, cert, FormatICCCert)
	if err != nil {
		return nil, fmt.Errorf("ICC certificate: %w", err)
	}
	return parseICCCert(rec, remainder, exponent, staticData, verifyHash)
}

// parseICCCert reads and checks recovered ICC certificate data whose
// envelope checkEnvelope accepted.
func parseICCCert(rec, remainder, exponent, staticData []byte, verifyHash bool) (*ICCPublicKey, error) {
	n := len(rec)
	k := &ICCPublicKey{HashAlgorithm: rec[17], PKAlgorithm: rec[18]}
	copy(k.PAN[:], rec[2:12])
	copy(k.Expiry[:], rec[12:14])
	copy(k.SerialNumber[:], rec[14:17])
	keyLen, expLen := int(rec[19]), int(rec[20])
	if keyLen > n {
		return nil, fmt.Errorf("ICC certificate: %w: ICC key of %d bytes under a %d-byte issuer key", ErrPublicKey, keyLen, n)
	}
	pk, err := keyFromField(rec[21:n-1-hashLen], keyLen, expLen, remainder, exponent)
	if err != nil {
		return nil, fmt.Errorf("ICC certificate: %w", err)
	}
	if verifyHash {
		if err := checkHash(rec, k.HashAlgorithm, remainder, exponent, staticData); err != nil {
			return nil, fmt.Errorf("ICC certificate: %w", err)
		}
	}
	if k.PKAlgorithm != PKAlgRSA {
		return nil, fmt.Errorf("ICC certificate: %w: public key algorithm %02X", ErrAlgorithm, k.PKAlgorithm)
	}
	if err := pk.Check(); err != nil {
		return nil, fmt.Errorf("ICC certificate: %w", err)
	}
	k.PublicKey = pk
	return k, nil
}

// SignedStaticData is what a verified Signed Static Application Data
// holds besides its hash.
type SignedStaticData struct {
	HashAlgorithm byte
	// DAC is the data authentication code (tag 9F45 once verified).
	DAC [2]byte
}

// VerifySSAD verifies Signed Static Application Data (tag 93) with the
// issuer public key, book 2 section 5.4: as long as the issuer modulus,
// header 6A, format 03, trailer BC, and the SHA-1 hash over its fields
// and staticData (the static data to be authenticated, as for
// RecoverICCPublicKey).
func VerifySSAD(issuer PublicKey, ssad, staticData []byte) (*SignedStaticData, error) {
	return verifySSAD(issuer, ssad, staticData, true)
}

func verifySSAD(issuer PublicKey, ssad, staticData []byte, verifyHash bool) (*SignedStaticData, error) {
	rec, err := open(issuer, ssad, FormatSSAD)
	if err != nil {
		return nil, fmt.Errorf("SSAD: %w", err)
	}
	return parseSSAD(rec, staticData, verifyHash)
}

// parseSSAD reads and checks recovered SSAD data whose envelope
// checkEnvelope accepted.
func parseSSAD(rec, staticData []byte, verifyHash bool) (*SignedStaticData, error) {
	s := &SignedStaticData{HashAlgorithm: rec[2]}
	copy(s.DAC[:], rec[3:5])
	if verifyHash {
		if err := checkHash(rec, s.HashAlgorithm, staticData); err != nil {
			return nil, fmt.Errorf("SSAD: %w", err)
		}
	}
	return s, nil
}

// DynamicData is the content of a verified Signed Dynamic Application Data.
type DynamicData struct {
	HashAlgorithm byte
	// ICCDynamicData is the whole ICC dynamic data field.
	ICCDynamicData []byte
	// ICCDynamicNumber (tag 9F4C) is 2 to 8 bytes; VerifySDAD leaves it
	// nil when the ICC dynamic data does not start with a length of 2 to 8
	// and that many bytes.
	ICCDynamicNumber []byte
	// CID, AC and TxnDataHash are the cryptogram information data, the
	// application cryptogram and the transaction data hash code of CDA;
	// set by VerifyCDA only.
	CID         byte
	AC          []byte
	TxnDataHash []byte
}

// VerifySDAD verifies Signed Dynamic Application Data (tag 9F4B) with the
// ICC public key, book 2 section 6.5.2: as long as the ICC modulus,
// header 6A, format 05, trailer BC, an ICC dynamic data length that fits,
// and the SHA-1 hash over its fields and terminalData, the terminal
// dynamic data (for DDA the values of the DDOL data elements, such as the
// unpredictable number).
func VerifySDAD(icc PublicKey, sdad, terminalData []byte) (*DynamicData, error) {
	rec, err := open(icc, sdad, FormatSDAD)
	if err != nil {
		return nil, fmt.Errorf("SDAD: %w", err)
	}
	d, err := parseSDAD(rec)
	if err != nil {
		return nil, fmt.Errorf("SDAD: %w", err)
	}
	if err := checkHash(rec, d.HashAlgorithm, terminalData); err != nil {
		return nil, fmt.Errorf("SDAD: %w", err)
	}
	return d, nil
}

// VerifyCDA verifies the Signed Dynamic Application Data of a GENERATE AC
// response under combined DDA/AC generation (book 2 section 6.6.2, steps
// 1 to 7): as VerifySDAD with the 4-byte unpredictable number un as the
// terminal dynamic data, and ICC dynamic data holding the ICC dynamic
// number, the CID, the 8-byte AC and the 20-byte transaction data hash
// code (ErrDynamicData otherwise).
//
// The caller compares d.CID with the CID of the response and
// d.TxnDataHash with CDATransactionDataHash of the transaction's data.
func VerifyCDA(icc PublicKey, sdad, un []byte) (*DynamicData, error) {
	if len(un) != 4 {
		return nil, fmt.Errorf("CDA: %w: unpredictable number is %d bytes, want 4", ErrFieldLength, len(un))
	}
	d, err := VerifySDAD(icc, sdad, un)
	if err != nil {
		return nil, fmt.Errorf("CDA: %w", err)
	}
	if err := d.parseCDA(); err != nil {
		return nil, fmt.Errorf("CDA: %w", err)
	}
	return d, nil
}

func parseSDAD(rec []byte) (*DynamicData, error) {
	n := len(rec)
	d := &DynamicData{HashAlgorithm: rec[2]}
	ldd := int(rec[3])
	if ldd > n-25 {
		return nil, fmt.Errorf("%w: %d bytes in a %d-byte signature", ErrDynamicData, ldd, n)
	}
	d.ICCDynamicData = append([]byte(nil), rec[4:4+ldd]...)
	if ldd >= 1 {
		if l := int(d.ICCDynamicData[0]); l >= 2 && l <= 8 && 1+l <= ldd {
			d.ICCDynamicNumber = d.ICCDynamicData[1 : 1+l]
		}
	}
	return d, nil
}

// parseCDA reads the CDA fields of the ICC dynamic data (book 2 table 22).
func (d *DynamicData) parseCDA() error {
	dd := d.ICCDynamicData
	if d.ICCDynamicNumber == nil {
		return fmt.Errorf("%w: no ICC dynamic number", ErrDynamicData)
	}
	off := 1 + len(d.ICCDynamicNumber)
	if len(dd) < off+1+ACLen+hashLen {
		return fmt.Errorf("%w: %d bytes, CDA needs %d", ErrDynamicData, len(dd), off+1+ACLen+hashLen)
	}
	d.CID = dd[off]
	d.AC = dd[off+1 : off+1+ACLen]
	d.TxnDataHash = dd[off+1+ACLen : off+1+ACLen+hashLen]
	return nil
}

// CDATransactionDataHash is the transaction data hash code of book 2
// section 6.6.1: SHA-1 of the values of the PDOL data elements (as sent in
// GET PROCESSING OPTIONS, without tag and length), the CDOL1 data values,
// for the second GENERATE AC the CDOL2 data values, and the TLV data
// objects of the GENERATE AC response in the order received, except the
// Signed Dynamic Application Data. Empty parts are skipped.
func CDATransactionDataHash(pdolValues, cdol1Values, cdol2Values, responseTLVs []byte) []byte {
	h := sha1.New()
	h.Write(pdolValues)
	h.Write(cdol1Values)
	h.Write(cdol2Values)
	h.Write(responseTLVs)
	return h.Sum(nil)
}
