package sim

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"posd/board/sim/deck"
	"posd/drivers/msr"
)

func TestSimBoard(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := Open(ctx, Opts{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range b.SelfTest(ctx) {
		switch {
		case s.Name == "camera" && !haveCamera:
			// A nocv build reports the camera missing, with the reason.
			if s.OK || s.Error == "" {
				t.Errorf("camera in a nocv build: %+v", s)
			}
		case !s.OK:
			t.Errorf("%s: %s", s.Name, s.Error)
		}
	}
	if b.Devices.MSR == nil || b.Devices.NFC == nil || b.Devices.Contact == nil || b.Devices.Keypad == nil || (b.Devices.Camera == nil) == haveCamera {
		t.Fatalf("devices: %+v", b.Devices)
	}

	// A swipe through the simulator reaches the real driver over the
	// pseudo-terminal.
	if err := b.Swipe("mastercard-credit"); err != nil {
		t.Fatal(err)
	}
	sw, err := b.Devices.MSR.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := deck.Lookup("mastercard-credit")
	if sw.PAN() != c.PAN || sw.Track1 == nil {
		t.Fatalf("swipe: %s", sw)
	}
	// Every stripe card of the deck, in its reader's output format, reaches
	// the driver: a worn track 1 still reads on track 2; a damaged stripe
	// is unreadable and the reader reads the next swipe.
	for _, c := range deck.Cards {
		if err := b.Swipe(c.Name); err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		sw, err := b.Devices.MSR.Read(ctx)
		if c.Raw != "" {
			if !errors.Is(err, msr.ErrUnreadable) {
				t.Fatalf("%s: got %v, %v", c.Name, sw, err)
			}
			continue
		}
		if err != nil || sw.PAN() != c.PAN || sw.Track2 == nil || (c.Track1 != "" && len(c.BadTracks) == 0) != (sw.Track1 != nil) {
			t.Fatalf("%s (%s reader): got %v, %v", c.Name, c.Reader, sw, err)
		}
		sw.Wipe()
	}

	if err := b.Swipe("no-such-card"); !errors.Is(err, ErrUnknownCard) {
		t.Fatalf("unknown card: %v", err)
	}

	// The keypad's self-test presses a key only on a scanner that still
	// scans: a halted one fails it (the board's Halt below halts it again,
	// which is a no-op).
	if err := b.Devices.Keypad.Halt(); err != nil {
		t.Fatal(err)
	}
	for _, s := range b.SelfTest(ctx) {
		if s.Name == "keypad" && (s.OK || !strings.Contains(s.Error, "halted")) {
			t.Errorf("halted keypad: %+v", s)
		}
	}

	if err := b.Halt(); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("goroutines after Halt: %d, before %d\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
