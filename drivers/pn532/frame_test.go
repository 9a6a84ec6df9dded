package pn532

import (
	"bytes"
	"errors"
	"posd/internal/testhex"
	"testing"
)

// Frames as printed in UM0701-02 and widely reproduced.
func TestAppendFrameDatasheet(t *testing.T) {
	cases := []struct {
		data string
		want string
	}{
		{"02", "00 00 FF 02 FE D4 02 2A 00"},             // GetFirmwareVersion
		{"14 01", "00 00 FF 03 FD D4 14 01 17 00"},       // SAMConfiguration normal mode
		{"4A 01 00", "00 00 FF 04 FC D4 4A 01 00 E1 00"}, // InListPassiveTarget 1 target 106A
	}
	for _, c := range cases {
		got, err := AppendFrame(nil, TFIHost, testhex.Bytes(t, c.data))
		if err != nil {
			t.Fatal(err)
		}
		if want := testhex.Bytes(t, c.want); !bytes.Equal(got, want) {
			t.Errorf("AppendFrame(%s) = % X, want % X", c.data, got, want)
		}
	}
}

func TestDecodeFrameDatasheet(t *testing.T) {
	f, n, err := DecodeFrame(testhex.Bytes(t, "00 00 FF 06 FA D5 03 32 01 06 07 E8 00 00 00"))
	if err != nil {
		t.Fatal(err)
	}
	if n != 13 || f.Kind != FrameInfo || f.TFI != TFIChip || !bytes.Equal(f.Data, testhex.Bytes(t, "03 32 01 06 07")) {
		t.Errorf("got %+v n=%d", f, n)
	}
	for _, c := range []struct {
		in   string
		kind FrameKind
	}{
		{"00 00 FF 00 FF 00", FrameACK},
		{"00 00 FF FF 00 00", FrameNACK},
		{"00 00 FF 01 FF 7F 81 00", FrameError},
		{"00 FF 00 FF 00", FrameACK}, // preamble may be left out
	} {
		f, _, err := DecodeFrame(testhex.Bytes(t, c.in))
		if err != nil || f.Kind != c.kind {
			t.Errorf("DecodeFrame(%s) = %v, %v; want %v", c.in, f.Kind, err, c.kind)
		}
	}
	if f, _, _ := DecodeFrame(testhex.Bytes(t, "00 00 FF 01 FF 7F 81 00")); !errors.Is(f.Err(), ErrApplication) {
		t.Error("error frame does not map to ErrApplication")
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	cases := []struct {
		in   string
		want error
	}{
		{"00 00 FF 02 FD D5 03 28 00", ErrChecksum},   // LCS wrong
		{"00 00 FF 02 FE D5 03 29 00", ErrChecksum},   // DCS wrong
		{"00 00 FF 02 FE D5 03 28 01", ErrFrame},      // postamble
		{"00 00 FE 02 FE D5 03 28 00", ErrFrame},      // start code
		{"00 00 FF 02 FE D5", ErrIncomplete},          // cut
		{"", ErrIncomplete},                           // empty
		{"FF 02 FE", ErrFrame},                        // no preamble zero
		{"00 00 FF FF FF 01 0B F4 D5", ErrFrame},      // extended LEN 267 > 265
		{"00 00 FF FF FF 00 05 FB D5", ErrIncomplete}, // extended cut
		{"00 00 FF FF FF 00 05 FA D5 00 00 00 00 00", ErrChecksum},
	}
	for _, c := range cases {
		_, _, err := DecodeFrame(testhex.Bytes(t, c.in))
		if !errors.Is(err, c.want) {
			t.Errorf("DecodeFrame(%s) err = %v, want %v", c.in, err, c.want)
		}
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 253, 254, 255, 256, 264} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i*7 + 3)
		}
		b, err := AppendFrame(nil, TFIChip, data)
		if err != nil {
			t.Fatal(err)
		}
		if ext := n+1 > 255; ext != (b[3] == 0xFF && b[4] == 0xFF) {
			t.Errorf("n=%d extended=%v but header % X", n, ext, b[:5])
		}
		f, m, err := DecodeFrame(b)
		if err != nil || m != len(b) || f.TFI != TFIChip || !bytes.Equal(f.Data, data) {
			t.Errorf("n=%d: round trip failed: %v", n, err)
		}
	}
	if _, err := AppendFrame(nil, TFIHost, make([]byte, 265)); !errors.Is(err, ErrTooLong) {
		t.Errorf("265 data bytes: err = %v, want ErrTooLong", err)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add(testhex.Bytes(f, "00 00 FF 06 FA D5 03 32 01 06 07 E8 00"))
	f.Add(testhex.Bytes(f, "00 00 FF 00 FF 00"))
	f.Add(testhex.Bytes(f, "00 00 FF FF 00 00"))
	f.Add(testhex.Bytes(f, "00 00 FF 01 FF 7F 81 00"))
	ext, _ := AppendFrame(nil, TFIChip, make([]byte, 300-40))
	f.Add(ext)
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := DecodeFrame(b)
		if err != nil {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		if fr.Kind == FrameInfo {
			// A decoded information frame must re-encode to the same bytes
			// after the preamble.
			re, err := AppendFrame(nil, fr.TFI, fr.Data)
			if err != nil {
				t.Fatal(err)
			}
			if !fr.Extended && !bytes.HasSuffix(b[:n], re[1:]) {
				t.Fatalf("re-encode % X not a suffix of % X", re, b[:n])
			}
		}
	})
}
