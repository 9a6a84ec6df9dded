package sim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/board/sim/deck"
	"posd/board/sim/icc"
	"posd/conn/apdu"
	"posd/drivers/msr"
	"posd/drivers/pn532"
)

func TestSimBoard(t *testing.T) {
	before := runtime.NumGoroutine()
	// One budget for the whole board's tour: a bound against a hang, not
	// a timing target. Under qemu-user on a loaded machine (make arm64-cv)
	// the tour took 37 s and ran out of 30.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var logs lockedBuffer
	lg := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := Open(ctx, Opts{DataDir: t.TempDir(), Logger: lg})
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
		if !slices.Contains(c.Entry, "swipe") {
			if err := b.Swipe(c.Name); !errors.Is(err, ErrEntryMode) {
				t.Fatalf("%s swiped: %v", c.Name, err)
			}
			continue
		}
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

	chipCards(ctx, t, b)

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
	// Nothing the simulators and drivers logged carries card data.
	for _, c := range deck.Cards {
		for _, secret := range []string{c.PAN, c.Track2} {
			if secret != "" && strings.Contains(logs.String(), secret) {
				t.Fatalf("%s: card data in the logs", c.Name)
			}
		}
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

// chipCards presents chip cards through the real drivers: a tap through
// the PN532 simulator answers SELECT PPSE, an insertion through the
// TDA8029 simulator on its pseudo-terminal answers SELECT PSE in T=0
// (61xx, then GET RESPONSE); removal makes the next exchange fail.
func chipCards(ctx context.Context, t *testing.T, b *Board) {
	t.Helper()
	ppse := append([]byte{0x00, 0xA4, 0x04, 0x00, 0x0E}, "2PAY.SYS.DDF01\x00"...)
	pse := append([]byte{0x00, 0xA4, 0x04, 0x00, 0x0E}, "1PAY.SYS.DDF01"...)

	if err := b.Tap("visa-credit"); err != nil {
		t.Fatal(err)
	}
	nfc := b.Devices.NFC
	tg, err := nfc.ListTarget(ctx, pn532.TypeA)
	if err != nil || !tg.ISO14443_4() {
		t.Fatalf("tapped card not listed: %v", err)
	}
	r, err := nfc.Transmit(ctx, ppse)
	if err != nil || apdu.SW(r) != 0x9000 || !bytes.Contains(r, []byte("2PAY.SYS.DDF01")) || !bytes.Contains(r, []byte{0x4F, 0x07, 0xA0, 0, 0, 0, 0x03, 0x10, 0x10}) {
		t.Fatalf("SELECT PPSE through the PN532: %X %v", r, err)
	}

	if err := b.Insert("mastercard-debit"); err != nil {
		t.Fatal(err)
	}
	ct := b.Devices.Contact
	for present := false; !present; {
		if present, err = ct.CardPresent(ctx); err != nil {
			t.Fatal(err)
		}
		if !present {
			select {
			case <-ct.Events():
			case <-ctx.Done():
				t.Fatal("inserted card never present")
			}
		}
	}
	atr, err := ct.PowerUp(ctx)
	if err != nil || !bytes.Equal(atr, deck.ATR) {
		t.Fatalf("power up: %X %v", atr, err)
	}
	r, err = ct.Transmit(ctx, pse)
	if err != nil || r[0] != 0x61 || len(r) != 2 {
		t.Fatalf("SELECT PSE through the TDA8029: %X %v", r, err)
	}
	r, err = ct.Transmit(ctx, []byte{0x00, 0xC0, 0x00, 0x00, r[1]})
	if err != nil || apdu.SW(r) != 0x9000 || !bytes.Contains(r, []byte("1PAY.SYS.DDF01")) {
		t.Fatalf("GET RESPONSE: %X %v", r, err)
	}

	// Removal: both cards leave; the readers' next exchanges fail.
	b.RemoveCard()
	if r, err := ct.Transmit(ctx, pse); err == nil {
		t.Fatalf("removed contact card answered %X", r)
	}
	if r, err := nfc.Transmit(ctx, ppse); err == nil {
		t.Fatalf("removed contactless card answered %X", r)
	}
	nfc.Release(ctx)

	// Removal armed for "after the answer to SELECT": the answer comes
	// (through GET RESPONSE), the next command finds no card.
	if err := b.Insert("visa-credit"); err != nil {
		t.Fatal(err)
	}
	b.RemoveCardWhen(func() func(cmd, resp []byte) bool { return icc.AfterCommand(0xA4, 1) })
	for present := false; !present; {
		if present, err = ct.CardPresent(ctx); err != nil {
			t.Fatal(err)
		}
		if !present {
			<-ct.Events()
		}
	}
	if _, err := ct.PowerUp(ctx); err != nil {
		t.Fatal(err)
	}
	r, err = ct.Transmit(ctx, pse)
	if err != nil || r[0] != 0x61 {
		t.Fatalf("SELECT PSE: %X %v", r, err)
	}
	r, err = ct.Transmit(ctx, []byte{0x00, 0xC0, 0x00, 0x00, r[1]})
	if err != nil || apdu.SW(r) != 0x9000 {
		t.Fatalf("GET RESPONSE: %X %v", r, err)
	}
	if r, err := ct.Transmit(ctx, pse); err == nil {
		t.Fatalf("card answered after its removal: %X", r)
	}

	for _, tc := range []struct {
		fn   func(string) error
		card string
		want error
	}{
		{b.Tap, "visa-offline", ErrEntryMode}, // contact only
		{b.Insert, "visa-contactless-cvm", ErrEntryMode},
		{b.Insert, "visa-classic", ErrEntryMode}, // stripe only
		{b.Tap, "no-such-card", ErrUnknownCard},
		{b.Insert, "no-such-card", ErrUnknownCard},
	} {
		if err := tc.fn(tc.card); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.card, err, tc.want)
		}
	}

	// The same card keeps its counters across presentations: its second
	// tap's GET PROCESSING OPTIONS gives ATC 2.
	for i := 1; i <= 2; i++ {
		if err := b.Tap("visa-contactless-cvm"); err != nil {
			t.Fatal(err)
		}
		if _, err := nfc.ListTarget(ctx, pn532.TypeA); err != nil {
			t.Fatal(err)
		}
		nfc.Transmit(ctx, []byte{0x00, 0xA4, 0x04, 0x00, 0x07, 0xA0, 0, 0, 0, 0x03, 0x10, 0x10, 0x00})
		gpo := append([]byte{0x80, 0xA8, 0x00, 0x00, 0x23, 0x83, 0x21, 0x36, 0x00, 0x40, 0x00}, make([]byte, 29)...)
		r, err := nfc.Transmit(ctx, append(gpo, 0x00))
		if err != nil || apdu.SW(r) != 0x9000 || !bytes.Contains(r, []byte{0x9F, 0x36, 0x02, 0x00, byte(i)}) {
			t.Fatalf("tap %d: GPO %X %v", i, r, err)
		}
		b.RemoveCard()
		nfc.Release(ctx)
	}
}

// lockedBuffer collects log lines written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The service console's pseudo-terminal carries bytes both ways between
// its slave (the engineer's terminal program) and posd's side.
func TestSimConsoleLine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := Open(ctx, Opts{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Halt()
	c := b.Devices.Console
	if c == nil || !strings.HasPrefix(c.Where, "/dev/") || c.Baud != 115200 {
		t.Fatalf("console line: %+v", c)
	}
	slave, err := os.OpenFile(c.Where, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	if _, err := slave.Write([]byte("help\r")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(c.RW, got); err != nil || string(got) != "help\r" {
		t.Fatalf("posd's side read %q %v", got, err)
	}
	if _, err := c.RW.Write([]byte("posd> ")); err != nil {
		t.Fatal(err)
	}
	back := make([]byte, 6)
	if _, err := io.ReadFull(slave, back); err != nil || string(back) != "posd> " {
		t.Fatalf("the terminal read %q %v", back, err)
	}
}
