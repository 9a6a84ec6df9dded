package pn532_test

import (
	"context"
	"errors"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"posd/conn/apdu"
	"posd/drivers/pn532"
	"posd/drivers/pn532/pn532sim"
	"posd/internal/testhex"
)

// cardSwapped replays a type B card listed (ATQB 50 11223344 00000000
// 00 71 85, ATTRIB_RES 00) and a READ RECORD through InDataExchange that
// the chip answers with status 0x2A: UM0701-02 table 1, "ISO/IEC
// 14443-3B only: the ID of the card does not match, meaning that the
// expected card has been exchanged with another one". LEN, LCS and DCS
// computed from §6.2.1.
func TestCardSwappedIsCardRemoved(t *testing.T) {
	ack := testhex.Bytes(t, "00 00 FF 00 FF 00")
	ops := []i2ctest.IO{
		{Addr: 0x24, W: testhex.Bytes(t, "00 00 FF 05 FB D4 4A 02 03 00 DD 00")},
		{Addr: 0x24, R: []byte{0x01}},
		{Addr: 0x24, R: append([]byte{0x01}, ack...)},
		{Addr: 0x24, R: []byte{0x01}},
		{Addr: 0x24, R: append([]byte{0x01}, pad(testhex.Bytes(t, "00 00 FF 12 EE D5 4B 01 01 50 11 22 33 44 00 00 00 00 00 71 85 01 00 ED 00"), pn532.MaxFrameSize)...)},

		{Addr: 0x24, W: testhex.Bytes(t, "00 00 FF 08 F8 D4 40 01 00 B2 01 0C 00 2C 00")},
		{Addr: 0x24, R: []byte{0x01}},
		{Addr: 0x24, R: append([]byte{0x01}, ack...)},
		{Addr: 0x24, R: []byte{0x01}},
		{Addr: 0x24, R: append([]byte{0x01}, pad(testhex.Bytes(t, "00 00 FF 03 FD D5 41 2A C0 00"), pn532.MaxFrameSize)...)},
	}
	dev, bus := playbackDev(t, ops)
	ctx := context.Background()
	if _, err := dev.ListTarget(ctx, pn532.TypeB); err != nil {
		t.Fatal(err)
	}
	_, err := dev.Transmit(ctx, []byte{0x00, 0xB2, 0x01, 0x0C, 0x00})
	if cerr := bus.Close(); cerr != nil {
		t.Fatalf("trace: %v (transmit: %v)", cerr, err)
	}
	if !errors.Is(err, apdu.ErrCardRemoved) {
		t.Fatalf("another card in place of the listed one: %v, want apdu.ErrCardRemoved", err)
	}
	if pn532.IsTransient(err) {
		t.Fatal("a swapped card is not a link fault to retry")
	}
	// The session card is gone: no APDU goes to the other card.
	if _, err := dev.Transmit(ctx, []byte{0x00, 0xB2, 0x01, 0x0C, 0x00}); !errors.Is(err, pn532.ErrNoTarget) {
		t.Fatalf("Transmit after the swap: %v, want ErrNoTarget", err)
	}
}

// idClassic is a MIFARE Classic 1K (ATQA 00 04, SAK 08): a transit or
// loyalty card, not a payment card. It speaks no ISO 14443-4.
var idClassic = pn532sim.Identity{
	Type: pn532.TypeA,
	UID:  []byte{0x92, 0x2E, 0x58, 0x32},
	ATQA: [2]byte{0x00, 0x04},
	SAK:  0x08,
}

// TestClassicCardTakesNoAPDU: a MIFARE Classic presented alone is listed
// (the caller may want to say what it is), but Transmit refuses it with
// ErrNotISODEP, a decision for the caller ("not a payment card"), without
// sending APDU bytes as MIFARE commands, which the card cannot answer and
// which would come back as a retryable timeout.
func TestClassicCardTakesNoAPDU(t *testing.T) {
	dev, sim := rig(t, kI2C, nil, nil)
	ctx := context.Background()
	card := &ppseCard{fci: testhex.Bytes(t, ppseFCI)}
	sim.Present(card, idClassic)
	tg, err := dev.ListTarget(ctx, pn532.TypeA)
	if err != nil || tg.ISO14443_4() {
		t.Fatalf("MIFARE Classic listed as %+v %v", tg, err)
	}
	before := sim.Stats().Commands
	_, err = dev.Transmit(ctx, selectPPSE)
	if !errors.Is(err, pn532.ErrNotISODEP) {
		t.Fatalf("APDU to a MIFARE Classic: %v, want ErrNotISODEP", err)
	}
	if pn532.IsTransient(err) || errors.Is(err, apdu.ErrCardRemoved) {
		t.Fatalf("%v is neither worth a retry nor a removal", err)
	}
	if n := sim.Stats().Commands - before; n != 0 || len(card.seen) != 0 {
		t.Fatalf("%d commands sent, %d APDUs reached the card", n, len(card.seen))
	}
}

// TestEmptyChainedFrameIsMalformed: InDataExchange answers with MI set in
// its status when more DataIn follows (UM0701-02 §7.3.8), so each such
// frame carries data. A frame with MI and no data (a confused chip, or
// noise that kept its checksums) made the driver ask again forever, the
// response never growing towards MaxResponse; it is a malformed answer.
func TestEmptyChainedFrameIsMalformed(t *testing.T) {
	ack := testhex.Bytes(t, "00 00 FF 00 FF 00")
	step := func(w, r string) []i2ctest.IO {
		return []i2ctest.IO{
			{Addr: 0x24, W: testhex.Bytes(t, w)},
			{Addr: 0x24, R: []byte{0x01}},
			{Addr: 0x24, R: append([]byte{0x01}, ack...)},
			{Addr: 0x24, R: []byte{0x01}},
			{Addr: 0x24, R: append([]byte{0x01}, pad(testhex.Bytes(t, r), pn532.MaxFrameSize)...)},
		}
	}
	ops := step(listA2, oneA)
	ops = append(ops, step("00 00 FF 08 F8 D4 40 01 00 B2 01 0C 00 2C 00", "00 00 FF 03 FD D5 41 40 AA 00")...)
	for i := 0; i < 3; i++ {
		ops = append(ops, step("00 00 FF 03 FD D4 40 01 EB 00", "00 00 FF 03 FD D5 41 40 AA 00")...)
	}
	dev, _ := playbackDev(t, ops)
	ctx := context.Background()
	if _, err := dev.ListTarget(ctx, pn532.TypeA); err != nil {
		t.Fatal(err)
	}
	_, err := dev.Transmit(ctx, []byte{0x00, 0xB2, 0x01, 0x0C, 0x00})
	if !errors.Is(err, pn532.ErrBadResponse) {
		t.Fatalf("endless empty chain: %v, want ErrBadResponse", err)
	}
}

// TestTypeBPresenceUsesTheCardsCID: the presence check's R(NAK) must
// reach a type B card under the CID its ATTRIB_RES echoes (ISO 14443-4
// §7.1.1.2): a card without CID support (ATQB protocol info FO bit 1
// clear), or one given CID 0, ignores a block with CID 1, and was taken
// for gone while it lay on the reader.
func TestTypeBPresenceUsesTheCardsCID(t *testing.T) {
	noCID := idB
	noCID.ATQB = append([]byte(nil), idB.ATQB...)
	noCID.ATQB[11] &^= 0x01
	cid1 := idB
	cid1.AttribRes = []byte{0x01}
	for _, c := range []struct {
		name string
		id   pn532sim.Identity
	}{
		{"CID 0", idB},
		{"no CID support", noCID},
		{"CID 1", cid1},
	} {
		t.Run(c.name, func(t *testing.T) {
			dev, sim := rig(t, kI2C, nil, nil)
			ctx := context.Background()
			sim.Present(&ppseCard{fci: testhex.Bytes(t, ppseFCI)}, c.id)
			if _, err := dev.ListTarget(ctx, pn532.TypeB); err != nil {
				t.Fatal(err)
			}
			if ok, err := dev.CardPresent(ctx); !ok || err != nil {
				t.Fatalf("card on the reader: present %v, %v", ok, err)
			}
			sim.Remove()
			if ok, err := dev.CardPresent(ctx); ok || err != nil {
				t.Fatalf("card taken away: present %v, %v", ok, err)
			}
		})
	}
}
