package pn532_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/bits"
	"testing"
	"time"

	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/spi/spitest"

	"posd/drivers/pn532"
	"posd/internal/testhex"
)

// step is one host operation of a trace written from UM0701-02 §6.2:
// a frame write, a status poll, or a frame read of n bytes.
type step struct {
	op   byte // 'w' write, 's' status, 'r' read
	b    []byte
	n    int  // read length without the status/prefix byte
	busy bool // status poll answers not ready
}

// The exchanges below are the datasheet frames: GetFirmwareVersion
// (00 00 FF 02 FE D4 02 2A 00 / D5 03 32 01 06 07), SAMConfiguration normal
// mode with one damaged response answered by NACK, and InListPassiveTarget
// for a MIFARE Classic card (ATQA 00 04, SAK 08, UID 92 2E 58 32), asked
// with MaxTg 2 (the driver looks for a second card) and answered NbTg 1.
func datasheetTrace(t testing.TB) []step {
	ack := testhex.Bytes(t, "00 00 FF 00 FF 00")
	return []step{
		{op: 'w', b: testhex.Bytes(t, "00 00 FF 02 FE D4 02 2A 00")},
		{op: 's', busy: true},
		{op: 's'},
		{op: 'r', b: ack, n: 6},
		{op: 's', busy: true},
		{op: 's'},
		{op: 'r', b: testhex.Bytes(t, "00 00 FF 06 FA D5 03 32 01 06 07 E8 00"), n: 16},

		{op: 'w', b: testhex.Bytes(t, "00 00 FF 03 FD D4 14 01 17 00")},
		{op: 's'},
		{op: 'r', b: ack, n: 6},
		{op: 's'},
		{op: 'r', b: testhex.Bytes(t, "00 00 FF 02 FE D5 15 17 00"), n: 16}, // DCS damaged
		{op: 'w', b: testhex.Bytes(t, "00 00 FF FF 00 00")},                 // NACK
		{op: 's'},
		{op: 'r', b: testhex.Bytes(t, "00 00 FF 02 FE D5 15 16 00"), n: 16},

		{op: 'w', b: testhex.Bytes(t, "00 00 FF 04 FC D4 4A 02 00 E0 00")},
		{op: 's'},
		{op: 'r', b: ack, n: 6},
		{op: 's'},
		{op: 'r', b: testhex.Bytes(t, "00 00 FF 0C F4 D5 4B 01 01 00 04 08 04 92 2E 58 32 84 00"), n: pn532.MaxFrameSize},
	}
}

func pad(b []byte, n int) []byte {
	out := make([]byte, n)
	copy(out, b)
	return out
}

// traceClock is the fake clock of the trace tests, starting at the epoch.
// playbackDev is a device on an I2C bus that plays ops back, already
// initialised, on a trace clock.
func playbackDev(t *testing.T, ops []i2ctest.IO) (*pn532.Dev, *i2ctest.Playback) {
	t.Helper()
	bus := &i2ctest.Playback{Ops: ops, DontPanic: true}
	o := pn532.DefaultOpts
	o.SkipInit = true
	clk, _ := traceClock()
	o.Clock = clk
	dev, err := pn532.New(pn532.NewI2C(bus, 0), &o)
	if err != nil {
		t.Fatal(err)
	}
	return dev, bus
}

func traceClock() (*fakeClock, *time.Duration) {
	var slept time.Duration
	return &fakeClock{now: func() time.Time { return time.Unix(0, 0).Add(slept) }, advance: func(d time.Duration) { slept += d }}, &slept
}

// runDatasheetTrace replays datasheetTrace and returns the time it took
// on the fake clock.
func runDatasheetTrace(t *testing.T, tr pn532.Transport, clk *fakeClock) {
	t.Helper()
	o := pn532.DefaultOpts
	o.SkipInit = true
	o.Clock = clk
	dev, err := pn532.New(tr, &o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fw, err := dev.FirmwareVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fw.IC != 0x32 || fw.Ver != 1 || fw.Rev != 6 || fw.Support != 7 {
		t.Errorf("firmware %v", fw)
	}
	if err := dev.SAMConfig(ctx); err != nil {
		t.Fatal(err)
	}
	tg, err := dev.ListTarget(ctx, pn532.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Tg != 1 || tg.ATQA != [2]byte{0x00, 0x04} || tg.SAK != 0x08 || !bytes.Equal(tg.UID, []byte{0x92, 0x2E, 0x58, 0x32}) || tg.ATS != nil || tg.ISO14443_4() {
		t.Errorf("target %+v", tg)
	}
}

func TestI2CPlaybackDatasheet(t *testing.T) {
	var ops []i2ctest.IO
	for _, s := range datasheetTrace(t) {
		switch s.op {
		case 'w':
			ops = append(ops, i2ctest.IO{Addr: 0x24, W: s.b})
		case 's':
			st := byte(0x01)
			if s.busy {
				st = 0x00
			}
			ops = append(ops, i2ctest.IO{Addr: 0x24, R: []byte{st}})
		case 'r':
			ops = append(ops, i2ctest.IO{Addr: 0x24, R: append([]byte{0x01}, pad(s.b, s.n)...)})
		}
	}
	bus := &i2ctest.Playback{Ops: ops, DontPanic: true}
	clk, _ := traceClock()
	rec := &timedBus{Bus: bus, clk: clk}
	runDatasheetTrace(t, pn532.NewI2C(rec, 0), clk)
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
	// libnfc's pn532_i2c.c leaves PN532_BUS_FREE_TIME (5 ms) between
	// transactions; the polls must too, although PollInterval is 1 ms.
	for i := 1; i < len(rec.at); i++ {
		if gap := rec.at[i].Sub(rec.at[i-1]); gap < pn532.I2CBusFree {
			t.Errorf("transaction %d started %v after the previous one, want at least %v", i, gap, pn532.I2CBusFree)
		}
	}
}

// timedBus records the fake-clock time of every transaction.
type timedBus struct {
	i2c.Bus
	clk *fakeClock
	at  []time.Time
}

func (b *timedBus) Tx(addr uint16, w, r []byte) error {
	b.at = append(b.at, b.clk.Now())
	return b.Bus.Tx(addr, w, r)
}

func spiOps(t testing.TB, reverse bool) []conntest.IO {
	r := func(b []byte) []byte {
		if !reverse || b == nil {
			return b
		}
		out := make([]byte, len(b))
		for i, v := range b {
			out[i] = bits.Reverse8(v)
		}
		return out
	}
	var ops []conntest.IO
	for _, s := range datasheetTrace(t) {
		switch s.op {
		case 'w':
			ops = append(ops, conntest.IO{W: r(append([]byte{0x01}, s.b...))})
		case 's':
			st := byte(0x01)
			if s.busy {
				st = 0x00
			}
			ops = append(ops, conntest.IO{W: r([]byte{0x02, 0x00}), R: r([]byte{0x00, st})})
		case 'r':
			w := make([]byte, 1+s.n)
			w[0] = 0x03
			ops = append(ops, conntest.IO{W: r(w), R: r(append([]byte{0x00}, pad(s.b, s.n)...))})
		}
	}
	return ops
}

func TestSPIPlaybackDatasheet(t *testing.T) {
	for _, hw := range []bool{false, true} {
		name := "soft-lsb"
		if hw {
			name = "hw-lsb"
		}
		t.Run(name, func(t *testing.T) {
			port := &spitest.Playback{Playback: conntest.Playback{Ops: spiOps(t, !hw), DontPanic: true}}
			tr, err := pn532.NewSPI(port, &pn532.SPIOpts{HardwareLSBFirst: hw})
			if err != nil {
				t.Fatal(err)
			}
			clk, slept := traceClock()
			runDatasheetTrace(t, tr, clk)
			if *slept != 2*pn532.DefaultOpts.PollInterval {
				t.Errorf("polled with %v of sleep, want two intervals (two busy polls in the trace, no bus-free time on SPI)", *slept)
			}
			if err := port.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// scripted is a serial port: it records what the host writes and answers
// each write with the next scripted chunk.
type scripted struct {
	wrote   [][]byte
	answers [][]byte
	pending []byte
}

func (s *scripted) Write(b []byte) (int, error) {
	s.wrote = append(s.wrote, append([]byte(nil), b...))
	if len(s.answers) > 0 {
		s.pending = append(s.pending, s.answers[0]...)
		s.answers = s.answers[1:]
	}
	return len(b), nil
}

func (s *scripted) Read(b []byte) (int, error) {
	if len(s.pending) == 0 {
		return 0, io.EOF // like a port whose read timeout expired
	}
	// Hand out odd-sized pieces to exercise reassembly.
	n := copy(b[:min(len(b), 5)], s.pending)
	s.pending = s.pending[n:]
	return n, nil
}

func TestHSUScriptedDatasheet(t *testing.T) {
	port := &scripted{answers: [][]byte{
		testhex.Bytes(t, "00 00 FF 00 FF 00 00 00 FF 02 FE D5 15 16 00"),             // SAMConfiguration
		testhex.Bytes(t, "00 00 FF 00 FF 00 00 00 FF 06 FA D5 03 32 01 06 07 E8 00"), // GetFirmwareVersion
		testhex.Bytes(t, "00 00 FF 00 FF 00 00 00 FF 03 FD D5 41 2B BF 00"),          // InDataExchange: card gone
		// InListPassiveTarget: an ISO-DEP card (oneA), since a MIFARE
		// Classic takes no APDU.
		append(testhex.Bytes(t, "00 00 FF 00 FF 00"), testhex.Bytes(t, oneA)...),
	}}
	o := pn532.DefaultOpts
	o.SkipInit = true
	dev, err := pn532.New(pn532.NewHSU(port), &o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := dev.SAMConfig(ctx); err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte(nil), pn532.HSUWakeUp...), testhex.Bytes(t, "00 00 FF 03 FD D4 14 01 17 00")...)
	if !bytes.Equal(port.wrote[0], want) {
		t.Errorf("first write % X, want wake-up then SAMConfiguration", port.wrote[0])
	}
	if fw, err := dev.FirmwareVersion(ctx); err != nil || fw.IC != 0x32 {
		t.Fatalf("firmware %v %v", fw, err)
	}
	if !bytes.Equal(port.wrote[1], testhex.Bytes(t, "00 00 FF 02 FE D4 02 2A 00")) {
		t.Errorf("second write % X", port.wrote[1])
	}
	// InDataExchange needs a target: list one by hand-fed response order.
	port.answers = append(port.answers[1:], port.answers[0])
	if _, err := dev.ListTarget(ctx, pn532.TypeA); err != nil {
		t.Fatal(err)
	}
	_, err = dev.Transmit(ctx, []byte{0x00, 0xA4, 0x04, 0x00})
	var se *pn532.StatusError
	if !errors.As(err, &se) || !se.TargetGone() || pn532.IsTransient(err) {
		t.Fatalf("card gone: %v", err)
	}
	if !bytes.Equal(port.wrote[3], testhex.Bytes(t, "00 00 FF 07 F9 D4 40 01 00 A4 04 00 43 00")) {
		t.Errorf("InDataExchange frame % X", port.wrote[3])
	}
}

func FuzzParseListResponse(f *testing.F) {
	f.Add(byte(1), testhex.Bytes(f, "01 01 00 04 08 04 92 2E 58 32"))
	f.Add(byte(1), testhex.Bytes(f, "01 01 00 04 20 04 08 12 34 56 05 78 80 70 02"))
	f.Add(byte(1), testhex.Bytes(f, "01 01 00 44 00 07 04 11 22 33 44 55 66"))
	f.Add(byte(2), testhex.Bytes(f, "01 01 50 11 22 33 44 00 00 00 00 00 71 71 01 00"))
	f.Add(byte(1), testhex.Bytes(f, "00"))
	// Two targets (MaxTg 2): the parameters of twoA and twoB.
	f.Add(byte(1), testhex.Bytes(f, "02 01 00 04 20 04 08 1A 2B 3C 05 78 80 70 02 02 00 44 20 07 04 51 62 73 84 95 A6 05 78 80 70 02"))
	f.Add(byte(2), testhex.Bytes(f, "02 01 50 11 22 33 44 00 00 00 00 00 71 85 01 00 02 50 55 66 77 88 00 00 00 00 00 71 85 01 00"))
	f.Fuzz(func(t *testing.T, typ byte, b []byte) {
		ts, err := pn532.ParseListResponse(pn532.TargetType(typ), b)
		if err != nil {
			return
		}
		if len(ts) != int(b[0]) {
			t.Fatalf("%d targets for NbTg %d", len(ts), b[0])
		}
		for _, tg := range ts {
			switch tg.Type {
			case pn532.TypeA:
				if n := len(tg.UID); n != 4 && n != 7 && n != 10 {
					t.Fatalf("UID length %d", n)
				}
				if tg.ATS != nil && int(tg.ATS[0]) != len(tg.ATS) {
					t.Fatal("ATS length mismatch")
				}
			case pn532.TypeB:
				if len(tg.ATQB) != 12 || tg.ATQB[0] != 0x50 {
					t.Fatal("bad ATQB accepted")
				}
			default:
				t.Fatalf("type %v", tg.Type)
			}
		}
	})
}
