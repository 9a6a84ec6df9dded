package alpar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
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
	// After returns a channel that fires after d; nil means time.After.
	After func(d time.Duration) <-chan time.Time
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

// Dev is a TDA8029 running the ALPAR firmware.
type Dev struct {
	bus  io.ReadWriter
	opts Opts
	log  *slog.Logger

	sem    chan struct{} // one command at a time
	events chan Event
	stop   chan struct{}
	done   chan struct{}

	mu       sync.Mutex
	pending  chan response // answer slot of the command in flight
	halted   bool
	readErr  error
	haltOnce sync.Once
	haltErr  error
}

type deadliner interface {
	SetReadDeadline(t time.Time) error
}

// New starts a driver on bus, an open serial line to the chip. It does not
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
	if o.After == nil {
		o.After = time.After
	}
	if o.Baud == 0 {
		o.Baud = DefaultOpts.Baud
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if dl, ok := bus.(deadliner); ok {
		// A previous Halt may have left an expired deadline behind.
		_ = dl.SetReadDeadline(time.Time{})
	}
	d := &Dev{
		bus:    bus,
		opts:   o,
		log:    log,
		sem:    make(chan struct{}, 1),
		events: make(chan Event, o.EventBuffer),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go d.readLoop()
	return d, nil
}

// String describes the device.
func (d *Dev) String() string {
	return fmt.Sprintf("TDA8029(ALPAR, %d baud)", d.opts.Baud)
}

// Events delivers card insertion and removal reported by the chip. The
// channel is closed when the reader goroutine ends (Halt or bus failure).
func (d *Dev) Events() <-chan Event {
	return d.events
}

// Halt stops the reader goroutine and waits for it. Commands in flight fail
// with ErrHalted. The bus is left open.
func (d *Dev) Halt() error {
	d.haltOnce.Do(func() {
		d.mu.Lock()
		d.halted = true
		d.mu.Unlock()
		close(d.stop)
		if dl, ok := d.bus.(deadliner); ok {
			_ = dl.SetReadDeadline(time.Unix(1, 0))
		}
		select {
		case <-d.done:
		case <-d.opts.After(d.opts.HaltTimeout):
			d.haltErr = fmt.Errorf("alpar: reader still blocked in Read after %v: %w", d.opts.HaltTimeout, ErrBus)
		}
	})
	return d.haltErr
}

func (d *Dev) stopping() bool {
	select {
	case <-d.stop:
		return true
	default:
		return false
	}
}

func (d *Dev) readLoop() {
	defer close(d.done)
	defer close(d.events)
	fr := NewFrameReader(d.bus)
	for {
		f, err := fr.ReadFrame()
		if d.stopping() {
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
			case <-d.stop:
				d.finish(ErrHalted)
				return
			case <-d.opts.After(d.opts.RetryDelay):
			}
			fr = NewFrameReader(d.bus)
		default:
			d.log.Error("serial read failed", "err", err)
			d.finish(fmt.Errorf("alpar: read: %w: %w", ErrBus, err))
			return
		}
	}
}

// finish records why the reader ended and fails the command in flight.
func (d *Dev) finish(err error) {
	d.mu.Lock()
	d.readErr = err
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

// do sends one command and waits for its answer.
func (d *Dev) do(ctx context.Context, cmd byte, payload []byte) ([]byte, error) {
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-d.stop:
		return nil, ErrHalted
	}
	defer func() { <-d.sem }()

	frame, err := EncodeFrame(Frame{Cmd: cmd, Payload: payload})
	if err != nil {
		return nil, err
	}
	ch := make(chan response, 4)
	d.mu.Lock()
	if d.halted {
		d.mu.Unlock()
		return nil, ErrHalted
	}
	if d.readErr != nil {
		err := d.readErr
		d.mu.Unlock()
		return nil, err
	}
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
	timeout := d.opts.After(d.opts.Timeout)
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
		case <-d.stop:
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

// CardParams returns the raw answer of get_card_parameters. Its layout is
// described in AN10207; the driver does not interpret it.
func (d *Dev) CardParams(ctx context.Context) ([]byte, error) {
	return d.do(ctx, CmdGetCardParams, nil)
}

// FirmwareVersion returns the mask version string (send_num_mask).
func (d *Dev) FirmwareVersion(ctx context.Context) (string, error) {
	p, err := d.do(ctx, CmdSendNumMask, nil)
	if err != nil {
		return "", err
	}
	return string(p), nil
}
