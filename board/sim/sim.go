// Package sim builds the simulated board: every chip is its byte-level
// simulator, wired to the real drivers through the same kind of bus the
// hardware would use (pseudo-terminals for UARTs, periph fakes for I²C, SPI
// and GPIO). It also holds the deck of virtual cards and the controls the
// simulator API exposes (present a card, type on the keypad...).
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"posd/drivers/ptysim"
	"sync"

	"posd/board"
	"posd/board/sim/deck"
	"posd/board/sim/icc"
	"posd/drivers/alpar/alparsim"
	"posd/drivers/barcode/barcodesim"
	"posd/drivers/escpos/escpossim"
	"posd/drivers/keypad/keypadsim"
	"posd/drivers/msr"
	"posd/drivers/msr/msrsim"
	"posd/drivers/pn532"
	"posd/drivers/pn532/pn532sim"
)

// ErrUnknownCard: no card of that name in the deck.
var ErrUnknownCard = errors.New("sim: no such card in the deck")

// ErrEntryMode: the card does not support that entry mode.
var ErrEntryMode = errors.New("sim: the card does not support this entry mode")

// Opts configure the simulated board.
type Opts struct {
	// DataDir holds the simulators' files (the camera's images).
	DataDir string
	Logger  *slog.Logger
	// MSRFormat is the output format of the simulated stripe reader for
	// cards that do not name one (deck.Card.Reader); the zero value sends
	// the tracks on one line. The driver reads every format (auto).
	MSRFormat msr.Format
	// IRCamera gives the board a near-infrared camera beside the colour
	// one (face liveness then checks the IR picture too).
	IRCamera bool
	// NoCamera leaves the camera out (a board whose camera is missing or
	// broken: face pay then fails clearly, cards still work).
	NoCamera bool
}

// Board is the simulated board.
type Board struct {
	*board.Board

	mu         sync.Mutex
	msrSim     *msrsim.Sim
	msrFormat  msr.Format
	nfcSim     *pn532sim.Sim
	contactSim *alparsim.Sim
	keypadSim  *keypadsim.Sim
	scannerSim *barcodesim.Sim
	printerSim *escpossim.Sim
	// showing serialises what is held under the simulated scanner:
	// ShowCode and the scanner's self-test.
	showing sync.Mutex
	// typing serialises the fingers on the simulated keypad: Keys and
	// the keypad's self-test.
	typing sync.Mutex

	// The deck's chip cards, made on first presentation and kept for the
	// board's life (ATC, PIN try counter, blocked state persist across
	// presentations), and the current presentations.
	chipMu   sync.Mutex
	chips    map[string]*icc.Card
	tapped   *icc.Port
	inserted *icc.Port
	taps     int // presentations in the field so far (each gets its own UID)
	// phoneATC is the transaction counter of each card's phone (the
	// consumer-presented codes of PhoneCPM).
	phoneATC map[string]uint16

	// held is what is held in front of the simulated camera (nil: no
	// camera).
	held *held
	// stage plays face scenes on the simulated cameras (nil: no camera).
	stage *faceStage
}

// Open builds the simulated board.
func Open(ctx context.Context, o Opts) (*Board, error) {
	b := &Board{Board: board.New("sim", o.Logger)}
	if o.DataDir == "" {
		o.DataDir = os.TempDir()
	}
	b.openMSR(o)
	b.openNFC(o)
	b.openContact(ctx, o)
	b.openKeypad(o)
	b.openScanner(ctx, o)
	b.openPrinter(ctx, o)
	if !o.NoCamera {
		b.openCamera(o)
	} else {
		b.Add(boardStatus("camera", "camera", "sim", errors.New("no camera on this board (sim no_camera)")), nil, nil)
	}
	b.openConsole()
	return b, nil
}

// openConsole gives the service console a pseudo-terminal: posd serves
// its master side, the engineer's terminal program opens the slave
// (picocom -b 115200 /dev/pts/N), as it would the debug UART.
func (b *Board) openConsole() {
	p, err := ptysim.Open()
	if err != nil {
		b.Add(boardStatus("console", "pty", "", err), nil, nil)
		return
	}
	b.Devices.Console = &board.Console{RW: p.Master, Where: p.SlavePath, Baud: 115200}
	b.Add(board.Status{Name: "console", Driver: "pty", Where: p.SlavePath, OK: true,
		Detail: "service console (attach: picocom -b 115200 " + p.SlavePath + ")"}, nil, p.Close)
}

func boardStatus(name, driver, where string, err error) board.Status {
	return board.Status{Name: name, Driver: driver, Where: where, Error: err.Error()}
}

func (b *Board) openMSR(o Opts) {
	p, err := msrsim.OpenPTY()
	if err != nil {
		b.Add(boardStatus("msr", "msr", "pty", err), nil, nil)
		return
	}
	b.msrSim = msrsim.New(p.Master, &msrsim.Opts{ESC: true})
	b.msrFormat = o.MSRFormat
	if b.msrFormat == msr.FormatAuto {
		b.msrFormat = msr.FormatLine
	}
	// Added first so it is halted last: the driver stops before its
	// pseudo-terminal goes away.
	b.Add(board.Status{Name: "msr-sim", Driver: "msrsim", Where: p.SlavePath, OK: true,
		Detail: "stripe reader simulator (line, ID TECH and MagTek output)"}, nil, p.Close)
	mo := msr.DefaultOpts
	mo.Format, mo.Logger = msr.FormatAuto, o.Logger
	b.AddMSRSerial(board.Serial{Port: p.SlavePath, Baud: 9600}, &mo)
}

// Cards is the deck.
func (b *Board) Cards() []deck.Card { return deck.Cards }

// Swipe swipes the named card through the simulated stripe reader.
func (b *Board) Swipe(name string) error {
	c, ok := deck.Lookup(name)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownCard, name)
	}
	if !has(c.Entry, "swipe") {
		return fmt.Errorf("%w: %s cannot be swiped", ErrEntryMode, name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.msrSim == nil {
		return errors.New("sim: stripe reader unavailable")
	}
	if c.Raw != "" {
		return b.msrSim.WriteRaw([]byte(c.Raw + "\r"))
	}
	f := b.msrFormat
	if c.Reader != "" {
		var err error
		if f, err = msr.ParseFormat(c.Reader); err != nil {
			return fmt.Errorf("sim: card %s: %w", name, err)
		}
	}
	tr := msrsim.Tracks{T1: c.Track1, T2: c.Track2}
	for _, n := range c.BadTracks {
		if n >= 1 && n <= 3 {
			tr.Bad[n-1] = true
		}
	}
	return b.msrSim.SwipeAs(f, tr)
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ICC is a software chip card: the contact and contactless simulators
// hand it every command APDU.
type ICC interface {
	Transmit(apdu []byte) ([]byte, error)
}

// TapICC holds card in the contactless field as an ISO 14443-4 type A card
// with uid, until RemoveTap.
func (b *Board) TapICC(card ICC, uid []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nfcSim == nil {
		return errors.New("sim: contactless reader unavailable")
	}
	b.nfcSim.Present(card, pn532sim.Identity{Type: pn532.TypeA, UID: uid, ATQA: [2]byte{0x00, 0x04}, SAK: 0x20,
		ATS: []byte{0x05, 0x78, 0x80, 0x70, 0x02}})
	return nil
}

// RemoveTap takes the card out of the field.
func (b *Board) RemoveTap() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nfcSim != nil {
		b.nfcSim.Remove()
	}
}

// InsertICC puts card, answering reset with atr, in the contact slot.
func (b *Board) InsertICC(card ICC, atr []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.contactSim == nil {
		return errors.New("sim: contact reader unavailable")
	}
	b.contactSim.Insert(contactCard{ICC: card, atr: append([]byte(nil), atr...)})
	return nil
}

// RemoveInserted empties the contact slot.
func (b *Board) RemoveInserted() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.contactSim != nil {
		b.contactSim.Remove()
	}
}

// chip returns the board's software card of a deck card.
func (b *Board) chip(name string) (*icc.Card, error) {
	b.chipMu.Lock()
	defer b.chipMu.Unlock()
	if c, ok := b.chips[name]; ok {
		return c, nil
	}
	c, err := deck.NewICC(name)
	if err != nil {
		return nil, err
	}
	if b.chips == nil {
		b.chips = map[string]*icc.Card{}
	}
	b.chips[name] = c
	return c, nil
}

// presentable finds a chip card that supports mode ("tap" or "insert").
func presentable(name, mode string) (deck.Card, error) {
	c, ok := deck.Lookup(name)
	if !ok {
		return c, fmt.Errorf("%w: %q", ErrUnknownCard, name)
	}
	iface := c.Chip != nil && ((mode == "tap" && c.Chip.Contactless) || (mode == "insert" && c.Chip.Contact))
	if !has(c.Entry, mode) || !iface {
		return c, fmt.Errorf("%w: %s cannot be %s", ErrEntryMode, name, map[string]string{"tap": "tapped", "insert": "inserted"}[mode])
	}
	return c, nil
}

// Tap holds the named deck card in the contactless field (an ISO
// 14443-4 type A card with the card's UID) until RemoveCard or another
// Tap. The card is the same software card on every presentation, so its
// ATC and PIN try counter go on from where they were.
func (b *Board) Tap(name string) error { return b.Present(name, "tap", nil) }

// Insert puts the named deck card in the contact slot (T=0, the deck's
// ATR) until RemoveCard or another Insert; the reader sees the
// insertion and powers it up.
func (b *Board) Insert(name string) error { return b.Present(name, "insert", nil) }

// Present taps ("tap") or inserts ("insert") the named deck card. With
// pull non-nil the card is armed, before the reader can see it, to leave
// right after it answers a command for which pull returns true (e.g.
// icc.AfterGenerateAC(1): the cardholder pulls the card after the ARQC).
func (b *Board) Present(name, mode string, pull func(cmd, resp []byte) bool) error {
	if _, err := presentable(name, mode); err != nil {
		return err
	}
	card, err := b.chip(name)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	iface := icc.Contact
	if mode == "tap" {
		iface = icc.Contactless
	}
	port := card.Present(iface)
	if pull != nil {
		port.RemoveWhen(pull, b.RemoveCard)
	}
	b.chipMu.Lock()
	slot := &b.inserted
	if mode == "tap" {
		slot = &b.tapped
	}
	old := *slot
	*slot = port
	b.chipMu.Unlock()
	if old != nil {
		old.Remove()
	}
	if mode == "tap" {
		b.chipMu.Lock()
		b.taps++
		n := b.taps
		b.chipMu.Unlock()
		return b.TapICC(port, deck.UID(name, n))
	}
	return b.InsertICC(port, deck.ATR)
}

// RemoveCard takes the tapped and the inserted card away. It takes effect
// between two APDUs: a command the card is processing is answered, the
// next one finds the card gone (mute, then absent from the field or the
// slot).
func (b *Board) RemoveCard() {
	b.chipMu.Lock()
	tapped, inserted := b.tapped, b.inserted
	b.tapped, b.inserted = nil, nil
	b.chipMu.Unlock()
	if tapped != nil {
		tapped.Remove()
		b.RemoveTap()
	}
	if inserted != nil {
		inserted.Remove()
		b.RemoveInserted()
	}
}

// RemoveCardWhen arms the presented cards (tapped and inserted) to be
// taken away right after they answer a command for which trigger returns
// true, e.g. icc.AfterGenerateAC(1) for "the card is pulled after the
// ARQC": the card answers that command, and no other. Each presentation
// needs its own trigger (they count the commands they see).
func (b *Board) RemoveCardWhen(trigger func() func(cmd, resp []byte) bool) {
	b.chipMu.Lock()
	defer b.chipMu.Unlock()
	for _, p := range []*icc.Port{b.tapped, b.inserted} {
		if p != nil {
			p.RemoveWhen(trigger(), b.RemoveCard)
		}
	}
}

type contactCard struct {
	ICC
	atr []byte
}

func (c contactCard) ATR() []byte { return c.atr }
