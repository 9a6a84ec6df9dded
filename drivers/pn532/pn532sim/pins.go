package pn532sim

import (
	"errors"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// Pin is one of the chip's input lines as a periph output pin for the
// driver: RSTPDN, H_REQ (P32_INT0) or NSS.
type Pin struct {
	s     *Sim
	name  string
	level gpio.Level
	set   func(s *Sim, l gpio.Level) // called with mu held on a change
}

var _ gpio.PinOut = (*Pin)(nil)

// ResetPin is RSTPDN (active low): low holds the chip in reset (it
// answers nothing, NAKs on I2C); the rising edge restarts it in LowVbat
// with its power-up state.
func (s *Sim) ResetPin() *Pin {
	return &Pin{s: s, name: "RSTPDN", level: gpio.High, set: func(s *Sim, l gpio.Level) {
		if l == gpio.Low {
			s.inReset = true
			s.powerOn()
			return
		}
		s.inReset = false
		s.stats.Resets++
		s.powerOn()
	}}
}

// ReqPin is H_REQ (P32_INT0): a low level wakes a sleeping chip without
// any clock stretching.
func (s *Sim) ReqPin() *Pin {
	return &Pin{s: s, name: "H_REQ", level: gpio.High, set: func(s *Sim, l gpio.Level) {
		if l == gpio.Low && s.asleep && !s.inReset {
			s.asleep, s.wakeAt = false, time.Time{}
			s.stats.Wakes++
		}
	}}
}

// CSPin is NSS for a host that drives it as a GPIO and connects the SPI
// port with spi.NoCS: transfers reach the chip only while it is low, and a
// sleeping chip needs it low Opts.WakeTime before the first byte.
func (s *Sim) CSPin() *Pin {
	return &Pin{s: s, name: "NSS", level: gpio.High, set: func(s *Sim, l gpio.Level) {
		s.csLow = l == gpio.Low
		if s.csLow {
			s.csLowAt = s.o.Now()
		}
	}}
}

// String implements gpio.PinOut.
func (p *Pin) String() string { return "pn532sim-" + p.name }

// Name implements gpio.PinOut.
func (p *Pin) Name() string { return p.name }

// Number implements gpio.PinOut; the pins have no number.
func (p *Pin) Number() int { return -1 }

// Function implements gpio.PinOut.
func (p *Pin) Function() string { return "Out/" + p.level.String() }

// Halt implements gpio.PinOut.
func (p *Pin) Halt() error { return nil }

// Out implements gpio.PinOut.
func (p *Pin) Out(l gpio.Level) error {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if l == p.level {
		return nil
	}
	p.level = l
	p.set(p.s, l)
	return nil
}

// Read returns the level last driven.
func (p *Pin) Read() gpio.Level {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.level
}

// PWM implements gpio.PinOut; the lines take levels only.
func (p *Pin) PWM(gpio.Duty, physic.Frequency) error {
	return errors.New("pn532sim: " + p.name + " takes levels, not PWM")
}
