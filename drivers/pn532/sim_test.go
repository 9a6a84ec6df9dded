package pn532_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"posd/drivers/pn532"
	"posd/drivers/pn532/pn532sim"
	"posd/internal/testhex"
)

// PPSE FCI as published in the moov-io/bertlv tests (Mastercard, AID
// A0000000041010).
const ppseFCI = "6F2F840E325041592E5359532E4444463031A51DBF0C1A61184F07A0000000041010500A4D617374657263617264870101"

// selectPPSE is SELECT by name 2PAY.SYS.DDF01 (EMV book 1 §12.3.2).
var selectPPSE = append(append([]byte{0x00, 0xA4, 0x04, 0x00, 0x0E}, "2PAY.SYS.DDF01"...), 0x00)

// ppseCard answers SELECT PPSE with the FCI and a proprietary long
// command (CLA 80 INS EE, Lc 244, Le 00) with 256 bytes derived from the
// command data, so a test can check every byte crossed both ways.
type ppseCard struct {
	t    testing.TB
	fci  []byte
	seen [][]byte
}

func (c *ppseCard) Transmit(apdu []byte) ([]byte, error) {
	c.seen = append(c.seen, append([]byte(nil), apdu...))
	switch {
	case bytes.Equal(apdu, selectPPSE):
		return append(append([]byte(nil), c.fci...), 0x90, 0x00), nil
	case len(apdu) > 5 && apdu[0] == 0x80 && apdu[1] == 0xEE:
		return append(longAnswer(apdu[5:5+int(apdu[4])]), 0x90, 0x00), nil
	}
	return []byte{0x6D, 0x00}, nil
}

func longAnswer(data []byte) []byte {
	out := make([]byte, 256)
	for i := range out {
		out[i] = data[i%len(data)] ^ byte(i)
	}
	return out
}

func longAPDU() []byte {
	apdu := []byte{0x80, 0xEE, 0x00, 0x00, 244}
	for i := 0; i < 244; i++ {
		apdu = append(apdu, byte(i*13+7))
	}
	return append(apdu, 0x00) // 250 bytes
}

var idA = pn532sim.Identity{
	Type: pn532.TypeA,
	UID:  []byte{0x08, 0x12, 0x34, 0x56},
	ATQA: [2]byte{0x00, 0x04},
	SAK:  0x20,
	ATS:  []byte{0x05, 0x78, 0x80, 0x70, 0x02},
}

var idB = pn532sim.Identity{
	Type:      pn532.TypeB,
	ATQB:      []byte{0x50, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x71, 0x71},
	AttribRes: []byte{0x00},
}

type transportKind string

const (
	kI2C     transportKind = "i2c"
	kSPISoft transportKind = "spi-soft-lsb"
	kSPIHW   transportKind = "spi-hw-lsb"
	kHSU     transportKind = "hsu-pty"
)

var allKinds = []transportKind{kI2C, kSPISoft, kSPIHW, kHSU}

func testOpts() *pn532.Opts {
	o := pn532.DefaultOpts
	o.ACKTimeout = 2 * time.Second // generous: the race detector on a loaded host
	o.ResponseTimeout = 5 * time.Second
	return &o
}

// rig builds a simulator and a driver over the chosen transport.
func rig(t testing.TB, k transportKind, so *pn532sim.Opts, do *pn532.Opts) (*pn532.Dev, *pn532sim.Sim) {
	t.Helper()
	sim := pn532sim.New(so)
	t.Cleanup(func() { _ = sim.Close() })
	if do == nil {
		do = testOpts()
	}
	var tr pn532.Transport
	switch k {
	case kI2C:
		tr = pn532.NewI2C(sim, 0)
	case kSPISoft, kSPIHW:
		s, err := pn532.NewSPI(sim, &pn532.SPIOpts{HardwareLSBFirst: k == kSPIHW})
		if err != nil {
			t.Fatal(err)
		}
		tr = s
	case kHSU:
		path, err := sim.ServePTY(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		tr = pn532.NewHSU(f)
	}
	dev, err := pn532.New(tr, do)
	if err != nil {
		t.Fatalf("New over %s: %v", k, err)
	}
	t.Cleanup(func() { _ = dev.Halt() })
	return dev, sim
}

func TestCommandsOverEachTransport(t *testing.T) {
	for _, k := range allKinds {
		t.Run(string(k), func(t *testing.T) {
			ctx := context.Background()
			dev, sim := rig(t, k, nil, nil)
			fw, err := dev.FirmwareVersion(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if fw != (pn532.FirmwareVersion{IC: 0x32, Ver: 1, Rev: 6, Support: 7}) {
				t.Errorf("firmware %v", fw)
			}
			if err := dev.SAMConfig(ctx); err != nil {
				t.Fatal(err)
			}
			if err := dev.SetField(ctx, true); err != nil || !sim.Field() {
				t.Fatalf("field on: %v, sim field %v", err, sim.Field())
			}
			if err := dev.SetTimings(ctx, 0x0B, 0x0A); err != nil {
				t.Fatal(err)
			}
			if err := dev.SetRetries(ctx, pn532.Retries{ATR: 0xFF, PSL: 1, PassiveActivation: 1}); err != nil {
				t.Fatal(err)
			}
			// No card yet.
			if _, err := dev.ListTarget(ctx, pn532.TypeA); !errors.Is(err, pn532.ErrNoTarget) {
				t.Fatalf("empty field: %v", err)
			}
			if _, err := dev.Transmit(ctx, selectPPSE); !errors.Is(err, pn532.ErrNoTarget) {
				t.Fatalf("transmit without target: %v", err)
			}
			card := &ppseCard{t: t, fci: testhex.Bytes(t, ppseFCI)}
			sim.Present(card, idA)
			tg, err := dev.ListTarget(ctx, pn532.TypeA)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tg.UID, idA.UID) || tg.ATQA != idA.ATQA || tg.SAK != idA.SAK || !bytes.Equal(tg.ATS, idA.ATS) || !tg.ISO14443_4() {
				t.Errorf("target %+v", tg)
			}
			resp, err := dev.Transmit(ctx, selectPPSE)
			if err != nil {
				t.Fatal(err)
			}
			if want := append(testhex.Bytes(t, ppseFCI), 0x90, 0x00); !bytes.Equal(resp, want) {
				t.Errorf("SELECT PPSE answer % X", resp)
			}
			if ok, err := dev.CardPresent(ctx); err != nil || !ok {
				t.Fatalf("present: %v %v", ok, err)
			}
			sim.Remove()
			if ok, err := dev.CardPresent(ctx); err != nil || ok {
				t.Fatalf("after removal: %v %v", ok, err)
			}
			sim.Present(card, idA)
			if _, err := dev.ListTarget(ctx, pn532.TypeA); err != nil {
				t.Fatal(err)
			}
			if err := dev.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := dev.Transmit(ctx, selectPPSE); !errors.Is(err, pn532.ErrNoTarget) {
				t.Fatalf("after release: %v", err)
			}
			// Type B card.
			sim.Present(card, idB)
			tb, err := dev.ListTarget(ctx, pn532.TypeB)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tb.ATQB, idB.ATQB) || !bytes.Equal(tb.AttribRes, idB.AttribRes) || !tb.ISO14443_4() {
				t.Errorf("type B target %+v", tb)
			}
			if resp, err := dev.Transmit(ctx, selectPPSE); err != nil || !bytes.HasSuffix(resp, []byte{0x90, 0x00}) {
				t.Fatalf("type B transmit: % X %v", resp, err)
			}
			if err := dev.SetField(ctx, false); err != nil || sim.Field() {
				t.Fatalf("field off: %v", err)
			}
		})
	}
}

// A 250-byte command APDU and a 256-byte response (258 with SW1 SW2) over
// every transport: once with defaults (the response needs an extended
// frame) and once with small chunks so MI chaining runs both ways.
func TestLongAPDUChainingAndExtendedFrames(t *testing.T) {
	for _, k := range allKinds {
		for _, small := range []bool{false, true} {
			name := string(k) + "/extended"
			so := &pn532sim.Opts{}
			do := testOpts()
			if small {
				name = string(k) + "/chained"
				so.MaxDataIn = 60
				do.MaxChunk = 64
			}
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				dev, sim := rig(t, k, so, do)
				card := &ppseCard{t: t, fci: testhex.Bytes(t, ppseFCI)}
				sim.Present(card, idA)
				if _, err := dev.ListTarget(ctx, pn532.TypeA); err != nil {
					t.Fatal(err)
				}
				if r, err := dev.Transmit(ctx, selectPPSE); err != nil || len(r) != 51 {
					t.Fatalf("SELECT PPSE: %d bytes, %v", len(r), err)
				}
				before := sim.Stats().Commands
				apdu := longAPDU()
				resp, err := dev.Transmit(ctx, apdu)
				if err != nil {
					t.Fatal(err)
				}
				want := append(longAnswer(apdu[5:249]), 0x90, 0x00)
				if !bytes.Equal(resp, want) {
					t.Fatalf("response of %d bytes differs", len(resp))
				}
				if got := card.seen[len(card.seen)-1]; !bytes.Equal(got, apdu) {
					t.Fatalf("card saw %d bytes, not the APDU", len(got))
				}
				frames := sim.Stats().Commands - before
				if small && frames < 4+5-1 {
					t.Errorf("chained exchange took only %d frames", frames)
				}
				if !small && frames != 1 {
					t.Errorf("unchained exchange took %d frames", frames)
				}
			})
		}
	}
}

func TestRecoveryFromFaults(t *testing.T) {
	for _, k := range allKinds {
		t.Run(string(k), func(t *testing.T) {
			ctx := context.Background()
			do := testOpts()
			do.ACKTimeout = 100 * time.Millisecond
			if k == kHSU {
				// The pty and the simulator goroutine answer in real
				// time: a loaded host may miss a short ACK timeout and
				// resend, which would upset the counts below. Use a
				// longer timeout and fewer retries instead.
				do.ACKTimeout = time.Second
				do.Retries = 1
			}
			dev, sim := rig(t, k, nil, do)
			s0 := sim.Stats()
			sim.Inject(pn532sim.CorruptResponse)
			if _, err := dev.FirmwareVersion(ctx); err != nil {
				t.Fatal(err)
			}
			if got := sim.Stats().NACKs - s0.NACKs; got != 1 {
				t.Errorf("NACKs sent %d, want 1", got)
			}
			sim.Inject(pn532sim.SyntaxError)
			if _, err := dev.FirmwareVersion(ctx); err != nil {
				t.Fatal(err)
			}
			s1 := sim.Stats()
			sim.Inject(pn532sim.DropCommand)
			if _, err := dev.FirmwareVersion(ctx); err != nil {
				t.Fatal(err)
			}
			if s := sim.Stats(); s.Dropped-s1.Dropped != 1 || s.Commands-s1.Commands != 1 {
				t.Errorf("dropped %d, acknowledged %d", s.Dropped-s1.Dropped, s.Commands-s1.Commands)
			}
			// More faults than retries: a transient, typed error.
			drops := make([]pn532sim.Fault, do.Retries+1)
			for i := range drops {
				drops[i] = pn532sim.DropCommand
			}
			sim.Inject(drops...)
			_, err := dev.FirmwareVersion(ctx)
			if !errors.Is(err, pn532.ErrTimeout) || !pn532.IsTransient(err) {
				t.Fatalf("err = %v, want transient ErrTimeout", err)
			}
			if _, err := dev.FirmwareVersion(ctx); err != nil {
				t.Fatalf("after the faults: %v", err)
			}
		})
	}
}

func TestCardErrorsAreTyped(t *testing.T) {
	ctx := context.Background()
	dev, sim := rig(t, kI2C, nil, nil)
	sim.Present(mute{}, idA)
	if _, err := dev.ListTarget(ctx, pn532.TypeA); err != nil {
		t.Fatal(err)
	}
	_, err := dev.Transmit(ctx, selectPPSE)
	var se *pn532.StatusError
	if !errors.As(err, &se) || se.Code != 0x01 || !pn532.IsTransient(err) {
		t.Fatalf("mute card: %v", err)
	}
	if strings.Contains(err.Error(), "A4") {
		t.Errorf("error string leaks APDU bytes: %v", err)
	}
}

type mute struct{}

func (mute) Transmit([]byte) ([]byte, error) { return nil, errors.New("mute") }

func TestContextAndHalt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dev, _ := rig(t, kI2C, nil, nil)
	if _, err := dev.FirmwareVersion(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
	// Halt aborts a command stuck waiting for its ACK.
	do := testOpts()
	do.ACKTimeout = time.Hour
	dev, sim := rig(t, kI2C, nil, do)
	sim.Inject(pn532sim.DropCommand)
	done := make(chan error, 1)
	go func() {
		_, err := dev.FirmwareVersion(context.Background())
		done <- err
	}()
	for sim.Stats().Dropped == 0 {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	if err := dev.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("halted command: %v", err)
	}
	if sim.Field() {
		t.Error("field still on after Halt")
	}
	if _, err := dev.FirmwareVersion(context.Background()); err != nil {
		t.Fatalf("device unusable after Halt: %v", err)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	for _, k := range allKinds {
		sim := pn532sim.New(nil)
		var tr pn532.Transport
		var f *os.File
		switch k {
		case kI2C:
			tr = pn532.NewI2C(sim, 0)
		case kSPISoft, kSPIHW:
			s, err := pn532.NewSPI(sim, &pn532.SPIOpts{HardwareLSBFirst: k == kSPIHW})
			if err != nil {
				t.Fatal(err)
			}
			tr = s
		case kHSU:
			path, err := sim.ServePTY(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if f, err = os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0); err != nil {
				t.Fatal(err)
			}
			tr = pn532.NewHSU(f)
		}
		dev, err := pn532.New(tr, testOpts())
		if err != nil {
			t.Fatal(err)
		}
		sim.Present(&ppseCard{fci: testhex.Bytes(t, ppseFCI)}, idA)
		if _, err := dev.ListTarget(context.Background(), pn532.TypeA); err != nil {
			t.Fatal(err)
		}
		if _, err := dev.Transmit(context.Background(), longAPDU()); err != nil {
			t.Fatal(err)
		}
		if err := dev.Halt(); err != nil {
			t.Fatal(err)
		}
		_ = sim.Close()
		if f != nil {
			_ = f.Close()
		}
	}
	n := 0
	for i := 0; i < 200; i++ {
		if n = runtime.NumGoroutine(); n <= base {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	t.Fatalf("%d goroutines after Halt and Close, %d before\n%s", n, base, buf[:runtime.Stack(buf, true)])
}

// The link-time model: with it on, a long exchange takes modelled air
// time on the simulator's clock; the driver's result is unchanged.
func TestLinkTimeModel(t *testing.T) {
	var slept time.Duration
	now := time.Unix(0, 0)
	clk := func() time.Time { return now.Add(slept) }
	so := &pn532sim.Opts{LinkTime: true, Now: clk}
	do := testOpts()
	do.Clock = &fakeClock{now: clk, advance: func(d time.Duration) { slept += d }}
	dev, sim := rig(t, kI2C, so, do)
	sim.Present(&ppseCard{fci: testhex.Bytes(t, ppseFCI)}, idA)
	if _, err := dev.ListTarget(context.Background(), pn532.TypeA); err != nil {
		t.Fatal(err)
	}
	a0 := sim.Stats().AirTime
	if _, err := dev.Transmit(context.Background(), longAPDU()); err != nil {
		t.Fatal(err)
	}
	air := sim.Stats().AirTime - a0
	// 508 bytes at 9 bits per character and 106 kbit/s are 43 ms at least.
	if min := 508 * 9 * time.Second / 105938; air < min {
		t.Errorf("air time %v below the %v the bytes alone need", air, min)
	}
	if slept < air {
		t.Errorf("driver waited %v, less than the air time %v", slept, air)
	}
}

// fakeClock is a clock.Clock whose timers fire at once, moving time on by
// their duration: waits cost nothing and are counted exactly.
type fakeClock struct {
	now     func() time.Time
	advance func(time.Duration)
}

func (c *fakeClock) Now() time.Time { return c.now() }
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.advance(d)
	ch := make(chan time.Time, 1)
	ch <- c.now()
	return ch
}
