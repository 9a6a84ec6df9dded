package pn532sim

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"posd/drivers/pn532"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

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
	if err := s.Tx(0x24, unhex(t, "00 00 FF 02 FE D4 02 2A 00"), nil); err != nil {
		t.Fatal(err)
	}
	if r := read(t, s, 0); r[0] != 0x01 {
		t.Fatal("not ready after a command")
	}
	if r := read(t, s, 6); !bytes.Equal(r, unhex(t, "01 00 00 FF 00 FF 00")) {
		t.Fatalf("ACK read % X", r)
	}
	want := unhex(t, "01 00 00 FF 06 FA D5 03 32 01 06 07 E8 00 00 00")
	if r := read(t, s, 15); !bytes.Equal(r, want) {
		t.Fatalf("response read % X", r)
	}
	// NACK: the same response again.
	if err := s.Tx(0x24, unhex(t, "00 00 FF FF 00 00"), nil); err != nil {
		t.Fatal(err)
	}
	if r := read(t, s, 15); !bytes.Equal(r, want) {
		t.Fatalf("response after NACK % X", r)
	}
	// Bad LCS: ignored, nothing to read.
	_ = s.Tx(0x24, unhex(t, "00 00 FF 02 FD D4 02 2A 00"), nil)
	if r := read(t, s, 6); r[0] != 0x00 {
		t.Fatalf("bad LCS answered % X", r)
	}
	// Bad DCS: ACK then the syntax error frame.
	_ = s.Tx(0x24, unhex(t, "00 00 FF 02 FE D4 02 2B 00"), nil)
	if r := read(t, s, 6); !bytes.Equal(r, unhex(t, "01 00 00 FF 00 FF 00")) {
		t.Fatalf("bad DCS: % X", r)
	}
	if r := read(t, s, 8); !bytes.Equal(r, unhex(t, "01 00 00 FF 01 FF 7F 81 00")) {
		t.Fatalf("bad DCS: % X", r)
	}
	// Unknown command: ACK then the syntax error frame.
	_ = s.Tx(0x24, unhex(t, "00 00 FF 02 FE D4 7E AE 00"), nil)
	read(t, s, 6)
	if r := read(t, s, 8); !bytes.Equal(r, unhex(t, "01 00 00 FF 01 FF 7F 81 00")) {
		t.Fatalf("unknown command: % X", r)
	}
	// Host ACK aborts: a pending response disappears.
	_ = s.Tx(0x24, unhex(t, "00 00 FF 02 FE D4 02 2A 00"), nil)
	read(t, s, 6)
	_ = s.Tx(0x24, unhex(t, "00 00 FF 00 FF 00"), nil)
	if r := read(t, s, 0); r[0] != 0x00 {
		t.Fatal("response survived the abort")
	}
}

func TestHSUNeedsWakeUp(t *testing.T) {
	s := New(nil)
	s.mu.Lock()
	out := s.feedHSU(unhex(t, "00 00 FF 02 FE D4 02 2A 00"))
	s.mu.Unlock()
	if len(out) != 0 {
		t.Fatal("asleep chip answered")
	}
	s.mu.Lock()
	out = s.feedHSU(append(append([]byte(nil), pn532.HSUWakeUp...), unhex(t, "00 00 FF 03 FD D4 14 01 17 00")...))
	s.mu.Unlock()
	if len(out) != 2 || !bytes.Equal(out[1].b, unhex(t, "00 00 FF 02 FE D5 15 16 00")) {
		t.Fatalf("after wake-up: %v", out)
	}
}

// FuzzHostBytes feeds arbitrary host bytes to every interface of the chip;
// it must never panic and always answer with well-formed frames.
func FuzzHostBytes(f *testing.F) {
	f.Add(unhex(f, "00 00 FF 02 FE D4 02 2A 00"))
	f.Add(unhex(f, "00 00 FF 04 FC D4 4A 01 00 E1 00"))
	f.Add(unhex(f, "00 00 FF 05 FB D4 40 41 00 A4 A6 00"))
	f.Add(unhex(f, "55 55 00 00 00 FF 03 FD D4 00 06 26 00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := New(nil)
		s.Present(echo{}, Identity{Type: pn532.TypeA, UID: []byte{1, 2, 3, 4}, SAK: 0x20, ATS: []byte{1}})
		_ = s.Tx(0x24, unhex(t, "00 00 FF 04 FC D4 4A 01 00 E1 00"), nil)
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
