package pn532sim

import (
	"bytes"
	"errors"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/spi"

	"posd/drivers/pn532"
	"posd/internal/testhex"
)

// read does one I2C read of n bytes after the status byte.
func read(t *testing.T, s *Sim, n int) []byte {
	t.Helper()
	r := make([]byte, 1+n)
	if err := s.Tx(pn532.I2CAddr, nil, r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestI2CChipBehaviour(t *testing.T) {
	s := New(nil)
	// Idle chip: not ready.
	if r := read(t, s, 0); r[0] != 0x00 {
		t.Fatalf("idle status % X", r)
	}
	// Wrong address: no acknowledge.
	if err := s.Tx(0x48, []byte{0}, nil); err == nil {
		t.Error("8-bit address accepted")
	}
	// GetFirmwareVersion from UM0701-02.
	if err := s.Tx(0x24, testhex.Bytes(t, "00 00 FF 02 FE D4 02 2A 00"), nil); err != nil {
		t.Fatal(err)
	}
	if r := read(t, s, 0); r[0] != 0x01 {
		t.Fatal("not ready after a command")
	}
	if r := read(t, s, 6); !bytes.Equal(r, testhex.Bytes(t, "01 00 00 FF 00 FF 00")) {
		t.Fatalf("ACK read % X", r)
	}
	want := testhex.Bytes(t, "01 00 00 FF 06 FA D5 03 32 01 06 07 E8 00 00 00")
	if r := read(t, s, 15); !bytes.Equal(r, want) {
		t.Fatalf("response read % X", r)
	}
	// NACK: the same response again.
	if err := s.Tx(0x24, testhex.Bytes(t, "00 00 FF FF 00 00"), nil); err != nil {
		t.Fatal(err)
	}
	if r := read(t, s, 15); !bytes.Equal(r, want) {
		t.Fatalf("response after NACK % X", r)
	}
	// Bad LCS: ignored, nothing to read.
	_ = s.Tx(0x24, testhex.Bytes(t, "00 00 FF 02 FD D4 02 2A 00"), nil)
	if r := read(t, s, 6); r[0] != 0x00 {
		t.Fatalf("bad LCS answered % X", r)
	}
	// Bad DCS: ACK then the syntax error frame.
	_ = s.Tx(0x24, testhex.Bytes(t, "00 00 FF 02 FE D4 02 2B 00"), nil)
	if r := read(t, s, 6); !bytes.Equal(r, testhex.Bytes(t, "01 00 00 FF 00 FF 00")) {
		t.Fatalf("bad DCS: % X", r)
	}
	if r := read(t, s, 8); !bytes.Equal(r, testhex.Bytes(t, "01 00 00 FF 01 FF 7F 81 00")) {
		t.Fatalf("bad DCS: % X", r)
	}
	// Unknown command: ACK then the syntax error frame.
	_ = s.Tx(0x24, testhex.Bytes(t, "00 00 FF 02 FE D4 7E AE 00"), nil)
	read(t, s, 6)
	if r := read(t, s, 8); !bytes.Equal(r, testhex.Bytes(t, "01 00 00 FF 01 FF 7F 81 00")) {
		t.Fatalf("unknown command: % X", r)
	}
	// Host ACK aborts: a pending response disappears.
	_ = s.Tx(0x24, testhex.Bytes(t, "00 00 FF 02 FE D4 02 2A 00"), nil)
	read(t, s, 6)
	_ = s.Tx(0x24, testhex.Bytes(t, "00 00 FF 00 FF 00"), nil)
	if r := read(t, s, 0); r[0] != 0x00 {
		t.Fatal("response survived the abort")
	}
}

func TestHSUNeedsWakeUp(t *testing.T) {
	s := New(nil)
	s.mu.Lock()
	out := s.feedHSU(testhex.Bytes(t, "00 00 FF 02 FE D4 02 2A 00"))
	s.mu.Unlock()
	if len(out) != 0 {
		t.Fatal("asleep chip answered")
	}
	s.mu.Lock()
	out = s.feedHSU(append(append([]byte(nil), pn532.HSUWakeUp...), testhex.Bytes(t, "00 00 FF 03 FD D4 14 01 17 00")...))
	s.mu.Unlock()
	if len(out) != 2 || !bytes.Equal(out[1].b, testhex.Bytes(t, "00 00 FF 02 FE D5 15 16 00")) {
		t.Fatalf("after wake-up: %v", out)
	}
}

// FuzzHostBytes feeds arbitrary host bytes to every interface of the chip;
// it must never panic and always answer with well-formed frames.
func FuzzHostBytes(f *testing.F) {
	f.Add(testhex.Bytes(f, "00 00 FF 02 FE D4 02 2A 00"))
	f.Add(testhex.Bytes(f, "00 00 FF 04 FC D4 4A 02 00 E0 00"))
	f.Add(testhex.Bytes(f, "00 00 FF 05 FB D4 40 41 00 A4 A6 00"))
	f.Add(testhex.Bytes(f, "55 55 00 00 00 FF 03 FD D4 00 06 26 00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := New(nil)
		s.Present(echo{}, Identity{Type: pn532.TypeA, UID: []byte{1, 2, 3, 4}, SAK: 0x20, ATS: []byte{1}})
		// A second card: two targets for InListPassiveTarget MaxTg 2.
		s.Add(echo{}, Identity{Type: pn532.TypeA, UID: []byte{5, 6, 7, 8}, SAK: 0x20, ATS: []byte{1}})
		_ = s.Tx(0x24, testhex.Bytes(t, "00 00 FF 04 FC D4 4A 02 00 E0 00"), nil)
		r := make([]byte, 1+pn532.MaxFrameSize)
		_ = s.Tx(0x24, nil, r)
		_ = s.Tx(0x24, nil, r)
		_ = s.Tx(0x24, b, nil)
		for i := 0; i < 3; i++ {
			_ = s.Tx(0x24, nil, r)
			if r[0] == 1 {
				if _, _, err := pn532.DecodeFrame(r[1:]); err != nil {
					t.Fatalf("simulator sent a bad frame: %v", err)
				}
			}
		}
		c, err := s.Connect(1000000, 0, 8)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Tx(append([]byte{0x80}, b...), nil)
		s.mu.Lock()
		s.feedHSU(append([]byte{0x55}, b...))
		s.mu.Unlock()
	})
}

type echo struct{}

func (echo) Transmit(apdu []byte) ([]byte, error) { return append(apdu, 0x90, 0x00), nil }

// The SPI data read after SAMConfiguration must look like the transfer
// libnfc's pn532_spi.c logs: MISO "0x01 0x00 0xff 0x02 0xfe 0xd5 0x15
// 0x16 0x00" — 01 during the operation byte, then the frame from its
// start code, without the preamble byte. A sleeping chip answers 0xFF.
func TestSPIWire(t *testing.T) {
	s := New(nil)
	c, err := s.Connect(1000000, spi.LSBFirst, 8) // no bit reversal on the wire
	if err != nil {
		t.Fatal(err)
	}
	st := []byte{0x02, 0x00}
	r := make([]byte, 2)
	if err := c.Tx(st, r); err != nil || !bytes.Equal(r, []byte{0xFF, 0xFF}) {
		t.Fatalf("status of a sleeping chip: % X %v", r, err)
	}
	// 2 ms of clock at 1 MHz wake it; the transfer itself is lost.
	long := make([]byte, 251)
	long[0] = 0x02
	if err := c.Tx(long, make([]byte, len(long))); err != nil {
		t.Fatal(err)
	}
	if err := c.Tx(append([]byte{0x01}, testhex.Bytes(t, "00 00 FF 03 FD D4 14 01 17 00")...), nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Tx(st, r); err != nil || r[1] != 0x01 {
		t.Fatalf("status after the command: % X %v", r, err)
	}
	ack := make([]byte, 7)
	ack[0] = 0x03
	if err := c.Tx(ack, ack); err != nil || !bytes.Equal(ack, testhex.Bytes(t, "01 00 FF 00 FF 00 00")) {
		t.Fatalf("ACK read % X %v", ack, err)
	}
	resp := make([]byte, 9)
	resp[0] = 0x03
	if err := c.Tx(resp, resp); err != nil || !bytes.Equal(resp, testhex.Bytes(t, "01 00 FF 02 FE D5 15 16 00")) {
		t.Fatalf("response read % X %v, want libnfc's 01 00 FF 02 FE D5 15 16 00", resp, err)
	}
}

func TestI2CResetAndSleep(t *testing.T) {
	s := New(&Opts{BrokenStretch: true})
	r := make([]byte, 1)
	if err := s.Tx(0x24, nil, r); !errors.Is(err, ErrStretch) {
		t.Fatalf("first transfer to a sleeping chip: %v, want the stretch garbled", err)
	}
	if err := s.Tx(0x24, nil, r); err != nil {
		t.Fatalf("awake: %v", err)
	}
	rst := s.ResetPin()
	_ = rst.Out(gpio.Low)
	if err := s.Tx(0x24, nil, r); !errors.Is(err, ErrNAK) {
		t.Fatalf("in reset: %v, want NAK", err)
	}
	_ = rst.Out(gpio.High)
	// Back in LowVbat: H_REQ wakes it without a stretch.
	_ = s.ReqPin().Out(gpio.Low)
	if err := s.Tx(0x24, nil, r); err != nil {
		t.Fatalf("after reset and H_REQ: %v", err)
	}
	if st := s.Stats(); st.Resets != 1 || st.Stretches != 1 || st.Wakes != 2 || st.AddrNAKs != 1 {
		t.Errorf("stats %+v", st)
	}
}
