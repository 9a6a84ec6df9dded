package entry

import (
	"context"
	"sync/atomic"
	"testing"

	"posd/drivers/alpar"
	"posd/drivers/msr"
	"posd/drivers/pn532"
)

type fakeSwiper struct{ ch chan msr.Result }

func (f fakeSwiper) Read(ctx context.Context) (*msr.Swipe, error) {
	return &msr.Swipe{Track2: &msr.Track2{PAN: "4761739001010010"}}, nil
}
func (f fakeSwiper) Swipes() <-chan msr.Result { return f.ch }

type fakeTapper struct{ released atomic.Int32 }

func (f *fakeTapper) Transmit(context.Context, []byte) ([]byte, error) { return []byte{0x90, 0}, nil }

// ListTarget finds one type A card (a card answers one modulation only).
func (f *fakeTapper) ListTarget(_ context.Context, typ pn532.TargetType) (*pn532.Target, error) {
	if typ != pn532.TypeA {
		return nil, pn532.ErrNoTarget
	}
	return &pn532.Target{Type: pn532.TypeA, SAK: 0x20, UID: []byte{1, 2, 3, 4}}, nil
}
func (f *fakeTapper) Release(context.Context) error { f.released.Add(1); return nil }

type idleSlot struct{}

func (idleSlot) Transmit(context.Context, []byte) ([]byte, error) { return nil, nil }
func (idleSlot) CardPresent(context.Context) (bool, error)        { return false, nil }
func (idleSlot) Events() <-chan alpar.Event                       { return nil }
func (idleSlot) PowerUp(context.Context) ([]byte, error)          { return nil, nil }
func (idleSlot) PowerOff(context.Context) error                   { return nil }

// Two cards at the same moment: one wins, the other is let go (a tapped
// card released, a swipe wiped), never left activated.
func TestSimultaneousCardsLoserReleased(t *testing.T) {
	for i := 0; i < 50; i++ {
		tap := &fakeTapper{}
		r := New(Devices{MSR: fakeSwiper{}, NFC: tap, Contact: idleSlot{}}, nil)
		p, err := r.Read(context.Background(), Swipe, Tap, Insert)
		if err != nil {
			t.Fatal(err)
		}
		switch p.Mode {
		case Swipe:
			if tap.released.Load() != 1 {
				t.Fatalf("the swipe won but the tapped card was released %d times", tap.released.Load())
			}
		case Tap:
			if tap.released.Load() != 0 {
				t.Fatal("the winning tapped card was released")
			}
			p.Release(context.Background())
			if tap.released.Load() != 1 {
				t.Fatal("Release of the winner did not release the card")
			}
		}
	}
}
