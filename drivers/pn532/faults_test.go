package pn532_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"

	"posd/conn/apdu"
	"posd/drivers/pn532"
	"posd/drivers/pn532/pn532sim"
	"posd/internal/testhex"
)

// stepRig is a simulator and a driver sharing one stepping clock: time
// moves only when the driver waits, so every outcome is deterministic.
type stepRig struct {
	sim   *pn532sim.Sim
	clk   *fakeClock
	slept *time.Duration
}

func newStepRig(so pn532sim.Opts) *stepRig {
	clk, slept := traceClock()
	so.Now = clk.Now
	so.Sleep = func(time.Duration) {}
	return &stepRig{sim: pn532sim.New(&so), clk: clk, slept: slept}
}

func (r *stepRig) opts() *pn532.Opts {
	o := pn532.DefaultOpts
	o.Clock = r.clk
	return &o
}

// The PN532 needs a bus-free time between STOP and START (libnfc commit
// 8f8f780 reads 1.3 ms tBUF from the data sheet; pn532_i2c.c waits 5 ms).
// A chip that NAKs earlier starts must still work, and does only because
// the transport waits: with no bus-free time the 1 ms polling of the old
// transport hits the NAKs until it gives up.
func TestI2CBusFreeTime(t *testing.T) {
	r := newStepRig(pn532sim.Opts{I2CBusFree: 1300 * time.Microsecond})
	dev, err := pn532.New(pn532.NewI2C(r.sim, 0), r.opts())
	if err != nil {
		t.Fatalf("New with the bus-free time: %v", err)
	}
	if _, err := dev.FirmwareVersion(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := r.sim.Stats().AddrNAKs; n != 0 {
		t.Errorf("%d transfers started inside the bus-free time", n)
	}

	r = newStepRig(pn532sim.Opts{I2CBusFree: 1300 * time.Microsecond})
	tr := pn532.NewI2C(r.sim, 0)
	tr.BusFree = 0
	_, err = pn532.New(tr, r.opts())
	if !errors.Is(err, pn532.ErrBus) || pn532.IsTransient(err) {
		t.Fatalf("without bus-free time: %v, want a non-transient ErrBus", err)
	}
	if r.sim.Stats().AddrNAKs == 0 {
		t.Error("the simulator NAKed nothing")
	}
}

// The chip wakes from LowVbat on its address and stretches SCL; a
// controller with the Raspberry Pi's clock-stretching bug garbles that
// transfer. The transport tries it again and the chip, awake by then,
// answers. With H_REQ wired the chip is woken without any stretch (the
// HAT vendor's pn532/i2c.py).
func TestI2CWakeStretchOnABrokenController(t *testing.T) {
	r := newStepRig(pn532sim.Opts{BrokenStretch: true})
	dev, err := pn532.New(pn532.NewI2C(r.sim, 0), r.opts())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if st := r.sim.Stats(); st.Stretches != 1 || st.Lost != 1 || st.Wakes != 1 {
		t.Errorf("stats %+v, want one garbled stretched wake-up", st)
	}
	if _, err := dev.FirmwareVersion(context.Background()); err != nil {
		t.Fatal(err)
	}

	r = newStepRig(pn532sim.Opts{BrokenStretch: true})
	o := r.opts()
	o.Req = r.sim.ReqPin()
	if _, err := pn532.New(pn532.NewI2C(r.sim, 0), o); err != nil {
		t.Fatalf("New with H_REQ: %v", err)
	}
	if st := r.sim.Stats(); st.Stretches != 0 || st.Wakes != 1 || st.Lost != 0 {
		t.Errorf("with H_REQ: stats %+v, want one wake-up and no stretch", st)
	}
}

// wedgedBus fails every transfer while wedged, as a chip whose I2C state
// machine hangs until RSTPDN is pulsed; resetPin unwedges it on the low
// level and passes the level on to the simulator.
type wedgedBus struct {
	i2c.Bus
	wedged bool
	tries  int
}

func (b *wedgedBus) Tx(addr uint16, w, r []byte) error {
	if b.wedged {
		b.tries++
		return errors.New("remote I/O error")
	}
	return b.Bus.Tx(addr, w, r)
}

type resetPin struct {
	*pn532sim.Pin
	bus *wedgedBus
}

func (p resetPin) Out(l gpio.Level) error {
	if l == gpio.Low {
		p.bus.wedged = false
	}
	return p.Pin.Out(l)
}

func TestResetRecoversFromBusErrors(t *testing.T) {
	r := newStepRig(pn532sim.Opts{})
	bus := &wedgedBus{Bus: r.sim}
	o := r.opts()
	o.Reset = resetPin{Pin: r.sim.ResetPin(), bus: bus}
	dev, err := pn532.New(pn532.NewI2C(bus, 0), o)
	if err != nil {
		t.Fatal(err)
	}
	if n := r.sim.Stats().Resets; n != 1 {
		t.Fatalf("Init reset the chip %d times, want 1", n)
	}
	ctx := context.Background()

	// No card: the command is repeated after the reset.
	bus.wedged = true
	if _, err := dev.FirmwareVersion(ctx); err != nil {
		t.Fatalf("after a wedge: %v", err)
	}
	if n := r.sim.Stats().Resets; n != 2 {
		t.Errorf("resets %d, want 2", n)
	}
	if bus.tries == 0 {
		t.Error("the wedge was never hit")
	}
	if st := r.sim.Stats(); st.Parameters != pn532.ParamAutoATRRes|pn532.ParamAutoRATS {
		t.Errorf("SetParameters after the reset: %#02x", st.Parameters)
	}

	// A listed card: its session died with the reset; the exchange is not
	// repeated and the error says so.
	r.sim.Present(&ppseCard{fci: testhex.Bytes(t, ppseFCI)}, idA)
	if _, err := dev.ListTarget(ctx, pn532.TypeA); err != nil {
		t.Fatal(err)
	}
	apdus := r.sim.Stats().APDUs
	bus.wedged = true
	_, err = dev.Transmit(ctx, selectPPSE)
	if !errors.Is(err, pn532.ErrReset) || !errors.Is(err, pn532.ErrBus) || !pn532.IsTransient(err) {
		t.Fatalf("exchange across a reset: %v, want transient ErrReset", err)
	}
	if r.sim.Stats().APDUs != apdus {
		t.Error("the APDU reached the card after the reset")
	}
	if _, err := dev.ListTarget(ctx, pn532.TypeA); err != nil {
		t.Fatalf("list again after the reset: %v", err)
	}
	if _, err := dev.Transmit(ctx, selectPPSE); err != nil {
		t.Fatal(err)
	}

	// Without RSTPDN a wedged bus stays a bus error.
	r = newStepRig(pn532sim.Opts{})
	bus = &wedgedBus{Bus: r.sim}
	dev, err = pn532.New(pn532.NewI2C(bus, 0), r.opts())
	if err != nil {
		t.Fatal(err)
	}
	bus.wedged = true
	if _, err := dev.FirmwareVersion(ctx); !errors.Is(err, pn532.ErrBus) || errors.Is(err, pn532.ErrReset) {
		t.Fatalf("without RSTPDN: %v", err)
	}
}

// Init sends SetParameters with automatic RATS and ATR_RES, as libnfc's
// pn53x_init does, because the flags survive the host: a previous host
// (nfcpy's pn532 driver clears them and does RATS itself) leaves the chip
// listing ISO-DEP cards without ATS.
func TestInitSetsParameters(t *testing.T) {
	r := newStepRig(pn532sim.Opts{})
	raw := pn532.NewI2C(r.sim, 0)
	o := r.opts()
	o.SkipInit = true
	prev, err := pn532.New(raw, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := prev.SetParameters(ctx, 0x00); err != nil {
		t.Fatal(err)
	}
	r.sim.Present(&ppseCard{fci: testhex.Bytes(t, ppseFCI)}, idA)
	tg, err := prev.ListTarget(ctx, pn532.TypeA)
	if err != nil || tg.ATS != nil {
		t.Fatalf("with automatic RATS off: %+v %v, want no ATS", tg, err)
	}
	dev, err := pn532.New(raw, r.opts())
	if err != nil {
		t.Fatal(err)
	}
	if p := r.sim.Stats().Parameters; p != 0x14 {
		t.Errorf("Init sent SetParameters %#02x, want 0x14", p)
	}
	tg, err = dev.ListTarget(ctx, pn532.TypeA)
	if err != nil || !bytes.Equal(tg.ATS, idA.ATS) {
		t.Fatalf("after Init: %+v %v, want the ATS", tg, err)
	}
}

// A SAK 0x28 card that does not answer RATS is listed without ATS and
// still used.
func TestSAK28CardWithoutRATS(t *testing.T) {
	for _, k := range allKinds {
		t.Run(string(k), func(t *testing.T) {
			dev, sim := rig(t, k, nil, nil)
			id := idA
			id.SAK, id.NoRATS = 0x28, true
			sim.Present(&ppseCard{fci: testhex.Bytes(t, ppseFCI)}, id)
			tg, err := dev.ListTarget(context.Background(), pn532.TypeA)
			if err != nil {
				t.Fatal(err)
			}
			if tg.ATS != nil || !tg.ISO14443_4() {
				t.Fatalf("target %+v", tg)
			}
			if _, err := dev.Transmit(context.Background(), selectPPSE); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Diagnose 0x06 "failed completely with a JCOP31 on a PN532" (libnfc
// chips/pn53x.c, pn53x_ISO14443A_4_is_present); the R(NAK) presence check
// must see such a card, and see it go.
func TestCardPresentWithJCOPClassCards(t *testing.T) {
	for _, k := range allKinds {
		t.Run(string(k), func(t *testing.T) {
			ctx := context.Background()
			dev, sim := rig(t, k, nil, nil)
			card := &ppseCard{fci: testhex.Bytes(t, ppseFCI)}
			for _, id := range []pn532sim.Identity{idA, idB} {
				id.DiagnoseFails = true
				sim.Present(card, id)
				if _, err := dev.ListTarget(ctx, id.Type); err != nil {
					t.Fatal(err)
				}
				if _, err := dev.Transmit(ctx, selectPPSE); err != nil {
					t.Fatal(err)
				}
				apdus := sim.Stats().APDUs
				if ok, err := dev.CardPresent(ctx); err != nil || !ok {
					t.Fatalf("%v present: %v %v", id.Type, ok, err)
				}
				if sim.Stats().APDUs != apdus {
					t.Error("the presence check reached the card as an APDU")
				}
				// The session is intact: the next APDU still goes through.
				if _, err := dev.Transmit(ctx, selectPPSE); err != nil {
					t.Fatalf("after the presence check: %v", err)
				}
				sim.Remove()
				if ok, err := dev.CardPresent(ctx); err != nil || ok {
					t.Fatalf("%v removed: %v %v", id.Type, ok, err)
				}
				if _, err := dev.Transmit(ctx, selectPPSE); !errors.Is(err, pn532.ErrNoTarget) {
					t.Fatalf("transmit after removal: %v", err)
				}
			}
		})
	}
}

// Card gone mid-exchange satisfies the apdu contract.
func TestCardRemovedIsTheContractError(t *testing.T) {
	err := error(&pn532.StatusError{Cmd: pn532.CmdInDataExchange, Code: 0x2B})
	if !errors.Is(err, apdu.ErrCardRemoved) {
		t.Error("status 0x2B is not apdu.ErrCardRemoved")
	}
	if errors.Is(&pn532.StatusError{Cmd: pn532.CmdInDataExchange, Code: 0x01}, apdu.ErrCardRemoved) {
		t.Error("a timeout is taken for a removal")
	}
}

// The faults the simulator injects: garbage before a response, a lost ACK,
// a NAK, and the chip falling asleep between commands. The driver gets
// through each over every transport.
func TestSimulatorFaults(t *testing.T) {
	for _, k := range allKinds {
		t.Run(string(k), func(t *testing.T) {
			ctx := context.Background()
			do := testOpts()
			if k == kHSU {
				do.ACKTimeout = time.Second
				do.Retries = 2
			} else {
				do.ACKTimeout = 100 * time.Millisecond
			}
			dev, sim := rig(t, k, nil, do)
			sim.Present(&ppseCard{fci: testhex.Bytes(t, ppseFCI)}, idA)
			if _, err := dev.ListTarget(ctx, pn532.TypeA); err != nil {
				t.Fatal(err)
			}
			faults := []pn532sim.Fault{pn532sim.Garbage, pn532sim.LoseACK, pn532sim.Sleep}
			if k == kI2C {
				faults = append(faults, pn532sim.NAK)
			}
			for _, f := range faults {
				s0 := sim.Stats()
				sim.Inject(f)
				resp, err := dev.Transmit(ctx, selectPPSE)
				if err != nil {
					t.Fatalf("fault %d: %v", f, err)
				}
				if want := append(testhex.Bytes(t, ppseFCI), 0x90, 0x00); !bytes.Equal(resp, want) {
					t.Fatalf("fault %d: answer % X", f, resp)
				}
				s1 := sim.Stats()
				switch f {
				case pn532sim.LoseACK:
					if s1.LostACKs-s0.LostACKs != 1 {
						t.Errorf("LoseACK not applied")
					}
				case pn532sim.Sleep:
					if s1.Wakes-s0.Wakes != 1 {
						t.Errorf("Sleep: %d wake-ups", s1.Wakes-s0.Wakes)
					}
				case pn532sim.NAK:
					if s1.AddrNAKs-s0.AddrNAKs != 1 {
						t.Errorf("NAK not applied")
					}
				}
			}
		})
	}
}

// A poll across a reset: the release of the card listed before meets the
// wedged bus and the chip is reset, which switches the field off and ends
// every activation; the poll itself goes on, as it did before polls
// released first.
func TestPollAcrossAReset(t *testing.T) {
	r := newStepRig(pn532sim.Opts{})
	bus := &wedgedBus{Bus: r.sim}
	o := r.opts()
	o.Reset = resetPin{Pin: r.sim.ResetPin(), bus: bus}
	dev, err := pn532.New(pn532.NewI2C(bus, 0), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r.sim.Present(&ppseCard{fci: testhex.Bytes(t, ppseFCI)}, idA)
	if _, err := dev.ListTarget(ctx, pn532.TypeA); err != nil {
		t.Fatal(err)
	}
	bus.wedged = true
	if _, err := dev.ListTarget(ctx, pn532.TypeA); err != nil {
		t.Fatalf("poll across a reset: %v", err)
	}
	if n := r.sim.Stats().Resets; n != 2 {
		t.Errorf("resets %d, want 2", n)
	}
	if _, err := dev.Transmit(ctx, selectPPSE); err != nil {
		t.Fatal(err)
	}
}
