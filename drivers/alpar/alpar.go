package alpar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3"

	"posd/conn/apdu"
	"posd/conn/clock"
)

// Opts configures a Dev.
type Opts struct {
	// Baud documents the host serial speed the board must configure. The
	// TDA8029 answers at 38400 baud after reset; the driver does not set
	// the port, it only reports the value in String.
	Baud int
	// Timeout bounds the wait for the answer to one command. Card commands
	// include the card's own waiting time, so keep it generous.
	Timeout time.Duration
	// EventBuffer is the capacity of the Events channel. When it is full
	// the oldest event is dropped so the newest slot state always arrives.
	EventBuffer int
	// HaltTimeout bounds how long Halt waits for the reader goroutine when
	// the bus can neither be interrupted nor returns from Read by itself.
	HaltTimeout time.Duration
	// PollEOF tells that the bus reports "no data yet" as io.EOF, as a
	// serial port opened with a read timeout does (tarm/serial with
	// ReadTimeout set): the reader then retries after RetryDelay. Without
	// it io.EOF means the link is gone and the driver fails with ErrBus.
	PollEOF bool
	// RetryDelay is the pause after an io.EOF read when PollEOF is set.
	RetryDelay time.Duration
	// Clock times Timeout, HaltTimeout and RetryDelay; nil means
	// clock.Real.
	Clock clock.Clock
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// DefaultOpts are the options used when New gets nil.
var DefaultOpts = Opts{
	Baud:        38400,
	Timeout:     5 * time.Second,
	EventBuffer: 8,
	HaltTimeout: 2 * time.Second,
	RetryDelay:  20 * time.Millisecond,
}

// EventKind says what happened in the card slot.
type EventKind int

// Slot events carried by the unsolicited A0h message.
const (
	CardRemoved EventKind = iota
	CardInserted
)

func (k EventKind) String() string {
	if k == CardInserted {
		return "inserted"
	}
	return "removed"
}

// Event is an unsolicited slot change reported by the chip.
type Event struct {
	Kind EventKind
}

type response struct {
	f   Frame
	err error
}

// reader is one run of the reader goroutine, from its start to Halt or a
// bus failure.
type reader struct {
	stop chan struct{} // closed by Halt
	done chan struct{} // closed when the goroutine has returned
}

// Dev is a TDA8029 running the ALPAR firmware.
type Dev struct {
	bus  io.ReadWriter
	opts Opts
	clk  clock.Clock
	log  *slog.Logger

	sem    chan struct{} // one command at a time
	events chan Event

	ctl sync.Mutex // serialises starting and halting the reader

	mu      sync.Mutex    // guards the fields below
	run     *reader       // the current or last reader; nil before New ends
	running bool          // run has not been halted
	pending chan response // answer slot of the command in flight
	readErr error         // the serial link failed: sticky
}

var (
	_ conn.Resource    = (*Dev)(nil)
	_ apdu.Transceiver = (*Dev)(nil)
	_ apdu.Presence    = (*Dev)(nil)
)

type deadliner interface {
	SetReadDeadline(t time.Time) error
}

// New starts a driver on bus, an open serial line to the chip, with its
// reader goroutine (so slot events arrive before any command). It does not
// talk to the chip; call FirmwareVersion to check that it is there.
func New(bus io.ReadWriter, opts *Opts) (*Dev, error) {
	if bus == nil {
		return nil, fmt.Errorf("alpar: nil bus: %w", ErrBus)
	}
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultOpts.Timeout
	}
	if o.EventBuffer <= 0 {
		o.EventBuffer = DefaultOpts.EventBuffer
	}
	if o.HaltTimeout <= 0 {
		o.HaltTimeout = DefaultOpts.HaltTimeout
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = DefaultOpts.RetryDelay
	}
	if o.Baud == 0 {
		o.Baud = DefaultOpts.Baud
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dev{
		bus:    bus,
		opts:   o,
		clk:    clock.Or(o.Clock),
		log:    log,
		sem:    make(chan struct{}, 1),
		events: make(chan Event, o.EventBuffer),
	}
	d.ctl.Lock()
	defer d.ctl.Unlock()
	if _, err := d.start(); err != nil {
		return nil, err
	}
	return d, nil
}

// String describes the device.
func (d *Dev) String() string {
	return fmt.Sprintf("TDA8029(ALPAR, %d baud)", d.opts.Baud)
}

// Events delivers card insertion and removal reported by the chip while
// the reader runs. It stays open across Halt; it is closed when the serial
// link fails (ErrBus), after which nothing more can arrive.
func (d *Dev) Events() <-chan Event {
	return d.events
}

// start runs the reader goroutine unless it runs already, and returns its
// stop channel. The caller holds d.ctl.
func (d *Dev) start() (<-chan struct{}, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.readErr != nil {
		return nil, d.readErr
	}
	if d.running {
		return d.run.stop, nil
	}
	if d.run != nil {
		select {
		case <-d.run.done:
		default:
			// A Halt gave up waiting: two readers would share the bus.
			return nil, fmt.Errorf("alpar: previous reader still blocked in Read: %w", ErrBus)
		}
	}
	if dl, ok := d.bus.(deadliner); ok {
		// Halt leaves an expired deadline behind (a previous driver's
		// Halt too).
		_ = dl.SetReadDeadline(time.Time{})
	}
	r := &reader{stop: make(chan struct{}), done: make(chan struct{})}
	d.run, d.running = r, true
	go d.readLoop(r)
	return r.stop, nil
}

// Halt stops activity: the command in flight fails with ErrHalted and the
// reader goroutine ends (Halt waits for it, at most HaltTimeout, and
// reports ErrBus if it stays blocked in Read). Halt does not talk to the
// chip and never closes the bus. The Dev stays usable: the next command
// starts a new reader. Halt on a halted Dev returns nil at once.
//
// If the bus has a SetReadDeadline method (os.File on a tty, net.Conn) it
// is used to interrupt a blocked read; a bus whose Read returns by itself
// now and then (Opts.PollEOF) works too.
func (d *Dev) Halt() error {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	d.mu.Lock()
	if !d.running {
		d.mu.Unlock()
		return nil
	}
	d.running = false
	r := d.run
	d.mu.Unlock()
	close(r.stop)
	if dl, ok := d.bus.(deadliner); ok {
		_ = dl.SetReadDeadline(time.Unix(1, 0))
	}
	select {
	case <-r.done:
		return nil
	case <-d.clk.After(d.opts.HaltTimeout):
		return fmt.Errorf("alpar: reader still blocked in Read after %v: %w", d.opts.HaltTimeout, ErrBus)
	}
}

func stopping(r *reader) bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

func (d *Dev) readLoop(r *reader) {
	defer close(r.done)
	fr := NewFrameReader(d.bus)
	for {
		f, err := fr.ReadFrame()
		if stopping(r) {
			d.finish(ErrHalted)
			return
		}
		switch {
		case err == nil:
			d.dispatch(f)
		case errors.Is(err, ErrFrameLRC):
			d.log.Warn("frame with bad LRC", "cmd", f.Cmd, "len", len(f.Payload))
			d.deliver(response{err: fmt.Errorf("alpar: answer to %02Xh: %w", f.Cmd, ErrFrameLRC)})
		case errors.Is(err, ErrFrameTooLong):
			d.log.Warn("resynchronising after bad length")
		case d.opts.PollEOF && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
			// No data within the port's read timeout; poll again.
			select {
			case <-r.stop:
				d.finish(ErrHalted)
				return
			case <-d.clk.After(d.opts.RetryDelay):
			}
			fr = NewFrameReader(d.bus)
		default:
			d.log.Error("serial read failed", "err", err)
			err = fmt.Errorf("alpar: read: %w: %w", ErrBus, err)
			d.mu.Lock()
			d.readErr = err
			d.mu.Unlock()
			d.finish(err)
			close(d.events)
			return
		}
	}
}

// finish fails the command in flight with the reason the reader ended.
func (d *Dev) finish(err error) {
	d.mu.Lock()
	p := d.pending
	d.mu.Unlock()
	if p != nil {
		select {
		case p <- response{err: err}:
		default:
		}
	}
}

func (d *Dev) dispatch(f Frame) {
	if f.Cmd == CmdCardEvent && !f.Nack {
		if len(f.Payload) != 1 {
			d.log.Warn("card event with bad length", "len", len(f.Payload))
			return
		}
		ev := Event{Kind: CardRemoved}
		if f.Payload[0] == 0x01 {
			ev.Kind = CardInserted
		}
		d.log.Info("card slot event", "kind", ev.Kind.String())
		select {
		case d.events <- ev:
		default:
			select { // drop the oldest, keep the latest state
			case <-d.events:
			default:
			}
			select {
			case d.events <- ev:
			default:
			}
		}
		return
	}
	p := append([]byte(nil), f.Payload...)
	d.deliver(response{f: Frame{Nack: f.Nack, Cmd: f.Cmd, Payload: p}})
}

func (d *Dev) deliver(r response) {
	d.mu.Lock()
	p := d.pending
	d.mu.Unlock()
	if p == nil {
		d.log.Debug("answer with no command pending", "cmd", r.f.Cmd, "len", len(r.f.Payload))
		return
	}
	select {
	case p <- r:
	default:
		d.log.Warn("answer dropped, command backlog full", "cmd", r.f.Cmd)
	}
}

// do sends one command and waits for its answer, starting the reader
// first if Halt stopped it.
func (d *Dev) do(ctx context.Context, cmd byte, payload []byte) ([]byte, error) {
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-d.sem }()

	frame, err := EncodeFrame(Frame{Cmd: cmd, Payload: payload})
	if err != nil {
		return nil, err
	}
	d.ctl.Lock()
	stop, err := d.start()
	d.ctl.Unlock()
	if err != nil {
		return nil, err
	}
	ch := make(chan response, 4)
	d.mu.Lock()
	d.pending = ch
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		if d.pending == ch {
			d.pending = nil
		}
		d.mu.Unlock()
	}()

	d.log.Debug("command", "cmd", cmd, "len", len(payload))
	if _, err := d.bus.Write(frame); err != nil {
		return nil, fmt.Errorf("alpar: write command %02Xh: %w: %w", cmd, ErrBus, err)
	}
	timeout := d.clk.After(d.opts.Timeout)
	for {
		select {
		case r := <-ch:
			if r.err != nil {
				return nil, r.err
			}
			if r.f.Cmd != cmd {
				// A late answer to an earlier, timed out command: keep
				// waiting for ours.
				d.log.Warn("answer to another command", "want", cmd, "got", r.f.Cmd)
				continue
			}
			if r.f.Nack {
				if len(r.f.Payload) < 1 {
					return nil, fmt.Errorf("alpar: NACK without status for %02Xh: %w", cmd, ErrBadResponse)
				}
				return nil, &NackError{Cmd: cmd, Code: r.f.Payload[0]}
			}
			d.log.Debug("answer", "cmd", cmd, "len", len(r.f.Payload))
			return r.f.Payload, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-stop:
			return nil, ErrHalted
		case <-timeout:
			return nil, fmt.Errorf("alpar: command %02Xh: %w", cmd, ErrTimeout)
		}
	}
}

// CardPresent asks the chip whether a card sits in the slot
// (check_pres_card).
func (d *Dev) CardPresent(ctx context.Context) (bool, error) {
	p, err := d.do(ctx, CmdCheckPresCard, nil)
	if err != nil {
		return false, err
	}
	if len(p) != 1 {
		return false, fmt.Errorf("alpar: presence answer of %d bytes: %w", len(p), ErrBadResponse)
	}
	return p[0] == 0x01, nil
}

// PowerUp activates the card with the chip's ISO sequence (power_up_iso)
// and returns its answer to reset.
func (d *Dev) PowerUp(ctx context.Context) ([]byte, error) {
	atr, err := d.do(ctx, CmdPowerUpISO, nil)
	if err != nil {
		return nil, err
	}
	if len(atr) < 2 {
		return nil, fmt.Errorf("alpar: ATR of %d bytes: %w", len(atr), ErrBadResponse)
	}
	return atr, nil
}

// Transmit sends a command APDU to the powered card (card_command) and
// returns the response APDU including SW1 SW2. The chip runs T=0 or T=1
// itself.
func (d *Dev) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	if len(apdu) < 4 || len(apdu) > MaxPayload {
		return nil, fmt.Errorf("alpar: APDU of %d bytes: %w", len(apdu), ErrAPDULength)
	}
	r, err := d.do(ctx, CmdCardCommand, apdu)
	if err != nil {
		return nil, err
	}
	if len(r) < 2 {
		return nil, fmt.Errorf("alpar: response APDU of %d bytes: %w", len(r), ErrBadResponse)
	}
	return r, nil
}

// PowerOff deactivates the card (power_off).
func (d *Dev) PowerOff(ctx context.Context) error {
	_, err := d.do(ctx, CmdPowerOff, nil)
	return err
}

// SetCardBaudRate sets the card's FiDi (TA1 coding) and clock divider
// byte (set_card_baud_rate).
func (d *Dev) SetCardBaudRate(ctx context.Context, fidi, clock byte) error {
	_, err := d.do(ctx, CmdSetCardBaudRate, []byte{fidi, clock})
	return err
}

// CardParams asks the chip for the parameters of the activated card
// (get_card_parameters, A6h).
func (d *Dev) CardParams(ctx context.Context) (CardParams, error) {
	p, err := d.do(ctx, CmdGetCardParams, nil)
	if err != nil {
		return CardParams{}, err
	}
	return ParseCardParams(p)
}

// FirmwareVersion returns the mask version string (send_num_mask).
func (d *Dev) FirmwareVersion(ctx context.Context) (string, error) {
	p, err := d.do(ctx, CmdSendNumMask, nil)
	if err != nil {
		return "", err
	}
	return string(p), nil
}
