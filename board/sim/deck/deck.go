// Package deck is the simulated board's deck of virtual test cards. The
// PANs are test numbers (Luhn-valid, from test ranges), never real
// accounts. Outcomes at the acquirer simulator depend on the amount (see
// the magic amounts of the design notes), not on the card, except where a
// card's Purpose says otherwise.
//
// Chip cards (Card.Chip) are software EMV cards (package icc) made by
// NewICC with real RSA keys and a certificate chain under a simulated CA
// per scheme (CAPKs), and application cryptograms under the ICC master
// keys the simulated issuers (Issuers) derive from their issuer master
// keys: an issuer that knows Issuers and the card's PAN, PAN sequence
// number and ATC verifies them (ACInput).
package deck

import "posd/board/sim/icc"

// Card is one virtual card.
type Card struct {
	Name    string   `json:"name"`
	Purpose string   `json:"purpose"`
	Entry   []string `json:"entry_modes"` // "swipe", "insert", "tap"
	Scheme  string   `json:"scheme"`
	// PAN of the card; the simulator's API and console never show it.
	PAN string `json:"-"`
	// Track1 and Track2 are the stripe contents between the sentinels.
	Track1 string `json:"-"`
	Track2 string `json:"-"`
	// Raw, when set, is sent by the reader instead of well-formed tracks: a
	// damaged stripe.
	Raw string `json:"-"`
	// BadTracks are the tracks (1 to 3) the reader cannot decode: it
	// sends its error marker for them (MagTek "%E?") or leaves them out
	// (ID TECH).
	BadTracks []int `json:"-"`
	// Reader is the output format of the reader the card is swiped
	// through on the simulated board ("idtech", "magtek", "line"; empty:
	// the board's default). No card data.
	Reader string `json:"reader,omitempty"`
	// PIN is the cardholder's PIN (online PIN checked by the simulated
	// issuer, offline PIN by the chip). Never shown.
	PIN string `json:"-"`
	// PSN is the PAN sequence number (tag 5F34) of a chip card, two
	// digits; empty for stripe-only cards.
	PSN string `json:"-"`
	// Chip is the EMV chip of a card that can be inserted or tapped; nil
	// for stripe-only cards. Never shown (keys and card data follow from
	// it).
	Chip *Chip `json:"-"`
}

// Cards is the deck.
var Cards = []Card{
	{
		Name:    "visa-classic",
		Purpose: "approves (magstripe, service code 101); use amounts ending in 51/05/91/96 for the host's declines and timeouts",
		Entry:   []string{"swipe"},
		Scheme:  "visa",
		PAN:     "4761739001010010",
		Track1:  "B4761739001010010^VISA/TEST CARD^3012101000000000000000000000000",
		Track2:  "4761739001010010=30121010000000000000",
		PIN:     "1234",
	},
	{
		Name:    "unionpay-debit",
		Purpose: "approves (UnionPay magstripe, 19-digit PAN, track 2 only; MagTek STX/ETX reader output)",
		Entry:   []string{"swipe"},
		Scheme:  "unionpay",
		PAN:     "6212345678901234569",
		Track2:  "6212345678901234569=3112101000001234",
		Reader:  "magtek",
		PIN:     "2580",
	},
	{
		Name:    "mastercard-credit",
		Purpose: "approves (magstripe, tracks 1 and 2; ID TECH reader output, one line per track)",
		Entry:   []string{"swipe"},
		Scheme:  "mastercard",
		PAN:     "5413330089010012",
		Track1:  "B5413330089010012^MC/TEST CARD^2912101000000000000000000000000",
		Track2:  "5413330089010012=29121010000000000000",
		Reader:  "idtech",
		PIN:     "4321",
	},
	{
		Name:      "visa-worn-track1",
		Purpose:   "track 1 worn (the reader reports it unreadable), track 2 good: approves on track 2",
		Entry:     []string{"swipe"},
		Scheme:    "visa",
		PAN:       "4761739001010119",
		Track1:    "B4761739001010119^VISA/WORN TRACK^3012101000000000000000000000000",
		Track2:    "4761739001010119=30121010000000000000",
		BadTracks: []int{1},
		Reader:    "magtek",
		PIN:       "1234",
	},
	{
		Name:    "expired-visa",
		Purpose: "expired card (12/20): refused by the terminal, nothing sent",
		Entry:   []string{"swipe"},
		Scheme:  "visa",
		PAN:     "4000000000000002",
		Track2:  "4000000000000002=20121010000000000000",
		PIN:     "1234",
	},
	{
		Name:    "damaged-stripe",
		Purpose: "malformed track 2 (no separator, bad length), no track 1: unreadable, card read error, nothing sent",
		Entry:   []string{"swipe"},
		Scheme:  "visa",
		PAN:     "4111111111111111",
		Raw:     ";41111111111111113012101?",
	},

	// Chip cards. Every one also has a track 2 (and its equivalent, tag
	// 57, on the chip) with service code 201: an IC card, so a terminal
	// asks for the chip when one is swiped. PINs are in Card.PIN.
	{
		Name: "visa-credit",
		Purpose: "Visa credit, contact VSDC (DDA, online, signature or no CVM, issuer authentication required) and contactless qVSDC " +
			"(fDDA, always online); stripe too",
		Entry:  []string{"swipe", "insert", "tap"},
		Scheme: "visa",
		PAN:    "4761730000000011",
		Track1: "B4761730000000011^VISA/CREDIT^3012201000000000000000000000000",
		Track2: "4761730000000011=30122010000000000000",
		PIN:    "1234",
		PSN:    "01",
		Chip: &Chip{Contact: true, Contactless: true,
			ContactCVM:     icc.CVMList(0, 0, [2]byte{icc.CVMSignature | icc.CVMApplyNext, icc.CondSupported}, [2]byte{icc.CVMNoCVM, icc.CondSupported}),
			ContactlessCVM: icc.CVMList(0, 0, [2]byte{icc.CVMSignature | icc.CVMApplyNext, icc.CondSupported}, [2]byte{icc.CVMNoCVM, icc.CondSupported}),
			Risk:           icc.Risk{DeclineIfIssuerAuthFails: true}},
	},
	{
		Name: "mastercard-debit",
		Purpose: "Mastercard debit, contact M/Chip and contactless kernel 2, CDA on both, always online; contact CVM: offline enciphered PIN, " +
			"else online PIN, else signature; contactless: online PIN when the reader supports it (above its CVM limit), else no CVM",
		Entry:  []string{"swipe", "insert", "tap"},
		Scheme: "mastercard",
		PAN:    "5413330000000019",
		Track1: "B5413330000000019^MC/DEBIT^3012201000000000000000000000000",
		Track2: "5413330000000019=30122010000000000000",
		PIN:    "4321",
		PSN:    "00",
		Chip: &Chip{Contact: true, Contactless: true,
			ContactCVM: icc.CVMList(0, 0, [2]byte{icc.CVMOfflineEncPIN | icc.CVMApplyNext, icc.CondSupported},
				[2]byte{icc.CVMOnlinePIN | icc.CVMApplyNext, icc.CondSupported}, [2]byte{icc.CVMSignature, icc.CondSupported}),
			ContactlessCVM: icc.CVMList(0, 0, [2]byte{icc.CVMOnlinePIN | icc.CVMApplyNext, icc.CondSupported}, [2]byte{icc.CVMNoCVM, icc.CondSupported})},
	},
	{
		Name: "unionpay-ic-debit",
		Purpose: "UnionPay debit, 19-digit PAN (ICC master key option B), contact PBOC (DDA, online PIN) and contactless qPBOC " +
			"(fDDA, always online, online PIN above the reader's CVM limit)",
		Entry:  []string{"swipe", "insert", "tap"},
		Scheme: "unionpay",
		PAN:    "6212340000000000012",
		Track2: "6212340000000000012=3012201000001234",
		PIN:    "123456",
		PSN:    "01",
		Chip: &Chip{Contact: true, Contactless: true,
			ContactCVM:     icc.CVMList(0, 0, [2]byte{icc.CVMOnlinePIN | icc.CVMApplyNext, icc.CondSupported}, [2]byte{icc.CVMSignature, icc.CondSupported}),
			ContactlessCVM: icc.CVMList(0, 0, [2]byte{icc.CVMOnlinePIN | icc.CVMApplyNext, icc.CondSupported}, [2]byte{icc.CVMNoCVM, icc.CondSupported}),
			Risk:           icc.Risk{OnlinePINAboveCVMLimit: true}},
	},
	{
		Name:    "visa-online-pin",
		Purpose: "Visa, contact only: the CVM list asks for online PIN, always (a terminal without it fails the CVM)",
		Entry:   []string{"swipe", "insert"},
		Scheme:  "visa",
		PAN:     "4761730000000029",
		Track1:  "B4761730000000029^VISA/ONLINE PIN^3012201000000000000000000000000",
		Track2:  "4761730000000029=30122010000000000000",
		PIN:     "2468",
		PSN:     "01",
		Chip: &Chip{Contact: true,
			ContactCVM: icc.CVMList(0, 0, [2]byte{icc.CVMOnlinePIN, icc.CondAlways})},
	},
	{
		Name: "visa-offline",
		Purpose: "Visa, contact only, approves offline (TC) at or below 500.00 CNY when the terminal asks (below its floor limit), " +
			"at most 5 times in a row; no CVM up to 200.00, signature above",
		Entry:  []string{"insert"},
		Scheme: "visa",
		PAN:    "4761730000000037",
		Track2: "4761730000000037=30122010000000000000",
		PIN:    "1357",
		PSN:    "01",
		Chip: &Chip{Contact: true,
			ContactCVM: icc.CVMList(20000, 0, [2]byte{icc.CVMNoCVM | icc.CVMApplyNext, icc.CondUnderX}, [2]byte{icc.CVMSignature, icc.CondSupported}),
			Risk:       icc.Risk{OfflineLimit: 50000, MaxConsecutiveOffline: 5}},
	},
	{
		Name: "visa-tampered-oda",
		Purpose: "Visa, contact and contactless, its ICC public key certificate altered after signing: DDA/fDDA fail " +
			"(ICC certificate cannot be recovered), the terminal goes online (IAC-online has DDA failed)",
		Entry:  []string{"insert", "tap"},
		Scheme: "visa",
		PAN:    "4761730000000045",
		Track2: "4761730000000045=30122010000000000000",
		PIN:    "1111",
		PSN:    "01",
		Chip: &Chip{Contact: true, Contactless: true, TamperODA: true,
			ContactCVM:     icc.CVMList(0, 0, [2]byte{icc.CVMSignature | icc.CVMApplyNext, icc.CondSupported}, [2]byte{icc.CVMNoCVM, icc.CondSupported}),
			ContactlessCVM: icc.CVMList(0, 0, [2]byte{icc.CVMNoCVM, icc.CondSupported})},
	},
	{
		Name: "visa-expired-chip",
		Purpose: "Visa chip card expired 06/22 (application expiration date 220630, ICC certificate 06/22); its IAC-denial lists " +
			"'expired application': declined offline, nothing sent",
		Entry:  []string{"insert"},
		Scheme: "visa",
		PAN:    "4761730000000052",
		Track2: "4761730000000052=22062010000000000000",
		PIN:    "2222",
		PSN:    "01",
		Chip: &Chip{Contact: true, IACDenial: "0050000000",
			ContactCVM: icc.CVMList(0, 0, [2]byte{icc.CVMSignature | icc.CVMApplyNext, icc.CondSupported}, [2]byte{icc.CVMNoCVM, icc.CondSupported})},
	},
	{
		Name: "mastercard-blocked",
		Purpose: "Mastercard with its application blocked (as after an APPLICATION BLOCK script): SELECT answers 6283, " +
			"GET PROCESSING OPTIONS 6985; no application to choose",
		Entry:  []string{"insert", "tap"},
		Scheme: "mastercard",
		PAN:    "5413330000000027",
		Track2: "5413330000000027=30122010000000000000",
		PIN:    "3333",
		PSN:    "00",
		Chip: &Chip{Contact: true, Contactless: true, Blocked: true,
			ContactCVM:     icc.CVMList(0, 0, [2]byte{icc.CVMOnlinePIN, icc.CondSupported}),
			ContactlessCVM: icc.CVMList(0, 0, [2]byte{icc.CVMNoCVM, icc.CondSupported})},
	},
	{
		Name: "visa-contactless-cvm",
		Purpose: "Visa contactless only (qVSDC, fDDA): approves offline (TC) below the reader's CVM limit when the reader allows, " +
			"up to 1000.00 and 10 in a row; above the CVM limit it asks for online PIN and goes online (ARQC)",
		Entry:  []string{"tap"},
		Scheme: "visa",
		PAN:    "4761730000000060",
		Track2: "4761730000000060=30122010000000000000",
		PIN:    "8642",
		PSN:    "01",
		Chip: &Chip{Contactless: true,
			ContactlessCVM: icc.CVMList(0, 0, [2]byte{icc.CVMNoCVM, icc.CondSupported}),
			Risk:           icc.Risk{ContactlessOfflineLimit: 100000, MaxConsecutiveOffline: 10, OnlinePINAboveCVMLimit: true}},
	},
	{
		Name: "unionpay-dual",
		Purpose: "UnionPay chip with two applications, contact only: debit (priority 1) and credit (priority 2); " +
			"the customer chooses one on the keypad (1 debit, 2 credit); no CVM",
		Entry:  []string{"insert"},
		Scheme: "unionpay",
		PAN:    "6212340000000000020",
		Track2: "6212340000000000020=3012201000001234",
		PIN:    "975310",
		PSN:    "01",
		Chip: &Chip{Contact: true,
			ContactCVM: icc.CVMList(0, 0, [2]byte{icc.CVMNoCVM, icc.CondSupported}),
			More:       []MoreApp{{AID: []byte{0xA0, 0, 0, 0x03, 0x33, 0x01, 0x01, 0x02}, Label: "UnionPay Credit", Priority: 0x02}}},
	},
	{
		Name: "visa-confirm",
		Purpose: "Visa chip, contact only, whose one application asks for the cardholder's confirmation: " +
			"the display asks, Enter pays, Cancel refuses the card; no CVM",
		Entry:  []string{"insert"},
		Scheme: "visa",
		PAN:    "4761730000000078",
		Track2: "4761730000000078=30122010000000000000",
		PIN:    "3197",
		PSN:    "01",
		Chip: &Chip{Contact: true, Priority: 0x81,
			ContactCVM: icc.CVMList(0, 0, [2]byte{icc.CVMNoCVM, icc.CondSupported})},
	},
}

// Lookup finds a card by name.
func Lookup(name string) (Card, bool) {
	for _, c := range Cards {
		if c.Name == name {
			return c, true
		}
	}
	return Card{}, false
}
