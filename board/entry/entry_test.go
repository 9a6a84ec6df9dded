package entry_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"posd/board/entry"
	"posd/board/sim"
	"posd/conn/apdu"
)

// icc answers SELECT with 9000 and counts what it got.
type icc struct {
	mu sync.Mutex
	n  int
}

func (c *icc) Transmit(a []byte) ([]byte, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	if len(a) >= 4 && a[1] == 0xA4 {
		return []byte{0x6F, 0x00, 0x90, 0x00}, nil
	}
	return []byte{0x6D, 0x00}, nil
}

var selectPPSE = []byte{0x00, 0xA4, 0x04, 0x00, 0x0E, '2', 'P', 'A', 'Y', '.', 'S', 'Y', 'S', '.', 'D', 'D', 'F', '0', '1', 0x00}

func openBoard(t *testing.T) (*sim.Board, *entry.Reader) {
	t.Helper()
	b, err := sim.Open(context.Background(), sim.Opts{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Halt() })
	d := b.Devices
	r := entry.New(entry.Devices{MSR: d.MSR, NFC: d.NFC, Contact: d.Contact}, &entry.Opts{PollInterval: 20 * time.Millisecond})
	if len(r.Modes()) != 3 {
		t.Fatalf("modes %v", r.Modes())
	}
	return b, r
}

func read(t *testing.T, r *entry.Reader, present func()) (*entry.Presented, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() { time.Sleep(100 * time.Millisecond); present() }()
	return r.Read(ctx)
}

// Every mode is watched at once; the first card presented wins and comes
// back ready: tracks for a swipe, a card to talk to for a tap or an insert.
func TestFirstCardWins(t *testing.T) {
	b, r := openBoard(t)

	p, err := read(t, r, func() { b.Swipe("visa-classic") })
	if err != nil || p.Mode != entry.Swipe || p.Swipe == nil || p.Swipe.PAN() == "" {
		t.Fatalf("swipe: %+v %v", p, err)
	}
	p.Release(context.Background())
	if p.Swipe.PAN() != "" {
		t.Fatal("Release did not wipe the swipe")
	}

	tapped := &icc{}
	p, err = read(t, r, func() { b.TapICC(tapped, []byte{1, 2, 3, 4}) })
	if err != nil || p.Mode != entry.Tap || p.Card == nil {
		t.Fatalf("tap: %+v %v", p, err)
	}
	if resp, err := p.Card.Transmit(context.Background(), selectPPSE); err != nil || apdu.SW(resp) != 0x9000 {
		t.Fatalf("APDU to the tapped card: %X %v", resp, err)
	}
	p.Release(context.Background())
	b.RemoveTap()

	inserted := &icc{}
	atr := []byte{0x3B, 0x02, 0x14, 0x50}
	p, err = read(t, r, func() { b.InsertICC(inserted, atr) })
	if err != nil || p.Mode != entry.Insert || !bytes.Equal(p.ATR, atr) {
		t.Fatalf("insert: %+v %v", p, err)
	}
	if resp, err := p.Card.Transmit(context.Background(), selectPPSE); err != nil || apdu.SW(resp) != 0x9000 {
		t.Fatalf("APDU to the inserted card: %X %v", resp, err)
	}
	p.Release(context.Background())
	b.RemoveInserted()
}

// A card left in the slot after its transaction is not read again: the
// next read waits for it to be taken out and a card inserted. A card
// inserted before the sale (never used) is read at once.
func TestUsedCardMustBeRemoved(t *testing.T) {
	b, r := openBoard(t)
	atr := []byte{0x3B, 0x02, 0x14, 0x50}
	first := &icc{}
	b.InsertICC(first, atr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := r.Read(ctx, entry.Insert)
	if err != nil || p.Mode != entry.Insert {
		t.Fatalf("card inserted before the read: %+v %v", p, err)
	}
	p.Release(ctx)

	// Still in the slot: the next read does not take it.
	short, cancelShort := context.WithTimeout(ctx, 600*time.Millisecond)
	p, err = r.Read(short, entry.Insert)
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the used card was read again: %+v %v", p, err)
	}
	// Out and in again: read.
	second := &icc{}
	p, err = read(t, r, func() { b.RemoveInserted(); time.Sleep(50 * time.Millisecond); b.InsertICC(second, atr) })
	if err != nil || p.Mode != entry.Insert {
		t.Fatalf("after removal and insertion: %+v %v", p, err)
	}
	if resp, err := p.Card.Transmit(ctx, selectPPSE); err != nil || apdu.SW(resp) != 0x9000 {
		t.Fatalf("APDU: %X %v", resp, err)
	}
	second.mu.Lock()
	n := second.n
	second.mu.Unlock()
	if n != 1 {
		t.Fatalf("the new card saw %d commands", n)
	}
	p.Release(ctx)
}

// A tapped card still in the field after its transaction is not read
// again until the field was seen empty; then the same card tapped again
// is a new presentation.
func TestUsedTapMustLeaveTheField(t *testing.T) {
	b, r := openBoard(t)
	uid := []byte{1, 2, 3, 4}
	b.TapICC(&icc{}, uid)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := r.Read(ctx, entry.Tap)
	if err != nil || p.Mode != entry.Tap {
		t.Fatalf("tap: %+v %v", p, err)
	}
	p.Release(ctx)

	short, cancelShort := context.WithTimeout(ctx, 600*time.Millisecond)
	p, err = r.Read(short, entry.Tap)
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the card left in the field was read again: %+v %v", p, err)
	}
	again := &icc{}
	p, err = read(t, r, func() { b.RemoveTap(); time.Sleep(200 * time.Millisecond); b.TapICC(again, uid) })
	if err != nil || p.Mode != entry.Tap {
		t.Fatalf("tapped again after leaving the field: %+v %v", p, err)
	}
	if resp, err := p.Card.Transmit(ctx, selectPPSE); err != nil || apdu.SW(resp) != 0x9000 {
		t.Fatalf("APDU: %X %v", resp, err)
	}
	p.Release(ctx)
}

// Only the modes asked for are watched: a tap while only a swipe is
// wanted is not taken.
func TestOnlyTheModesAskedFor(t *testing.T) {
	b, r := openBoard(t)
	b.TapICC(&icc{}, []byte{9, 9, 9, 9})
	defer b.RemoveTap()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() { time.Sleep(400 * time.Millisecond); b.Swipe("mastercard-credit") }()
	p, err := r.Read(ctx, entry.Swipe)
	if err != nil || p.Mode != entry.Swipe {
		t.Fatalf("%+v %v", p, err)
	}
	p.Release(ctx)
	if _, err := r.Read(ctx, entry.Mode("qr")); !errors.Is(err, entry.ErrNoReader) {
		t.Fatalf("unknown mode: %v", err)
	}
}

// An unreadable swipe ends the read with ErrUnreadable (the sale asks
// again) and the readers keep working.
func TestUnreadableSwipe(t *testing.T) {
	b, r := openBoard(t)
	_, err := read(t, r, func() { b.Swipe("damaged-stripe") })
	if !errors.Is(err, entry.ErrUnreadable) {
		t.Fatalf("damaged stripe: %v", err)
	}
	p, err := read(t, r, func() { b.Swipe("visa-classic") })
	if err != nil || p.Mode != entry.Swipe {
		t.Fatalf("after an unreadable swipe: %+v %v", p, err)
	}
	p.Release(context.Background())
}

// Cancelling the read stops every reader.
func TestCancel(t *testing.T) {
	_, r := openBoard(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	if _, err := r.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: %v", err)
	}
}
