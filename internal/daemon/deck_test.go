package daemon

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moov-io/bertlv"

	"posd/board/entry"
	"posd/board/sim"
	"posd/board/sim/deck"
	"posd/board/sim/icc"
	cemv "posd/crypto/emv"
	"posd/crypto/pinblock"
	"posd/terminal/emv"
	"posd/terminal/risk"
	"posd/terminal/txn"
)

// constRand is a random source that always gives the same byte: 0x62
// draws 99 in random transaction selection (never selected), 0x00 draws
// 1 (always selected).
type constRand byte

func (c constRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// deckUI is the cardholder: it picks the first application and types the
// PINs of pins, one per offline PIN request (the card's own PIN when pins
// is empty).
type deckUI struct {
	mu    sync.Mutex
	pin   string
	pins  []string
	pick  int // the application the cardholder takes
	asks  []emv.OfflinePINRequest
	msgs  []emv.Message
	cands []emv.Candidate // those offered at the selection
}

func (u *deckUI) Select(_ context.Context, c []emv.Candidate) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.cands = c
	return u.pick, nil
}
func (u *deckUI) Message(_ context.Context, m emv.Message) {
	u.mu.Lock()
	u.msgs = append(u.msgs, m)
	u.mu.Unlock()
}

func (u *deckUI) OfflinePIN(_ context.Context, r emv.OfflinePINRequest) ([]byte, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.asks = append(u.asks, r)
	pin := u.pin
	if len(u.pins) > 0 {
		pin, u.pins = u.pins[0], u.pins[1:]
	}
	return pinblock.EncodeFormat2Digits([]byte(pin))
}

// issuerAnswer plays the deck's issuer: it checks the ARQC of the
// online data with the scheme's issuer master key and answers with the
// ARPC for arc ("00" approves).
func issuerAnswer(card deck.Card, pan, psn string, online []byte, arc string) (emv.HostResponse, error) {
	tlvs, err := bertlv.Decode(online)
	if err != nil {
		return emv.HostResponse{}, err
	}
	v := map[string][]byte{}
	for _, x := range tlvs {
		v[strings.ToUpper(x.Tag)] = x.Value
	}
	is := deck.Issuers[card.Scheme]
	mk, err := is.ICCMasterKey(pan, psn)
	if err != nil {
		return emv.HostResponse{}, err
	}
	un := v["9F37"]
	sk, err := is.SessionKey(mk, v["9F36"], un)
	if err != nil {
		return emv.HostResponse{}, err
	}
	data, err := deck.ACInput(card.Scheme, v)
	if err != nil {
		return emv.HostResponse{}, err
	}
	if err := cemv.VerifyAC(sk, data, is.Padding, v["9F26"]); err != nil {
		return emv.HostResponse{}, fmt.Errorf("ARQC: %w", err)
	}
	csu := []byte{0, 0, 0, 0}
	if arc == "00" {
		csu[1] = 0x80
	}
	auth, err := is.ARPC(mk, v["9F36"], un, v["9F26"], []byte(arc), csu)
	if err != nil {
		return emv.HostResponse{}, err
	}
	return emv.HostResponse{Responded: true, Approved: arc == "00", ARC: [2]byte{arc[0], arc[1]}, IssuerAuthData: auth}, nil
}

// deckCase is one outcome path of one deck card on one interface.
type deckCase struct {
	card   string
	mode   entry.Mode
	amount int64
	rand   byte     // constRand: 0x62 never randomly selected, 0 always
	pins   []string // offline PINs typed (the card's PIN if empty)
	host   string   // "00", "05" or "" (no answer); unused offline
	pull   bool     // the card leaves right after the (first) cryptogram
	pick   int      // the application the cardholder chooses
	apps   []string // the applications offered (AID, "+" when it asks for confirmation); nil: not checked
	aid    string   // the application the sale runs on; "": not checked

	start   emv.Outcome // after Start
	final   emv.Outcome // after Complete (online requests only)
	reason  emv.Reason
	cvm     emv.CVMMethod
	tvrBits [][2]int // [byte index, mask] that must be set in the TVR
	noTVR   [][2]int // ... and that must be clear
}

// TVR bits the cases look at (book 3 annex C5).
var (
	tvrDDAFailed       = [2]int{0, 0x08}
	tvrCDAFailed       = [2]int{0, 0x04}
	tvrODANotPerformed = [2]int{0, 0x80}
	tvrExpired         = [2]int{1, 0x40}
	tvrFloorLimit      = [2]int{3, 0x80}
	tvrRandomSelected  = [2]int{3, 0x10}
	tvrOnlinePIN       = [2]int{2, 0x04}
)

var deckCases = []deckCase{
	// Visa credit: DDA, always online, issuer authentication; signature or
	// no CVM; qVSDC with fDDA online.
	{card: "visa-credit", mode: entry.Insert, amount: 1234, rand: 0x62, host: "00",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeApproved, cvm: emv.CVMSignature,
		noTVR: [][2]int{tvrDDAFailed, tvrODANotPerformed}},
	{card: "visa-credit", mode: entry.Insert, amount: 1234, rand: 0x62, host: "05",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeDeclined, cvm: emv.CVMSignature},
	// No answer ("unable to go online"): nothing in the TVR matches the
	// default action codes, the terminal asks for a TC and this card
	// grants it (the sale reverses its request anyway).
	{card: "visa-credit", mode: entry.Insert, amount: 1234, rand: 0x62, host: "",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeApproved, cvm: emv.CVMSignature},
	{card: "visa-credit", mode: entry.Tap, amount: 1234, rand: 0x62, host: "00",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeApproved, cvm: emv.CVMNone},
	{card: "visa-credit", mode: entry.Tap, amount: 5_000_00, rand: 0x62,
		start: emv.OutcomeTryAnotherInterface, reason: emv.ReasonOverLimit},

	// Mastercard debit: CDA; contact offline enciphered PIN (a wrong try
	// first), contactless online PIN above the CVM limit.
	{card: "mastercard-debit", mode: entry.Insert, amount: 2500, rand: 0x62, pins: []string{"0000", "4321"}, host: "00",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeApproved, cvm: emv.CVMOfflineEncPIN,
		noTVR: [][2]int{tvrCDAFailed, tvrODANotPerformed}},
	{card: "mastercard-debit", mode: entry.Tap, amount: 2500, rand: 0x62, host: "00",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeApproved, cvm: emv.CVMNone},
	{card: "mastercard-debit", mode: entry.Tap, amount: 1500_00, rand: 0x62, host: "00",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeApproved, cvm: emv.CVMOnlinePIN},

	// UnionPay debit: PBOC online PIN, qPBOC no CVM below the limit and
	// online PIN above.
	{card: "unionpay-ic-debit", mode: entry.Insert, amount: 8800, rand: 0x62, host: "00",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeApproved, cvm: emv.CVMOnlinePIN,
		tvrBits: [][2]int{tvrOnlinePIN}},
	{card: "unionpay-ic-debit", mode: entry.Tap, amount: 8800, rand: 0x62, host: "00",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeApproved, cvm: emv.CVMNone},
	{card: "unionpay-ic-debit", mode: entry.Tap, amount: 1200_00, rand: 0x62, host: "05",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeDeclined, cvm: emv.CVMOnlinePIN},

	// Online PIN, always.
	{card: "visa-online-pin", mode: entry.Insert, amount: 1000, rand: 0x62, host: "00",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeApproved, cvm: emv.CVMOnlinePIN},

	// Offline approval below the floor limit; random selection or the
	// floor limit send it online.
	{card: "visa-offline", mode: entry.Insert, amount: 1234, rand: 0x62,
		start: emv.OutcomeApprovedOffline, cvm: emv.CVMNone, noTVR: [][2]int{tvrFloorLimit, tvrRandomSelected}},
	{card: "visa-offline", mode: entry.Insert, amount: 1234, rand: 0x00, host: "00",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeApproved, cvm: emv.CVMNone, tvrBits: [][2]int{tvrRandomSelected}},
	{card: "visa-offline", mode: entry.Insert, amount: 600_00, rand: 0x62, host: "00",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeApproved, cvm: emv.CVMSignature, tvrBits: [][2]int{tvrFloorLimit}},

	// The tampered certificate: ODA fails, the terminal goes online as the
	// action codes say (online on "DDA failed").
	{card: "visa-tampered-oda", mode: entry.Insert, amount: 1234, rand: 0x62, host: "00",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeApproved, cvm: emv.CVMSignature, tvrBits: [][2]int{tvrDDAFailed}},
	// Unable to go online with DDA failed: TAC-default has it, AAC.
	{card: "visa-tampered-oda", mode: entry.Insert, amount: 1234, rand: 0x62, host: "",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeDeclined, cvm: emv.CVMSignature, tvrBits: [][2]int{tvrDDAFailed}},
	{card: "visa-tampered-oda", mode: entry.Tap, amount: 1234, rand: 0x62, host: "00",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeApproved, cvm: emv.CVMNone, tvrBits: [][2]int{tvrODANotPerformed}},

	// Expired: the card's IAC-denial declines offline.
	{card: "visa-expired-chip", mode: entry.Insert, amount: 1234, rand: 0x62,
		start: emv.OutcomeDeclinedOffline, cvm: emv.CVMSignature, tvrBits: [][2]int{tvrExpired}},

	// Blocked application: nothing to select.
	{card: "mastercard-blocked", mode: entry.Insert, amount: 1234, rand: 0x62,
		start: emv.OutcomeEndApplication, reason: emv.ReasonAppBlocked},
	{card: "mastercard-blocked", mode: entry.Tap, amount: 1234, rand: 0x62,
		start: emv.OutcomeEndApplication, reason: emv.ReasonNoApplication},

	// The contactless CVM limit: offline below, online PIN above.
	{card: "visa-contactless-cvm", mode: entry.Tap, amount: 3000, rand: 0x62,
		start: emv.OutcomeApprovedOffline, cvm: emv.CVMNone},
	{card: "visa-contactless-cvm", mode: entry.Tap, amount: 1500_00, rand: 0x62, host: "00",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeApproved, cvm: emv.CVMOnlinePIN},

	// Two applications: the cardholder's choice is the one that runs.
	{card: "unionpay-dual", mode: entry.Insert, amount: 1230, rand: 0x62, host: "00", pick: 1,
		apps: []string{"A000000333010101", "A000000333010102"}, aid: "A000000333010102",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeApproved, cvm: emv.CVMNone},
	// One application that asks for the cardholder's confirmation.
	{card: "visa-confirm", mode: entry.Insert, amount: 1230, rand: 0x62, host: "00",
		apps: []string{"A0000000031010+"}, aid: "A0000000031010",
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeApproved, cvm: emv.CVMNone},

	// The card pulled out right after the ARQC: the second GENERATE AC
	// cannot run, the transaction ends with the card removed.
	{card: "visa-credit", mode: entry.Insert, amount: 1234, rand: 0x62, host: "00", pull: true,
		start: emv.OutcomeOnlineRequest, final: emv.OutcomeEndApplication, reason: emv.ReasonCardRemoved, cvm: emv.CVMSignature},
}

func (c deckCase) String() string {
	return fmt.Sprintf("%s/%s/%d/%s", c.card, c.mode, c.amount, map[bool]string{true: "pulled", false: "host" + c.host}[c.pull])
}

// openSimBoard opens the simulated board (ALPAR on its pseudo-terminal,
// the PN532 with the modelled 106 kbit/s link) and the card entry over
// its readers.
func openSimBoard(t testing.TB) (*sim.Board, cardReader) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b, err := sim.Open(ctx, sim.Opts{DataDir: t.TempDir()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Halt(); cancel() })
	if b.Devices.NFC == nil || b.Devices.Contact == nil {
		t.Fatalf("sim board without chip readers: %+v", b.Board.Status())
	}
	return b, cardReader{r: entry.New(entry.Devices{NFC: b.Devices.NFC, Contact: b.Devices.Contact}, nil)}
}

func simKernel(t testing.TB, rnd byte) *emv.Kernel {
	t.Helper()
	cfg, err := emv.LoadParams(emv.SimParams())
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.AddCAPKs(deck.CAPKs()...); err != nil {
		t.Fatal(err)
	}
	return emv.New(cfg, emv.Opts{Rand: constRand(rnd)})
}

// TestDeckThroughSimulators runs every outcome path of every chip card of
// the deck through the board's simulators and the real drivers: contact
// through ALPAR on its pseudo-terminal, contactless through the PN532
// with its modelled link time, and the online ones against the deck's
// issuer keys.
func TestDeckThroughSimulators(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole deck through the simulators")
	}
	b, reader := openSimBoard(t)
	covered := map[string]bool{}
	ran := 0
	for _, c := range deckCases {
		t.Run(c.String(), func(t *testing.T) {
			ran++
			covered[c.card+"/"+string(c.mode)] = true
			runDeckCase(t, b, reader, c)
		})
	}
	// Every chip card of the deck, on every interface it has, is covered.
	if ran < len(deckCases) {
		return // -run picked some cases
	}
	for _, c := range deck.Cards {
		for _, m := range []entry.Mode{entry.Insert, entry.Tap} {
			if slices.Contains(c.Entry, string(m)) && c.Chip != nil && !covered[c.Name+"/"+string(m)] {
				t.Errorf("deck card %s (%s) has no case", c.Name, m)
			}
		}
	}
}

func runDeckCase(t *testing.T, b *sim.Board, reader cardReader, c deckCase) {
	card, _ := deck.Lookup(c.card)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if c.mode == entry.Tap {
		err = b.Tap(c.card)
	} else {
		err = b.Insert(c.card)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer b.RemoveCard()
	if c.pull {
		b.RemoveCardWhen(func() func(cmd, resp []byte) bool { return icc.AfterGenerateAC(1) })
	}
	got, err := reader.ReadCardIn(ctx, []risk.EntryMode{risk.EntryMode(c.mode)})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Chip.Release(context.Background())
	ui := &deckUI{pin: card.PIN, pins: c.pins, pick: c.pick}
	k := simKernel(t, c.rand)
	s, err := k.Start(ctx, got.Chip.Card, got.Chip.Interface, emv.Txn{Amount: c.amount, Currency: "156", HostReachable: true}, ui)
	if s == nil {
		t.Fatalf("Start: %v", err)
	}
	defer s.Wipe()
	if c.apps != nil {
		var offered []string
		for _, x := range ui.cands {
			offered = append(offered, x.AIDHex()+map[bool]string{true: "+"}[x.ConfirmationRequired])
		}
		if !slices.Equal(offered, c.apps) {
			t.Errorf("applications offered %v, want %v", offered, c.apps)
		}
	}
	if c.aid != "" && s.Summary().AID != c.aid {
		t.Errorf("the sale runs on %s, want %s", s.Summary().AID, c.aid)
	}
	if s.Outcome() != c.start || s.Reason() != c.reason && c.final == emv.OutcomeNone {
		t.Fatalf("Start: outcome %s reason %s (%v), want %s %s; summary %+v", s.Outcome(), s.Reason(), err, c.start, c.reason, s.Summary())
	}
	if c.start == emv.OutcomeOnlineRequest {
		cd := s.Card()
		resp := emv.HostResponse{}
		if c.host != "" {
			resp, err = issuerAnswer(card, cd.PAN, cd.PANSequence, s.OnlineData(), c.host)
			if err != nil {
				t.Fatalf("issuer: %v", err)
			}
		}
		cd.Wipe()
		out, err := s.Complete(ctx, resp)
		if out != c.final || s.Reason() != c.reason {
			t.Fatalf("Complete: %s reason %s (%v), want %s %s; summary %+v", out, s.Reason(), err, c.final, c.reason, s.Summary())
		}
	}
	if m := s.CVM().Method; m != c.cvm {
		t.Errorf("CVM %s, want %s", m, c.cvm)
	}
	sum := s.Summary()
	tvr, _ := hex.DecodeString(sum.TVR)
	if len(tvr) != 5 {
		t.Fatalf("TVR %q", sum.TVR)
	}
	for _, bit := range c.tvrBits {
		if tvr[bit[0]]&byte(bit[1]) == 0 {
			t.Errorf("TVR %s: byte %d bit %02X not set", sum.TVR, bit[0]+1, bit[1])
		}
	}
	for _, bit := range c.noTVR {
		if tvr[bit[0]]&byte(bit[1]) != 0 {
			t.Errorf("TVR %s: byte %d bit %02X set", sum.TVR, bit[0]+1, bit[1])
		}
	}
	if len(c.pins) > 1 {
		ui.mu.Lock()
		asks := ui.asks
		ui.mu.Unlock()
		if len(asks) != len(c.pins) || asks[1].TriesLeft != asks[0].TriesLeft-1 {
			t.Errorf("offline PIN requests %+v for PINs %v", asks, c.pins)
		}
	}
	// The summary has nothing of the card's account data.
	js := fmt.Sprintf("%+v", sum)
	for _, secret := range []string{card.PAN, card.Track2, strings.ReplaceAll(card.Track2, "=", "D")} {
		if secret != "" && strings.Contains(js, secret) {
			t.Errorf("summary holds card data: %s", js)
		}
	}
	if c.start == emv.OutcomeOnlineRequest {
		for _, x := range mustDecode(t, s.OnlineData()) {
			if x.Tag == "5A" || x.Tag == "57" {
				t.Errorf("DE55 carries tag %s", x.Tag)
			}
		}
	}
}

func mustDecode(t *testing.T, b []byte) []bertlv.TLV {
	t.Helper()
	x, err := bertlv.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestTwoCardsInTheFieldThroughSimulators: a wallet of two contactless
// cards tapped whole is a collision the sale can tell (txn.ErrCollision,
// "present one card"), not an unreadable card; with one taken out, the
// one left is read.
func TestTwoCardsInTheFieldThroughSimulators(t *testing.T) {
	b, r := openSimBoard(t)
	if err := b.Tap("visa-credit"); err != nil {
		t.Fatal(err)
	}
	card, err := deck.NewICC("mastercard-debit")
	if err != nil {
		t.Fatal(err)
	}
	second := card.Present(icc.Contactless)
	if err := b.TapAlsoICC(second, []byte{0x08, 0x11, 0x22, 0x33}, false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := r.ReadCardIn(ctx, []risk.EntryMode{risk.EntryTap}); !errors.Is(err, txn.ErrCollision) || errors.Is(err, txn.ErrUnreadable) {
		t.Fatalf("two cards in the field: %v", err)
	}
	b.TakeTapICC(second)
	c, err := r.ReadCardIn(ctx, []risk.EntryMode{risk.EntryTap})
	if err != nil || c.Chip == nil {
		t.Fatalf("the card left: %+v %v", c, err)
	}
	_ = c.Chip.Release(ctx)
}
