package board

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c"

	"posd/conn/clock"
	"posd/drivers/pn532"
	"posd/drivers/pn532/pn532sim"
)

// deadBus fails every transfer until alive, as a PN532 that does not
// answer at boot (unpowered HAT, bus held by a stuck chip).
type deadBus struct {
	i2c.Bus
	alive atomic.Bool
}

func (b *deadBus) Tx(addr uint16, w, r []byte) error {
	if !b.alive.Load() {
		return errors.New("remote I/O error")
	}
	return b.Bus.Tx(addr, w, r)
}

// waitStatus waits for the nfc status to satisfy ok. The bound only stops
// a broken test from hanging; nothing is asserted about time.
func waitStatus(t *testing.T, b *Board, ok func(Status) bool) Status {
	t.Helper()
	var s Status
	for i := 0; i < 2000; i++ {
		for _, s = range b.Status() {
			if s.Name == "nfc" && ok(s) {
				return s
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("nfc status never reached the expected state; last %+v", s)
	return s
}

// A PN532 that fails at start-up is reported, retried in the background
// and reported again when it recovers; the board starts regardless.
func TestNFCFailingAtBootIsRetried(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	b := New("test", nil)
	b.Clock = clk
	bus := &deadBus{Bus: pn532sim.New(nil)}
	o := pn532.DefaultOpts
	o.Retries = 1
	b.AddNFC(pn532.NewI2C(bus, 0), "test I2C", nil, &o)
	defer b.Halt()

	s := waitStatus(t, b, func(s Status) bool { return true })
	if s.OK || !strings.Contains(s.Error, "retrying") {
		t.Fatalf("boot status %+v, want a failure being retried", s)
	}
	if b.Devices.NFC == nil {
		t.Fatal("no driver for a chip that is being retried")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Still dead at the first retry: the status counts the attempt.
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(nfcRetryFirst)
	s = waitStatus(t, b, func(s Status) bool { return strings.Contains(s.Error, "attempt 2") })
	if s.OK {
		t.Fatalf("%+v", s)
	}

	// The chip answers now: the next retry brings it up.
	bus.alive.Store(true)
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * nfcRetryFirst)
	s = waitStatus(t, b, func(s Status) bool { return s.OK })
	if !strings.Contains(s.Detail, "recovered at attempt 3") || !strings.Contains(s.Detail, "PN532") {
		t.Errorf("recovered status %+v", s)
	}
	for _, s := range b.SelfTest(context.Background()) {
		if s.Name == "nfc" && !s.OK {
			t.Errorf("self test after recovery: %+v", s)
		}
	}
	if err := b.Halt(); err != nil {
		t.Fatalf("halt: %v", err)
	}
}

// A self test initialises a chip that is still down, and Halt stops the
// background retries of a chip that never came up without an error.
func TestNFCSelfTestInitialisesAndHaltStopsRetries(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	b := New("test", nil)
	b.Clock = clk
	bus := &deadBus{Bus: pn532sim.New(nil)}
	o := pn532.DefaultOpts
	o.Retries = 1
	b.AddNFC(pn532.NewI2C(bus, 0), "test I2C", nil, &o)
	bus.alive.Store(true)
	for _, s := range b.SelfTest(context.Background()) {
		if s.Name == "nfc" && !s.OK {
			t.Fatalf("self test of a chip that answers now: %+v", s)
		}
	}
	if err := b.Halt(); err != nil {
		t.Fatal(err)
	}

	b = New("test", nil)
	b.Clock = clk
	dead := &deadBus{Bus: pn532sim.New(nil)}
	b.AddNFC(pn532.NewI2C(dead, 0), "test I2C", nil, &o)
	if err := b.Halt(); err != nil {
		t.Fatalf("halt of a chip that never came up: %v", err)
	}
}
