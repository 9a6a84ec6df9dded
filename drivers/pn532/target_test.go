package pn532_test

import (
	"bytes"
	"context"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"posd/drivers/pn532"
	"posd/internal/testhex"
)

// sak28 is the InListPassiveTarget answer of a "CPU card" (ATQA 00 04,
// SAK 0x28: MIFARE Classic 1K emulation plus ISO 14443-4, UID FD E6 08 99,
// 16-byte ATS) recorded from a PN532 on HSU, published in the comments of
// sqf-ice/test, USER/src/PN532/nfc.c:
//
//	00 00 ff 00 ff 00 00 00 ff 1c e4 d5 4b 01 01 00 04 28 04 fd e6 08 99
//	10 78 80 90 02 20 90 00 00 00 00 00 fd e6 08 99 5c 00
const sak28 = "00 00 FF 1C E4 D5 4B 01 01 00 04 28 04 FD E6 08 99 10 78 80 90 02 20 90 00 00 00 00 00 FD E6 08 99 5C 00"

// sak28NoATS is the same card's answer without the ATS: what the chip
// sends when it did not get one, because automatic RATS is off
// (SetParameters without fAutomaticRATS, as nfcpy's pn532 driver leaves
// it: it sends RATS itself) or because the card does not answer RATS. No
// public byte trace of that answer was found; it is the frame above with
// the ATS removed and LEN, LCS and DCS recomputed.
const sak28NoATS = "00 00 FF 0C F4 D5 4B 01 01 00 04 28 04 FD E6 08 99 2A 00"

// listOverI2C replays one InListPassiveTarget exchange over I2C with the
// given response frame and returns the listed target.
func listOverI2C(t *testing.T, resp string) (*pn532.Target, error) {
	t.Helper()
	ops := []i2ctest.IO{
		{Addr: 0x24, W: testhex.Bytes(t, "00 00 FF 04 FC D4 4A 02 00 E0 00")},
		{Addr: 0x24, R: []byte{0x01}},
		{Addr: 0x24, R: append([]byte{0x01}, testhex.Bytes(t, "00 00 FF 00 FF 00")...)},
		{Addr: 0x24, R: []byte{0x01}},
		{Addr: 0x24, R: append([]byte{0x01}, pad(testhex.Bytes(t, resp), pn532.MaxFrameSize)...)},
	}
	dev, bus := playbackDev(t, ops)
	tg, err := dev.ListTarget(context.Background(), pn532.TypeA)
	if cerr := bus.Close(); cerr != nil && err == nil {
		t.Fatal(cerr)
	}
	return tg, err
}

func TestSAK28WithATS(t *testing.T) {
	tg, err := listOverI2C(t, sak28)
	if err != nil {
		t.Fatal(err)
	}
	if tg.SAK != 0x28 || !bytes.Equal(tg.UID, testhex.Bytes(t, "FD E6 08 99")) || len(tg.ATS) != 16 || tg.ATS[0] != 0x10 || !tg.ISO14443_4() {
		t.Fatalf("target %+v", tg)
	}
}

// TestSAK28WithoutATS: SAK bit 0x20 says ISO 14443-4, but the chip listed
// the card without an ATS. The target must be accepted (libnfc's
// pn53x_decode_target_data takes the ATS only when bytes remain), not
// refused as a malformed answer.
func TestSAK28WithoutATS(t *testing.T) {
	tg, err := listOverI2C(t, sak28NoATS)
	if err != nil {
		t.Fatalf("SAK 0x28 without ATS refused: %v", err)
	}
	if tg.SAK != 0x28 || !bytes.Equal(tg.UID, testhex.Bytes(t, "FD E6 08 99")) || tg.ATS != nil || !tg.ISO14443_4() {
		t.Fatalf("target %+v", tg)
	}
}

// TestPresencePlayback: the presence check of an ISO-DEP card on the wire.
// The command is libnfc's (chips/pn53x.c pn53x_ISO14443A_4_is_present:
// InCommunicateThru with the R(NAK) PCB 0xB2, CID 0); the answers are
// built from UM0701-02 §7.3.9 (InCommunicateThru answers Status, DataIn)
// and ISO 14443-4 §7.5.4 (a present card answers R(ACK), here 0xA3;
// status 0x01, timeout, when it is gone). No public byte trace of these
// answers was found.
func TestPresencePlayback(t *testing.T) {
	ack := append([]byte{0x01}, testhex.Bytes(t, "00 00 FF 00 FF 00")...)
	exchange := func(cmd, resp string) []i2ctest.IO {
		return []i2ctest.IO{
			{Addr: 0x24, W: testhex.Bytes(t, cmd)},
			{Addr: 0x24, R: []byte{0x01}},
			{Addr: 0x24, R: ack},
			{Addr: 0x24, R: []byte{0x01}},
			{Addr: 0x24, R: append([]byte{0x01}, pad(testhex.Bytes(t, resp), 16)...)},
		}
	}
	var ops []i2ctest.IO
	ops = append(ops, exchange("00 00 FF 04 FC D4 4A 02 00 E0 00", "")...)
	ops[len(ops)-1].R = append([]byte{0x01}, pad(testhex.Bytes(t, sak28), pn532.MaxFrameSize)...)
	ops = append(ops, exchange("00 00 FF 03 FD D4 42 B2 38 00", "00 00 FF 04 FC D5 43 00 A3 45 00")...)
	ops = append(ops, exchange("00 00 FF 03 FD D4 42 B2 38 00", "00 00 FF 03 FD D5 43 01 E7 00")...)
	dev, bus := playbackDev(t, ops)
	ctx := context.Background()
	if _, err := dev.ListTarget(ctx, pn532.TypeA); err != nil {
		t.Fatal(err)
	}
	if ok, err := dev.CardPresent(ctx); err != nil || !ok {
		t.Fatalf("present: %v %v", ok, err)
	}
	if ok, err := dev.CardPresent(ctx); err != nil || ok {
		t.Fatalf("gone: %v %v", ok, err)
	}
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
}
