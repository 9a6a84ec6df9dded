// Package pn532sim is a byte-accurate simulator of the NXP PN532 NFC
// controller for tests and the simulated board. It speaks the host frames
// of UM0701-02 §6.2 over I2C (as a periph i2c.Bus), SPI (as a periph
// spi.Port) and HSU (any io.ReadWriter or a pseudo-terminal), and hosts
// virtual ISO 14443-4 cards: usually one, or several at once (Add) for
// the collision of a wallet held with two cards.
//
// Behaviour on bad input follows the chip: a frame whose length checksum
// is wrong is ignored (no ACK, the host times out and resends); a frame
// with a good length but a wrong data checksum, an unknown command or bad
// parameters is acknowledged and answered with the syntax error frame
// 00 00 FF 01 FF 7F 81 00; a NACK from the host makes the chip send its last
// response again; an ACK from the host aborts the running command.
//
// Link time: with Opts.LinkTime the response to a command becomes ready
// only after the air time the exchange would take at 106 kbit/s
// (ISO 14443-4 blocks of FSC bytes, 9 bit times per Type A character,
// 10 per Type B character, a frame delay of 1236/fc per turn-around) plus
// Opts.CardDelay. Host bus time is not modelled, except clock stretching.
//
// Sleep: the chip starts in LowVbat (UM0701-02: after power-up the host
// wakes it and sends SAMConfiguration), comes back there after a reset
// through its RSTPDN pin (ResetPin) and can be sent there with the Sleep
// fault. Asleep, it wakes:
//   - on HSU at the 0x55 of the wake-up preamble; earlier bytes are lost;
//   - on SPI when NSS has been low for Opts.WakeTime before the first
//     byte (CSPin) or during a transfer that lasts that long; a transfer
//     that reaches it earlier is lost (MISO reads 0xFF, as libnfc's
//     pn532_spi.c observes on a powered-down chip) and the chip is awake
//     WakeTime after NSS fell;
//   - on I2C on its address, stretching SCL for WakeTime ("PN532 holds
//     SCL during wakeup time", libnfc pn532_i2c.c); with
//     Opts.BrokenStretch the controller mishandles the stretch (the
//     Raspberry Pi's I2C clock-stretching bug) and the transfer fails;
//   - on a low pulse of H_REQ (ReqPin), without stretching.
//
// Wire details: an SPI data read answers 01 during the operation byte,
// then the frame from its start code 00 FF without the preamble byte, as
// in the transfer log in libnfc's pn532_spi.c; an I2C read gives the
// status byte and the whole frame. With Opts.I2CBusFree a transfer that
// starts sooner than that after the previous one is not acknowledged
// (the bus-free time libnfc's commit 8f8f780 reads from the data sheet).
//
// Deviation: with MxRtyPassiveActivation 0xFF and no card, the real chip
// polls until a card comes or the host aborts; the simulator answers "no
// target" at once. With several cards of the polled type in the field,
// InListPassiveTarget lists up to MaxTg of them in the order they came
// (the real anticollision orders them by UID bits); commands then go to
// Tg 1 only, and Tg 2 is refused with status 0x27. SetParameters' power-up value is not documented; the
// simulator assumes automatic RATS on, and keeps whatever a host sets
// until a reset.
//
// CID: a type B card answers an R(NAK) sent through InCommunicateThru
// only under the CID rules of ISO 14443-4 §7.1.1.2, its CID being the one
// its ATTRIB_RES echoes when its ATQB says it supports CID.
//
// Activated cards: a card the chip activated (ISO 14443-3 ACTIVE, or
// PROTOCOL after RATS or ATTRIB) answers no poll until it is deselected
// (InRelease, which the chip sends as S(DESELECT) and which leaves the card
// in HALT), the field goes off or the card leaves the field. The
// simulator's poll wakes a card in HALT (WUPA, WUPB); libnfc notes that a
// deselected type B card answers the next poll, and for type A the
// manual does not say whether the chip sends REQA or WUPA. The manual
// does not say what becomes of the targets of an earlier
// InListPassiveTarget when the host lists again; the simulator assumes
// the chip forgets them without deselecting them, so such a card stays
// mute until the field goes off: the host has to release its targets
// before it polls again.
package pn532sim

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"posd/drivers/pn532"
)

// Card is a virtual ISO 14443-4 card: it gets a whole command APDU and
// returns the whole response APDU. An error makes the card mute (the chip
// reports a timeout, status 0x01). A type A card whose SAK lacks bit
// 0x20 (a MIFARE Classic, SAK 0x08) gets no APDU: InDataExchange finds it
// mute as well (the chip's status for a MIFARE card's NAK to bytes that
// are no MIFARE command is not documented).
type Card interface {
	Transmit(apdu []byte) ([]byte, error)
}

// Identity is what the card answers during activation.
type Identity struct {
	Type pn532.TargetType // TypeA or TypeB
	// Type A.
	UID  []byte // 4, 7 or 10 bytes
	ATQA [2]byte
	SAK  byte   // bit 0x20 set for ISO 14443-4
	ATS  []byte // TL first; sent when SAK has bit 0x20 and RATS is automatic
	// NoRATS: the card does not answer RATS (ATQA/SAK 0x28 cards exist
	// that refuse it); the target is listed without ATS.
	NoRATS bool
	// DiagnoseFails: Diagnose 0x06 reports a timeout while the card is
	// present, as libnfc's chips/pn53x.c saw with a JCOP31 on a PN532.
	DiagnoseFails bool
	// Type B.
	ATQB      []byte // 12 bytes starting with 0x50
	AttribRes []byte
}

// Fault makes the simulator misbehave once, for tests of the driver's
// recovery.
type Fault int

// Faults.
const (
	// DropCommand swallows the next command frame: no ACK, no response.
	DropCommand Fault = iota + 1
	// CorruptResponse flips the data checksum of the next response frame
	// (the copy kept for a NACK is intact).
	CorruptResponse
	// SyntaxError answers the next command with the syntax error frame.
	SyntaxError
	// NAK leaves the next I2C transfer unacknowledged (address NAK).
	NAK
	// Stretch makes the chip stretch SCL during the next I2C transfer
	// (which fails with Opts.BrokenStretch).
	Stretch
	// Garbage puts Opts.Garbage before the next response frame (the copy
	// kept for a NACK is clean).
	Garbage
	// LoseACK loses the ACK of the next command; the command still runs
	// and its response comes.
	LoseACK
	// Sleep sends the chip to power-down now, as a PowerDown command or a
	// brown-out would; the host must wake it (see the package doc).
	Sleep
)

// Opts configures a Sim.
type Opts struct {
	// Firmware returned by GetFirmwareVersion; zero means PN532 v1.6
	// (32 01 06 07).
	Firmware pn532.FirmwareVersion
	// LinkTime turns the air time model on.
	LinkTime bool
	// BitRate in bit/s; default fc/128 = 105 938 (106 kbit/s).
	BitRate int
	// FSC is the card's (and the reader's) maximum ISO-DEP frame size used
	// by the time model; default 256.
	FSC int
	// CardDelay is the card's processing time per APDU (time model only).
	CardDelay time.Duration
	// MaxDataIn is the largest DataIn of one InDataExchange response; a
	// longer card response is handed out with MI chaining. Default 262.
	MaxDataIn int
	// Awake starts the chip awake instead of in LowVbat.
	Awake bool
	// WakeTime is the oscillator start-up time (T_osc_start): how long
	// NSS must be low before the first byte, and how long the chip
	// stretches SCL while it wakes. Default 2 ms.
	WakeTime time.Duration
	// I2CBusFree is the least time between two I2C transfers; a transfer
	// that starts earlier is not acknowledged. 0 (default) does not check.
	I2CBusFree time.Duration
	// BrokenStretch models a controller that mishandles clock stretching:
	// every transfer the chip stretches fails with ErrStretch.
	BrokenStretch bool
	// Garbage is what the Garbage fault sends; default FF 3C A5.
	Garbage []byte
	// Now and Sleep; defaults time.Now and time.Sleep.
	Now   func() time.Time
	Sleep func(time.Duration)
	// Logger; default discard.
	Logger *slog.Logger
}

// Stats counts what the simulator saw.
type Stats struct {
	Commands    int // command frames acknowledged
	NACKs       int // NACK frames from the host
	Aborts      int // ACK frames from the host
	BadFrames   int // frames ignored or answered with the error frame
	Dropped     int // command frames swallowed by the DropCommand fault
	APDUs       int // APDUs handed to the card
	AirTime     time.Duration
	LastCommand byte
	AddrNAKs    int           // I2C transfers not acknowledged
	Stretches   int           // I2C transfers the chip stretched
	StretchTime time.Duration // their total stretch
	Lost        int           // transfers or frames lost to a sleeping chip
	Wakes       int           // wake-ups from power-down
	Resets      int           // resets through RSTPDN
	LostACKs    int           // ACKs lost by the LoseACK fault
	Parameters  byte          // last SetParameters flags
}

// slot is one card in the field.
type slot struct {
	card Card
	id   Identity
	// active: activated by the chip and not deselected since; such a
	// card answers no poll. tg is its number in the chip's current
	// target table, 0 when the chip does not know it (any more).
	active bool
	tg     byte
}

type outFrame struct {
	b       []byte
	readyAt time.Time
}

// Sim is a simulated PN532. All methods are safe for concurrent use.
type Sim struct {
	o   Opts
	log *slog.Logger

	mu sync.Mutex
	// cards are those in the field, in the order they came; card, id and
	// present are the one the chip talks to (Tg 1 once listed).
	cards    []slot
	card     Card
	id       Identity
	present  bool
	field    bool
	tg       byte
	retries  byte
	out      []outFrame
	last     []byte
	chainIn  []byte
	chainOut []byte
	faults   []Fault
	stats    Stats
	rx       []byte // HSU receive buffer
	asleep   bool   // power-down or LowVbat: needs a wake-up
	inReset  bool   // RSTPDN held low
	params   byte   // SetParameters flags
	bn       byte   // ISO-DEP block number of the listed card
	wakeAt   time.Time
	i2cLast  time.Time
	i2cUsed  bool
	csLow    bool
	csLowAt  time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a simulator with the field off and no card.
func New(o *Opts) *Sim {
	var opts Opts
	if o != nil {
		opts = *o
	}
	if opts.Firmware == (pn532.FirmwareVersion{}) {
		opts.Firmware = pn532.FirmwareVersion{IC: 0x32, Ver: 0x01, Rev: 0x06, Support: 0x07}
	}
	if opts.BitRate <= 0 {
		opts.BitRate = 13_560_000 / 128
	}
	if opts.FSC < 16 {
		opts.FSC = 256
	}
	if opts.MaxDataIn <= 0 || opts.MaxDataIn > pn532.MaxDataOut {
		opts.MaxDataIn = pn532.MaxDataOut
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = time.Sleep
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.WakeTime <= 0 {
		opts.WakeTime = 2 * time.Millisecond
	}
	if len(opts.Garbage) == 0 {
		opts.Garbage = []byte{0xFF, 0x3C, 0xA5}
	}
	s := &Sim{o: opts, log: opts.Logger, retries: 0xFF, asleep: !opts.Awake, params: defaultParams}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// String implements i2c.Bus and spi.Port.
func (s *Sim) String() string { return "pn532sim" }

// Present puts a card with the given identity into the field, replacing
// any other. A listed target stays listed only if it is the same card.
func (s *Sim) Present(c Card, id Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.card != c {
		s.tg = 0
	}
	s.card, s.id, s.present = c, cloneIdentity(id), true
	sl := slot{card: c, id: s.id}
	for _, old := range s.cards {
		if old.card == c {
			sl.active, sl.tg = old.active, old.tg
		}
	}
	s.cards = []slot{sl}
}

// Add puts one more card into the field beside those there: two cards in
// one wallet. The card the chip talks to does not change.
func (s *Sim) Add(c Card, id Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cards = append(s.cards, slot{card: c, id: cloneIdentity(id)})
	if !s.present {
		s.card, s.id, s.present = c, s.cards[len(s.cards)-1].id, true
		s.tg = 0
	}
}

// Take takes card c out of the field and leaves the others. When c is the
// card the chip talks to, that card is gone for the chip.
func (s *Sim) Take(c Card) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.cards {
		if s.cards[i].card == c {
			s.cards = append(s.cards[:i], s.cards[i+1:]...)
			break
		}
	}
	if s.present && s.card == c {
		s.present = false
		s.chainIn, s.chainOut = nil, nil
		if len(s.cards) > 0 {
			// The chip still talks to the gone card's Tg; it finds
			// the others at the next InListPassiveTarget.
			s.card, s.id = s.cards[0].card, s.cards[0].id
		} else {
			s.card = nil
		}
	}
}

// Remove takes every card out of the field.
func (s *Sim) Remove() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.present = false
	s.card = nil
	s.cards = nil
	s.chainIn, s.chainOut = nil, nil
}

// Inject queues faults, applied one per matching event in order.
func (s *Sim) Inject(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
	s.applySleep()
}

// Stats returns the counters so far.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Active reports how many cards in the field the chip activated and did
// not deselect since: cards that answer no poll (see the package doc).
func (s *Sim) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.cards {
		if c.active {
			n++
		}
	}
	return n
}

// deselect ends the activation of the cards the chip knows as tg, or of
// all it knows for tg 0, and reports whether it knew one. Caller holds mu.
func (s *Sim) deselect(tg byte) bool {
	found := false
	for i := range s.cards {
		if c := &s.cards[i]; c.tg != 0 && (tg == 0 || c.tg == tg) {
			c.active, c.tg, found = false, 0, true
		}
	}
	return found
}

// fieldOff powers every card in the field down: none stays activated.
// Caller holds mu.
func (s *Sim) fieldOff() {
	for i := range s.cards {
		s.cards[i].active, s.cards[i].tg = false, 0
	}
}

// Field reports whether the RF field is on.
func (s *Sim) Field() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.field
}

// Close stops every HSU server started by ServePTY and waits for them.
func (s *Sim) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

func cloneIdentity(id Identity) Identity {
	id.UID = append([]byte(nil), id.UID...)
	id.ATS = append([]byte(nil), id.ATS...)
	id.ATQB = append([]byte(nil), id.ATQB...)
	id.AttribRes = append([]byte(nil), id.AttribRes...)
	return id
}

// defaultParams are the SetParameters flags assumed at power-up:
// automatic ATR_RES and RATS.
const defaultParams = 0x14

// applySleep applies a queued Sleep fault, which takes effect at once
// (the other faults wait for their event).
func (s *Sim) applySleep() {
	if s.takeFault(Sleep) {
		s.asleep = true
		s.wakeAt = time.Time{}
	}
}

// powerOn resets the chip's state as RSTPDN does; it comes up in LowVbat.
func (s *Sim) powerOn() {
	s.out, s.last = nil, nil
	s.chainIn, s.chainOut = nil, nil
	s.tg, s.field, s.retries, s.params, s.bn = 0, false, 0xFF, defaultParams, 0
	s.fieldOff()
	s.rx = nil
	s.asleep, s.wakeAt = true, time.Time{}
}

func (s *Sim) takeFault(f Fault) bool {
	for i, g := range s.faults {
		if g == f {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			return true
		}
	}
	return false
}

// hostBytes handles one frame written by the host (I2C or SPI write, or a
// frame cut out of the HSU stream). Caller holds mu.
func (s *Sim) hostBytes(b []byte) {
	f, _, err := pn532.DecodeFrame(b)
	if err != nil {
		s.stats.BadFrames++
		if errors.Is(err, pn532.ErrChecksum) && lengthOK(b) {
			s.out = s.out[:0]
			s.queue(pn532.AppendACK(nil), 0)
			s.queue(pn532.AppendErrorFrame(nil), 0)
		}
		return
	}
	s.hostFrame(f)
}

// lengthOK reports whether the frame header in b has a valid length
// checksum, i.e. a checksum error lies in the data.
func lengthOK(b []byte) bool {
	i := 0
	for i < len(b) && b[i] == 0 {
		i++
	}
	if i == 0 || i+2 >= len(b) || b[i] != 0xFF {
		return false
	}
	l, lcs := b[i+1], b[i+2]
	if l == 0xFF && lcs == 0xFF {
		return i+5 < len(b) && b[i+3]+b[i+4]+b[i+5] == 0
	}
	return l+lcs == 0
}

func (s *Sim) queue(b []byte, delay time.Duration) {
	s.out = append(s.out, outFrame{b: b, readyAt: s.o.Now().Add(delay)})
}

func (s *Sim) hostFrame(f pn532.Frame) {
	switch f.Kind {
	case pn532.FrameACK:
		s.stats.Aborts++
		s.out = s.out[:0]
		s.chainIn, s.chainOut = nil, nil
		return
	case pn532.FrameNACK:
		s.stats.NACKs++
		s.out = s.out[:0]
		if s.last != nil {
			s.queue(s.last, 0)
		}
		return
	case pn532.FrameError:
		s.stats.BadFrames++
		return
	}
	if s.takeFault(DropCommand) {
		s.stats.Dropped++
		return
	}
	// A new command aborts whatever was pending.
	s.out = s.out[:0]
	if s.takeFault(LoseACK) {
		s.stats.LostACKs++
	} else {
		s.queue(pn532.AppendACK(nil), 0)
	}
	s.stats.Commands++
	if f.TFI != pn532.TFIHost || len(f.Data) == 0 || s.takeFault(SyntaxError) {
		s.stats.BadFrames++
		s.last = pn532.AppendErrorFrame(nil)
		s.queue(s.last, 0)
		return
	}
	s.stats.LastCommand = f.Data[0]
	resp, air := s.exec(f.Data[0], f.Data[1:])
	var fr []byte
	if resp == nil {
		s.stats.BadFrames++
		fr = pn532.AppendErrorFrame(nil)
	} else {
		var err error
		fr, err = pn532.AppendFrame(nil, pn532.TFIChip, resp)
		if err != nil {
			fr = pn532.AppendErrorFrame(nil)
		}
	}
	s.last = fr
	if s.takeFault(CorruptResponse) {
		bad := append([]byte(nil), fr...)
		bad[len(bad)-2] ^= 0x01
		fr = bad
	}
	if s.takeFault(Garbage) {
		fr = append(append([]byte(nil), s.o.Garbage...), fr...)
	}
	if !s.o.LinkTime {
		air = 0
	}
	s.stats.AirTime += air
	s.queue(fr, air)
}

// exec runs one command and returns the response data (response code
// first) and the modelled air time; nil means syntax error.
func (s *Sim) exec(cmd byte, p []byte) ([]byte, time.Duration) {
	switch cmd {
	case pn532.CmdGetFirmwareVersion:
		fw := s.o.Firmware
		return []byte{cmd + 1, fw.IC, fw.Ver, fw.Rev, fw.Support}, 0
	case pn532.CmdSetParameters:
		if len(p) != 1 {
			return nil, 0
		}
		s.params = p[0]
		s.stats.Parameters = p[0]
		return []byte{cmd + 1}, 0
	case pn532.CmdInCommunicateThru:
		return s.communicateThru(p)
	case pn532.CmdSAMConfiguration:
		if len(p) < 1 || len(p) > 3 || p[0] < 1 || p[0] > 4 {
			return nil, 0
		}
		return []byte{cmd + 1}, 0
	case pn532.CmdRFConfiguration:
		return s.rfConfig(p)
	case pn532.CmdInListPassiveTarget:
		return s.listTarget(p)
	case pn532.CmdInDataExchange:
		return s.dataExchange(p)
	case pn532.CmdInRelease:
		if len(p) != 1 {
			return nil, 0
		}
		known := s.deselect(p[0])
		if p[0] != 0 && !known && p[0] != s.tg {
			return []byte{cmd + 1, 0x27}, 0
		}
		air := time.Duration(0)
		if s.tg != 0 && s.present {
			air = s.exchangeTime(3, 3) // S(DESELECT) and its answer
		}
		if p[0] == 0 || p[0] == s.tg {
			s.tg = 0
		}
		s.chainIn, s.chainOut = nil, nil
		return []byte{cmd + 1, 0x00}, air
	case pn532.CmdDiagnose:
		if len(p) < 1 {
			return nil, 0
		}
		switch p[0] {
		case 0x00: // communication line test: echo
			return append([]byte{cmd + 1}, p...), 0
		case 0x06: // attention request / card presence
			switch {
			case s.tg == 0:
				return []byte{cmd + 1, 0x27}, 0
			case !s.present, s.id.DiagnoseFails:
				return []byte{cmd + 1, 0x01}, s.exchangeTime(3, 0)
			}
			return []byte{cmd + 1, 0x00}, s.exchangeTime(3, 3)
		}
		return nil, 0
	}
	return nil, 0
}

func (s *Sim) rfConfig(p []byte) ([]byte, time.Duration) {
	if len(p) < 1 {
		return nil, 0
	}
	want := map[byte]int{0x01: 1, 0x02: 3, 0x04: 1, 0x05: 3}
	n, ok := want[p[0]]
	if !ok || len(p) != 1+n {
		return nil, 0
	}
	switch p[0] {
	case 0x01:
		s.field = p[1]&0x01 != 0
		if !s.field {
			s.tg = 0
			s.chainIn, s.chainOut = nil, nil
			s.fieldOff()
		}
	case 0x05:
		s.retries = p[3]
	}
	return []byte{pn532.CmdRFConfiguration + 1}, 0
}

func (s *Sim) listTarget(p []byte) ([]byte, time.Duration) {
	if len(p) < 2 || p[0] < 1 || p[0] > 2 {
		return nil, 0
	}
	resp := []byte{pn532.CmdInListPassiveTarget + 1, 0x00}
	s.field = true // the chip switches the field on by itself
	s.tg = 0
	s.chainIn, s.chainOut = nil, nil
	var typ pn532.TargetType
	switch pn532.BrTy(p[1]) {
	case pn532.BrTyA106:
		typ = pn532.TypeA
	case pn532.BrTyB106:
		if len(p) < 3 {
			return nil, 0
		}
		typ = pn532.TypeB
	default:
		return nil, 0
	}
	// The chip forgets its earlier targets; those still activated do
	// not answer the poll.
	for i := range s.cards {
		s.cards[i].tg = 0
	}
	var found []int
	for i := range s.cards {
		if s.cards[i].id.Type == typ && !s.cards[i].active && len(found) < int(p[0]) {
			found = append(found, i)
		}
	}
	if len(found) == 0 {
		// One polling period per try: a REQA/REQB left unanswered.
		tries := time.Duration(s.retries) + 1
		if s.retries == 0xFF {
			tries = 1
		}
		return resp, tries * s.exchangeTime(2, 0)
	}
	s.tg = 1
	s.bn = 0
	first := s.cards[found[0]]
	s.card, s.id, s.present = first.card, first.id, true
	resp[1] = byte(len(found))
	var air time.Duration
	for n, i := range found {
		s.cards[i].active, s.cards[i].tg = true, byte(n+1)
		var a time.Duration
		resp, a = s.targetData(resp, byte(n+1), &s.cards[i].id)
		air += a
	}
	return resp, air
}

// targetData appends the TargetData of InListPassiveTarget for the card
// id listed as tg and returns the air time of its activation.
func (s *Sim) targetData(resp []byte, tg byte, id *Identity) ([]byte, time.Duration) {
	if id.Type == pn532.TypeA {
		resp = append(resp, tg, id.ATQA[0], id.ATQA[1], id.SAK, byte(len(id.UID)))
		resp = append(resp, id.UID...)
		// REQA/ATQA, anticollision and select per cascade level, RATS/ATS.
		air := s.exchangeTime(1, 2)
		for lvl := 0; lvl < (len(id.UID)+2)/3; lvl++ {
			air += s.exchangeTime(2, 5) + s.exchangeTime(9, 3)
		}
		if id.SAK&0x20 != 0 && s.params&0x10 != 0 {
			if id.NoRATS {
				air += s.exchangeTime(4, 0)
			} else {
				resp = append(resp, id.ATS...)
				air += s.exchangeTime(4, len(id.ATS)+2)
			}
		}
		return resp, air
	}
	resp = append(resp, tg)
	resp = append(resp, id.ATQB...)
	resp = append(resp, byte(len(id.AttribRes)))
	resp = append(resp, id.AttribRes...)
	return resp, s.exchangeTime(5, 14) + s.exchangeTime(11, len(id.AttribRes)+2)
}

func (s *Sim) dataExchange(p []byte) ([]byte, time.Duration) {
	const code = pn532.CmdInDataExchange + 1
	if len(p) < 1 || len(p) > 1+pn532.MaxDataOut {
		return nil, 0
	}
	tg, mi, data := p[0]&0x3F, p[0]&0x40 != 0, p[1:]
	switch {
	case s.tg == 0 || tg != s.tg:
		return []byte{code, 0x27}, 0
	case !s.present, s.id.Type == pn532.TypeA && s.id.SAK&0x20 == 0:
		// Gone, or a card without ISO 14443-4 (MIFARE Classic): no
		// answer to APDU bytes.
		s.chainIn, s.chainOut = nil, nil
		return []byte{code, 0x01}, s.exchangeTime(len(data)+3, 0)
	}
	if s.chainOut != nil && len(data) == 0 && !mi {
		return s.handOut(0)
	}
	s.chainOut = nil
	s.chainIn = append(s.chainIn, data...)
	if len(s.chainIn) > 65536 {
		s.chainIn = nil
		return []byte{code, 0x07}, 0
	}
	if mi {
		return []byte{code, 0x00}, s.blocksTime(len(data))
	}
	apdu := s.chainIn
	s.chainIn = nil
	s.stats.APDUs++
	s.bn ^= 1
	out, err := s.card.Transmit(apdu)
	if err != nil {
		return []byte{code, 0x01}, s.blocksTime(len(apdu))
	}
	s.chainOut = append([]byte(nil), out...)
	return s.handOut(s.blocksTime(len(apdu)) + s.o.CardDelay + s.blocksTime(len(out)))
}

// communicateThru passes raw bytes to the card. The virtual card speaks
// APDUs only, so the one raw frame it answers is an ISO 14443-4 R(NAK)
// block (PCB 1011x01b, CID byte when bit 0x08 is set), with R(ACK) and
// the same CID, as ISO 14443-4 §7.5.4 asks; anything else finds it mute
// (status 0x01).
func (s *Sim) communicateThru(p []byte) ([]byte, time.Duration) {
	const code = pn532.CmdInCommunicateThru + 1
	if len(p) < 1 || len(p) > pn532.MaxDataOut {
		return nil, 0
	}
	mute := []byte{code, 0x01}
	if s.tg == 0 || !s.present {
		return mute, s.exchangeTime(len(p)+2, 0)
	}
	pcb := p[0]
	if pcb&0xF6 != 0xB2 {
		return mute, s.exchangeTime(len(p)+2, 0)
	}
	ack := []byte{0xA2 | s.bn}
	withCID := pcb&0x08 != 0
	if withCID {
		if len(p) < 2 {
			return mute, s.exchangeTime(len(p)+2, 0)
		}
		ack = []byte{0xAA | s.bn, p[1]}
	}
	if !s.acceptsCID(withCID, p) {
		return mute, s.exchangeTime(len(p)+2, 0)
	}
	return append([]byte{code, 0x00}, ack...), s.exchangeTime(len(p)+2, len(ack)+2)
}

// acceptsCID applies the CID rules of ISO 14443-4 §7.1.1.2 to a block
// sent to the listed type B card, whose CID is the one its ATTRIB_RES
// echoes (low nibble of its first byte) when its ATQB says it supports
// CID (protocol info FO bit 1): a card without CID support ignores every
// block with a CID; one with CID support answers blocks with its CID,
// and blocks without CID only when its CID is 0. Type A cards are not
// checked (the chip's RATS gives them CID 0).
func (s *Sim) acceptsCID(withCID bool, p []byte) bool {
	if s.id.Type != pn532.TypeB {
		return true
	}
	supported := len(s.id.ATQB) == 12 && s.id.ATQB[11]&0x01 != 0
	var cid byte
	if supported && len(s.id.AttribRes) > 0 {
		cid = s.id.AttribRes[0] & 0x0F
	}
	if !withCID {
		return !supported || cid == 0
	}
	return supported && p[1]&0x0F == cid
}

func (s *Sim) handOut(air time.Duration) ([]byte, time.Duration) {
	n := len(s.chainOut)
	st := byte(0x00)
	if n > s.o.MaxDataIn {
		n, st = s.o.MaxDataIn, 0x40
	}
	resp := append([]byte{pn532.CmdInDataExchange + 1, st}, s.chainOut[:n]...)
	s.chainOut = s.chainOut[n:]
	if st == 0 {
		s.chainOut = nil
	}
	return resp, air
}

// blocksTime is the air time of n bytes of ISO-DEP payload sent as I-blocks
// of at most FSC bytes (PCB + INF + CRC), each chained block acknowledged
// by a 3 byte R(ACK).
func (s *Sim) blocksTime(n int) time.Duration {
	inf := s.o.FSC - 3
	var t time.Duration
	for {
		k := min(n, inf)
		t += s.frameTime(1 + k + 2)
		n -= k
		if n == 0 {
			return t
		}
		t += s.exchangeTime(0, 3) // R(ACK) back plus turn-around
	}
}

// exchangeTime is the air time of a request of w bytes, a turn-around and,
// if r > 0, an answer of r bytes and a second turn-around.
func (s *Sim) exchangeTime(w, r int) time.Duration {
	t := s.frameTime(w) + s.fdt()
	if r > 0 {
		t += s.frameTime(r) + s.fdt()
	}
	return t
}

func (s *Sim) frameTime(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	bitsPerChar := 9
	if s.id.Type == pn532.TypeB {
		bitsPerChar = 10
	}
	bits := n*bitsPerChar + 2 // plus start and end of frame
	return time.Duration(bits) * time.Second / time.Duration(s.o.BitRate)
}

// fdt is the frame delay time 1236/fc of ISO 14443-3.
func (s *Sim) fdt() time.Duration { return 1236 * time.Second / 13_560_000 }
