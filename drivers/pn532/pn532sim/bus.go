package pn532sim

import (
	"errors"
	"fmt"
	"math/bits"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"posd/drivers/pn532"
)

// ErrNoDevice is returned by Tx for an I2C address other than 0x24, as a
// real bus reports a missing acknowledge.
var ErrNoDevice = errors.New("pn532sim: no device at this I2C address")

var (
	_ i2c.Bus  = (*Sim)(nil)
	_ spi.Port = (*Sim)(nil)
	_ spi.Conn = (*spiConn)(nil)
)

// Tx implements i2c.Bus: a write carries one host frame; every read starts
// with the status byte (0x01 ready) followed, when ready and the read is
// longer than one byte, by the pending frame padded with zeros. A frame is
// handed out once; a host that missed it sends NACK.
func (s *Sim) Tx(addr uint16, w, r []byte) error {
	if addr != pn532.I2CAddr {
		return fmt.Errorf("%w: 0x%02X", ErrNoDevice, addr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(w) > 0 {
		s.hostBytes(w)
	}
	if len(r) > 0 {
		r[0] = s.status()
		s.readFrame(r[1:], r[0] != 0)
	}
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

func (s *Sim) readFrame(r []byte, ready bool) {
	clear(r)
	if !ready || len(r) == 0 {
		return
	}
	copy(r, s.out[0].b)
	s.out = s.out[1:]
}

// Connect implements spi.Port. The chip needs mode 0 and 8-bit words; a
// controller that shifts MSB first (no spi.LSBFirst in mode) delivers every
// byte bit-reversed, which the simulator undoes and applies to its answers
// like the wire would.
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
	return &spiConn{s: s, reversed: mode&spi.LSBFirst == 0}, nil
}

type spiConn struct {
	s        *Sim
	reversed bool
	w        []byte
}

func (c *spiConn) String() string      { return "pn532sim-spi" }
func (c *spiConn) Duplex() conn.Duplex { return conn.Full }
func (c *spiConn) TxPackets([]spi.Packet) error {
	return errors.New("pn532sim: TxPackets not supported")
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
	c.w = append(c.w[:0], w...)
	if c.reversed {
		rev(c.w)
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch c.w[0] {
	case 0x01:
		s.hostBytes(c.w[1:])
		clear(r)
	case 0x02:
		clear(r)
		if len(r) > 1 {
			r[1] = s.status()
		}
	case 0x03:
		if len(r) > 0 {
			r[0] = 0
			s.readFrame(r[1:], s.status() != 0)
		}
	default:
		clear(r)
	}
	if c.reversed {
		rev(r)
	}
	return nil
}

func rev(b []byte) {
	for i, v := range b {
		b[i] = bits.Reverse8(v)
	}
}
