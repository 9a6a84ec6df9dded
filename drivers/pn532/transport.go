package pn532

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"posd/conn/clock"
)

// Transport moves whole frames between the host and the chip. The driver
// ships three: I2C, SPI and HSU. A Transport is used by one Dev at a time
// and never closes the bus under it.
type Transport interface {
	// Send writes one complete frame (preamble through postamble).
	Send(ctx context.Context, frame []byte) error
	// Ready reports whether the chip has a frame to read. Transports that
	// cannot tell (HSU) always answer true and block in Receive instead.
	Ready(ctx context.Context) (bool, error)
	// Receive reads one frame of at most max bytes and returns its bytes
	// (possibly with trailing padding). It returns ErrTimeout when nothing
	// complete arrives before deadline. The returned slice is only valid
	// until the next call.
	Receive(ctx context.Context, max int, deadline time.Time) ([]byte, error)
	String() string
}

// waker is implemented by transports that must do something before the
// first byte that reaches a chip which may be asleep (power-down or
// LowVbat after power-up or reset): HSU sends the 0x55 wake-up preamble,
// SPI holds NSS low for SPIWakeTime. The driver calls wake before its
// first command, after a reset and before every resend of a command the
// chip did not acknowledge.
type waker interface {
	wake(ctx context.Context, c clock.Clock) error
}

// clocked is implemented by transports that keep time (the I2C bus-free
// time); New hands them the driver's clock.
type clocked interface {
	setClock(c clock.Clock)
}

// I2CAddr is the 7-bit I2C address of the PN532 (0x48/0x49 are the 8-bit
// write/read forms), UM0701-02 §6.2.4.
const I2CAddr uint16 = 0x24

// I2CBusFree is the time the I2C transport leaves between the end of one
// transaction and the start of the next. The PN532 needs a bus-free time
// between STOP and START that libnfc's pn532_i2c.c (PN532_BUS_FREE_TIME,
// commit 8f8f780 "Respect proper timing specifications", citing tBUF of
// the PN532 data sheet §12.25) enforces as 5 ms; so does this transport.
const I2CBusFree = 5 * time.Millisecond

// I2CTries is how often the I2C transport attempts a write or a status
// read that fails on the bus before it reports ErrBus (libnfc's
// PN532_SEND_RETRIES is 3). A failed frame read is not repeated here: the
// driver asks for the frame again with a NACK.
const I2CTries = 3

// I2C talks to the chip on an I2C bus. Every read transaction starts with
// the status byte, bit 0 = ready (UM0701-02 §6.2.4). The whole frame is read
// in the same transaction as its status byte, so a read covers the longest
// frame the command can produce.
//
// The chip wakes from power-down on its address and stretches SCL while
// its oscillator starts ("PN532 holds SCL during wakeup time",
// libnfc pn532_i2c.c). Controllers that mishandle clock stretching (the
// Raspberry Pi's) turn that into a failed transfer; the retries above
// cover it, and wiring H_REQ (Opts.Req) avoids it.
type I2C struct {
	dev i2c.Dev
	buf []byte
	// BusFree is the least time between two transactions; NewI2C sets
	// I2CBusFree.
	BusFree time.Duration
	// Tries is how often a write or status read is attempted; NewI2C
	// sets I2CTries.
	Tries int

	clk  clock.Clock
	last time.Time // end of the previous transaction
	used bool
}

// NewI2C returns the I2C transport at addr (0 means I2CAddr) on bus.
func NewI2C(bus i2c.Bus, addr uint16) *I2C {
	if addr == 0 {
		addr = I2CAddr
	}
	return &I2C{dev: i2c.Dev{Bus: bus, Addr: addr}, buf: make([]byte, 1+MaxFrameSize),
		BusFree: I2CBusFree, Tries: I2CTries, clk: clock.Real}
}

func (t *I2C) String() string { return "pn532-i2c(" + t.dev.String() + ")" }

func (t *I2C) setClock(c clock.Clock) { t.clk = clock.Or(c) }

// tx runs one transaction once the bus has been free for BusFree.
func (t *I2C) tx(ctx context.Context, w, r []byte) error {
	if t.used {
		if wait := t.last.Add(t.BusFree).Sub(t.clk.Now()); wait > 0 {
			if err := clock.Sleep(ctx, t.clk, wait); err != nil {
				return err
			}
		}
	}
	err := t.dev.Tx(w, r)
	t.last, t.used = t.clk.Now(), true
	return err
}

// try runs tx up to Tries times while the bus fails.
func (t *I2C) try(ctx context.Context, w, r []byte) error {
	var err error
	for i := 0; i < max(t.Tries, 1); i++ {
		if err = t.tx(ctx, w, r); err == nil || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// Send implements Transport.
func (t *I2C) Send(ctx context.Context, frame []byte) error {
	if err := t.try(ctx, frame, nil); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: i2c write: %w", ErrBus, err)
	}
	return nil
}

// Ready implements Transport by reading the status byte alone.
func (t *I2C) Ready(ctx context.Context) (bool, error) {
	s := t.buf[:1]
	if err := t.try(ctx, nil, s); err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, fmt.Errorf("%w: i2c status: %w", ErrBus, err)
	}
	return s[0]&0x01 != 0, nil
}

// Receive implements Transport: one read of status byte plus max bytes.
func (t *I2C) Receive(ctx context.Context, max int, _ time.Time) ([]byte, error) {
	if max > MaxFrameSize {
		max = MaxFrameSize
	}
	r := t.buf[:1+max]
	if err := t.tx(ctx, nil, r); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: i2c read: %w", ErrBus, err)
	}
	if r[0]&0x01 == 0 {
		return nil, fmt.Errorf("%w: status not ready on read", ErrFrame)
	}
	return r[1:], nil
}

// SPI prefixes, UM0701-02 §6.2.5.
const (
	spiDataWrite  = 0x01
	spiStatusRead = 0x02
	spiDataRead   = 0x03
)

// SPIWakeTime is how long NSS must be low before the first byte that
// reaches a sleeping chip: the oscillator start-up time T_osc_start, 2 ms.
// The PN532 HAT vendor's SPI code (soonuse/pn532-nfc-hat pn532/spi.py,
// _wakeup) pulls NSS low and waits 2 ms "T_osc_start"; libnfc's
// pn532_spi.c (pn532_spi_wakeup) activates chip select "for several ms" by
// clocking a frame out at 5 kHz. A chip that sleeps answers 0xFF (MISO
// high) on a status read (same libnfc function).
const SPIWakeTime = 2 * time.Millisecond

// SPIOpts configures the SPI transport.
type SPIOpts struct {
	// Speed of the clock; the PN532 accepts up to 5 MHz. Default 1 MHz.
	Speed physic.Frequency
	// HardwareLSBFirst asks the SPI controller for LSB-first words
	// (spi.LSBFirst). Many controllers (the Raspberry Pi's among them)
	// cannot do it, so by default the transport connects MSB-first and
	// bit-reverses every byte itself.
	HardwareLSBFirst bool
	// CS is NSS driven as a GPIO (the PN532 HAT's vendor example drives
	// NSS from BCM4 this way). With it the transport connects with
	// spi.NoCS, pulls CS low around each transaction and, to wake the
	// chip, holds it low SPIWakeTime before the first byte. Without it
	// the controller owns CS, and periph's spi.Conn cannot hold CS low
	// without clocking, so the wake-up is a status read long enough to
	// keep CS low SPIWakeTime at Speed; its answer is ignored. Optional.
	CS gpio.PinOut
}

// SPI talks to the chip over SPI mode 0, LSB first (UM0701-02 §6.2.5).
type SPI struct {
	c       spi.Conn
	soft    bool
	w, r    []byte
	prefix1 [2]byte
	speed   physic.Frequency
	cs      gpio.PinOut
	csLow   bool // CS already pulled low by wake
	wbuf    []byte
}

// NewSPI connects to port with mode 0 and 8-bit words.
func NewSPI(port spi.Port, o *SPIOpts) (*SPI, error) {
	var opts SPIOpts
	if o != nil {
		opts = *o
	}
	if opts.Speed == 0 {
		opts.Speed = physic.MegaHertz
	}
	mode := spi.Mode0
	if opts.HardwareLSBFirst {
		mode |= spi.LSBFirst
	}
	if opts.CS != nil {
		mode |= spi.NoCS
		if err := opts.CS.Out(gpio.High); err != nil {
			return nil, fmt.Errorf("%w: spi chip select: %w", ErrBus, err)
		}
	}
	c, err := port.Connect(opts.Speed, mode, 8)
	if err != nil {
		return nil, fmt.Errorf("%w: spi connect: %w", ErrBus, err)
	}
	t := NewSPIConn(c, !opts.HardwareLSBFirst)
	t.speed, t.cs = opts.Speed, opts.CS
	return t, nil
}

// NewSPIConn wraps an already connected spi.Conn. softLSB must be true when
// c shifts MSB first: the transport then bit-reverses each byte. Its wake-up
// transfer is sized for the chip's fastest clock, 5 MHz.
func NewSPIConn(c spi.Conn, softLSB bool) *SPI {
	return &SPI{c: c, soft: softLSB, w: make([]byte, 1+MaxFrameSize), r: make([]byte, 1+MaxFrameSize), speed: 5 * physic.MegaHertz}
}

func (t *SPI) String() string { return "pn532-spi(" + t.c.String() + ")" }

func (t *SPI) enc(b byte) byte {
	if t.soft {
		return bits.Reverse8(b)
	}
	return b
}

func (t *SPI) dec(p []byte) {
	if t.soft {
		for i, b := range p {
			p[i] = bits.Reverse8(b)
		}
	}
}

// tx runs one transaction, framing it with the CS pin when there is one.
func (t *SPI) tx(w, r []byte) error {
	if t.cs == nil {
		return t.c.Tx(w, r)
	}
	if !t.csLow {
		if err := t.cs.Out(gpio.Low); err != nil {
			return err
		}
	}
	err := t.c.Tx(w, r)
	t.csLow = false
	if herr := t.cs.Out(gpio.High); err == nil {
		err = herr
	}
	return err
}

// spiWakeBytes is the length of a transfer that keeps CS low for
// SPIWakeTime at f, plus the operation byte.
func spiWakeBytes(f physic.Frequency) int {
	hz := int64(f / physic.Hertz)
	if hz <= 0 {
		hz = int64(5 * physic.MegaHertz / physic.Hertz)
	}
	bitsNeeded := hz * int64(SPIWakeTime) / int64(time.Second)
	return 1 + int((bitsNeeded+7)/8)
}

// wake implements waker (see SPIOpts.CS for the two ways).
func (t *SPI) wake(ctx context.Context, c clock.Clock) error {
	if t.cs != nil {
		if err := t.cs.Out(gpio.Low); err != nil {
			return fmt.Errorf("%w: spi chip select: %w", ErrBus, err)
		}
		t.csLow = true
		if err := clock.Sleep(ctx, c, SPIWakeTime); err != nil {
			t.csLow = false
			_ = t.cs.Out(gpio.High)
			return err
		}
		return nil
	}
	n := spiWakeBytes(t.speed)
	if cap(t.wbuf) < 2*n {
		t.wbuf = make([]byte, 2*n)
	}
	w, r := t.wbuf[:n], t.wbuf[n:2*n]
	clear(w)
	w[0] = t.enc(spiStatusRead)
	if err := t.c.Tx(w, r); err != nil {
		return fmt.Errorf("%w: spi wake-up: %w", ErrBus, err)
	}
	return nil
}

// Send implements Transport: 0x01 then the frame, in one transaction.
func (t *SPI) Send(_ context.Context, frame []byte) error {
	if len(frame) > MaxFrameSize {
		return fmt.Errorf("%w: %d byte frame", ErrTooLong, len(frame))
	}
	w := t.w[:1+len(frame)]
	w[0] = t.enc(spiDataWrite)
	for i, b := range frame {
		w[i+1] = t.enc(b)
	}
	if err := t.tx(w, nil); err != nil {
		return fmt.Errorf("%w: spi write: %w", ErrBus, err)
	}
	return nil
}

// Ready implements Transport: 0x02 then one status byte. Only 0x01 is
// ready: a sleeping chip leaves MISO high and reads 0xFF.
func (t *SPI) Ready(_ context.Context) (bool, error) {
	t.prefix1 = [2]byte{t.enc(spiStatusRead), 0}
	r := t.r[:2]
	if err := t.tx(t.prefix1[:], r); err != nil {
		return false, fmt.Errorf("%w: spi status: %w", ErrBus, err)
	}
	t.dec(r[1:])
	return r[1] == 0x01, nil
}

// Receive implements Transport: 0x03 then max bytes of frame, in one
// transaction, as UM0701-02 §6.2.5 asks. The chip starts its answer with
// the start code 00 FF, without the preamble byte (libnfc's pn532_spi.c
// shows the transfer "0x01 0x00 0xff 0x02 0xfe 0xd5 0x15 0x16 0x00" and
// also accepts the long form 00 00 FF); DecodeFrame takes either.
func (t *SPI) Receive(_ context.Context, max int, _ time.Time) ([]byte, error) {
	if max > MaxFrameSize {
		max = MaxFrameSize
	}
	w, r := t.w[:1+max], t.r[:1+max]
	clear(w)
	w[0] = t.enc(spiDataRead)
	if err := t.tx(w, r); err != nil {
		return nil, fmt.Errorf("%w: spi read: %w", ErrBus, err)
	}
	t.dec(r[1:])
	return r[1:], nil
}

// HSUWakeUp is what the HSU transport sends before its first frame and
// again before a frame the chip may have slept through: the 0x55 0x55
// wake-up sequence followed by zeros that give the oscillator time to
// start (UM0701-02 §6.2.3, HSU wake-up condition). The same 16 bytes open
// libnfc's pn532_uart.c wake-up and the PN532 HAT vendor's published HSU
// exchange "55 55 00 ... 00 00 00 FF 03 FD D4 14 01 17 00".
var HSUWakeUp = []byte{0x55, 0x55, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}

type readDeadliner interface {
	SetReadDeadline(t time.Time) error
}

// HSU talks to the chip over its high speed UART. board/ opens the serial
// port at 115200 8N1 and hands it over as an io.ReadWriter; the transport
// never closes it and starts no goroutine.
//
// Timeouts: when rw has SetReadDeadline (os.File on a tty or pty, net.Conn)
// reads are cut into slices of Slice so deadlines and ctx are honoured.
// Otherwise the port itself must return from Read periodically (e.g.
// tarm/serial Config.ReadTimeout); a Read returning (0, nil) or (0, io.EOF)
// is taken as "nothing yet".
type HSU struct {
	rw    io.ReadWriter
	woken bool
	// Slice is the longest single blocking read when the port supports
	// read deadlines. Default 20 ms.
	Slice time.Duration
	// Clock times the reads; default the wall clock (the port's read
	// deadlines are wall-clock times).
	Clock clock.Clock

	buf   []byte // received, not yet consumed
	start int
	frame []byte
	wbuf  []byte
}

// NewHSU returns the HSU transport over rw.
func NewHSU(rw io.ReadWriter) *HSU {
	return &HSU{rw: rw, Slice: 20 * time.Millisecond, Clock: clock.Real, buf: make([]byte, 0, 2*MaxFrameSize)}
}

func (t *HSU) String() string { return "pn532-hsu" }

// wake implements waker: the next Send prepends HSUWakeUp again.
func (t *HSU) wake(context.Context, clock.Clock) error {
	t.woken = false
	return nil
}

// Send implements Transport; the first call, and the first after the
// driver suspects the chip fell asleep (a resend, a reset), prepends
// HSUWakeUp.
func (t *HSU) Send(_ context.Context, frame []byte) error {
	w := frame
	if !t.woken {
		t.wbuf = append(append(t.wbuf[:0], HSUWakeUp...), frame...)
		w = t.wbuf
	}
	if _, err := t.rw.Write(w); err != nil {
		return fmt.Errorf("%w: serial write: %w", ErrBus, err)
	}
	t.woken = true
	return nil
}

// Ready implements Transport; a UART cannot be polled, so it is always true.
func (t *HSU) Ready(context.Context) (bool, error) { return true, nil }

// Discard drops buffered bytes, e.g. after an abort.
func (t *HSU) Discard() { t.buf, t.start = t.buf[:0], 0 }

// Drain discards buffered bytes and whatever the chip still sends until
// the line has been quiet for quiet (or limit has passed): a late ACK or
// response of an abandoned command must not be taken for the answer to the
// next one. Without read deadlines, the port's own read timeout ends each
// read.
func (t *HSU) Drain(quiet, limit time.Duration) {
	t.Discard()
	dl, canDeadline := t.rw.(readDeadliner)
	end := t.Clock.Now().Add(limit)
	buf := t.buf[:cap(t.buf)]
	for t.Clock.Now().Before(end) {
		if canDeadline {
			if err := dl.SetReadDeadline(t.Clock.Now().Add(quiet)); err != nil {
				canDeadline = false
			}
		}
		n, err := t.rw.Read(buf)
		if n == 0 || (err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, io.EOF)) {
			break
		}
	}
	t.Discard()
}

// Receive implements Transport: it reads the stream until one frame is
// complete. Garbage before a start code is skipped; bytes after the frame
// stay buffered for the next call.
func (t *HSU) Receive(ctx context.Context, max int, deadline time.Time) ([]byte, error) {
	dl, canDeadline := t.rw.(readDeadliner)
	for {
		// Try to decode what is buffered.
		for t.start < len(t.buf) {
			_, n, err := DecodeFrame(t.buf[t.start:])
			if err == nil {
				t.frame = append(t.frame[:0], t.buf[t.start:t.start+n]...)
				t.start += n
				t.compact()
				return t.frame, nil
			}
			if errors.Is(err, ErrIncomplete) {
				break
			}
			// Not a frame start here: hand a checksum failure up once so
			// the driver NACKs, then resynchronise one byte later.
			if errors.Is(err, ErrChecksum) {
				t.skipFrameStart()
				return nil, err
			}
			t.start++
		}
		t.compact()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		now := t.Clock.Now()
		if !now.Before(deadline) {
			return nil, ErrTimeout
		}
		if canDeadline {
			d := deadline
			if s := now.Add(t.Slice); s.Before(d) {
				d = s
			}
			if err := dl.SetReadDeadline(d); err != nil {
				canDeadline = false
			}
		}
		if len(t.buf) == cap(t.buf) {
			// A stream of garbage larger than two frames: drop it.
			t.buf = t.buf[:0]
		}
		n, err := t.rw.Read(t.buf[len(t.buf):cap(t.buf)])
		t.buf = t.buf[:len(t.buf)+n]
		if err != nil && n == 0 {
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.EOF) {
				continue
			}
			return nil, fmt.Errorf("%w: serial read: %w", ErrBus, err)
		}
	}
}

// skipFrameStart moves past the start code of a corrupted frame so the
// next decode resynchronises on the following frame.
func (t *HSU) skipFrameStart() {
	b := t.buf[t.start:]
	for i := 0; i+1 < len(b); i++ {
		if b[i] == 0x00 && b[i+1] == 0xFF {
			t.start += i + 2
			return
		}
	}
	t.start = len(t.buf)
}

func (t *HSU) compact() {
	if t.start == 0 {
		return
	}
	n := copy(t.buf, t.buf[t.start:])
	t.buf, t.start = t.buf[:n], 0
}
