package deck

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"posd/board/sim/icc"
	"posd/crypto/emv"
)

// Chip describes the EMV chip of a deck card; the rest (AIDs, files,
// data object lists, keys, certificates) follows from the card's scheme
// and its PAN, PSN, track 2 and PIN:
//
//   - visa: Visa credit AID A0000000031010, VSDC on the contact interface
//     (DDA, EXTERNAL AUTHENTICATE, AC format 1) and qVSDC contactless
//     (kernel 3, fDDA), cryptogram version 10.
//   - mastercard: Mastercard AID A0000000041010, M/Chip on the contact
//     interface and kernel 2 (M/Chip) contactless, CDA on both, issuer
//     authentication data in CDOL2, cryptogram version 16.
//   - unionpay: UnionPay AID A000000333010101 (debit), PBOC on the
//     contact interface (DDA, EXTERNAL AUTHENTICATE) and qPBOC
//     contactless (kernel 7, fDDA), cryptogram version 01.
type Chip struct {
	// Contact and Contactless say which interfaces the application is
	// offered on.
	Contact, Contactless bool
	// ContactCVM and ContactlessCVM are the CVM lists (8E) of each
	// interface (see icc.CVMList).
	ContactCVM, ContactlessCVM []byte
	// IACDenial, IACOnline, IACDefault: the issuer action codes (hex);
	// empty means the scheme's usual ones.
	IACDenial, IACOnline, IACDefault string
	// Risk is the card's own risk management.
	Risk icc.Risk
	// Blocked: the application is blocked (SELECT answers 6283).
	Blocked bool
	// TamperODA: the ICC public key certificate is altered after it was
	// signed, so that the terminal cannot recover it.
	TamperODA bool
	// Priority is the application priority indicator (87) of the
	// scheme's application: 0x01 when zero; bit 8 set asks for the
	// cardholder's confirmation.
	Priority byte
	// More are further applications on the same chip (a debit and a
	// credit application, as UnionPay cards carry): the same data, keys
	// and files under another AID, label and priority.
	More []MoreApp
}

// MoreApp is a further application of a deck chip.
type MoreApp struct {
	AID      []byte
	Label    string
	Priority byte
}

// The issuer action codes a scheme's cards usually carry.
const (
	iacDenial  = "0010000000"
	iacOnline  = "FC70ACF800"
	iacDefault = "FC70ACF800"
)

// pinTryLimit is the PIN try limit of the deck's chips.
const pinTryLimit = 3

// the application currency and issuer country: China.
var cny = []byte{0x01, 0x56}

// ATR is the answer to reset of the deck's contact cards: direct
// convention, T=0 only (no TD1), TB1 = 00 (no programming voltage),
// TC1 = 00 (no extra guard time), no historical bytes: the basic ATR of
// EMV book 1 section 8.3.
var ATR = []byte{0x3B, 0x60, 0x00, 0x00}

// UID is the contactless identifier of a deck card on its n-th
// presentation: a random UID (08 then three bytes), new each time the
// card enters the field as most payment cards do, and the same in every
// process.
func UID(name string, n int) []byte {
	h := sha256.Sum256([]byte(fmt.Sprintf("posd simulated UID %s %d", name, n)))
	return []byte{0x08, h[0], h[1], h[2]}
}

// NewICC personalises a fresh software chip for a deck card: the same
// keys and data in every process, a new state (ATC 0, full PIN try
// counter). The simulated board keeps one per card for the whole process
// so that counters persist across presentations.
func NewICC(name string) (*icc.Card, error) {
	c, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("deck: no card %q", name)
	}
	if c.Chip == nil {
		return nil, fmt.Errorf("%w: %s", errNoChip, name)
	}
	p, err := profile(c)
	if err != nil {
		return nil, fmt.Errorf("deck: %s: %w", name, err)
	}
	return icc.New(p, seeded("card "+name))
}

// track2Fields splits a track 2 (PAN=YYMM SVC DISC) into the expiry YYMM,
// service code and discretionary data.
func track2Fields(t2 string) (pan, yymm, svc, disc string, err error) {
	pan, rest, ok := strings.Cut(t2, "=")
	if !ok || len(rest) < 7 {
		return "", "", "", "", fmt.Errorf("malformed track 2")
	}
	return pan, rest[:4], rest[4:7], rest[7:], nil
}

// cn packs digits (and the separator D) as compressed numeric, F padded
// to whole bytes.
func cn(s string) []byte {
	if len(s)%2 == 1 {
		s += "F"
	}
	b, _ := hex.DecodeString(s)
	return b
}

// n packs decimal digits right-justified into size bytes of BCD.
func n(s string, size int) []byte {
	s = strings.Repeat("0", max(0, 2*size-len(s))) + s
	b, _ := hex.DecodeString(s[len(s)-2*size:])
	return b
}

func lastDay(yymm string) string {
	switch yymm[2:] {
	case "02":
		return "28"
	case "04", "06", "09", "11":
		return "30"
	}
	return "31"
}

// schemeApp is what a scheme fixes in its applications.
type schemeApp struct {
	aid               []byte
	label, preferred  string
	cvn               icc.CVN
	version           []byte // 9F08
	contactAIP        [2]byte
	contactlessAIP    [2]byte
	contactlessKernel icc.Kernel
	kernelID          byte
	cdol1, cdol2      []byte
	gpoFormat1        bool
	genACFormat1      bool
}

var quickPDOL = icc.DOL("9F66", 4, "9F02", 6, "9F03", 6, "9F1A", 2, "95", 5, "5F2A", 2, "9A", 3, "9C", 1, "9F37", 4)

var schemeApps = map[string]schemeApp{
	"visa": {
		aid: []byte{0xA0, 0, 0, 0, 0x03, 0x10, 0x10}, label: "VISA CREDIT", preferred: "VISA CREDIT",
		cvn: icc.VisaCVN10, version: []byte{0x00, 0x96},
		contactAIP: [2]byte{icc.AIPDDA | icc.AIPCVM | icc.AIPRiskMgmt | icc.AIPIssuerAuth, 0x00},
		// qVSDC: DDA (fDDA).
		contactlessAIP: [2]byte{icc.AIPDDA, 0x00}, contactlessKernel: icc.KernelQuick, kernelID: 3,
		cdol1: icc.DOL("9F02", 6, "9F03", 6, "9F1A", 2, "95", 5, "5F2A", 2, "9A", 3, "9C", 1, "9F37", 4,
			"9F35", 1, "9F45", 2, "9F4C", 8, "9F34", 3),
		cdol2:      icc.DOL("8A", 2, "95", 5, "9F37", 4),
		gpoFormat1: true, genACFormat1: true,
	},
	"mastercard": {
		aid: []byte{0xA0, 0, 0, 0, 0x04, 0x10, 0x10}, label: "MASTERCARD", preferred: "DEBIT MASTERCARD",
		cvn: icc.MChipCVN16, version: []byte{0x00, 0x02},
		contactAIP: [2]byte{icc.AIPDDA | icc.AIPCVM | icc.AIPRiskMgmt | icc.AIPCDA, 0x00},
		// Kernel 2: CDA, EMV mode.
		contactlessAIP: [2]byte{icc.AIPCVM | icc.AIPRiskMgmt | icc.AIPCDA, icc.AIP2EMVMode}, contactlessKernel: icc.KernelEMV, kernelID: 2,
		cdol1: icc.DOL("9F02", 6, "9F03", 6, "9F1A", 2, "95", 5, "5F2A", 2, "9A", 3, "9C", 1, "9F37", 4,
			"9F35", 1, "9F45", 2, "9F4C", 8, "9F34", 3),
		cdol2: icc.DOL("91", 10, "8A", 2, "95", 5, "9F37", 4, "9F4C", 8),
	},
	"unionpay": {
		aid: []byte{0xA0, 0, 0, 0x03, 0x33, 0x01, 0x01, 0x01}, label: "UnionPay Debit", preferred: "UNIONPAY DEBIT",
		cvn: icc.PBOCCVN01, version: []byte{0x00, 0x30},
		contactAIP:     [2]byte{icc.AIPDDA | icc.AIPCVM | icc.AIPRiskMgmt | icc.AIPIssuerAuth, 0x00},
		contactlessAIP: [2]byte{icc.AIPDDA, 0x00}, contactlessKernel: icc.KernelQuick, kernelID: 7,
		cdol1: icc.DOL("9F02", 6, "9F03", 6, "9F1A", 2, "95", 5, "5F2A", 2, "9A", 3, "9C", 1, "9F37", 4,
			"9F21", 3, "9F4E", 20),
		cdol2: icc.DOL("8A", 2, "95", 5, "9F37", 4),
	},
}

// profile personalises the chip of a deck card.
func profile(c Card) (*icc.Profile, error) {
	sa, ok := schemeApps[c.Scheme]
	if !ok {
		return nil, fmt.Errorf("no chip profile for scheme %q", c.Scheme)
	}
	is, ok := Issuers[c.Scheme]
	if !ok {
		return nil, fmt.Errorf("no simulated issuer for scheme %q", c.Scheme)
	}
	ch := c.Chip
	pan, yymm, svc, disc, err := track2Fields(c.Track2)
	if err != nil || pan != c.PAN {
		return nil, fmt.Errorf("track 2 does not match the PAN")
	}
	keys, err := keysFor(c.Scheme, c.PAN)
	if err != nil {
		return nil, err
	}
	if !emvIssuerMatches(keys, c.PAN) {
		return nil, fmt.Errorf("PAN outside the simulated issuer's BIN")
	}
	iccK, err := iccKey(c.Name)
	if err != nil {
		return nil, err
	}
	mkAC, err := emv.DeriveICCMasterKey(is.IMKAC, c.PAN, c.PSN, is.MKOption)
	if err != nil {
		return nil, err
	}
	mkSMI, err := emv.DeriveICCMasterKey(is.IMKSMI, c.PAN, c.PSN, is.MKOption)
	if err != nil {
		return nil, err
	}
	psn := c.PSN
	if psn == "" {
		psn = "00"
	}
	hexOr := func(s, def string) []byte {
		if s == "" {
			s = def
		}
		b, _ := hex.DecodeString(s)
		return b
	}
	data := map[string][]byte{
		"57":   cn(pan + "D" + yymm + svc + disc),
		"5F20": []byte(cardholderName(c)),
		"5A":   cn(c.PAN),
		"5F24": n(yymm+lastDay(yymm), 3),
		"5F25": n("200101", 3),
		"5F28": cny,
		"5F30": n(svc, 2),
		"5F34": n(psn, 1),
		"9F07": {0xFF, 0x00},
		"9F08": sa.version,
		"9F0D": hexOr(ch.IACDefault, iacDefault),
		"9F0E": hexOr(ch.IACDenial, iacDenial),
		"9F0F": hexOr(ch.IACOnline, iacOnline),
		"9F42": cny,
		"9F44": {0x02},
		"9F4A": {0x82},
		"8C":   sa.cdol1,
		"8D":   sa.cdol2,
		"9F49": icc.DOL("9F37", 4),
		"8F":   {CAIndex},
		"90":   keys.issuerCert,
		"9F32": keys.issuer.Exponent,
		"9F4F": icc.DOL("9A", 3, "9F21", 3, "9F02", 6, "9F03", 6, "9F1A", 2, "5F2A", 2, "9F4E", 20, "9C", 1, "9F36", 2),
	}
	if len(keys.issuerRem) > 0 {
		data["92"] = keys.issuerRem
	}
	certRecords := func() []icc.Record {
		return []icc.Record{
			{Tags: []string{"8F", "90", "9F32"}},
			{Tags: append(remTags(keys.issuerRem), "9F46", "9F47", "9F48")},
		}
	}
	prio := ch.Priority
	if prio == 0 {
		prio = 0x01
	}
	app := &icc.App{
		AID: sa.aid, Label: sa.label, PreferredName: sa.preferred, Priority: prio,
		CVN: sa.cvn, MKAC: mkAC, MKSMI: mkSMI, ARPCMethod: is.ARPCMethod, ICCKey: iccK,
		Data: data, Risk: ch.Risk, Blocked: ch.Blocked,
	}
	if ch.Contact {
		app.Contact = &icc.Iface{
			Kernel: icc.KernelEMV, AIP: sa.contactAIP, GPOFormat1: sa.gpoFormat1, GenACFormat1: sa.genACFormat1,
			Data: map[string][]byte{"8E": ch.ContactCVM},
			Files: []icc.File{
				{SFI: 1, Records: []icc.Record{{Tags: []string{"57", "5F20"}}}},
				{SFI: 2, Records: []icc.Record{
					{Tags: []string{"5A", "5F24", "5F25", "5F28", "5F30", "5F34", "9F07", "9F0D", "9F0E", "9F0F", "8E", "9F4A"}, ODA: true},
					{Tags: []string{"8C", "8D", "9F08", "9F42", "9F44", "9F49"}, ODA: true},
				}},
				{SFI: 3, Records: certRecords()},
			},
		}
	}
	if ch.Contactless {
		f := &icc.Iface{
			Kernel: sa.contactlessKernel, KernelID: sa.kernelID, AIP: sa.contactlessAIP,
			Data: map[string][]byte{"8E": ch.ContactlessCVM},
		}
		if f.Kernel == icc.KernelQuick {
			// qVSDC/qPBOC: the GPO answer carries track 2 and the PSN; the
			// records hold what ODA and the terminal still need.
			f.PDOL = quickPDOL
			f.Files = []icc.File{
				{SFI: 2, Records: []icc.Record{
					{Tags: []string{"5A", "5F24", "5F25", "5F28", "9F07", "9F0D", "9F0E", "9F0F", "8E", "9F4A"}, ODA: true},
				}},
				{SFI: 3, Records: certRecords()},
			}
		} else {
			f.Files = []icc.File{
				{SFI: 1, Records: []icc.Record{{Tags: []string{"57", "5F20"}}}},
				{SFI: 2, Records: []icc.Record{
					{Tags: []string{"5A", "5F24", "5F25", "5F28", "5F34", "9F07", "9F0D", "9F0E", "9F0F", "8E", "9F4A"}, ODA: true},
					{Tags: []string{"8C", "8D", "9F08", "9F42", "9F44"}, ODA: true},
				}},
				{SFI: 3, Records: certRecords()},
			}
		}
		app.Contactless = f
	}
	expiry := emv.MonthYear(n(yymm[2:]+yymm[:2], 2))
	for _, f := range []*icc.Iface{app.Contact, app.Contactless} {
		if f == nil {
			continue
		}
		if err := icc.CertifyICC(app, f, keys.issuer, c.PAN, expiry, [3]byte{0x00, 0x00, 0x01}); err != nil {
			return nil, err
		}
		if ch.TamperODA {
			// One bit of the certificate flipped after signing: the
			// recovered data no longer has the EMV header and trailer.
			f.Data["9F46"] = bytes.Clone(f.Data["9F46"])
			f.Data["9F46"][len(f.Data["9F46"])/2] ^= 0x01
		}
	}
	apps := []*icc.App{app}
	for _, m := range ch.More {
		more := *app
		more.AID, more.Label, more.PreferredName, more.Priority = m.AID, m.Label, strings.ToUpper(m.Label), m.Priority
		apps = append(apps, &more)
	}
	return &icc.Profile{Apps: apps, PSE: true, PIN: c.PIN, PINTryLimit: pinTryLimit}, nil
}

func remTags(rem []byte) []string {
	if len(rem) > 0 {
		return []string{"92"}
	}
	return nil
}

// emvIssuerMatches: the issuer certificate names the card's BIN.
func emvIssuerMatches(k *schemeKeys, pan string) bool {
	ipk, err := emv.RecoverIssuerPublicKey(k.ca.Key.PublicKey, k.issuerCert, k.issuerRem, k.issuer.Exponent)
	return err == nil && ipk.MatchesPAN(pan)
}

// cardholderName is track 1's name field, or a placeholder.
func cardholderName(c Card) string {
	parts := strings.Split(c.Track1, "^")
	if len(parts) >= 2 && parts[1] != "" {
		return parts[1]
	}
	return "TEST/CARDHOLDER"
}
