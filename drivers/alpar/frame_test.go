package alpar

import (
	"bytes"
	"errors"
	"testing"

	"posd/conn/apdu"
)

// Frames written out by hand from AN10207's frame format; the power_up_iso
// command bytes also appear verbatim in public host code for the chip.
var traceFrames = []struct {
	name string
	f    Frame
	wire []byte
}{
	{"power_up_iso", Frame{Cmd: 0x69}, []byte{0x60, 0x00, 0x00, 0x69, 0x09}},
	{"check_pres_card", Frame{Cmd: 0x09}, []byte{0x60, 0x00, 0x00, 0x09, 0x69}},
	{"present", Frame{Cmd: 0x09, Payload: []byte{0x01}}, []byte{0x60, 0x00, 0x01, 0x09, 0x01, 0x69}},
	{"inserted", Frame{Cmd: 0xA0, Payload: []byte{0x01}}, []byte{0x60, 0x00, 0x01, 0xA0, 0x01, 0xC0}},
	{"removed", Frame{Cmd: 0xA0, Payload: []byte{0x00}}, []byte{0x60, 0x00, 0x01, 0xA0, 0x00, 0xC1}},
	{"nack card absent", Frame{Nack: true, Cmd: 0x69, Payload: []byte{0xC0}}, []byte{0xE0, 0x00, 0x01, 0x69, 0xC0, 0x48}},
	{"power_off", Frame{Cmd: 0x4D}, []byte{0x60, 0x00, 0x00, 0x4D, 0x2D}},
	{"select apdu", Frame{Cmd: 0x00, Payload: []byte{0x00, 0xA4, 0x04, 0x00}}, []byte{0x60, 0x00, 0x04, 0x00, 0x00, 0xA4, 0x04, 0x00, 0xC4}},
}

func TestEncodeFrameTrace(t *testing.T) {
	for _, tc := range traceFrames {
		got, err := EncodeFrame(tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Equal(got, tc.wire) {
			t.Errorf("%s: encoded % X, want % X", tc.name, got, tc.wire)
		}
	}
}

func TestDecodeFrameTrace(t *testing.T) {
	for _, tc := range traceFrames {
		f, n, err := DecodeFrame(append(append([]byte(nil), tc.wire...), 0x60, 0x00))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if n != len(tc.wire) || f.Nack != tc.f.Nack || f.Cmd != tc.f.Cmd || !bytes.Equal(f.Payload, tc.f.Payload) {
			t.Errorf("%s: got %+v n=%d", tc.name, f, n)
		}
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrShortFrame},
		{"bad start", []byte{0x61, 0, 0, 0x09, 0x68}, ErrBadStart},
		{"header only", []byte{0x60, 0x00}, ErrShortFrame},
		{"truncated payload", []byte{0x60, 0x00, 0x02, 0x00, 0x01}, ErrShortFrame},
		{"too long", []byte{0x60, 0x01, 0xFB, 0x00}, ErrFrameTooLong},
		{"bad lrc", []byte{0x60, 0x00, 0x00, 0x69, 0x08}, ErrFrameLRC},
	}
	for _, tc := range cases {
		_, _, err := DecodeFrame(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	// The largest legal frame decodes.
	big, err := EncodeFrame(Frame{Cmd: 0, Payload: make([]byte, MaxPayload)})
	if err != nil {
		t.Fatal(err)
	}
	if _, n, err := DecodeFrame(big); err != nil || n != MaxFrame {
		t.Fatalf("max frame: n=%d err=%v", n, err)
	}
	if _, err := EncodeFrame(Frame{Payload: make([]byte, MaxPayload+1)}); !errors.Is(err, ErrFrameTooLong) {
		t.Fatalf("encode 507 bytes: %v", err)
	}
}

func TestFrameReaderResync(t *testing.T) {
	var stream []byte
	stream = append(stream, 0x00, 0x13, 0x37) // line noise
	stream = append(stream, 0x60, 0x00, 0x00, 0x69, 0x08)
	stream = append(stream, 0x60, 0xFF, 0xFF) // impossible length
	stream = append(stream, traceFrames[3].wire...)
	fr := NewFrameReader(bytes.NewReader(stream))
	if _, err := fr.ReadFrame(); !errors.Is(err, ErrFrameLRC) {
		t.Fatalf("first: %v", err)
	}
	if _, err := fr.ReadFrame(); !errors.Is(err, ErrFrameTooLong) {
		t.Fatalf("second: %v", err)
	}
	f, err := fr.ReadFrame()
	if err != nil || f.Cmd != CmdCardEvent || !bytes.Equal(f.Payload, []byte{1}) {
		t.Fatalf("third: %+v %v", f, err)
	}
}

// A stray start byte right before a real frame makes the first length
// look impossible; the real frame whose start byte was read as length must
// still be found.
func TestFrameReaderResyncInsideLength(t *testing.T) {
	for _, stray := range []byte{Ack, Nack} {
		stream := append([]byte{stray}, traceFrames[3].wire...)
		fr := NewFrameReader(bytes.NewReader(stream))
		if _, err := fr.ReadFrame(); !errors.Is(err, ErrFrameTooLong) {
			t.Fatalf("stray %02X: first: %v", stray, err)
		}
		f, err := fr.ReadFrame()
		if err != nil || f.Cmd != CmdCardEvent || !bytes.Equal(f.Payload, []byte{1}) {
			t.Fatalf("stray %02X: frame lost: %+v %v", stray, f, err)
		}
	}
}

func TestNackErrorMapping(t *testing.T) {
	cases := map[byte]error{
		0xC0: ErrCardAbsent, 0x80: ErrCardMute, 0x22: ErrCardMute, 0x81: ErrCardTimeout,
		0xF0: ErrSerialLRC, 0xFF: ErrSerialTimeout, 0x55: ErrUnknownCommand,
		0xC4: ErrATR, 0x93: ErrATR, 0xE4: ErrHardware, 0xA1: ErrHardware,
	}
	for code, want := range cases {
		err := error(&NackError{Cmd: 0x69, Code: code})
		if !errors.Is(err, want) {
			t.Errorf("%02X is not %v", code, want)
		}
		if errors.Is(err, ErrTimeout) {
			t.Errorf("%02X matches ErrTimeout", code)
		}
	}
	if errors.Is(&NackError{Code: 0xC0}, ErrCardMute) {
		t.Error("C0 matches ErrCardMute")
	}
	// The APDU contract's sentinel for a card that left the slot.
	if !errors.Is(&NackError{Cmd: 0x00, Code: 0xC0}, apdu.ErrCardRemoved) || errors.Is(&NackError{Code: 0x81}, apdu.ErrCardRemoved) {
		t.Error("apdu.ErrCardRemoved mapping")
	}
	if StatusText(0xC0) != "card absent" || StatusText(0x01) != "unknown status" {
		t.Error("status text table")
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, tc := range traceFrames {
		f.Add(tc.wire)
	}
	f.Add([]byte{0x60, 0x01, 0xFA, 0x00})
	f.Add([]byte{0xE0, 0x00, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := DecodeFrame(b)
		if err != nil {
			if errors.Is(err, ErrShortFrame) && n != 0 && n <= len(b) {
				t.Fatalf("short frame but n=%d <= %d", n, len(b))
			}
			// The stream reader must not fail differently from io errors.
			_, _ = NewFrameReader(bytes.NewReader(b)).ReadFrame()
			return
		}
		if n > len(b) || n < 5 || len(fr.Payload) > MaxPayload {
			t.Fatalf("n=%d len=%d payload=%d", n, len(b), len(fr.Payload))
		}
		again, err := EncodeFrame(fr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, b[:n]) {
			t.Fatalf("round trip % X != % X", again, b[:n])
		}
		got, err := NewFrameReader(bytes.NewReader(b)).ReadFrame()
		if err != nil || got.Cmd != fr.Cmd || !bytes.Equal(got.Payload, fr.Payload) {
			t.Fatalf("stream reader disagrees: %+v %v", got, err)
		}
	})
}

func BenchmarkEncodeFrame(b *testing.B) {
	apdu := make([]byte, 261)
	buf := make([]byte, 0, MaxFrame)
	b.ReportAllocs()
	b.SetBytes(int64(len(apdu) + 5))
	for b.Loop() {
		var err error
		buf, err = AppendFrame(buf[:0], Frame{Cmd: CmdCardCommand, Payload: apdu})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFrame(b *testing.B) {
	wire, err := EncodeFrame(Frame{Cmd: CmdCardCommand, Payload: make([]byte, 258)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		if _, _, err := DecodeFrame(wire); err != nil {
			b.Fatal(err)
		}
	}
}
