package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"posd/board"
	"posd/drivers/alpar/alparsim"
	"posd/drivers/keypad"
	"posd/drivers/keypad/keypadsim"
	"posd/drivers/pn532"
	"posd/drivers/pn532/pn532sim"
)

// openNFC puts the PN532 simulator on a simulated I²C bus (it implements
// periph's i2c.Bus) and starts the real driver on it, with the 106 kbit/s
// air time modelled and the chip's RSTPDN and H_REQ wired as on the
// PN532 HAT. The simulator needs no long pulses on them.
func (b *Board) openNFC(o Opts) {
	b.nfcSim = pn532sim.New(&pn532sim.Opts{LinkTime: true, Logger: o.Logger})
	do := pn532.DefaultOpts
	do.Logger = o.Logger
	do.Reset, do.Req = b.nfcSim.ResetPin(), b.nfcSim.ReqPin()
	do.ResetPulse, do.ResetRecovery, do.ReqPulse = time.Millisecond, time.Millisecond, time.Millisecond
	b.AddNFC(pn532.NewI2C(b.nfcSim, 0), "sim I2C@0x24", nil, &do)
}

// openContact serves the TDA8029 simulator on a pseudo-terminal, which the
// real driver opens as its UART at 38400 baud; the simulator paces its
// side of the line at that speed, on the wall clock.
func (b *Board) openContact(ctx context.Context, o Opts) {
	const baud = 38400
	so := alparsim.DefaultOpts
	so.Baud, so.Logger = baud, o.Logger
	b.contactSim = alparsim.New(&so)
	// The simulator lives until the board halts it, after the driver, not
	// until the daemon's context ends.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	path, err := b.contactSim.ServePTY(sctx)
	if err != nil {
		cancel()
		b.Add(boardStatus("contact", "alpar", "pty", err), nil, nil)
		return
	}
	// Added first so it is halted last, after the driver.
	b.Add(board.Status{Name: "contact-sim", Driver: "alparsim", Where: path, OK: true, Detail: "TDA8029 simulator"}, nil,
		func() error { cancel(); b.contactSim.Wait(); return nil })
	b.AddContact(board.Serial{Port: path, Baud: baud}, o.Logger)
}

// openKeypad wires the PIN pad matrix simulator's pins to the real scanner.
// Its self-test (after the board's check that the scanner still scans)
// presses a key and waits for the scanner to report it down and up.
func (b *Board) openKeypad(o Opts) {
	b.keypadSim = keypadsim.New(keypad.LayoutPINPad, nil)
	b.AddKeypad(b.keypadSim.Pins(), "sim GPIO matrix", keypad.LayoutPINPad, func(ctx context.Context, d *keypad.Dev) (string, error) {
		const k = keypad.Key('5')
		b.typing.Lock()
		defer b.typing.Unlock()
		done := make(chan error, 1)
		go func() { done <- b.keypadSim.Type(ctx, string(k)) }()
		down, up := false, false
		for !(down && up) {
			ev, err := d.Next(ctx)
			if err != nil {
				<-done
				return "", fmt.Errorf("no key event from the scanner: %w", err)
			}
			if ev.Key == k {
				down, up = down || ev.Down, up || !ev.Down
			}
		}
		if err := <-done; err != nil {
			return "", err
		}
		s := d.Stats()
		return fmt.Sprintf("4x4 PIN pad matrix, test key seen down and up (%d scans; %d key events, %d dropped unread)", s.Scans, s.Events, s.Dropped), nil
	}, o.Logger)
}

// TapAlsoICC puts card into the contactless field beside the card already
// there (TapICC, Tap), as the second card of a wallet tapped whole: an
// ISO 14443-4 card of type A with uid, or of type B with the first four
// bytes of uid as its PUPI when typeB. RemoveTap takes every card away,
// TakeTapICC this one.
func (b *Board) TapAlsoICC(card ICC, uid []byte, typeB bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nfcSim == nil {
		return errors.New("sim: contactless reader unavailable")
	}
	id := pn532sim.Identity{Type: pn532.TypeA, UID: uid, ATQA: [2]byte{0x00, 0x04}, SAK: 0x20,
		ATS: []byte{0x05, 0x78, 0x80, 0x70, 0x02}}
	if typeB {
		if len(uid) < 4 {
			return fmt.Errorf("sim: a type B PUPI needs 4 bytes, got %d", len(uid))
		}
		// ATQB: 0x50, PUPI, application data, protocol info with
		// ISO 14443-4 support (ISO 14443-3 §7.9.4).
		atqb := append(append([]byte{0x50}, uid[:4]...), 0x00, 0x00, 0x00, 0x00, 0x00, 0x71, 0x85)
		id = pn532sim.Identity{Type: pn532.TypeB, ATQB: atqb, AttribRes: []byte{0x00}}
	}
	b.nfcSim.Add(card, id)
	return nil
}

// TakeTapICC takes card out of the contactless field and leaves the other
// cards there.
func (b *Board) TakeTapICC(card ICC) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nfcSim != nil {
		b.nfcSim.Take(card)
	}
}
