package deck

import (
	"encoding/hex"

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
		SKD: emv.SKDNone, Padding: emv.Padding1, ARPCMethod: 1,
		IMKSMI: mustHex("1111111111111111222222222222222A"), IMKSMC: mustHex("3333333333333333444444444444444C")},
	"mastercard": {Scheme: "mastercard", IMKAC: mustHex("9E15204313F7318ACB79B90BD986AD29"), MKOption: emv.OptionAuto,
		SKD: emv.SKDMastercard, Padding: emv.Padding2, ARPCMethod: 1,
		IMKSMI: mustHex("5555555555555555666666666666666E"), IMKSMC: mustHex("7777777777777777888888888888888F")},
	"unionpay": {Scheme: "unionpay", IMKAC: mustHex("2315208C9110AD402315208C9110AD40"), MKOption: emv.OptionAuto,
		SKD: emv.SKDCommon, Padding: emv.Padding2, ARPCMethod: 1,
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
