package icc

import (
	"bytes"
	"fmt"

	"posd/crypto/emv"
)

// Interface is how the card is reached: through its contacts or through
// the contactless field.
type Interface int

// Interfaces.
const (
	Contact Interface = iota + 1
	Contactless
)

// String names the interface.
func (i Interface) String() string {
	switch i {
	case Contact:
		return "contact"
	case Contactless:
		return "contactless"
	}
	return fmt.Sprintf("Interface(%d)", int(i))
}

// Kernel is how an application behaves on one interface.
type Kernel int

const (
	// KernelEMV: GET PROCESSING OPTIONS answers the AIP and AFL, the
	// terminal reads the records, may authenticate (INTERNAL
	// AUTHENTICATE) and verify a PIN, then asks GENERATE AC (first and
	// second, with CDA when the AIP offers it and the terminal asks). The
	// contact applications (VSDC, M/Chip, PBOC) and the Mastercard
	// contactless kernel (kernel 2, M/Chip) work this way.
	KernelEMV Kernel = iota + 1
	// KernelQuick: GET PROCESSING OPTIONS, given the terminal
	// transaction qualifiers (9F66) in the PDOL, answers the cryptogram
	// at once (qVSDC, kernel 3; qPBOC, kernel 7), with the card
	// transaction qualifiers (9F6C) and, for fDDA, the signed dynamic
	// application data (9F4B) and card authentication related data
	// (9F69); the AFL points at the records still to read. No GENERATE
	// AC follows.
	KernelQuick
)

// Record is one record of a file: the tags of its data objects, in
// order, and whether it is part of the static data to be authenticated
// (ODA records must come first in their file, as the AFL counts them
// from the first record).
type Record struct {
	Tags []string
	ODA  bool
}

// File is an application elementary file: an SFI (1 to 10) and its
// records, numbered from 1.
type File struct {
	SFI     byte
	Records []Record
}

// Iface is an application's personality on one interface.
type Iface struct {
	Kernel Kernel
	// KernelID is the kernel identifier (9F2A) of the PPSE entry; 0 for
	// none (contact).
	KernelID byte
	// PDOL is the processing options data object list (9F38 in the FCI).
	PDOL []byte
	// AIP is the application interchange profile (82).
	AIP [2]byte
	// Files are the records the AFL lists, in order.
	Files []File
	// GPOFormat1 answers GET PROCESSING OPTIONS in format 1 (80: AIP,
	// AFL) instead of format 2 (77 with 82 and 94).
	GPOFormat1 bool
	// GenACFormat1 answers GENERATE AC without CDA in format 1 (80: CID,
	// ATC, AC, IAD) instead of format 2.
	GenACFormat1 bool
	// Data overrides the application's data objects on this interface
	// (its own ICC certificate over its own static data, its CVM list).
	Data map[string][]byte
}

// AIP bits (book 3 annex C1).
const (
	AIPSDA           = 0x40 // byte 1
	AIPDDA           = 0x20
	AIPCVM           = 0x10 // cardholder verification supported
	AIPRiskMgmt      = 0x08 // terminal risk management to be performed
	AIPIssuerAuth    = 0x04 // issuer authentication supported (EXTERNAL AUTHENTICATE)
	AIPCDA           = 0x01
	AIP2EMVMode      = 0x80 // byte 2, contactless: EMV mode supported
	AIP2RRPSupported = 0x01
)

// Risk is the card's own risk management.
type Risk struct {
	// OfflineLimit, in minor units of the application currency (9F42):
	// a TC asked for an amount above it, or in another currency, gets an
	// ARQC. 0: the card never approves offline.
	OfflineLimit uint64
	// ContactlessOfflineLimit is the same for the quick kernels, when the
	// reader allows an offline approval.
	ContactlessOfflineLimit uint64
	// MaxConsecutiveOffline: after that many offline approvals without an
	// online transaction a TC request gets an ARQC; 0 means no limit.
	MaxConsecutiveOffline int
	// OnlinePINAboveCVMLimit: on the quick kernels, when the reader says
	// a CVM is required (TTQ byte 2 bit 7) and supports online PIN, the
	// card asks for online PIN (CTQ byte 1 bit 8) and an ARQC.
	OnlinePINAboveCVMLimit bool
	// DeclineIfIssuerAuthFails: the second GENERATE AC gives an AAC when
	// issuer authentication failed, or was not performed after an online
	// approval although the AIP offers it.
	DeclineIfIssuerAuthFails bool
	// DeclineUnableOnline: the second GENERATE AC after "unable to go
	// online" (ARC Y3/Z3) gives an AAC instead of a TC.
	DeclineUnableOnline bool
}

// App is one payment application.
type App struct {
	AID           []byte
	Label         string // 50
	PreferredName string // 9F12, optional
	Priority      byte   // 87

	// CVN is the cryptogram version; MKAC the ICC master key of
	// application cryptograms, MKSMI of secure messaging integrity
	// (issuer scripts), both 16 bytes. ARPCMethod is 1 or 2.
	CVN        CVN
	MKAC       []byte
	MKSMI      []byte
	ARPCMethod int
	// ICCKey signs DDA, CDA and fDDA and deciphers enciphered PINs; nil
	// for an SDA-only or online-only card.
	ICCKey *emv.PrivateKey

	// Data are the data objects of the records and of GET DATA, by tag
	// (upper-case hex): 5A, 57, 5F24, 5F25, 5F34, 8C, 8D, 8E, 9F07, 9F08,
	// 9F0D, 9F0E, 9F0F, 5F28, 9F42, 9F4A, 8F, 90, 92, 9F32, 93 or 9F46,
	// 9F47, 9F48, 9F49... CDOL1 (8C) and CDOL2 (8D) also drive GENERATE
	// AC and the DDOL (9F49) INTERNAL AUTHENTICATE.
	Data map[string][]byte

	// Contact and Contactless are its personalities; nil when the
	// application is not offered on that interface.
	Contact, Contactless *Iface

	Risk Risk
	// Blocked: the application starts blocked (as after an issuer's
	// APPLICATION BLOCK script): SELECT answers its FCI with 6283, GET
	// PROCESSING OPTIONS 6985.
	Blocked bool
}

// Profile is a whole card.
type Profile struct {
	Apps []*App
	// PSE: the contact interface has the payment system environment
	// 1PAY.SYS.DDF01 (its directory lists the contact applications in
	// SFI 1). The contactless PPSE 2PAY.SYS.DDF01 is always there when an
	// application is contactless.
	PSE bool
	// PIN is the reference PIN of offline verification (4 to 12 digits);
	// PINTryLimit the try counter's start and reset value (3 when 0).
	PIN         string
	PINTryLimit int
}

// iface returns the application's personality on i.
func (a *App) iface(i Interface) *Iface {
	if i == Contactless {
		return a.Contactless
	}
	return a.Contact
}

// value returns a data object of the application on an interface.
func (a *App) value(f *Iface, tag string) ([]byte, bool) {
	if f != nil {
		if v, ok := f.Data[tag]; ok {
			return v, true
		}
	}
	v, ok := a.Data[tag]
	return v, ok
}

// recordValue is the content of a record's template 70.
func (a *App) recordValue(f *Iface, r Record) ([]byte, error) {
	var out []byte
	for _, t := range r.Tags {
		v, ok := a.value(f, t)
		if !ok {
			return nil, fmt.Errorf("%w: record tag %s has no value", ErrProfile, t)
		}
		out = append(out, tlv(t, v)...)
	}
	return out, nil
}

// record returns the whole record (70 L ...) of file sfi, number n.
func (a *App) record(f *Iface, sfi, n byte) ([]byte, uint16) {
	for _, file := range f.Files {
		if file.SFI != sfi {
			continue
		}
		if n == 0 || int(n) > len(file.Records) {
			return nil, swRecordNotFound
		}
		v, err := a.recordValue(f, file.Records[n-1])
		if err != nil {
			return nil, swRecordNotFound
		}
		return tlv("70", v), swOK
	}
	return nil, swFileNotFound
}

// AFL is the application file locator of the interface: per file, SFI
// << 3, first record 1, last record, records for ODA.
func (f *Iface) AFL() []byte {
	var out []byte
	for _, file := range f.Files {
		oda := 0
		for _, r := range file.Records {
			if !r.ODA {
				break
			}
			oda++
		}
		out = append(out, file.SFI<<3, 1, byte(len(file.Records)), byte(oda))
	}
	return out
}

// StaticData returns the static data to be authenticated of the
// application on an interface (book 3 section 10.3): the value of each
// ODA record's template 70 (SFIs 1 to 10), in AFL order, then the values
// of the tags of the static data authentication tag list 9F4A (only 82,
// the AIP of that interface, is allowed there).
func (a *App) StaticData(f *Iface) ([]byte, error) {
	if f == nil {
		return nil, fmt.Errorf("%w: no such interface", ErrProfile)
	}
	var out []byte
	for _, file := range f.Files {
		for _, r := range file.Records {
			if !r.ODA {
				break
			}
			v, err := a.recordValue(f, r)
			if err != nil {
				return nil, err
			}
			out = append(out, v...)
		}
	}
	if tl, ok := a.value(f, "9F4A"); ok {
		switch {
		case len(tl) == 0:
		case bytes.Equal(tl, []byte{0x82}):
			out = append(out, f.AIP[:]...)
		default:
			return nil, fmt.Errorf("%w: static data authentication tag list other than 82", ErrProfile)
		}
	}
	return out, nil
}

// CertifyICC signs the ICC public key certificate of the application's
// ICC key for interface f under the issuer's key, over f's static data,
// and stores 9F46, 9F47 and 9F48 (when there is a remainder) in f.Data.
// The records holding them must not be ODA records.
func CertifyICC(a *App, f *Iface, issuer *emv.PrivateKey, pan string, expiry emv.MonthYear, serial [3]byte) error {
	if a.ICCKey == nil || f == nil {
		return fmt.Errorf("%w: no ICC key or interface to certify", ErrProfile)
	}
	static, err := a.StaticData(f)
	if err != nil {
		return err
	}
	panField, err := emv.PANField(pan)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProfile, err)
	}
	cert, rem, err := emv.SignICCCert(issuer, &emv.ICCPublicKey{PublicKey: a.ICCKey.PublicKey, PAN: panField,
		Expiry: expiry, SerialNumber: serial}, static)
	if err != nil {
		return fmt.Errorf("%w: ICC certificate: %w", ErrProfile, err)
	}
	if f.Data == nil {
		f.Data = map[string][]byte{}
	}
	f.Data["9F46"] = cert
	f.Data["9F47"] = append([]byte(nil), a.ICCKey.Exponent...)
	if len(rem) > 0 {
		f.Data["9F48"] = rem
	} else {
		delete(f.Data, "9F48")
	}
	return nil
}

// SignStatic makes the signed static application data (93) of an SDA
// card for interface f under the issuer's key, with data authentication
// code dac, and stores it in f.Data.
func SignStatic(a *App, f *Iface, issuer *emv.PrivateKey, dac [2]byte) error {
	static, err := a.StaticData(f)
	if err != nil {
		return err
	}
	ssad, err := emv.SignSSAD(issuer, dac, static)
	if err != nil {
		return fmt.Errorf("%w: SSAD: %w", ErrProfile, err)
	}
	if f.Data == nil {
		f.Data = map[string][]byte{}
	}
	f.Data["93"] = ssad
	return nil
}

// CVM codes and conditions of a CVM list (8E, book 3 annex C3).
const (
	CVMFail               = 0x00
	CVMOfflinePlainPIN    = 0x01
	CVMOnlinePIN          = 0x02
	CVMOfflinePlainPINSig = 0x03
	CVMOfflineEncPIN      = 0x04
	CVMOfflineEncPINSig   = 0x05
	CVMSignature          = 0x1E
	CVMNoCVM              = 0x1F
	CVMApplyNext          = 0x40 // apply the next rule if this one fails

	CondAlways        = 0x00
	CondNotCash       = 0x02 // if not unattended cash, not manual cash, not purchase with cashback
	CondSupported     = 0x03 // if the terminal supports the CVM
	CondUnderX        = 0x06
	CondOverX         = 0x07
	CondUnderY        = 0x08
	CondOverY         = 0x09
	CondManualCash    = 0x04
	CondCashback      = 0x05
	CondUnattendedCsh = 0x01
)

// CVMList encodes a CVM list: amounts X and Y (binary, in minor units of
// the application currency), then rules as (code, condition) pairs.
func CVMList(x, y uint32, rules ...[2]byte) []byte {
	out := []byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x), byte(y >> 24), byte(y >> 16), byte(y >> 8), byte(y)}
	for _, r := range rules {
		out = append(out, r[0], r[1])
	}
	return out
}
