package pn532sim

import (
	"errors"
	"fmt"
	"math/bits"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"posd/drivers/pn532"
)

// ErrNoDevice is returned by Tx for an I2C address other than 0x24, as a
// real bus reports a missing acknowledge.
var ErrNoDevice = errors.New("pn532sim: no device at this I2C address")

// ErrNAK is returned by Tx when the chip does not acknowledge its address:
// held in reset, addressed before the bus-free time, or the NAK fault.
var ErrNAK = errors.New("pn532sim: address not acknowledged")

// ErrStretch is returned by Tx for a transfer the chip stretched when
// Opts.BrokenStretch models a controller that mishandles stretching.
var ErrStretch = errors.New("pn532sim: clock stretch mishandled by the controller, transfer garbled")

var (
	_ i2c.Bus  = (*Sim)(nil)
	_ spi.Port = (*Sim)(nil)
	_ spi.Conn = (*spiConn)(nil)
)

// Tx implements i2c.Bus: a write carries one host frame; every read starts
// with the status byte (0x01 ready) followed, when ready and the read is
// longer than one byte, by the pending frame padded with zeros. A frame is
// handed out once; a host that missed it sends NACK. See the package doc
// for sleep, stretching and NAKs.
func (s *Sim) Tx(addr uint16, w, r []byte) error {
	if addr != pn532.I2CAddr {
		return fmt.Errorf("%w: 0x%02X", ErrNoDevice, addr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Now()
	gap := now.Sub(s.i2cLast)
	early := s.o.I2CBusFree > 0 && s.i2cUsed && gap < s.o.I2CBusFree
	s.i2cLast, s.i2cUsed = now, true
	switch {
	case s.inReset:
		s.stats.AddrNAKs++
		return fmt.Errorf("%w: chip in reset", ErrNAK)
	case early:
		s.stats.AddrNAKs++
		return fmt.Errorf("%w: %v after the previous transfer, bus-free time %v", ErrNAK, gap, s.o.I2CBusFree)
	case s.takeFault(NAK):
		s.stats.AddrNAKs++
		return ErrNAK
	}
	var stretch time.Duration
	if s.asleep {
		s.asleep = false
		s.stats.Wakes++
		stretch += s.o.WakeTime
	}
	if s.takeFault(Stretch) {
		stretch += s.o.WakeTime
	}
	if stretch > 0 {
		s.stats.Stretches++
		s.stats.StretchTime += stretch
		if s.o.BrokenStretch {
			s.stats.Lost++
			for i := range r {
				r[i] = 0xFF
			}
			return ErrStretch
		}
		if s.o.LinkTime {
			s.o.Sleep(stretch)
		}
	}
	if len(w) > 0 {
		s.hostBytes(w)
		s.applySleep()
	}
	if len(r) > 0 {
		r[0] = s.status()
		s.readFrame(r[1:], r[0] != 0, false)
	}
	s.i2cLast = s.o.Now()
	return nil
}

// SetSpeed implements i2c.Bus; the PN532 runs up to 400 kHz.
func (s *Sim) SetSpeed(f physic.Frequency) error {
	if f > 400*physic.KiloHertz {
		return fmt.Errorf("pn532sim: I2C speed %s above 400kHz", f)
	}
	return nil
}

func (s *Sim) status() byte {
	if len(s.out) > 0 && !s.o.Now().Before(s.out[0].readyAt) {
		return 0x01
	}
	return 0x00
}

// readFrame copies the pending frame into r. short drops the first
// preamble byte (SPI sends the frame from its start code).
func (s *Sim) readFrame(r []byte, ready, short bool) {
	clear(r)
	if !ready || len(r) == 0 {
		return
	}
	b := s.out[0].b
	if short && len(b) > 2 && b[0] == 0x00 && b[1] == 0x00 {
		b = b[1:]
	}
	copy(r, b)
	s.out = s.out[1:]
}

// Connect implements spi.Port. The chip needs mode 0 and 8-bit words; a
// controller that shifts MSB first (no spi.LSBFirst in mode) delivers every
// byte bit-reversed, which the simulator undoes and applies to its answers
// like the wire would. With spi.NoCS the chip is selected by CSPin.
func (s *Sim) Connect(f physic.Frequency, mode spi.Mode, bitsPerWord int) (spi.Conn, error) {
	if mode&3 != spi.Mode0 {
		return nil, fmt.Errorf("pn532sim: SPI mode %d, the PN532 needs mode 0", mode&3)
	}
	if bitsPerWord != 8 {
		return nil, fmt.Errorf("pn532sim: %d bits per word, the PN532 needs 8", bitsPerWord)
	}
	if f > 5*physic.MegaHertz {
		return nil, fmt.Errorf("pn532sim: SPI clock %s above 5MHz", f)
	}
	if f <= 0 {
		return nil, fmt.Errorf("pn532sim: SPI clock %s", f)
	}
	return &spiConn{s: s, reversed: mode&spi.LSBFirst == 0, noCS: mode&spi.NoCS != 0, freq: f}, nil
}

type spiConn struct {
	s        *Sim
	reversed bool
	noCS     bool
	freq     physic.Frequency
	w        []byte
}

func (c *spiConn) String() string      { return "pn532sim-spi" }
func (c *spiConn) Duplex() conn.Duplex { return conn.Full }
func (c *spiConn) TxPackets([]spi.Packet) error {
	return errors.New("pn532sim: TxPackets not supported")
}

// duration is how long n bytes take on the wire.
func (c *spiConn) duration(n int) time.Duration {
	hz := int64(c.freq / physic.Hertz)
	if hz <= 0 {
		return 0
	}
	return time.Duration(int64(n) * 8 * int64(time.Second) / hz)
}

// Tx implements spi.Conn: the first byte is the operation (0x01 data
// write, 0x02 status read, 0x03 data read), UM0701-02 §6.2.5.
func (c *spiConn) Tx(w, r []byte) error {
	if len(w) == 0 {
		return errors.New("pn532sim: SPI transaction without operation byte")
	}
	if len(r) != 0 && len(r) != len(w) {
		return errors.New("pn532sim: SPI read and write lengths differ")
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.spiSelected(c, len(w)) {
		for i := range r {
			r[i] = 0xFF // MISO high: not selected, in reset or asleep
		}
		return nil
	}
	c.w = append(c.w[:0], w...)
	if c.reversed {
		rev(c.w)
	}
	switch c.w[0] {
	case 0x01:
		s.hostBytes(c.w[1:])
		s.applySleep()
		clear(r)
	case 0x02:
		clear(r)
		if len(r) > 1 {
			st := s.status()
			for i := 1; i < len(r); i++ {
				r[i] = st
			}
		}
	case 0x03:
		if len(r) > 0 {
			st := s.status()
			r[0] = st
			s.readFrame(r[1:], st != 0, true)
		}
	default:
		clear(r)
	}
	if c.reversed {
		rev(r)
	}
	return nil
}

// spiSelected reports whether an n-byte transfer reaches an awake chip,
// waking it as the package doc describes. Caller holds mu.
func (s *Sim) spiSelected(c *spiConn, n int) bool {
	if s.inReset || (c.noCS && !s.csLow) {
		return false
	}
	now := s.o.Now()
	if !s.asleep {
		return true
	}
	if !s.wakeAt.IsZero() && !now.Before(s.wakeAt) {
		s.asleep, s.wakeAt = false, time.Time{}
		s.stats.Wakes++
		return true
	}
	fell := now
	if c.noCS {
		fell = s.csLowAt
	}
	if c.noCS && now.Sub(fell) >= s.o.WakeTime {
		s.asleep = false
		s.stats.Wakes++
		return true
	}
	s.stats.Lost++
	if !c.noCS && c.duration(n) >= s.o.WakeTime {
		// Awake by the end of this transfer, which it missed.
		s.asleep = false
		s.stats.Wakes++
		return false
	}
	if s.wakeAt.IsZero() {
		s.wakeAt = fell.Add(s.o.WakeTime)
	}
	return false
}

func rev(b []byte) {
	for i, v := range b {
		b[i] = bits.Reverse8(v)
	}
}
