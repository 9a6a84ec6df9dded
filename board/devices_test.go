package board

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"periph.io/x/conn/v3/gpio"

	"posd/drivers/keypad"
	"posd/drivers/keypad/keypadsim"
)

// hangingCol is a column pin whose Read can be made to block, as the pin
// of an I/O expander whose bus hangs.
type hangingCol struct {
	gpio.PinIn
	on   atomic.Bool
	hang chan struct{}
}

func (p *hangingCol) Read() gpio.Level {
	if p.on.Load() {
		<-p.hang
	}
	return p.PinIn.Read()
}

func keypadStatus(t *testing.T, ss []Status) Status {
	t.Helper()
	for _, s := range ss {
		if s.Name == "keypad" {
			return s
		}
	}
	t.Fatal("no keypad status")
	return Status{}
}

// Issue 9 item 5: the keypad self-test said "scanning" whatever the
// scanner did. A scanner that works passes, even with its events unread;
// one stuck on a hung pin fails.
func TestKeypadSelfTest(t *testing.T) {
	sim := keypadsim.New(keypad.Layout4x4, nil)
	pins := sim.Pins()
	col := &hangingCol{PinIn: pins.Cols[2], hang: make(chan struct{})}
	pins.Cols[2] = col
	b := New("test", nil)
	b.AddKeypad(pins, "sim", keypad.Layout4x4, nil, nil)
	defer b.Halt()
	if s := keypadStatus(t, b.Status()); !s.OK || !strings.Contains(s.Detail, "scanning") {
		t.Fatalf("at start: %+v", s)
	}

	// Working, with nobody reading: more key events than the queue holds.
	ctx := context.Background()
	if err := sim.Type(ctx, "1234567890"); err != nil {
		t.Fatal(err)
	}
	s := keypadStatus(t, b.SelfTest(ctx))
	if !s.OK || !strings.Contains(s.Detail, "12 dropped unread") {
		t.Fatalf("working scanner, events unread: %+v", s)
	}

	// Stalled: the column's Read hangs, the scan goroutine with it.
	col.on.Store(true)
	s = keypadStatus(t, b.SelfTest(ctx))
	if s.OK || !strings.Contains(s.Error, "stalled") {
		t.Fatalf("stalled scanner: %+v", s)
	}

	// The pin answers again: the scanner goes on.
	col.on.Store(false)
	close(col.hang)
	if s := keypadStatus(t, b.SelfTest(ctx)); !s.OK {
		t.Fatalf("recovered scanner: %+v", s)
	}

	// A halted scanner fails the self-test too.
	if err := b.Devices.Keypad.Halt(); err != nil {
		t.Fatal(err)
	}
	if s := keypadStatus(t, b.SelfTest(ctx)); s.OK || !strings.Contains(s.Error, "halted") {
		t.Fatalf("halted scanner: %+v", s)
	}
}
