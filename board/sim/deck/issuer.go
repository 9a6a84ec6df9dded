package deck

import (
	"encoding/hex"
	"fmt"

	"posd/board/sim/icc"
	"posd/crypto/emv"
)

// Issuer is what the simulated issuer (acquirer-sim) and the deck's chip
// cards share for a scheme: the issuer master key of application
// cryptograms and how the card uses it. These are TEST keys, published
// with the code; no real card holds them.
type Issuer struct {
	Scheme string
	// IMKAC derives the ICC master key of application cryptograms.
	IMKAC []byte
	// MKOption: A for PANs up to 16 digits, B above (OptionAuto).
	MKOption emv.MKOption
	// SKD is the session key derivation of the scheme's cryptogram
	// version: common (EMV CSK, UnionPay/PBOC), Mastercard SKD, none
	// (Visa CVN 10).
	SKD emv.SKDMethod
	// Padding of the cryptogram's data: method 1 (Visa CVN 10) or 2.
	Padding emv.Padding
	// ARPCMethod is 1 or 2 (book 2 section 8.2).
	ARPCMethod int
	// IMKSMI and IMKSMC are the issuer master keys of secure messaging
	// (integrity and confidentiality) for issuer scripts.
	IMKSMI, IMKSMC []byte
	// CVN is the cryptogram version of the scheme's chip cards in the
	// deck: the layout of their issuer application data (9F10) and the
	// data their ACs cover (icc.ACInput). SKD, Padding and ARPCMethod
	// above agree with it.
	CVN icc.CVN
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic("deck: bad hex in a test key: " + err.Error())
	}
	return b
}

// Issuers are the simulated issuers by scheme. The IMK of the first is the
// one of the public EMV cryptogram examples (0123456789ABCDEF FEDCBA9876543210).
var Issuers = map[string]Issuer{
	"visa": {Scheme: "visa", IMKAC: mustHex("0123456789ABCDEFFEDCBA9876543210"), MKOption: emv.OptionAuto,
		SKD: emv.SKDNone, Padding: emv.Padding1, ARPCMethod: 1, CVN: icc.VisaCVN10,
		IMKSMI: mustHex("1111111111111111222222222222222A"), IMKSMC: mustHex("3333333333333333444444444444444C")},
	"mastercard": {Scheme: "mastercard", IMKAC: mustHex("9E15204313F7318ACB79B90BD986AD29"), MKOption: emv.OptionAuto,
		SKD: emv.SKDMastercard, Padding: emv.Padding2, ARPCMethod: 1, CVN: icc.MChipCVN16,
		IMKSMI: mustHex("5555555555555555666666666666666E"), IMKSMC: mustHex("7777777777777777888888888888888F")},
	"unionpay": {Scheme: "unionpay", IMKAC: mustHex("2315208C9110AD402315208C9110AD40"), MKOption: emv.OptionAuto,
		SKD: emv.SKDCommon, Padding: emv.Padding2, ARPCMethod: 1, CVN: icc.PBOCCVN01,
		IMKSMI: mustHex("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB"), IMKSMC: mustHex("CCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD")},
}

// ByPAN finds the deck card with pan (the simulated issuer looks cards up
// this way).
func ByPAN(pan string) (Card, bool) {
	for _, c := range Cards {
		if c.PAN == pan {
			return c, true
		}
	}
	return Card{}, false
}

// ACInput is the data the application cryptogram of a scheme's deck
// cards covers, from tags (upper-case hex → value, as decoded from DE55):
// 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36, then the card verification
// results inside 9F10 (see icc.ACInput and the icc.CVN constants). The
// issuer checks the ARQC (9F26) with
//
//	mk, _ := is.ICCMasterKey(pan, psn)
//	sk, _ := is.SessionKey(mk, atc, un)
//	err := emv.VerifyAC(sk, data, is.Padding, arqc)
func ACInput(scheme string, tags map[string][]byte) ([]byte, error) {
	is, ok := Issuers[scheme]
	if !ok {
		return nil, fmt.Errorf("%w: no simulated issuer for scheme %q", icc.ErrCVN, scheme)
	}
	return icc.ACInput(is.CVN, tags)
}

// ICCMasterKey derives the card's AC master key from IMKAC, the PAN and
// the PAN sequence number ("" is 00).
func (is Issuer) ICCMasterKey(pan, psn string) ([]byte, error) {
	return emv.DeriveICCMasterKey(is.IMKAC, pan, psn, is.MKOption)
}

// SessionKey is the AC session key of a transaction: the ICC master key
// itself (Visa CVN 10), the common session key of the ATC (PBOC CVN 01)
// or the Mastercard one of the ATC and the unpredictable number (9F37;
// ignored by the others).
func (is Issuer) SessionKey(mk, atc, un []byte) ([]byte, error) {
	return is.CVN.SessionKey(mk, atc, un)
}

// ARPC computes the issuer's answer to an ARQC for the issuer
// authentication data (tag 91): method 1 returns ARPC (8) || ARC (2),
// method 2 ARPC (4) || CSU (4). arc is the 2-byte authorisation response
// code (e.g. "00" as 0x30 0x30), csu the 4-byte card status update.
func (is Issuer) ARPC(mk, atc, un, arqc, arc, csu []byte) ([]byte, error) {
	key, err := is.CVN.ARPCKey(mk, atc, un)
	if err != nil {
		return nil, err
	}
	switch is.ARPCMethod {
	case 1:
		a, err := emv.ARPCMethod1(key, arqc, arc)
		if err != nil {
			return nil, err
		}
		return append(a, arc...), nil
	case 2:
		a, err := emv.ARPCMethod2(key, arqc, csu, nil)
		if err != nil {
			return nil, err
		}
		return append(a, csu...), nil
	}
	return nil, fmt.Errorf("%w: ARPC method %d", emv.ErrMethod, is.ARPCMethod)
}

// ScriptCommand builds an issuer script command for a card (CLA INS P1 P2
// Lc data MAC), MACed under the secure messaging session key the card
// derives from IMKSMI, its PAN and PSN and the transaction's ARQC (see
// icc.ScriptMAC), with atc the transaction's ATC. For example
// APPLICATION BLOCK is ScriptCommand(pan, psn, atc, arqc, 0x84, 0x1E, 0,
// 0, nil).
func (is Issuer) ScriptCommand(pan, psn string, atc, arqc []byte, cla, ins, p1, p2 byte, data []byte) ([]byte, error) {
	mk, err := emv.DeriveICCMasterKey(is.IMKSMI, pan, psn, is.MKOption)
	if err != nil {
		return nil, err
	}
	return icc.ScriptCommand(mk, atc, arqc, cla, ins, p1, p2, data)
}
