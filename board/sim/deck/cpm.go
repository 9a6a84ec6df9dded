package deck

import (
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/moov-io/bertlv"

	"posd/board/sim/icc"
	"posd/crypto/emv"
)

// errNoCPM: the card cannot make a consumer-presented payload.
var errNoCPM = errors.New("deck: no consumer-presented code")

// CPM is the EMV QRCPS consumer-presented payload (base64, standard
// encoding, padded) that the simulated customer's phone shows for the
// chip card name: what a mobile payment application holding that card
// would generate for a transaction with ATC atc, unpredictable number un
// and date (9A, YYMMDD in date's location). The phone does not know the
// amount, so the cryptogram covers a zero amount.
//
//	85 "CPV01"
//	61 4F    AID of the card's scheme application
//	   50    application label
//	   57    track 2 equivalent data (the card's track 2, as on its chip)
//	   5F34  PAN sequence number
//	   9F10  issuer application data of the card's cryptogram version
//	   82    AIP (of the card's contactless interface, else its contact one)
//	   9F36  ATC
//	   9F37  un
//	   9F26  ARQC
//	   9F27  80 (ARQC)
//	   9F02 000000000000, 9F03 000000000000, 9F1A 0156, 95 0000000000,
//	   5F2A 0156, 9A date, 9C 00: the terminal data the ARQC covers
//
// The ARQC is the one the card's chip (NewICC) computes at a first
// GENERATE AC asking for an ARQC with that terminal data: ACInput of the
// scheme under the session key of the ICC master key (Issuer.ICCMasterKey,
// Issuer.SessionKey) with the issuer's padding, over issuer application
// data reporting a fresh transaction (ARQC at the first GENERATE AC, no
// second one, no offline PIN, no DDA, the full PIN try counter). The
// simulated issuer verifies it as any ARQC. Errors never quote card
// data: the card must be a chip card of a scheme with an issuer, its
// application not blocked.
func CPM(name string, atc uint16, un [4]byte, date time.Time) (string, error) {
	c, ok := Lookup(name)
	if !ok {
		return "", fmt.Errorf("deck: no card %q", name)
	}
	if c.Chip == nil {
		return "", fmt.Errorf("%w: %s", errNoChip, name)
	}
	if c.Chip.Blocked {
		return "", fmt.Errorf("%w: %s: application blocked", errNoCPM, name)
	}
	sa, ok := schemeApps[c.Scheme]
	if !ok {
		return "", fmt.Errorf("%w: %s: no chip profile for its scheme", errNoCPM, name)
	}
	is, ok := Issuers[c.Scheme]
	if !ok {
		return "", fmt.Errorf("%w: %s: no simulated issuer for its scheme", errNoCPM, name)
	}
	pan, yymm, svc, disc, err := track2Fields(c.Track2)
	if err != nil || pan != c.PAN {
		return "", fmt.Errorf("%w: %s: track 2 does not match the PAN", errNoCPM, name)
	}
	psn := c.PSN
	if psn == "" {
		psn = "00"
	}
	aip := sa.contactAIP
	if c.Chip.Contactless {
		aip = sa.contactlessAIP
	}
	iad, err := freshARQCIAD(is.CVN)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", errNoCPM, name, err)
	}
	atcB := []byte{byte(atc >> 8), byte(atc)}
	tags := map[string][]byte{
		"9F02": make([]byte, 6),
		"9F03": make([]byte, 6),
		"9F1A": cny,
		"95":   make([]byte, 5),
		"5F2A": cny,
		"9A":   n(date.Format("060102"), 3),
		"9C":   {0x00},
		"9F37": un[:],
		"82":   aip[:],
		"9F36": atcB,
		"9F10": iad,
	}
	data, err := ACInput(c.Scheme, tags)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", errNoCPM, name, err)
	}
	mk, err := is.ICCMasterKey(c.PAN, psn)
	if err != nil {
		return "", fmt.Errorf("%w: %s: ICC master key: %w", errNoCPM, name, err)
	}
	defer clear(mk)
	sk, err := is.SessionKey(mk, atcB, un[:])
	if err != nil {
		return "", fmt.Errorf("%w: %s: session key: %w", errNoCPM, name, err)
	}
	defer clear(sk)
	arqc, err := emv.GenerateAC(sk, data, is.Padding)
	if err != nil {
		return "", fmt.Errorf("%w: %s: cryptogram: %w", errNoCPM, name, err)
	}
	app := []bertlv.TLV{
		bertlv.NewTag("4F", sa.aid),
		bertlv.NewTag("50", []byte(sa.label)),
		bertlv.NewTag("57", cn(pan+"D"+yymm+svc+disc)),
		bertlv.NewTag("5F34", n(psn, 1)),
		bertlv.NewTag("9F10", iad),
		bertlv.NewTag("82", tags["82"]),
		bertlv.NewTag("9F36", atcB),
		bertlv.NewTag("9F37", tags["9F37"]),
		bertlv.NewTag("9F26", arqc),
		bertlv.NewTag("9F27", []byte{icc.CIDARQC}),
	}
	for _, t := range []string{"9F02", "9F03", "9F1A", "95", "5F2A", "9A", "9C"} {
		app = append(app, bertlv.NewTag(t, tags[t]))
	}
	raw, err := bertlv.Encode([]bertlv.TLV{
		bertlv.NewTag("85", []byte("CPV01")),
		bertlv.NewComposite("61", app...),
	})
	if err != nil {
		return "", fmt.Errorf("%w: %s: encoding: %w", errNoCPM, name, err)
	}
	s := base64.StdEncoding.EncodeToString(raw)
	clear(raw)
	return s, nil
}

// freshARQCIAD is the issuer application data a deck chip of version v
// puts in its ARQC at the first GENERATE AC of a fresh transaction: the
// card verification results say ARQC returned at the first GENERATE AC,
// second GENERATE AC not requested, nothing else performed or failed
// (M/Chip: offline PIN not performed, the PIN try counter at the deck's
// limit), in the layout of v (see the icc.CVN constants).
func freshARQCIAD(v icc.CVN) ([]byte, error) {
	// AC bits: second GENERATE AC not requested (10) in bits 8-7, ARQC
	// (10) at the first in bits 6-5.
	const acs = 0x80 | 0x20
	switch v {
	case icc.VisaCVN10:
		return []byte{0x06, 0x01, byte(icc.VisaCVN10), 0x03, acs, 0x00, 0x00}, nil
	case icc.PBOCCVN01:
		return []byte{0x07, 0x01, byte(icc.PBOCCVN01), 0x03, acs, 0x00, 0x00, 0x01}, nil
	case icc.MChipCVN16:
		iad := []byte{0x01, byte(icc.MChipCVN16), acs, 0x00, pinTryLimit & 0x0F, 0x20, 0x00, 0x00}
		return append(iad, make([]byte, 10)...), nil
	}
	return nil, fmt.Errorf("%w: %v", icc.ErrCVN, v)
}
