package pn532_test

import (
	"bytes"
	"context"
	"io"
	"math/bits"
	"testing"
	"time"

	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/spi/spitest"

	"posd/drivers/pn532"
	"posd/drivers/pn532/pn532sim"
	"posd/internal/testhex"
)

// sleepyChip is an HSU line scripted from published exchanges. Asleep, the
// chip ignores everything up to the 0x55 of a wake-up preamble
// (UM0701-02 §6.2.3); awake, it answers the frames it knows. After
// answering a command listed in sleepAfter it falls asleep again, as a
// chip does after a PowerDown or a brown-out into LowVbat.
type sleepyChip struct {
	asleep     bool
	answers    map[string][]byte // command frame (hex) → ACK and response
	sleepAfter map[string]bool
	wrote      [][]byte
	pending    []byte
}

func (c *sleepyChip) Write(b []byte) (int, error) {
	c.wrote = append(c.wrote, append([]byte(nil), b...))
	rest := b
	if c.asleep {
		i := bytes.IndexByte(rest, 0x55)
		if i < 0 {
			return len(b), nil
		}
		c.asleep = false
		rest = rest[i:]
	}
	for cmd, ans := range c.answers {
		if bytes.Contains(rest, []byte(cmd)) {
			c.pending = append(c.pending, ans...)
			if c.sleepAfter[cmd] {
				c.asleep = true
			}
		}
	}
	return len(b), nil
}

func (c *sleepyChip) Read(b []byte) (int, error) {
	if len(c.pending) == 0 {
		return 0, io.EOF // like a port whose read timeout expired
	}
	n := copy(b, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// TestHSUResendWakesTheChip: the chip answers SAMConfiguration, then
// sleeps. GetFirmwareVersion goes unacknowledged; its resend must carry
// the wake-up preamble again, or the chip never hears it.
//
// Frames: the wake-up and SAMConfiguration exchange as the PN532 HAT
// vendor publishes it (Waveshare PN532 NFC HAT wiki, HSU test: host
// "55 55 00 ... 00 00 00 FF 03 FD D4 14 01 17 00", module
// "00 00 FF 00 FF 00 00 00 FF 02 FE D5 15 16 00"); GetFirmwareVersion
// "00 00 FF 02 FE D4 02 2A 00" and its answer "... D5 03 32 01 06 07 E8 00"
// from UM0701-02 §7.2.2 (PN532 v1.6).
func TestHSUResendWakesTheChip(t *testing.T) {
	sam := string(testhex.Bytes(t, "00 00 FF 03 FD D4 14 01 17 00"))
	fw := string(testhex.Bytes(t, "00 00 FF 02 FE D4 02 2A 00"))
	chip := &sleepyChip{
		asleep: true,
		answers: map[string][]byte{
			sam: testhex.Bytes(t, "00 00 FF 00 FF 00 00 00 FF 02 FE D5 15 16 00"),
			fw:  testhex.Bytes(t, "00 00 FF 00 FF 00 00 00 FF 06 FA D5 03 32 01 06 07 E8 00"),
		},
		sleepAfter: map[string]bool{sam: true},
	}
	o := pn532.DefaultOpts
	o.SkipInit = true
	o.ACKTimeout = 20 * time.Millisecond
	dev, err := pn532.New(pn532.NewHSU(chip), &o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := dev.SAMConfig(ctx); err != nil {
		t.Fatalf("SAMConfiguration: %v", err)
	}
	v, err := dev.FirmwareVersion(ctx)
	if err != nil {
		t.Fatalf("GetFirmwareVersion after the chip slept: %v (writes: % X)", err, chip.wrote)
	}
	if v.IC != 0x32 || v.Ver != 1 || v.Rev != 6 {
		t.Errorf("firmware %v", v)
	}
	// The first try went out bare; the resend that woke the chip carried
	// the preamble.
	var bare, woken int
	for _, w := range chip.wrote {
		if !bytes.HasSuffix(w, []byte(fw)) {
			continue
		}
		if bytes.HasPrefix(w, pn532.HSUWakeUp) {
			woken++
		} else {
			bare++
		}
	}
	if bare != 1 || woken != 1 {
		t.Errorf("GetFirmwareVersion sent %d times bare and %d times with the wake-up preamble, want 1 and 1", bare, woken)
	}
}

// spiInitTrace is Init over SPI after power-up, by a controller that owns
// CS and shifts MSB first (bytes reversed on the wire). The chip answers
// in the form libnfc's pn532_spi.c logs ("0x01 0x00 0xff 0x02 0xfe 0xd5
// 0x15 0x16 0x00": 01 during the operation byte, then the frame from the
// start code 00 FF); the SAMConfiguration answer is that logged one, the
// other frames are built by UM0701-02 §6.2.1 from the command tables
// (SetParameters §7.2.9, RFConfiguration §7.3.1). The first transfer is
// the wake-up: a status read long enough to hold CS low SPIWakeTime at
// 1 MHz, which a sleeping chip answers with 0xFF (MISO high, libnfc
// pn532_spi_wakeup).
func spiInitTrace(t *testing.T) []conntest.IO {
	r := func(b []byte) []byte {
		out := make([]byte, len(b))
		for i, v := range b {
			out[i] = bits.Reverse8(v)
		}
		return out
	}
	ff := func(n int) []byte { return bytes.Repeat([]byte{0xFF}, n) }
	wake := make([]byte, 1+250) // 2 ms at 1 MHz is 2000 bits
	wake[0] = 0x02
	ops := []conntest.IO{{W: r(wake), R: ff(len(wake))}}
	for _, x := range []struct{ cmd, resp string }{
		{"00 00 FF 03 FD D4 14 01 17 00", "00 FF 02 FE D5 15 16 00"},
		{"00 00 FF 03 FD D4 12 14 06 00", "00 FF 02 FE D5 13 18 00"},
		{"00 00 FF 06 FA D4 32 05 FF 01 02 F3 00", "00 FF 02 FE D5 33 F8 00"},
	} {
		ackRead := make([]byte, 1+6)
		ackRead[0] = 0x03
		respRead := make([]byte, 1+16)
		respRead[0] = 0x03
		ops = append(ops,
			conntest.IO{W: r(append([]byte{0x01}, testhex.Bytes(t, x.cmd)...))},
			conntest.IO{W: r([]byte{0x02, 0x00}), R: r([]byte{0x00, 0x01})},
			conntest.IO{W: r(ackRead), R: r(append([]byte{0x01}, pad(testhex.Bytes(t, "00 FF 00 FF 00"), 6)...))},
			conntest.IO{W: r([]byte{0x02, 0x00}), R: r([]byte{0x00, 0x01})},
			conntest.IO{W: r(respRead), R: r(append([]byte{0x01}, pad(testhex.Bytes(t, x.resp), 16)...))},
		)
	}
	return ops
}

func TestSPIWakeUpPlayback(t *testing.T) {
	port := &spitest.Playback{Playback: conntest.Playback{Ops: spiInitTrace(t), DontPanic: true}}
	tr, err := pn532.NewSPI(port, nil)
	if err != nil {
		t.Fatal(err)
	}
	clk, _ := traceClock()
	o := pn532.DefaultOpts
	o.Clock = clk
	if _, err := pn532.New(tr, &o); err != nil {
		t.Fatal(err)
	}
	if err := port.Close(); err != nil {
		t.Fatal(err)
	}
}

// Over SPI a sleeping chip hears nothing until NSS has been low for
// SPIWakeTime. Init must wake it first, so no frame is lost and nothing is
// resent: by a long status read when the controller owns CS, by holding
// the CS pin low when the board gives one.
func TestSPIWakeUpSim(t *testing.T) {
	for _, withCS := range []bool{false, true} {
		name := "controller-cs"
		if withCS {
			name = "gpio-cs"
		}
		t.Run(name, func(t *testing.T) {
			r := newStepRig(pn532sim.Opts{})
			so := &pn532.SPIOpts{}
			if withCS {
				so.CS = r.sim.CSPin()
			}
			tr, err := pn532.NewSPI(r.sim, so)
			if err != nil {
				t.Fatal(err)
			}
			dev, err := pn532.New(tr, r.opts())
			if err != nil {
				t.Fatal(err)
			}
			st := r.sim.Stats()
			wantLost := 1 // the wake-up read itself
			if withCS {
				wantLost = 0
			}
			if st.Lost != wantLost || st.Wakes != 1 || st.Commands != 3 {
				t.Errorf("stats %+v: want %d lost transfer, 1 wake-up, 3 commands", st, wantLost)
			}
			if _, err := dev.FirmwareVersion(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Asleep again (a PowerDown, a brown-out): the unacknowledged
			// command is resent after a new wake-up.
			r.sim.Inject(pn532sim.Sleep)
			if _, err := dev.FirmwareVersion(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := r.sim.Stats().Wakes; n != 2 {
				t.Errorf("wake-ups %d, want 2", n)
			}
		})
	}
}
