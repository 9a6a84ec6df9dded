package pn532

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"

	"posd/conn/apdu"
	"posd/conn/clock"
)

var (
	_ apdu.Transceiver = (*Dev)(nil)
	_ apdu.Presence    = (*Dev)(nil)
	_ conn.Resource    = (*Dev)(nil)
)

// Command codes (UM0701-02 §7).
const (
	CmdDiagnose            byte = 0x00
	CmdGetFirmwareVersion  byte = 0x02
	CmdSetParameters       byte = 0x12
	CmdSAMConfiguration    byte = 0x14
	CmdRFConfiguration     byte = 0x32
	CmdInDataExchange      byte = 0x40
	CmdInCommunicateThru   byte = 0x42
	CmdInListPassiveTarget byte = 0x4A
	CmdInRelease           byte = 0x52
)

// SetParameters flags (UM0701-02 §7.2.9; the values are libnfc's
// PARAM_* in chips/pn53x.h).
const (
	ParamNADUsed    byte = 0x01 // use NAD in initiator mode
	ParamDIDUsed    byte = 0x02 // use DID/CID in initiator mode
	ParamAutoATRRes byte = 0x04 // answer ATR_REQ automatically (target)
	ParamAutoRATS   byte = 0x10 // send RATS automatically after a type A select
	ParamISO14443PI byte = 0x20 // ISO 14443-4 PICC emulation
	ParamNoAmble    byte = 0x40 // no preamble and postamble in frames
	initParameters       = ParamAutoATRRes | ParamAutoRATS
)

// maxTargets is the MaxTg of InListPassiveTarget: two, the most the chip
// initialises at once (UM0701-02 §7.3.5), so that a second card shows as
// a collision.
const maxTargets = 0x02

// FWTMax is the longest frame waiting time of ISO 14443-4 (FWI 14):
// 256*16/fc * 2^14, 4.95 s. A card may use all of it for one answer, and
// ask for as much again with S(WTX), which the chip answers by itself.
const FWTMax = time.Duration(256*16<<14) * time.Second / 13_560_000

// MaxDataOut is the largest DataOut of one InDataExchange frame
// (UM0701-02 §7.3.8: 262 bytes).
const MaxDataOut = 262

// Opts configures a Dev.
type Opts struct {
	// Logger receives debug records (command codes and lengths only,
	// never payloads). Default: discard.
	Logger *slog.Logger
	// Clock for timeouts, polling, the I2C bus-free time and the reset
	// and wake-up pulses; default clock.Real.
	Clock clock.Clock
	// ACKTimeout is how long to wait for the ACK of a command before
	// sending it again. UM0701-02 §6.2.2 says the chip ACKs within 15 ms;
	// the default 50 ms leaves room for a loaded Linux host.
	ACKTimeout time.Duration
	// ResponseTimeout bounds the wait for a response after its ACK.
	// Default 2 s.
	ResponseTimeout time.Duration
	// ExchangeTimeout bounds the wait for the response of InDataExchange,
	// which lasts as long as the card takes: up to FWTMax per frame when
	// its ATS or ATQB says FWI 14, or when it asks for more time with
	// S(WTX) (a phone computing GENERATE AC). Default FWTMax plus the
	// default ResponseTimeout for the chip and the bus; never less than
	// ResponseTimeout. The caller's context bounds the whole exchange.
	ExchangeTimeout time.Duration
	// PollInterval between status reads on I2C and SPI. Default 1 ms; on
	// I2C the transport's bus-free time (I2CBusFree, 5 ms) is the floor.
	PollInterval time.Duration
	// Retries is how often a command is sent again after an ACK timeout,
	// a failed write or a syntax error frame, and how many NACKs are sent
	// for a damaged or unreadable response. Default 3.
	Retries int
	// MaxChunk is the largest DataOut per InDataExchange frame; longer
	// APDUs are sent in several frames with the MI bit set in Tg
	// (UM0701-02 §7.3.8). Default and maximum MaxDataOut.
	MaxChunk int
	// MaxResponse caps the reassembled length of a chained card response.
	// Default 4096.
	MaxResponse int
	// PassiveRetries is MxRtyPassiveActivation, set by Init so that
	// InListPassiveTarget returns when no card is there (0xFF would make
	// the chip retry forever). Default 0x02.
	PassiveRetries byte
	// SkipInit leaves the chip untouched in New; the caller runs Init
	// (board/ does, retrying in the background) or, in tests of single
	// commands, nothing.
	SkipInit bool

	// Reset is the chip's RSTPDN line (active low), when the board wires
	// it (the PN532 HAT: BCM20). Init pulses it, and the driver pulses it
	// to recover from bus errors. Optional.
	Reset gpio.PinOut
	// ResetPulse is how long RSTPDN is held low, ResetRecovery how long
	// the driver waits after releasing it. Defaults 400 ms and 10 ms, the
	// figures of Adafruit_PN532.cpp begin() (which points at the timing
	// diagram of data sheet §12.23).
	ResetPulse, ResetRecovery time.Duration
	// Req is the chip's H_REQ (P32_INT0) line, when wired (the PN532 HAT:
	// BCM16). The driver pulls it low for ReqPulse to wake the chip
	// before its first command and before a resend, so the chip does not
	// have to stretch the I2C clock while it wakes (the HAT vendor's
	// pn532/i2c.py: "connect a pin to P32 H_Request for hardware wakeup
	// ... we don't need to do the I2C clock-stretch thing"). Optional.
	Req gpio.PinOut
	// ReqPulse defaults to 100 ms, the low time of the vendor's _wakeup.
	ReqPulse time.Duration
}

// DefaultOpts are the options used when New gets nil.
var DefaultOpts = Opts{
	ACKTimeout:      50 * time.Millisecond,
	ResponseTimeout: 2 * time.Second,
	ExchangeTimeout: FWTMax + 2*time.Second,
	PollInterval:    time.Millisecond,
	Retries:         3,
	MaxChunk:        MaxDataOut,
	MaxResponse:     4096,
	PassiveRetries:  0x02,
	ResetPulse:      400 * time.Millisecond,
	ResetRecovery:   10 * time.Millisecond,
	ReqPulse:        100 * time.Millisecond,
}

// Dev is a PN532. Its methods are safe for concurrent use; they run one
// command at a time.
type Dev struct {
	t   Transport
	o   Opts
	log *slog.Logger

	mu      sync.Mutex // serialises commands and guards the fields below
	tx      []byte
	params  []byte
	params2 []byte
	target  *Target
	// activated: the chip may hold activated targets that no InRelease
	// has deselected since (a listed card, both cards of a collision, the
	// card of the other modulation, or whatever a previous host left).
	// Such a card answers no poll (ISO 14443-3 ACTIVE, ISO 14443-4
	// PROTOCOL state), so ListTarget releases them first.
	activated  bool
	recovering bool // a reset is in progress: no nested reset

	haltMu     sync.Mutex
	haltCtx    context.Context
	haltCancel context.CancelFunc
}

// New returns a driver over t. Unless opts.SkipInit it runs Init and
// fails with its error.
func New(t Transport, opts *Opts) (*Dev, error) {
	if t == nil {
		return nil, errors.New("pn532: nil transport")
	}
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Clock = clock.Or(o.Clock)
	if o.ACKTimeout <= 0 {
		o.ACKTimeout = DefaultOpts.ACKTimeout
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = DefaultOpts.ResponseTimeout
	}
	if o.ExchangeTimeout <= 0 {
		o.ExchangeTimeout = DefaultOpts.ExchangeTimeout
	}
	o.ExchangeTimeout = max(o.ExchangeTimeout, o.ResponseTimeout)
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultOpts.PollInterval
	}
	if o.Retries < 0 {
		o.Retries = 0
	}
	if o.MaxChunk <= 0 || o.MaxChunk > MaxDataOut {
		o.MaxChunk = MaxDataOut
	}
	if o.MaxResponse <= 0 {
		o.MaxResponse = DefaultOpts.MaxResponse
	}
	if o.ResetPulse <= 0 {
		o.ResetPulse = DefaultOpts.ResetPulse
	}
	if o.ResetRecovery <= 0 {
		o.ResetRecovery = DefaultOpts.ResetRecovery
	}
	if o.ReqPulse <= 0 {
		o.ReqPulse = DefaultOpts.ReqPulse
	}
	if c, ok := t.(clocked); ok {
		c.setClock(o.Clock)
	}
	d := &Dev{t: t, o: o, log: o.Logger, tx: make([]byte, 0, MaxFrameSize), params: make([]byte, 0, MaxFrameData)}
	d.haltCtx, d.haltCancel = context.WithCancel(context.Background())
	if !o.SkipInit {
		if err := d.Init(context.Background()); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Init brings the chip into a known state: it pulses RSTPDN when wired,
// wakes the chip (H_REQ, the HSU preamble or the SPI chip select), and
// sends SAMConfiguration (normal mode; needed after power-up and
// mandatory on HSU to leave LowVbat), SetParameters with automatic RATS
// and ATR_RES (the flags libnfc's pn53x_init sets, since the chip's cannot
// be read back) and RFConfiguration MaxRetries so InListPassiveTarget
// cannot block forever. It forgets any listed target. Callers retry it
// when it fails (board/ does so in the background).
func (d *Dev) Init(ctx context.Context) error {
	ctx, end := d.begin(ctx)
	defer end()
	return d.init(ctx, d.o.Reset != nil)
}

// init is Init with mu held.
func (d *Dev) init(ctx context.Context, reset bool) error {
	d.target = nil
	// Without a reset, targets a previous host (or this one before a
	// bus failure) activated may still be held: release them before the
	// next poll. A reset switches the field off, which ends them.
	d.activated = !reset
	if reset {
		if err := d.pulseReset(ctx); err != nil {
			return err
		}
	}
	if err := d.wake(ctx); err != nil {
		return err
	}
	if _, err := d.call(ctx, CmdSAMConfiguration, []byte{0x01}, 16); err != nil {
		return err
	}
	if _, err := d.call(ctx, CmdSetParameters, []byte{initParameters}, 16); err != nil {
		return err
	}
	if _, err := d.call(ctx, CmdRFConfiguration, []byte{0x05, 0xFF, 0x01, d.o.PassiveRetries}, 16); err != nil {
		return err
	}
	return nil
}

// pulseReset holds RSTPDN low for ResetPulse and waits ResetRecovery.
func (d *Dev) pulseReset(ctx context.Context) error {
	d.log.Debug("pn532 reset")
	if err := d.o.Reset.Out(gpio.Low); err != nil {
		return fmt.Errorf("%w: RSTPDN: %w", ErrBus, err)
	}
	err := clock.Sleep(ctx, d.o.Clock, d.o.ResetPulse)
	if herr := d.o.Reset.Out(gpio.High); herr != nil && err == nil {
		err = fmt.Errorf("%w: RSTPDN: %w", ErrBus, herr)
	}
	if err != nil {
		return err
	}
	return clock.Sleep(ctx, d.o.Clock, d.o.ResetRecovery)
}

// wake makes sure the next frame reaches an awake chip: an H_REQ pulse
// when wired, then the transport's own wake-up (see waker).
func (d *Dev) wake(ctx context.Context) error {
	if d.o.Req != nil {
		if err := d.o.Req.Out(gpio.Low); err != nil {
			return fmt.Errorf("%w: H_REQ: %w", ErrBus, err)
		}
		err := clock.Sleep(ctx, d.o.Clock, d.o.ReqPulse)
		if herr := d.o.Req.Out(gpio.High); herr != nil && err == nil {
			err = fmt.Errorf("%w: H_REQ: %w", ErrBus, herr)
		}
		if err != nil {
			return err
		}
	}
	if w, ok := d.t.(waker); ok {
		return w.wake(ctx, d.o.Clock)
	}
	return nil
}

func (d *Dev) String() string { return "pn532(" + d.t.String() + ")" }

// Halt aborts a command in progress, forgets the listed target and switches
// the RF field off. The Dev stays usable. It never closes the transport and
// leaves no goroutine behind (the driver starts none).
func (d *Dev) Halt() error {
	d.haltMu.Lock()
	d.haltCancel()
	d.haltMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.haltMu.Lock()
	d.haltCtx, d.haltCancel = context.WithCancel(context.Background())
	d.haltMu.Unlock()
	d.target = nil
	// No reset from here: Halt stops activity, it does not start any.
	_, err := d.exchange(context.Background(), CmdRFConfiguration, []byte{0x01, 0x00}, 16)
	if err == nil {
		d.activated = false // no field, no activated card
	}
	return err
}

// begin locks the device and ties ctx to Halt.
func (d *Dev) begin(ctx context.Context) (context.Context, func()) {
	d.haltMu.Lock()
	hc := d.haltCtx
	d.haltMu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(hc, cancel)
	d.mu.Lock()
	return ctx, func() {
		d.mu.Unlock()
		stop()
		cancel()
	}
}

// FirmwareVersion is the answer to GetFirmwareVersion (UM0701-02 §7.2.2).
type FirmwareVersion struct {
	IC      byte // 0x32 for a PN532
	Ver     byte
	Rev     byte
	Support byte // bit 0 ISO 14443 A, bit 1 ISO 14443 B, bit 2 ISO 18092
}

func (f FirmwareVersion) String() string {
	return fmt.Sprintf("PN5%02X v%d.%d support 0x%02X", f.IC, f.Ver, f.Rev, f.Support)
}

// FirmwareVersion asks the chip for its version.
func (d *Dev) FirmwareVersion(ctx context.Context) (FirmwareVersion, error) {
	ctx, end := d.begin(ctx)
	defer end()
	r, err := d.call(ctx, CmdGetFirmwareVersion, nil, 16)
	if err != nil {
		return FirmwareVersion{}, err
	}
	if len(r) != 4 {
		return FirmwareVersion{}, fmt.Errorf("%w: firmware version of %d bytes", ErrBadResponse, len(r))
	}
	return FirmwareVersion{IC: r[0], Ver: r[1], Rev: r[2], Support: r[3]}, nil
}

// SAMConfig sends SAMConfiguration with mode 0x01 (normal mode, no SAM).
func (d *Dev) SAMConfig(ctx context.Context) error {
	ctx, end := d.begin(ctx)
	defer end()
	_, err := d.call(ctx, CmdSAMConfiguration, []byte{0x01}, 16)
	return err
}

// SetParameters sends SetParameters (UM0701-02 §7.2.9) with the given
// Param* flags. Init sends ParamAutoATRRes|ParamAutoRATS.
func (d *Dev) SetParameters(ctx context.Context, flags byte) error {
	ctx, end := d.begin(ctx)
	defer end()
	_, err := d.call(ctx, CmdSetParameters, []byte{flags}, 16)
	return err
}

// SetField switches the RF field on or off (RFConfiguration item 0x01).
func (d *Dev) SetField(ctx context.Context, on bool) error {
	ctx, end := d.begin(ctx)
	defer end()
	v := byte(0x00)
	if on {
		v = 0x01
	}
	if !on {
		d.target = nil
	}
	_, err := d.call(ctx, CmdRFConfiguration, []byte{0x01, v}, 16)
	if err == nil && !on {
		d.activated = false
	}
	return err
}

// Retries are the MaxRetries of RFConfiguration item 0x05. 0xFF means
// forever, 0x00 means one try.
type Retries struct {
	ATR               byte // MxRtyATR, ATR_REQ retries (DEP)
	PSL               byte // MxRtyPSL, PSL_REQ / PPS retries
	PassiveActivation byte // MxRtyPassiveActivation, InListPassiveTarget
}

// SetRetries sends RFConfiguration item 0x05.
func (d *Dev) SetRetries(ctx context.Context, r Retries) error {
	ctx, end := d.begin(ctx)
	defer end()
	_, err := d.call(ctx, CmdRFConfiguration, []byte{0x05, r.ATR, r.PSL, r.PassiveActivation}, 16)
	return err
}

// Timeout is the RFConfiguration timeout code: 0 means none and n means
// 100 µs * 2^(n-1), so 0x0B is 102.4 ms and 0x10 is 3.28 s.
type Timeout byte

// Duration returns the time the code stands for.
func (t Timeout) Duration() time.Duration {
	if t == 0 || t > 0x10 {
		return 0
	}
	return 100 * time.Microsecond << (t - 1)
}

// SetTimings sends RFConfiguration item 0x02: the ATR_RES timeout and the
// timeout of InDataExchange-like commands with a non-DEP target.
func (d *Dev) SetTimings(ctx context.Context, atrRes, retry Timeout) error {
	ctx, end := d.begin(ctx)
	defer end()
	_, err := d.call(ctx, CmdRFConfiguration, []byte{0x02, 0x00, byte(atrRes), byte(retry)}, 16)
	return err
}

// ListTarget looks for a card of the given type and, on success, makes it
// the target of Transmit. It asks the chip for up to two targets
// (InListPassiveTarget MaxTg 2, the most the PN532 handles) so that a
// second card in the field is seen: when two answer it returns
// ErrCollision and lists neither, rather than pick one. It returns
// ErrNoTarget when the chip found none within its passive retries.
//
// Targets activated before and not released since (the card listed
// last, the cards of a collision, the card of the other modulation) are
// released first with InRelease Tg 0: an activated card answers no poll
// (ISO 14443-3 ACTIVE, ISO 14443-4 PROTOCOL state) and would be missed;
// once deselected it rests in HALT. libnfc likewise deselects after every
// listing; it notes that a deselected type B card answers the next poll,
// as the re-listing of a card found by the type B poll needs here.
func (d *Dev) ListTarget(ctx context.Context, typ TargetType) (*Target, error) {
	ctx, end := d.begin(ctx)
	defer end()
	var p []byte
	switch typ {
	case TypeA:
		p = []byte{maxTargets, byte(BrTyA106)}
	case TypeB:
		p = []byte{maxTargets, byte(BrTyB106), 0x00} // AFI 0x00: all families
	default:
		return nil, fmt.Errorf("%w: unsupported target type %d", ErrBadResponse, typ)
	}
	d.target = nil
	if d.activated {
		if err := d.releaseAll(ctx); err != nil {
			var se *StatusError
			if !errors.As(err, &se) && !errors.Is(err, ErrReset) {
				return nil, err
			}
			// The chip knows no target to release, or a reset
			// switched the field off: nothing is held.
			d.log.Debug("pn532 release before polling", "err", err)
			d.activated = false
		}
	}
	r, err := d.call(ctx, CmdInListPassiveTarget, p, MaxFrameSize)
	if err != nil {
		// The command may have run: what it activated is unknown.
		d.activated = true
		return nil, err
	}
	ts, err := ParseListResponse(typ, r)
	if err != nil {
		d.activated = true
		return nil, err
	}
	if len(ts) == 0 {
		return nil, ErrNoTarget
	}
	d.activated = true
	if len(ts) > 1 {
		d.log.Debug("pn532 collision", "type", typ.String(), "targets", len(ts))
		return nil, fmt.Errorf("%w: %d %s targets", ErrCollision, len(ts), typ)
	}
	t := ts[0]
	d.target = &t
	d.log.Debug("pn532 target listed", "type", typ.String(), "uidLen", len(t.UID), "atsLen", len(t.ATS))
	out := t
	return &out, nil
}

// Transmit sends a command APDU to the listed ISO 14443-4 card with
// InDataExchange and returns its response APDU. APDUs longer than
// MaxChunk go out in several frames with MI set in Tg; a response with MI
// set in its status is fetched with further empty InDataExchange frames
// (UM0701-02 §7.3.8). The returned slice is the caller's. A listed card
// without ISO 14443-4 (MIFARE Classic) gets nothing: ErrNotISODEP.
func (d *Dev) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	ctx, end := d.begin(ctx)
	defer end()
	if d.target == nil {
		return nil, ErrNoTarget
	}
	if !d.target.ISO14443_4() {
		return nil, fmt.Errorf("%w: %s target", ErrNotISODEP, d.target.Type)
	}
	tg := d.target.Tg
	rest := apdu
	var resp []byte
	for {
		chunk := rest
		mi := false
		if len(chunk) > d.o.MaxChunk {
			chunk, mi = chunk[:d.o.MaxChunk], true
		}
		rest = rest[len(chunk):]
		b := tg
		if mi {
			b |= 0x40
		}
		d.params = append(append(d.params[:0], b), chunk...)
		r, err := d.call(ctx, CmdInDataExchange, d.params, MaxFrameSize)
		if err != nil {
			return nil, err
		}
		if len(r) < 1 {
			return nil, fmt.Errorf("%w: InDataExchange without status", ErrBadResponse)
		}
		if st := r[0] & 0x3F; st != 0 {
			se := &StatusError{Cmd: CmdInDataExchange, Code: st}
			if se.TargetGone() {
				d.target = nil
			}
			return nil, se
		}
		if mi {
			continue
		}
		if r[0]&0x40 != 0 && len(r) == 1 {
			// More to come, but nothing in this frame: asking again
			// could go on forever.
			return nil, fmt.Errorf("%w: chained InDataExchange frame without data", ErrBadResponse)
		}
		resp = append(resp, r[1:]...)
		if len(resp) > d.o.MaxResponse {
			return nil, fmt.Errorf("%w: chained response over %d bytes", ErrBadResponse, d.o.MaxResponse)
		}
		if r[0]&0x40 == 0 {
			break
		}
		// MI from the chip: ask for the rest with an empty DataOut.
		rest = rest[:0]
	}
	d.log.Debug("pn532 apdu exchanged", "cmdLen", len(apdu), "respLen", len(resp))
	return resp, nil
}

// Release lets go of every target the chip activated with InRelease
// Tg 0 (UM0701-02 §7.3.11: all targets), not only the listed one: after
// a collision, or after the poll of the other modulation found a card
// too, more than one card is activated, and each one left so answers no
// further poll.
func (d *Dev) Release(ctx context.Context) error {
	ctx, end := d.begin(ctx)
	defer end()
	d.target = nil
	return d.releaseAll(ctx)
}

// releaseAll sends InRelease Tg 0. Caller holds mu.
func (d *Dev) releaseAll(ctx context.Context) error {
	r, err := d.call(ctx, CmdInRelease, []byte{0x00}, 16)
	if err != nil {
		return err
	}
	if len(r) < 1 {
		return fmt.Errorf("%w: InRelease without status", ErrBadResponse)
	}
	if st := r[0] & 0x3F; st != 0 {
		return &StatusError{Cmd: CmdInRelease, Code: st}
	}
	d.activated = false
	return nil
}

// CardPresent reports whether the listed card still answers, without
// disturbing its session.
//
// For an ISO-DEP card (Type A with SAK bit 0x20, Type B) it sends an
// ISO 14443-4 R(NAK) block through InCommunicateThru — 0xB2 for Type A;
// for Type B 0xBA with the CID the card's ATTRIB_RES echoes, or 0xB2 when
// that CID is 0 (see typeBRNAK) — which a present card answers with an
// R(ACK) or its last block (ISO 14443-4 §7.5.4 PICC rules) and which
// leaves its block number alone. This is what libnfc's chips/pn53x.c does
// on a PN532 (pn53x_ISO14443A_4_is_present, pn53x_ISO14443B_4_is_present)
// because Diagnose 0x06 "failed completely with a JCOP31 on a PN532". A
// timeout status (0x01) means the card is gone; any other failure is
// tried once more, then returned as a *StatusError.
//
// Other cards (MIFARE-class, not used for payments) are asked with
// Diagnose test 0x06 (UM0701-02 §7.2.1). Without a listed target it
// answers false without talking to the chip.
func (d *Dev) CardPresent(ctx context.Context) (bool, error) {
	ctx, end := d.begin(ctx)
	defer end()
	t := d.target
	if t == nil {
		return false, nil
	}
	if !t.ISO14443_4() {
		r, err := d.call(ctx, CmdDiagnose, []byte{0x06}, 16)
		if err != nil {
			return false, err
		}
		if len(r) < 1 {
			return false, fmt.Errorf("%w: Diagnose without result", ErrBadResponse)
		}
		if r[0] != 0x00 {
			d.target = nil
			return false, nil
		}
		return true, nil
	}
	rnak := []byte{0xB2}
	if t.Type == TypeB {
		rnak = typeBRNAK(t)
	}
	var last error
	for failures := 0; failures < 2; failures++ {
		r, err := d.call(ctx, CmdInCommunicateThru, rnak, 16)
		if err != nil {
			return false, err
		}
		if len(r) < 1 {
			return false, fmt.Errorf("%w: InCommunicateThru without status", ErrBadResponse)
		}
		switch st := r[0] & 0x3F; st {
		case 0x00:
			return true, nil
		case 0x01:
			d.target = nil
			return false, nil
		default:
			last = &StatusError{Cmd: CmdInCommunicateThru, Code: st}
		}
	}
	return false, last
}

// typeBRNAK is the R(NAK) block of the presence check for a type B card.
// ISO 14443-4 §7.1.1.2: a card ignores a block whose CID is not its own,
// and a card without CID support (or with CID 0) takes blocks without
// CID. The card's CID is the low nibble of the first ATTRIB_RES byte,
// which is 0 when it does not support CID. libnfc sends CID 1 (0xBA
// 0x01), which only a card given CID 1 answers; that stays the choice
// when the chip passed no ATTRIB_RES.
func typeBRNAK(t *Target) []byte {
	if len(t.AttribRes) == 0 {
		return []byte{0xBA, 0x01}
	}
	if cid := t.AttribRes[0] & 0x0F; cid != 0 {
		return []byte{0xBA, cid}
	}
	return []byte{0xB2}
}

// needsTarget lists the commands that act on a listed card's session,
// which a chip reset ends: they are not repeated after a reset.
func needsTarget(cmd byte) bool {
	switch cmd {
	case CmdInDataExchange, CmdInCommunicateThru, CmdInRelease, CmdDiagnose:
		return true
	}
	return false
}

// call sends cmd with params and returns the response parameters (after
// the response code). max bounds the response frame size. Caller holds
// mu. When the bus keeps failing and RSTPDN is wired, it resets and
// initialises the chip and sends the command once more, unless the
// command belongs to a card session (then ErrReset).
func (d *Dev) call(ctx context.Context, cmd byte, params []byte, max int) ([]byte, error) {
	r, err := d.exchange(ctx, cmd, params, max)
	if err == nil || !errors.Is(err, ErrBus) || d.o.Reset == nil || d.recovering || ctx.Err() != nil {
		return r, err
	}
	d.log.Debug("pn532 bus errors, resetting the chip", "cmd", cmd)
	d.recovering = true
	hadTarget := d.target != nil
	ierr := d.init(ctx, true)
	d.recovering = false
	if ierr != nil {
		return nil, fmt.Errorf("%w (reset did not help: %w)", err, ierr)
	}
	if needsTarget(cmd) || hadTarget {
		return nil, fmt.Errorf("pn532: command 0x%02X: %w (after %w)", cmd, ErrReset, err)
	}
	return d.exchange(ctx, cmd, params, max)
}

// exchange is one command with its resends and NACKs.
func (d *Dev) exchange(ctx context.Context, cmd byte, params []byte, max int) ([]byte, error) {
	d.params2 = append(append(d.params2[:0], cmd), params...)
	var err error
	d.tx, err = AppendFrame(d.tx[:0], TFIHost, d.params2)
	if err != nil {
		return nil, err
	}
	d.log.Debug("pn532 command", "cmd", cmd, "len", len(params))
	for attempt := 0; ; attempt++ {
		r, err := d.once(ctx, cmd, max)
		if err == nil {
			return r, nil
		}
		retry := errors.Is(err, errNoACK) || errors.Is(err, ErrApplication)
		if ctx.Err() != nil || !retry || attempt >= d.o.Retries {
			return nil, fmt.Errorf("pn532: command 0x%02X: %w", cmd, err)
		}
		if errors.Is(err, errNoACK) {
			// The chip may have taken the command after all and answer
			// late: abort it and let the line go quiet, so its ACK and
			// response are not read as those of the resent command.
			d.abort()
			if h, ok := d.t.(*HSU); ok {
				h.Drain(d.o.ACKTimeout, 4*d.o.ACKTimeout)
			}
			// Or it slept through the frame: wake it before the resend.
			if werr := d.wake(ctx); werr != nil {
				return nil, fmt.Errorf("pn532: command 0x%02X: %w (wake-up: %w)", cmd, err, werr)
			}
		}
		d.log.Debug("pn532 resend", "cmd", cmd, "attempt", attempt+1, "err", err)
		d.tx, err = AppendFrame(d.tx[:0], TFIHost, d.params2)
		if err != nil {
			return nil, err
		}
	}
}

// errNoACK marks a command the chip did not acknowledge; it wraps the
// cause (ErrTimeout, a damaged frame or ErrBus).
var errNoACK = errors.New("not acknowledged")

// once sends the frame in d.tx once, waits for its ACK and reads the
// response, answering damaged or unreadable responses with NACK.
func (d *Dev) once(ctx context.Context, cmd byte, max int) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := d.t.Send(ctx, d.tx); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, ErrBus) {
			return nil, fmt.Errorf("%w: %w", errNoACK, err)
		}
		return nil, err
	}
	f, err := d.read(ctx, d.o.ACKTimeout, len(ackFrame))
	if err == nil && f.Kind != FrameACK {
		err = fmt.Errorf("%w: %s frame instead of ACK", ErrFrame, f.Kind)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %w", errNoACK, err)
	}
	timeout := d.o.ResponseTimeout
	if cmd == CmdInDataExchange {
		timeout = d.o.ExchangeTimeout
	}
	for nacks := 0; ; nacks++ {
		f, err := d.read(ctx, timeout, max)
		if err == nil {
			if err = f.Err(); err == nil {
				if f.Kind != FrameInfo {
					err = fmt.Errorf("%w: %s frame instead of response", ErrFrame, f.Kind)
				} else if f.TFI != TFIChip || len(f.Data) == 0 || f.Data[0] != cmd+1 {
					return nil, fmt.Errorf("%w: unexpected response", ErrFrame)
				} else {
					return f.Data[1:], nil
				}
			}
		}
		switch {
		case ctx.Err() != nil || errors.Is(err, ErrTimeout):
			d.abort()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		case errors.Is(err, ErrApplication), nacks >= d.o.Retries:
			return nil, err
		}
		// A damaged frame, or a read the bus garbled: the chip keeps its
		// response and sends it again on NACK (UM0701-02 §6.2.1.4).
		d.log.Debug("pn532 nack", "cmd", cmd, "err", err)
		if err := d.t.Send(ctx, nackFrame[:]); err != nil {
			return nil, err
		}
	}
}

// abort sends an ACK, which makes the chip drop the command it runs
// (UM0701-02 §6.2.1.3).
func (d *Dev) abort() {
	d.tx = AppendACK(d.tx[:0])
	if err := d.t.Send(context.Background(), d.tx); err != nil {
		d.log.Debug("pn532 abort failed", "err", err)
	}
	if h, ok := d.t.(*HSU); ok {
		h.Discard()
	}
}

// read waits up to timeout for the chip to be ready and reads a frame.
func (d *Dev) read(ctx context.Context, timeout time.Duration, max int) (Frame, error) {
	deadline := d.o.Clock.Now().Add(timeout)
	for {
		ok, err := d.t.Ready(ctx)
		if err != nil {
			return Frame{}, err
		}
		if ok {
			break
		}
		if !d.o.Clock.Now().Before(deadline) {
			return Frame{}, ErrTimeout
		}
		if err := clock.Sleep(ctx, d.o.Clock, d.o.PollInterval); err != nil {
			return Frame{}, err
		}
	}
	b, err := d.t.Receive(ctx, max, deadline)
	if err != nil {
		return Frame{}, err
	}
	f, _, err := DecodeFrame(b)
	return f, err
}
