package board

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"posd/conn/clock"
	"posd/drivers/alpar"
	"posd/drivers/barcode"
	"posd/drivers/keypad"
	"posd/drivers/pn532"
)

// A PN532 that fails at start-up is retried in the background, the pause
// doubling from nfcRetryFirst to nfcRetryMax, until it comes up or the
// board halts.
const (
	nfcRetryFirst = time.Second
	nfcRetryMax   = 30 * time.Second
)

// AddNFC starts a PN532 on transport t (opened by the caller on the
// board's bus) and records it; where says which bus. opts may carry the
// chip's RSTPDN and H_REQ pins; nil is pn532.DefaultOpts with the board's
// logger. A chip that fails to initialise is not fatal: its status says
// so, Devices.NFC is set all the same, and initialisation is retried in the
// background until it succeeds (the status then says it recovered) or the
// board halts. A self test also initialises a chip that is still down.
func (b *Board) AddNFC(t pn532.Transport, where string, closeBus func() error, opts *pn532.Opts) {
	st := Status{Name: "nfc", Driver: "pn532", Where: where}
	o := pn532.DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = b.log.With("device", "nfc")
	}
	o.SkipInit = true
	d, err := pn532.New(t, &o)
	if err != nil {
		if closeBus != nil {
			closeBus()
		}
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	check := func(ctx context.Context) (string, error) {
		fw, err := d.FirmwareVersion(ctx)
		if err != nil {
			return "", err
		}
		if err := d.SetField(ctx, true); err != nil {
			return "", fmt.Errorf("RF field: %w", err)
		}
		present, err := d.CardPresent(ctx)
		if err != nil {
			return "", err
		}
		card := "no card in the field"
		if present {
			card = "card in the field"
		}
		return fmt.Sprintf("%s, RF field on, %s", fw, card), nil
	}
	var up atomic.Bool // Init has succeeded
	test := func(ctx context.Context) (string, error) {
		if !up.Load() {
			if err := d.Init(ctx); err != nil {
				return "", fmt.Errorf("initialising: %w", err)
			}
			up.Store(true)
		}
		return check(ctx)
	}
	b.Devices.NFC = d
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	detail, err := test(ctx)
	cancel()
	if err == nil {
		st.OK, st.Detail = true, detail
	} else {
		st.Error = err.Error() + "; retrying in the background"
	}
	bg, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.Add(st, test, func() error {
		stop()
		<-done
		var err error
		if up.Load() {
			err = d.Halt()
		}
		if closeBus != nil {
			err = errors.Join(err, closeBus())
		}
		return err
	})
	if st.OK {
		close(done)
		return
	}
	go func() {
		defer close(done)
		b.retryNFC(bg, test, &up)
	}()
}

// retryNFC runs test until it succeeds (or a self test brought the chip
// up), recording each failure and the recovery in the board's status.
func (b *Board) retryNFC(ctx context.Context, test func(context.Context) (string, error), up *atomic.Bool) {
	clk := clock.Or(b.Clock)
	wait := nfcRetryFirst
	for attempt := 2; ; attempt++ {
		if err := clock.Sleep(ctx, clk, wait); err != nil {
			return
		}
		if up.Load() {
			return
		}
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		detail, err := test(actx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			b.log.Info("device recovered", "device", "nfc", "attempt", attempt)
			b.setStatus("nfc", func(s *Status) {
				s.OK, s.Error = true, ""
				s.Detail = fmt.Sprintf("%s (recovered at attempt %d)", detail, attempt)
			})
			return
		}
		wait = min(2*wait, nfcRetryMax)
		b.log.Warn("device still failing", "device", "nfc", "attempt", attempt, "err", err)
		b.setStatus("nfc", func(s *Status) {
			s.OK, s.Detail = false, ""
			s.Error = fmt.Sprintf("attempt %d: %v; retrying in %v", attempt, err, wait)
		})
	}
}

// AddContact starts a TDA8029 on its UART (opened with a read timeout, so
// io.EOF means "no data yet") and records it.
func (b *Board) AddContact(s Serial, log *slog.Logger) {
	st := Status{Name: "contact", Driver: "alpar", Where: s.Port}
	port, err := OpenSerial(s)
	if err != nil {
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	b.addContact(port, st, s.Baud, log)
}

func (b *Board) addContact(port io.ReadWriteCloser, st Status, baud int, log *slog.Logger) {
	o := alpar.DefaultOpts
	o.Baud, o.PollEOF, o.Logger = baud, true, log
	d, err := alpar.New(port, &o)
	if err != nil {
		port.Close()
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	test := func(ctx context.Context) (string, error) {
		fw, err := d.FirmwareVersion(ctx)
		if err != nil {
			return "", err
		}
		present, err := d.CardPresent(ctx)
		if err != nil {
			return "", err
		}
		card := "slot empty"
		if present {
			card = "card in the slot"
		}
		return fmt.Sprintf("firmware %q, %d baud, %s", fw, baud, card), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	detail, err := test(ctx)
	cancel()
	if err != nil {
		d.Halt()
		port.Close()
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	b.Devices.Contact = d
	st.OK, st.Detail = true, detail
	b.Add(st, test, func() error { return errors.Join(d.Halt(), port.Close()) })
}

// AddScanner opens a serial barcode scanner on its UART (or a USB
// scanner's CDC-ACM port) and records it, with barcode.DefaultOpts (any
// suffix, AIM identifiers stripped). A real scanner cannot be made to read
// a symbol, so it has no self-test: its status says whether the port
// opened.
func (b *Board) AddScanner(s Serial) { b.AddScannerWith(s, nil, nil) }

// AddScannerWith is AddScanner with driver options (nil: DefaultOpts with
// the board's logger) and a self-test, when not nil, that makes the
// scanner read a symbol (the simulated board shows it one). The test must
// keep its symbol from any sale (barcode.Dev.Intercept, then Flush).
func (b *Board) AddScannerWith(s Serial, opts *barcode.Opts, test func(context.Context, *barcode.Dev) (string, error)) {
	st := Status{Name: "scanner", Driver: "barcode", Where: s.Port}
	port, err := OpenSerial(s)
	if err != nil {
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	o := barcode.DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = b.log.With("device", "scanner")
	}
	d, err := barcode.New(port, &o)
	if err != nil {
		port.Close()
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	b.Devices.Scanner = d
	st.OK, st.Detail = true, fmt.Sprintf("%d baud, %s", s.Baud, d)
	var fn func(context.Context) (string, error)
	if test != nil {
		fn = func(ctx context.Context) (string, error) { return test(ctx, d) }
	}
	b.Add(st, fn, func() error { return errors.Join(d.Halt(), port.Close()) })
}

// keypadStallTimeout bounds the wait for a fresh scan in the keypad's
// self-test. A working scanner completes one every IdleWait (50 ms) at
// worst; this leaves room for a loaded machine.
const keypadStallTimeout = 2 * time.Second

// AddKeypad starts the matrix scanner on pins and records it. Its self-test
// first checks that the scanner still completes scans, whoever reads (or
// fails to read) its events: a scanner stuck on a hung or failing pin, or
// halted, fails. Then test, when not nil, exercises the matrix (the
// simulated board presses a key); a real board cannot press keys.
func (b *Board) AddKeypad(pins keypad.Pins, where string, layout keypad.Layout, test func(context.Context, *keypad.Dev) (string, error), log *slog.Logger) {
	st := Status{Name: "keypad", Driver: "keypad", Where: where}
	o := keypad.DefaultOpts
	o.Layout, o.Logger = layout, log
	d, err := keypad.New(pins, &o)
	if err != nil {
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	size := fmt.Sprintf("%dx%d matrix", len(pins.Rows), len(pins.Cols))
	scanning := func(ctx context.Context) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, keypadStallTimeout)
		defer cancel()
		if err := d.CheckScanning(ctx); err != nil {
			return "", err
		}
		s := d.Stats()
		return fmt.Sprintf("%s, scanning (%d scans; %d key events, %d dropped unread, %d queued)",
			size, s.Scans, s.Events, s.Dropped, s.Queued), nil
	}
	detail, err := scanning(context.Background())
	if err != nil {
		d.Halt()
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	b.Devices.Keypad = d
	st.OK, st.Detail = true, detail
	fn := scanning
	if test != nil {
		fn = func(ctx context.Context) (string, error) {
			if _, err := scanning(ctx); err != nil {
				return "", err
			}
			return test(ctx, d)
		}
	}
	b.Add(st, fn, d.Halt)
}

// consoleReadTimeout is the console UART's read timeout: tarm/serial
// ends a read that got no byte in that time with io.EOF.
const consoleReadTimeout = 100 * time.Millisecond

// hangUpReads reads in a row that end with no byte sooner than half the
// read timeout tell a line that hung up from read timeouts. A tty whose
// device went away (a USB-serial adapter unplugged) or that hung up ends
// every read at once with no byte; a read timeout never comes early (the
// tty rounds it up to tenths of a second).
const hangUpReads = 3

// ErrHungUp: the console's serial line hung up or its device went away
// (reads end at once with no byte). It wraps syscall.EIO, which the
// service console takes for the other side leaving, as it does for a
// pseudo-terminal whose other side closed.
var ErrHungUp = fmt.Errorf("board: serial line hung up: %w", syscall.EIO)

// AddConsole opens the service console's UART. The port's read timeouts
// (which tarm/serial reports as io.EOF) are hidden from the console: its
// reads wait until bytes come or the board halts. A line that hung up, or
// whose device went away, ends the read with an error wrapping ErrHungUp
// and is closed; other errors of the port pass through, and EIO, ENXIO or
// ENODEV (a device gone) close it too. The next read or write after that
// opens the device again (a USB-serial adapter plugged back in gets its
// name back once the old file is closed); while it cannot be opened, they
// fail with ErrHungUp.
func (b *Board) AddConsole(s Serial) {
	st := Status{Name: "console", Driver: "uart", Where: s.Port}
	open := func() (io.ReadWriteCloser, error) { return OpenSerialTimeout(s, consoleReadTimeout) }
	port, err := open()
	if err != nil {
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	st.OK, st.Detail = true, fmt.Sprintf("service console, %d 8N1", s.Baud)
	cp := &consolePort{port: port, clock: b.Clock, timeout: consoleReadTimeout, where: s.Port, open: open}
	b.Devices.Console = &Console{RW: cp, Where: s.Port, Baud: s.Baud}
	b.Add(st, nil, cp.Close)
}

// consolePort waits through a UART's read timeouts until it is closed or
// the line hangs up, and opens the UART again after a hang-up.
type consolePort struct {
	// clock times reads to tell a timeout from a hang-up; nil is the
	// wall clock.
	clock clock.Clock
	// timeout is the port's read timeout; 0: hang-ups are not detected.
	timeout time.Duration
	where   string // the device, for errors
	// open opens the device again after a hang-up; nil: it is not.
	open   func() (io.ReadWriteCloser, error)
	closed atomic.Bool

	mu   sync.Mutex
	port io.ReadWriteCloser // nil after a hang-up, until opened again
}

// current returns the open port, opening it again after a hang-up.
func (c *consolePort) current() (io.ReadWriteCloser, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed.Load():
		return nil, io.ErrClosedPipe
	case c.port != nil:
		return c.port, nil
	case c.open == nil:
		return nil, fmt.Errorf("%w: %s", ErrHungUp, c.where)
	}
	port, err := c.open()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: opening it again: %w", ErrHungUp, c.where, err)
	}
	c.port = port
	return port, nil
}

// hungUp closes port, which hung up or whose device went away, at once:
// the device's name is then free for it to come back under.
func (c *consolePort) hungUp(port io.ReadWriteCloser) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.port == port {
		c.port = nil
		port.Close()
	}
}

func (c *consolePort) Read(p []byte) (int, error) {
	port, err := c.current()
	if err != nil {
		return 0, err
	}
	clk := clock.Or(c.clock)
	early := 0
	for {
		start := clk.Now()
		n, err := port.Read(p)
		if c.closed.Load() {
			return 0, io.ErrClosedPipe
		}
		if n > 0 || !errors.Is(err, io.EOF) {
			if deviceGone(err) {
				c.hungUp(port)
			}
			return n, c.dropped(port, err)
		}
		if clk.Now().Sub(start) >= c.timeout/2 {
			early = 0 // a read timeout
			continue
		}
		if early++; early >= hangUpReads {
			c.hungUp(port)
			return 0, fmt.Errorf("%w: %s: %d reads in a row ended at once with no byte", ErrHungUp, c.where, early)
		}
	}
}

func (c *consolePort) Write(p []byte) (int, error) {
	port, err := c.current()
	if err != nil {
		return 0, err
	}
	n, err := port.Write(p)
	if deviceGone(err) {
		c.hungUp(port)
	}
	return n, c.dropped(port, err)
}

// dropped is err, or a hang-up when err is port's file closed because a
// hang-up seen by a concurrent Read or Write closed it.
func (c *consolePort) dropped(port io.ReadWriteCloser, err error) error {
	if !errors.Is(err, os.ErrClosed) || c.closed.Load() {
		return err
	}
	c.mu.Lock()
	gone := c.port != port
	c.mu.Unlock()
	if gone {
		return fmt.Errorf("%w: %s: %w", ErrHungUp, c.where, err)
	}
	return err
}

// deviceGone tells the errors of a tty that hung up or whose device went
// away: its file is of no more use.
func deviceGone(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.ENODEV)
}

func (c *consolePort) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed.Store(true)
	if c.port == nil {
		return nil
	}
	return c.port.Close()
}
