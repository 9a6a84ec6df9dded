package icc

import (
	"crypto/subtle"
	"fmt"

	"posd/crypto/emv"
	"posd/crypto/mac"
)

// CVN is the cryptogram version of an application: the layout of its
// issuer application data (tag 9F10), the data its application
// cryptograms cover, its session key and its ARPC key.
//
// Every version MACs the same transaction data, in this order (the first
// eight are CDOL1's first eight entries, or the PDOL's values for the
// contactless quick kernels):
//
//	9F02 amount authorised (6)   9F03 amount other (6)
//	9F1A terminal country (2)    95   TVR (5)
//	5F2A currency (2)            9A   transaction date (3)
//	9C   transaction type (1)    9F37 unpredictable number (4)
//	82   AIP (2)                 9F36 ATC (2)
//	then the card verification results taken from 9F10 (see each CVN)
//
// which ACInput builds from tags, for the card and for an issuer reading
// DE55 alike.
type CVN byte

const (
	// VisaCVN10 is Visa cryptogram version 10: 9F10 = 06 | DKI 01 | CVN 0A
	// | CVR (4 bytes, the first being its length 03), seven bytes. The AC
	// covers the CVR's four bytes (9F10 bytes 4 to 7), padding method 1,
	// under the ICC master key itself (no session key); the ARPC is
	// method 1 under the ICC master key.
	VisaCVN10 CVN = 0x0A
	// MChipCVN16 is M/Chip cryptogram version 16 (hex 10): 9F10 = KDI 01
	// | CVN 10 | CVR (6) | DAC/ICC dynamic number (2) | counters (8),
	// eighteen bytes. The AC covers the six CVR bytes (9F10 bytes 3 to 8),
	// padding method 2, under the Mastercard session key (R = ATC || 0000
	// || UN); the ARPC is method 1 under the ICC master key.
	MChipCVN16 CVN = 0x10
	// PBOCCVN01 is a PBOC/UICS style version 01: 9F10 = 07 | DKI 01 |
	// CVN 01 | CVR (4, the first being 03) | algorithm 01, eight bytes.
	// The AC covers the CVR's four bytes (9F10 bytes 4 to 7), padding
	// method 2, under the EMV common session key (R = ATC || zeros); the
	// ARPC is method 1 under that session key. (Real UICS cards may use
	// another session key derivation; this one is the simulator's.)
	PBOCCVN01 CVN = 0x01
)

// String names the version.
func (v CVN) String() string {
	switch v {
	case VisaCVN10:
		return "Visa CVN 10"
	case MChipCVN16:
		return "M/Chip CVN 16"
	case PBOCCVN01:
		return "PBOC CVN 01"
	}
	return fmt.Sprintf("CVN(%02X)", byte(v))
}

// SKD is the session key derivation of the version.
func (v CVN) SKD() emv.SKDMethod {
	switch v {
	case VisaCVN10:
		return emv.SKDNone
	case MChipCVN16:
		return emv.SKDMastercard
	}
	return emv.SKDCommon
}

// Padding is the ISO/IEC 9797-1 padding of the AC data.
func (v CVN) Padding() emv.Padding {
	if v == VisaCVN10 {
		return emv.Padding1
	}
	return emv.Padding2
}

// ARPCWithMasterKey tells whether the ARPC is computed under the ICC
// master key (true) or the AC session key (false).
func (v CVN) ARPCWithMasterKey() bool { return v == VisaCVN10 || v == MChipCVN16 }

func (v CVN) known() bool { return v == VisaCVN10 || v == MChipCVN16 || v == PBOCCVN01 }

// CVNFromIAD recognises the version from issuer application data.
func CVNFromIAD(iad []byte) (CVN, error) {
	switch {
	case len(iad) >= 7 && iad[0] == 0x06 && iad[2] == byte(VisaCVN10) && iad[3] == 0x03:
		return VisaCVN10, nil
	case len(iad) >= 8 && iad[0] == 0x07 && iad[2] == byte(PBOCCVN01) && iad[3] == 0x03:
		return PBOCCVN01, nil
	case len(iad) == 18 && iad[1] == byte(MChipCVN16):
		return MChipCVN16, nil
	}
	return 0, fmt.Errorf("%w: issuer application data of %d bytes not recognised", ErrCVN, len(iad))
}

// CVR returns the card verification results the AC covers, from the
// issuer application data of version v.
func (v CVN) CVR(iad []byte) ([]byte, error) {
	switch v {
	case VisaCVN10:
		if len(iad) < 7 {
			return nil, fmt.Errorf("%w: 9F10 of %d bytes for %v", ErrTags, len(iad), v)
		}
		return iad[3:7], nil
	case PBOCCVN01:
		if len(iad) < 8 {
			return nil, fmt.Errorf("%w: 9F10 of %d bytes for %v", ErrTags, len(iad), v)
		}
		return iad[3:7], nil
	case MChipCVN16:
		if len(iad) != 18 {
			return nil, fmt.Errorf("%w: 9F10 of %d bytes for %v", ErrTags, len(iad), v)
		}
		return iad[2:8], nil
	}
	return nil, fmt.Errorf("%w: %v", ErrCVN, v)
}

// acTags are the transaction data every version MACs, in order, with
// their lengths.
var acTags = []DOLEntry{
	{"9F02", 6}, {"9F03", 6}, {"9F1A", 2}, {"95", 5}, {"5F2A", 2}, {"9A", 3}, {"9C", 1}, {"9F37", 4},
	{"82", 2}, {"9F36", 2},
}

// ACInput is the data the application cryptogram of version v covers,
// built from tags (upper-case hex tag → value): the values of 9F02,
// 9F03, 9F1A, 95, 5F2A, 9A, 9C, 9F37, 82 and 9F36, then the CVR part of
// 9F10 (see the CVN constants). The card computes its AC over exactly
// this; an issuer builds the same from the DE55 it receives and checks
// the ARQC with emv.VerifyAC under the session key of v.SKD() and
// v.Padding(). A missing or wrongly sized tag is ErrTags.
func ACInput(v CVN, tags map[string][]byte) ([]byte, error) {
	if !v.known() {
		return nil, fmt.Errorf("%w: %v", ErrCVN, v)
	}
	out := make([]byte, 0, 48)
	for _, e := range acTags {
		val, ok := tags[e.Tag]
		if !ok || len(val) != e.Len {
			return nil, fmt.Errorf("%w: %s missing or not %d bytes", ErrTags, e.Tag, e.Len)
		}
		out = append(out, val...)
	}
	cvr, err := v.CVR(tags["9F10"])
	if err != nil {
		return nil, err
	}
	return append(out, cvr...), nil
}

// SessionKey derives the AC session key of version v from the ICC master
// key, the 2-byte ATC and (M/Chip only) the 4-byte unpredictable number.
func (v CVN) SessionKey(mk, atc, un []byte) ([]byte, error) {
	if v.SKD() != emv.SKDMastercard {
		un = nil
	}
	return emv.DeriveSessionKey(v.SKD(), mk, atc, un)
}

// ARPCKey is the key of the ARPC of version v: the ICC master key or the
// session key of the ATC (and UN).
func (v CVN) ARPCKey(mk, atc, un []byte) ([]byte, error) {
	if v.ARPCWithMasterKey() {
		return append([]byte(nil), mk...), nil
	}
	return v.SessionKey(mk, atc, un)
}

// VerifyARPC checks issuer authentication data (tag 91) against the
// ARQC: method 1 is ARPC (8) || ARC (2); method 2 is ARPC (4) || CSU (4)
// || proprietary data (0 to 8). It returns the ARC (method 1) or CSU
// (method 2) on success.
func VerifyARPC(method int, key, arqc, iad91 []byte) ([]byte, error) {
	switch method {
	case 1:
		if len(iad91) != 10 {
			return nil, fmt.Errorf("%w: issuer authentication data of %d bytes for ARPC method 1", emv.ErrFieldLength, len(iad91))
		}
		want, err := emv.ARPCMethod1(key, arqc, iad91[8:10])
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare(want, iad91[:8]) != 1 {
			return nil, emv.ErrCryptogram
		}
		return iad91[8:10], nil
	case 2:
		if len(iad91) < 8 || len(iad91) > 16 {
			return nil, fmt.Errorf("%w: issuer authentication data of %d bytes for ARPC method 2", emv.ErrFieldLength, len(iad91))
		}
		want, err := emv.ARPCMethod2(key, arqc, iad91[4:8], iad91[8:])
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare(want, iad91[:4]) != 1 {
			return nil, emv.ErrCryptogram
		}
		return iad91[4:8], nil
	}
	return nil, fmt.Errorf("%w: ARPC method %d", emv.ErrMethod, method)
}

// ScriptMACLen is the length of the MAC of an issuer script command: the
// full 8 bytes (book 2 allows 4 to 8), as in the published M/Chip example
// the issuer's test checks.
const ScriptMACLen = 8

// ScriptSessionKey is the secure messaging integrity session key of a
// transaction: the EMV common session key derivation of the ICC master
// key for secure messaging integrity (MK_SMI, derived from the issuer's
// IMK_SMI like the AC master key) with R = the ARQC (book 2 A1.3).
func ScriptSessionKey(mkSMI, arqc []byte) ([]byte, error) {
	return emv.CommonSessionKey(mkSMI, arqc)
}

// ScriptMAC is the MAC of an issuer script command (book 2 section 9.2,
// format 1): ScriptMACLen bytes of ISO/IEC 9797-1 algorithm 3, padding
// method 2, under ScriptSessionKey(mkSMI, arqc), over CLA INS P1 P2 Lc
// (Lc counting the MAC) || ATC || ARQC || the command data without the
// MAC.
func ScriptMAC(mkSMI, atc, arqc []byte, cla, ins, p1, p2 byte, data []byte) ([]byte, error) {
	if len(data)+ScriptMACLen > 255 {
		return nil, fmt.Errorf("%w: script command data of %d bytes", emv.ErrFieldLength, len(data))
	}
	if len(atc) != 2 || len(arqc) != emv.ACLen {
		return nil, fmt.Errorf("%w: ATC or ARQC of the wrong length", emv.ErrFieldLength)
	}
	sk, err := ScriptSessionKey(mkSMI, arqc)
	if err != nil {
		return nil, err
	}
	msg := []byte{cla, ins, p1, p2, byte(len(data) + ScriptMACLen)}
	msg = append(msg, atc...)
	msg = append(msg, arqc...)
	msg = append(msg, data...)
	m, err := mac.ISO9797Alg3(sk, msg, mac.Padding2)
	if err != nil {
		return nil, fmt.Errorf("icc: script MAC: %w", err)
	}
	return m[:ScriptMACLen], nil
}

// ScriptCommand builds an issuer script command with its MAC: CLA INS P1
// P2 Lc data MAC. Examples: APPLICATION BLOCK is 84 1E 00 00, APPLICATION
// UNBLOCK 84 18 00 00, PIN UNBLOCK 84 24 00 00, PUT DATA 04 DA with P1 P2
// the tag (9F14, 9F23, 9F58, 9F59 or DF01 for the card's offline
// limit).
func ScriptCommand(mkSMI, atc, arqc []byte, cla, ins, p1, p2 byte, data []byte) ([]byte, error) {
	m, err := ScriptMAC(mkSMI, atc, arqc, cla, ins, p1, p2, data)
	if err != nil {
		return nil, err
	}
	cmd := []byte{cla, ins, p1, p2, byte(len(data) + ScriptMACLen)}
	cmd = append(cmd, data...)
	return append(cmd, m...), nil
}

// AC types, as the CID's two high bits code them.
const (
	CIDAAC  = 0x00
	CIDTC   = 0x40
	CIDARQC = 0x80
)

// cvrState is what the CVR reports, kept per transaction.
type cvrState struct {
	firstAC, secondAC       int // -1 not yet; else CIDAAC/TC/ARQC
	offlinePINPerformed     bool
	offlinePINEnciphered    bool
	offlinePINFailed        bool
	pinTryLimitExceeded     bool
	issuerAuthPerformed     bool
	issuerAuthFailed        bool
	unableOnline            bool
	lastOnlineNotCompleted  bool
	lastIssuerAuthFailed    bool
	scripts                 int
	scriptFailed            bool
	ddaPerformed            bool
	cdaFirst, cdaSecond     bool
	velocityExceeded        bool
	domestic, international bool
	pinTries                int
}

func acBits(t int, second bool) byte {
	switch {
	case t < 0 && second:
		return 2 // second GENERATE AC not requested
	case t == CIDTC:
		return 1
	case t == CIDARQC:
		return 2
	}
	return 0 // AAC, or no AC yet
}

func bit(b bool, v byte) byte {
	if b {
		return v
	}
	return 0
}

// cvr encodes the card verification results of version v.
func (s *cvrState) cvr(v CVN) []byte {
	if v == MChipCVN16 {
		b := make([]byte, 6)
		b[0] = acBits(s.secondAC, true)<<6 | acBits(s.firstAC, false)<<4 |
			bit(s.offlinePINPerformed, 0x04) | bit(s.offlinePINEnciphered, 0x02) |
			bit(s.offlinePINPerformed && !s.offlinePINFailed, 0x01)
		b[1] = bit(s.ddaPerformed, 0x80) | bit(s.cdaFirst, 0x40) | bit(s.cdaSecond, 0x20) | bit(s.issuerAuthPerformed, 0x10)
		b[2] = byte(s.scripts&0x0F)<<4 | byte(s.pinTries&0x0F)
		b[3] = bit(s.unableOnline, 0x40) | bit(!s.offlinePINPerformed, 0x20) | bit(s.offlinePINFailed, 0x10) |
			bit(s.pinTryLimitExceeded, 0x08) | bit(s.international, 0x04) | bit(s.domestic, 0x02)
		b[4] = bit(s.velocityExceeded, 0x80) | bit(s.issuerAuthFailed, 0x08) | bit(s.scripts > 0, 0x04) | bit(s.scriptFailed, 0x02)
		b[5] = bit(s.lastOnlineNotCompleted, 0x80)
		return b
	}
	b := make([]byte, 4)
	b[0] = 0x03
	b[1] = acBits(s.secondAC, true)<<6 | acBits(s.firstAC, false)<<4 |
		bit(s.issuerAuthPerformed && s.issuerAuthFailed, 0x08) | bit(s.offlinePINPerformed, 0x04) |
		bit(s.offlinePINFailed, 0x02) | bit(s.unableOnline, 0x01)
	b[2] = bit(s.lastOnlineNotCompleted, 0x80) | bit(s.pinTryLimitExceeded, 0x40) | bit(s.velocityExceeded, 0x20) |
		bit(s.lastIssuerAuthFailed, 0x08)
	b[3] = byte(min(s.scripts, 15))<<4 | bit(s.scriptFailed, 0x08) | bit(s.ddaPerformed, 0x04)
	return b
}

// iad builds the issuer application data of version v around its CVR.
func (v CVN) iad(cvr []byte) []byte {
	switch v {
	case VisaCVN10:
		return append([]byte{0x06, 0x01, byte(VisaCVN10)}, cvr...)
	case PBOCCVN01:
		out := append([]byte{0x07, 0x01, byte(PBOCCVN01)}, cvr...)
		return append(out, 0x01)
	}
	out := append([]byte{0x01, byte(MChipCVN16)}, cvr...)
	return append(out, make([]byte, 10)...)
}
