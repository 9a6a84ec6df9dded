package entry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"posd/board/entry"
	"posd/conn/apdu"
	"posd/conn/clock"
	"posd/drivers/pn532"
	"posd/drivers/pn532/pn532sim"
)

var (
	cardA = pn532sim.Identity{Type: pn532.TypeA, UID: []byte{0x08, 0x1A, 0x2B, 0x3C}, ATQA: [2]byte{0x00, 0x04}, SAK: 0x20,
		ATS: []byte{0x05, 0x78, 0x80, 0x70, 0x02}}
	cardA2 = pn532sim.Identity{Type: pn532.TypeA, UID: []byte{0x04, 0x51, 0x62, 0x73, 0x84, 0x95, 0xA6}, ATQA: [2]byte{0x00, 0x44}, SAK: 0x20,
		ATS: []byte{0x05, 0x78, 0x80, 0x70, 0x02}}
	cardB = pn532sim.Identity{Type: pn532.TypeB, ATQB: []byte{0x50, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x71, 0x85},
		AttribRes: []byte{0x00}}
)

// nfcOnly is a Reader over a simulated PN532 alone, polling on a fake
// clock: the test advances it once the reader waits between two polls.
func nfcOnly(t *testing.T) (*pn532sim.Sim, *entry.Reader, *clock.Fake) {
	t.Helper()
	s := pn532sim.New(&pn532sim.Opts{Awake: true})
	t.Cleanup(func() { _ = s.Close() })
	o := pn532.DefaultOpts
	o.ACKTimeout, o.ResponseTimeout = 2*time.Second, 5*time.Second
	dev, err := pn532.New(pn532.NewI2C(s, 0), &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Halt() })
	clk := clock.NewFake(time.Unix(0, 0))
	return s, entry.New(entry.Devices{NFC: dev}, &entry.Opts{PollInterval: 100 * time.Millisecond, Clock: clk}), clk
}

// TestTwoCardsAreACollision: two cards in the field, of one type or one of
// each, are a collision that Read reports; no card is picked and none gets
// an APDU.
func TestTwoCardsAreACollision(t *testing.T) {
	for _, c := range []struct {
		name          string
		first, second pn532sim.Identity
	}{
		{"A+A", cardA, cardA2},
		{"A+B", cardA, cardB},
		{"B+A", cardB, cardA},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, r, _ := nfcOnly(t)
			one, two := &icc{}, &icc{}
			s.Present(one, c.first)
			s.Add(two, c.second)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			p, err := r.Read(ctx, entry.Tap)
			if p != nil {
				p.Release(ctx)
			}
			if !errors.Is(err, entry.ErrCollision) || p != nil {
				t.Fatalf("two cards: %+v %v, want ErrCollision", p, err)
			}
			if !errors.Is(err, entry.ErrUnreadable) {
				t.Fatal("a collision does not ask for the card again")
			}
			if one.n != 0 || two.n != 0 {
				t.Fatalf("APDUs sent: %d and %d", one.n, two.n)
			}
		})
	}
}

// TestNoCardPickedWhileTwoStay: after the collision was reported, Read
// waits while both cards stay (it reports the same collision once, so the
// caller's prompt is not repeated at every poll) and reads the card that
// is left once the other is taken away.
func TestNoCardPickedWhileTwoStay(t *testing.T) {
	s, r, clk := nfcOnly(t)
	one, two := &icc{}, &icc{}
	s.Present(one, cardA)
	s.Add(two, cardB)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := r.Read(ctx, entry.Tap); !errors.Is(err, entry.ErrCollision) {
		t.Fatalf("first read: %v", err)
	}
	type res struct {
		p   *entry.Presented
		err error
	}
	done := make(chan res, 1)
	go func() {
		p, err := r.Read(ctx, entry.Tap)
		done <- res{p, err}
	}()
	for i := 0; i < 5; i++ {
		if err := clk.BlockUntil(ctx, 1); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-done:
			t.Fatalf("Read returned while two cards are in the field: %+v %v", got.p, got.err)
		default:
		}
		clk.Advance(100 * time.Millisecond)
	}
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s.Take(one)
	clk.Advance(100 * time.Millisecond)
	got := <-done
	if got.err != nil || got.p.Mode != entry.Tap {
		t.Fatalf("the card left: %+v %v", got.p, got.err)
	}
	defer got.p.Release(ctx)
	if resp, err := got.p.Card.Transmit(ctx, selectPPSE); err != nil || apdu.SW(resp) != 0x9000 {
		t.Fatalf("APDU: %X %v", resp, err)
	}
	if one.n != 0 || two.n != 1 {
		t.Fatalf("APDUs: taken card %d, card left %d", one.n, two.n)
	}
}

// TestCollisionReportedAgainAfterFlush: a new sale (Flush) reports a
// collision still in the field again, so its prompt is shown again.
func TestCollisionReportedAgainAfterFlush(t *testing.T) {
	s, r, clk := nfcOnly(t)
	s.Present(&icc{}, cardA)
	s.Add(&icc{}, cardA2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := r.Read(ctx, entry.Tap); !errors.Is(err, entry.ErrCollision) {
		t.Fatalf("first sale: %v", err)
	}
	r.Flush()
	readCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		_, err := r.Read(readCtx, entry.Tap)
		done <- err
	}()
	waited := make(chan error, 1)
	go func() { waited <- clk.BlockUntil(readCtx, 1) }()
	select {
	case err := <-done:
		if !errors.Is(err, entry.ErrCollision) {
			t.Fatalf("next sale: %v, want ErrCollision", err)
		}
	case <-waited:
		t.Fatal("the next sale waits silently on the collision of the last one")
	}
}

// TestSimBoardWalletTap: the simulated board holds a wallet's two cards in
// its field, a type A and a type B one; card entry reports the collision
// and reads the type B card once the type A one is gone.
func TestSimBoardWalletTap(t *testing.T) {
	b, r := openBoard(t)
	first, second := &icc{}, &icc{}
	if err := b.TapICC(first, []byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if err := b.TapAlsoICC(second, []byte{5, 6, 7, 8}, true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if p, err := r.Read(ctx, entry.Tap); !errors.Is(err, entry.ErrCollision) {
		t.Fatalf("wallet: %+v %v, want ErrCollision", p, err)
	}
	b.TakeTapICC(first)
	p, err := r.Read(ctx, entry.Tap)
	if err != nil || p.Mode != entry.Tap {
		t.Fatalf("the card left: %+v %v", p, err)
	}
	defer p.Release(ctx)
	if resp, err := p.Card.Transmit(ctx, selectPPSE); err != nil || apdu.SW(resp) != 0x9000 {
		t.Fatalf("APDU: %X %v", resp, err)
	}
	first.mu.Lock()
	defer first.mu.Unlock()
	if first.n != 0 {
		t.Fatal("the card taken away got an APDU")
	}
	b.RemoveTap()
}
