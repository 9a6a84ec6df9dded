// Package deck is the simulated board's deck of virtual test cards. The
// PANs are test numbers (Luhn-valid, from test ranges), never real
// accounts. Outcomes at the acquirer simulator depend on the amount (see
// the magic amounts of the design notes), not on the card, except where a
// card's Purpose says otherwise.
package deck

// Card is one virtual card.
type Card struct {
	Name    string   `json:"name"`
	Purpose string   `json:"purpose"`
	Entry   []string `json:"entry_modes"` // "swipe", later "tap", "insert"
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
