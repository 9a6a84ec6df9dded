package pn532_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"posd/drivers/pn532"
	"posd/internal/testhex"
)

// The answers below follow the InListPassiveTarget frame of UM0701-02
// §7.3.5: D5 4B NbTg, then NbTg TargetData blocks, each starting with its
// Tg (1, 2). No public byte trace of a two-target answer was found; the
// frames are built from that layout with LEN, LCS and DCS computed.
const (
	// listA2 asks for up to two 106 kbit/s type A targets.
	listA2 = "00 00 FF 04 FC D4 4A 02 00 E0 00"
	// listB2 asks for up to two 106 kbit/s type B targets, AFI 00.
	listB2 = "00 00 FF 05 FB D4 4A 02 03 00 DD 00"
	// twoA: two ISO-DEP type A cards. Tg 1: ATQA 00 04, SAK 20, UID
	// 08 1A 2B 3C (random UID, as phones send), ATS 05 78 80 70 02. Tg 2:
	// ATQA 00 44, SAK 20, 7-byte UID 04 51 62 73 84 95 A6, the same ATS.
	twoA = "00 00 FF 22 DE D5 4B 02 01 00 04 20 04 08 1A 2B 3C 05 78 80 70 02 02 00 44 20 07 04 51 62 73 84 95 A6 05 78 80 70 02 F8 00"
	// twoB: two type B cards, ATQB 50 PUPI 00000000 00 71 85 (ISO-DEP),
	// ATTRIB_RES 00.
	twoB = "00 00 FF 21 DF D5 4B 02 01 50 11 22 33 44 00 00 00 00 00 71 85 01 00 02 50 55 66 77 88 00 00 00 00 00 71 85 01 00 E9 00"
	// oneA: the first card of twoA alone.
	oneA = "00 00 FF 11 EF D5 4B 01 01 00 04 20 04 08 1A 2B 3C 05 78 80 70 02 BE 00"
)

// listPlayback replays one InListPassiveTarget exchange over I2C: the
// command frame cmd, its ACK and the response frame resp, and returns the
// playback to check for unplayed steps.
func listPlayback(t *testing.T, typ pn532.TargetType, cmd, resp string) (*pn532.Dev, *i2ctest.Playback, *pn532.Target, error) {
	t.Helper()
	ops := []i2ctest.IO{
		{Addr: 0x24, W: testhex.Bytes(t, cmd)},
		{Addr: 0x24, R: []byte{0x01}},
		{Addr: 0x24, R: append([]byte{0x01}, testhex.Bytes(t, "00 00 FF 00 FF 00")...)},
		{Addr: 0x24, R: []byte{0x01}},
		{Addr: 0x24, R: append([]byte{0x01}, pad(testhex.Bytes(t, resp), pn532.MaxFrameSize)...)},
	}
	dev, bus := playbackDev(t, ops)
	tg, err := dev.ListTarget(context.Background(), typ)
	return dev, bus, tg, err
}

// TestListTwoTargetsIsCollision: ListTarget asks the chip for two targets
// (MaxTg 2), so that a second card in the field shows; when two answer it
// makes neither the target of Transmit and says so with ErrCollision.
func TestListTwoTargetsIsCollision(t *testing.T) {
	for _, c := range []struct {
		name      string
		typ       pn532.TargetType
		cmd, resp string
	}{
		{"typeA", pn532.TypeA, listA2, twoA},
		{"typeB", pn532.TypeB, listB2, twoB},
	} {
		t.Run(c.name, func(t *testing.T) {
			dev, bus, tg, err := listPlayback(t, c.typ, c.cmd, c.resp)
			if cerr := bus.Close(); cerr != nil {
				t.Fatalf("trace: %v (list: %v)", cerr, err)
			}
			if !errors.Is(err, pn532.ErrCollision) || tg != nil {
				t.Fatalf("two cards listed: %+v %v, want ErrCollision", tg, err)
			}
			if pn532.IsTransient(err) {
				t.Fatal("a collision is not a link fault")
			}
			// Neither card is the target: Transmit refuses without
			// talking to the chip (the playback has no more frames).
			if _, err := dev.Transmit(context.Background(), []byte{0x00, 0xA4, 0x04, 0x00}); !errors.Is(err, pn532.ErrNoTarget) {
				t.Fatalf("Transmit after a collision: %v", err)
			}
		})
	}
}

// TestListOneOfTwo: with MaxTg 2 and one card, the chip answers NbTg 1 and
// that card is listed as before.
func TestListOneOfTwo(t *testing.T) {
	_, bus, tg, err := listPlayback(t, pn532.TypeA, listA2, oneA)
	if cerr := bus.Close(); cerr != nil {
		t.Fatalf("trace: %v (list: %v)", cerr, err)
	}
	if err != nil || tg.Tg != 1 || len(tg.UID) != 4 || len(tg.ATS) != 5 || !tg.ISO14443_4() {
		t.Fatalf("one card: %+v %v", tg, err)
	}
}

// TestSimTwoCardsInTheField: the simulator holds two cards; the driver
// sees two of one type as a collision, one of each type as one card per
// type, and lists the card that stays once the other is taken away.
func TestSimTwoCardsInTheField(t *testing.T) {
	dev, sim := rig(t, kI2C, nil, nil)
	ctx := context.Background()
	other := idA
	other.UID = []byte{0x04, 0x51, 0x62, 0x73, 0x84, 0x95, 0xA6}
	first, second := &ppseCard{}, &ppseCard{}

	sim.Present(first, idA)
	sim.Add(second, other)
	if tg, err := dev.ListTarget(ctx, pn532.TypeA); !errors.Is(err, pn532.ErrCollision) {
		t.Fatalf("two type A cards: %+v %v, want ErrCollision", tg, err)
	}
	if _, err := dev.Transmit(ctx, []byte{0x00, 0xA4, 0x04, 0x00}); !errors.Is(err, pn532.ErrNoTarget) {
		t.Fatalf("Transmit after a collision: %v", err)
	}
	if err := dev.Release(ctx); err != nil {
		t.Fatal(err)
	}

	sim.Take(first)
	tg, err := dev.ListTarget(ctx, pn532.TypeA)
	if err != nil || !bytes.Equal(tg.UID, other.UID) {
		t.Fatalf("the card left in the field: %+v %v", tg, err)
	}
	if _, err := dev.Transmit(ctx, []byte{0x00, 0xA4, 0x04, 0x00}); err != nil {
		t.Fatal(err)
	}
	if len(first.seen) != 0 || len(second.seen) != 1 {
		t.Fatalf("APDUs: first %d, second %d", len(first.seen), len(second.seen))
	}

	// One card of each type: each modulation finds one.
	sim.Present(first, idA)
	sim.Add(second, idB)
	if tg, err := dev.ListTarget(ctx, pn532.TypeB); err != nil || tg.Type != pn532.TypeB {
		t.Fatalf("type B beside type A: %+v %v", tg, err)
	}
	if tg, err := dev.ListTarget(ctx, pn532.TypeA); err != nil || !bytes.Equal(tg.UID, idA.UID) {
		t.Fatalf("type A beside type B: %+v %v", tg, err)
	}
	sim.Remove()
	if _, err := dev.ListTarget(ctx, pn532.TypeA); !errors.Is(err, pn532.ErrNoTarget) {
		t.Fatalf("empty field: %v", err)
	}
}

// TestReleaseLetsGoOfEveryCard: a wallet holds a type A and a type B
// card. The poll of each modulation activates one of them (ISO 14443-3
// ACTIVE, ISO 14443-4 PROTOCOL), where a card answers no further poll
// until it is deselected. Release after the collision must deselect both,
// so that the next poll starts clean and sees both cards again, rather
// than the A card alone with the B card mute beside it.
func TestReleaseLetsGoOfEveryCard(t *testing.T) {
	dev, sim := rig(t, kI2C, nil, nil)
	ctx := context.Background()
	a, b := &ppseCard{}, &ppseCard{}
	sim.Present(a, idA)
	sim.Add(b, idB)
	for round := 0; round < 2; round++ {
		if _, err := dev.ListTarget(ctx, pn532.TypeB); err != nil {
			t.Fatalf("round %d: type B: %v", round, err)
		}
		if _, err := dev.ListTarget(ctx, pn532.TypeA); err != nil {
			t.Fatalf("round %d: type A: %v", round, err)
		}
		if err := dev.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if n := sim.Active(); n != 0 {
			t.Fatalf("round %d: %d cards still activated after Release", round, n)
		}
	}
}

// TestListAgainReleasesFirst: listing again without a Release in between
// (the poll of the other modulation, a resting card polled once more)
// deselects the card listed before, which would otherwise stay mute.
func TestListAgainReleasesFirst(t *testing.T) {
	dev, sim := rig(t, kI2C, nil, nil)
	ctx := context.Background()
	sim.Present(&ppseCard{}, idB)
	for i := 0; i < 3; i++ {
		if _, err := dev.ListTarget(ctx, pn532.TypeB); err != nil {
			t.Fatalf("poll %d of a resting card: %v", i, err)
		}
		if _, err := dev.ListTarget(ctx, pn532.TypeA); !errors.Is(err, pn532.ErrNoTarget) {
			t.Fatalf("poll %d of type A: %v", i, err)
		}
	}
	if n := sim.Active(); n != 0 {
		t.Fatalf("%d cards activated after an empty poll", n)
	}
}

// TestPhoneComesBack: a phone leaves the field during a transaction and
// comes back (the holder's hand moved, or its NFC service restarted): the
// session is gone, the exchange fails, the presence check says so, and
// the next poll lists the phone afresh and talks to it.
func TestPhoneComesBack(t *testing.T) {
	dev, sim := rig(t, kI2C, nil, nil)
	ctx := context.Background()
	phone := &ppseCard{fci: testhex.Bytes(t, ppseFCI)}
	sim.Present(phone, idA)
	if _, err := dev.ListTarget(ctx, pn532.TypeA); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Transmit(ctx, selectPPSE); err != nil {
		t.Fatal(err)
	}
	sim.Take(phone)
	sim.Present(phone, idA)
	if _, err := dev.Transmit(ctx, selectPPSE); err == nil {
		t.Fatal("the session survived the phone leaving the field")
	}
	if ok, err := dev.CardPresent(ctx); ok || err != nil {
		t.Fatalf("presence of the lost session: %v %v", ok, err)
	}
	for i := 0; i < 2; i++ {
		if _, err := dev.ListTarget(ctx, pn532.TypeA); err != nil {
			t.Fatalf("poll %d after the phone came back: %v", i, err)
		}
		if resp, err := dev.Transmit(ctx, selectPPSE); err != nil || len(resp) < 2 {
			t.Fatalf("poll %d: %X %v", i, resp, err)
		}
	}
}

// TestWalletReleaseTrace: the frames of a wallet's type B and type A card
// polled one after the other: the B card's target is released (InRelease
// Tg 0, UM0701-02 §7.3.11: all targets) before the type A poll, and
// Release after the collision releases all targets again, never one Tg.
func TestWalletReleaseTrace(t *testing.T) {
	const (
		oneB       = "00 00 FF 12 EE D5 4B 01 01 50 11 22 33 44 00 00 00 00 00 71 85 01 00 ED 00"
		releaseAll = "00 00 FF 03 FD D4 52 00 DA 00"
		released   = "00 00 FF 03 FD D5 53 00 D8 00"
	)
	ack := testhex.Bytes(t, "00 00 FF 00 FF 00")
	step := func(w, r string, n int) []i2ctest.IO {
		return []i2ctest.IO{
			{Addr: 0x24, W: testhex.Bytes(t, w)},
			{Addr: 0x24, R: []byte{0x01}},
			{Addr: 0x24, R: append([]byte{0x01}, ack...)},
			{Addr: 0x24, R: []byte{0x01}},
			{Addr: 0x24, R: append([]byte{0x01}, pad(testhex.Bytes(t, r), n)...)},
		}
	}
	var ops []i2ctest.IO
	ops = append(ops, step(listB2, oneB, pn532.MaxFrameSize)...)
	ops = append(ops, step(releaseAll, released, 16)...)
	ops = append(ops, step(listA2, oneA, pn532.MaxFrameSize)...)
	ops = append(ops, step(releaseAll, released, 16)...)
	dev, bus := playbackDev(t, ops)
	ctx := context.Background()
	if _, err := dev.ListTarget(ctx, pn532.TypeB); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.ListTarget(ctx, pn532.TypeA); err != nil {
		t.Fatal(err)
	}
	err := dev.Release(ctx)
	if cerr := bus.Close(); cerr != nil {
		t.Fatalf("trace: %v (release: %v)", cerr, err)
	}
	if err != nil {
		t.Fatal(err)
	}
}
