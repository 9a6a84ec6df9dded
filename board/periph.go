package board

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/spi/spireg"
	"periph.io/x/host/v3"

	"posd/drivers/keypad"
	"posd/drivers/pn532"
)

// openPeriph initialises periph's host drivers and opens the I²C, SPI and
// GPIO devices of p, plus the UART devices. A device that cannot be opened
// is recorded with its error; the others still start.
func openPeriph(ctx context.Context, b *Board, p Profile) {
	if _, err := host.Init(); err != nil {
		for _, name := range []string{"nfc", "keypad"} {
			b.Add(Status{Name: name, Where: "periph host", Error: "periph host init: " + err.Error()}, nil, nil)
		}
	} else {
		if p.NFC != nil {
			openNFC(b, *p.NFC)
		}
		if p.Keypad != nil {
			openKeypad(b, *p.Keypad)
		}
	}
	if p.Contact != nil {
		b.AddContact(*p.Contact, b.log.With("device", "contact"))
	}
}

func openNFC(b *Board, n NFC) {
	log := b.log.With("device", "nfc")
	o := pn532.DefaultOpts
	o.Logger = log
	var missing []string
	pin := func(name string) gpio.PinOut {
		if name == "" {
			return nil
		}
		if p := gpioreg.ByName(name); p != nil {
			return p
		}
		missing = append(missing, name)
		return nil
	}
	o.Reset, o.Req = pin(n.Reset), pin(n.Req)
	cs := pin(n.CS)
	if len(missing) > 0 {
		b.Add(Status{Name: "nfc", Driver: "pn532", Where: n.Interface, Error: "no such GPIO: " + strings.Join(missing, ", ")}, nil, nil)
		return
	}
	switch n.Interface {
	case "i2c":
		bus, err := i2creg.Open(n.I2CBus)
		if err != nil {
			b.Add(Status{Name: "nfc", Driver: "pn532", Where: "I2C-" + n.I2CBus, Error: err.Error()}, nil, nil)
			return
		}
		addr := n.I2CAddr
		if addr == 0 {
			addr = pn532.I2CAddr
		}
		b.AddNFC(pn532.NewI2C(bus, addr), fmt.Sprintf("I2C-%s@%#02x", n.I2CBus, addr), bus.Close, &o)
	case "spi":
		port, err := spireg.Open(n.SPIPort)
		if err != nil {
			b.Add(Status{Name: "nfc", Driver: "pn532", Where: n.SPIPort, Error: err.Error()}, nil, nil)
			return
		}
		t, err := pn532.NewSPI(port, &pn532.SPIOpts{CS: cs})
		if err != nil {
			port.Close()
			b.Add(Status{Name: "nfc", Driver: "pn532", Where: n.SPIPort, Error: err.Error()}, nil, nil)
			return
		}
		b.AddNFC(t, n.SPIPort, port.Close, &o)
	case "hsu":
		s := n.Serial
		if s.Baud == 0 {
			s.Baud = 115200
		}
		port, err := OpenSerialTimeout(s, 20*time.Millisecond)
		if err != nil {
			b.Add(Status{Name: "nfc", Driver: "pn532", Where: s.Port, Error: err.Error()}, nil, nil)
			return
		}
		b.AddNFC(pn532.NewHSU(port), s.Port, port.Close, &o)
	default:
		b.Add(Status{Name: "nfc", Driver: "pn532", Error: fmt.Sprintf("unknown interface %q (i2c, spi or hsu)", n.Interface)}, nil, nil)
	}
}

func openKeypad(b *Board, k Keypad) {
	where := "rows " + strings.Join(k.Rows, ",") + " cols " + strings.Join(k.Cols, ",")
	var rows []gpio.PinIO
	var cols []gpio.PinIn
	var missing []string
	for _, n := range k.Rows {
		if p := gpioreg.ByName(n); p != nil {
			rows = append(rows, p)
		} else {
			missing = append(missing, n)
		}
	}
	for _, n := range k.Cols {
		if p := gpioreg.ByName(n); p != nil {
			cols = append(cols, p)
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		b.Add(Status{Name: "keypad", Driver: "keypad", Where: where, Error: errors.New("no such GPIO: " + strings.Join(missing, ", ")).Error()}, nil, nil)
		return
	}
	layout := keypad.Layout4x4
	if len(k.Rows) != 4 || len(k.Cols) != 4 {
		layout = keypad.Layout3x4
	}
	b.AddKeypad(keypad.Pins{Rows: rows, Cols: cols}, where, layout, nil, b.log.With("device", "keypad"))
}

// openIRLight finds the IR illuminator's GPIO (after openPeriph: periph's
// host drivers registered the SoC's pins) and gives it to the IR camera.
func openIRLight(b *Board, name string) {
	p := gpioreg.ByName(name)
	if p == nil {
		b.Add(Status{Name: "ir-light", Driver: "gpio", Where: name, Error: "no such GPIO: " + name}, nil, nil)
		return
	}
	b.AddIRLight(name, p)
}
