package alpar_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"posd/conn/clock"
	"posd/drivers/alpar"
	"posd/drivers/alpar/alparsim"
)

// testCard answers SELECT with 9000 and everything else with 6D00.
type testCard struct {
	atr  []byte
	seen [][]byte
	fail bool
}

func (c *testCard) ATR() []byte { return c.atr }

func (c *testCard) Transmit(apdu []byte) ([]byte, error) {
	c.seen = append(c.seen, apdu)
	if c.fail {
		return nil, errors.New("card mute")
	}
	if apdu[1] == 0xA4 {
		return []byte{0x6F, 0x00, 0x90, 0x00}, nil
	}
	return []byte{0x6D, 0x00}, nil
}

// A T=0 style ATR with TS=3B (direct convention).
var sampleATR = []byte{0x3B, 0x65, 0x00, 0x00, 0x9C, 0x11, 0x01, 0x01, 0x03}

func startSim(t *testing.T) (*alparsim.Sim, *alpar.Dev) {
	t.Helper()
	host, chip := net.Pipe()
	sim := alparsim.New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- sim.Serve(ctx, chip) }()
	d, err := alpar.New(host, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Halt(); err != nil {
			t.Errorf("halt: %v", err)
		}
		cancel()
		chip.Close()
		host.Close()
		<-served
	})
	return sim, d
}

func waitEvent(t *testing.T, d *alpar.Dev, want alpar.EventKind) {
	t.Helper()
	ev, ok := <-d.Events()
	if !ok {
		t.Fatal("events closed")
	}
	if ev.Kind != want {
		t.Fatalf("event %v, want %v", ev.Kind, want)
	}
}

func runSession(t *testing.T, sim *alparsim.Sim, d *alpar.Dev) {
	t.Helper()
	ctx := context.Background()
	v, err := d.FirmwareVersion(ctx)
	if err != nil || v != alparsim.DefaultOpts.Mask {
		t.Fatalf("firmware %q %v", v, err)
	}
	if p, err := d.CardPresent(ctx); err != nil || p {
		t.Fatalf("present=%v err=%v on empty slot", p, err)
	}
	if _, err := d.PowerUp(ctx); !errors.Is(err, alpar.ErrCardAbsent) {
		t.Fatalf("power up empty slot: %v", err)
	}
	card := &testCard{atr: sampleATR}
	sim.Insert(card)
	waitEvent(t, d, alpar.CardInserted)
	if p, err := d.CardPresent(ctx); err != nil || !p {
		t.Fatalf("present=%v err=%v with card", p, err)
	}
	if _, err := d.Transmit(ctx, []byte{0x00, 0xA4, 0x04, 0x00}); !errors.Is(err, alpar.ErrHardware) {
		t.Fatalf("APDU before power up: %v", err)
	}
	atr, err := d.PowerUp(ctx)
	if err != nil || !bytes.Equal(atr, sampleATR) {
		t.Fatalf("ATR % X err %v", atr, err)
	}
	if a, err := alpar.ParseATR(atr); err != nil || !a.Offers(0) || a.Offers(1) || len(a.Historical) != 5 {
		t.Fatalf("ATR %+v %v", a, err)
	}
	if !sim.Powered() {
		t.Fatal("sim not powered")
	}
	sel := []byte{0x00, 0xA4, 0x04, 0x00, 0x07, 0xA0, 0x00, 0x00, 0x00, 0x03, 0x10, 0x10, 0x00}
	r, err := d.Transmit(ctx, sel)
	if err != nil || !bytes.Equal(r, []byte{0x6F, 0x00, 0x90, 0x00}) {
		t.Fatalf("select: % X %v", r, err)
	}
	if len(card.seen) != 1 || !bytes.Equal(card.seen[0], sel) {
		t.Fatalf("card saw %d APDUs", len(card.seen))
	}
	if err := d.SetCardBaudRate(ctx, 0x96, 0x00); err != nil {
		t.Fatal(err)
	}
	// The simulator has no documented layout for this answer and refuses
	// the command rather than invent one (see package alparsim).
	if p, err := d.CardParams(ctx); !errors.Is(err, alpar.ErrUnknownCommand) {
		t.Fatalf("card params %+v %v", p, err)
	}
	card.fail = true
	if _, err := d.Transmit(ctx, sel); !errors.Is(err, alpar.ErrCardTimeout) {
		t.Fatalf("mute card: %v", err)
	}
	var ne *alpar.NackError
	if _, err := d.Transmit(ctx, sel); !errors.As(err, &ne) || ne.Code != 0x81 || ne.Cmd != 0x00 {
		t.Fatalf("nack error %v", err)
	}
	if err := d.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	if sim.Powered() {
		t.Fatal("still powered after power off")
	}
	sim.Remove()
	waitEvent(t, d, alpar.CardRemoved)
	if _, err := d.Transmit(ctx, sel); !errors.Is(err, alpar.ErrCardAbsent) {
		t.Fatalf("APDU after removal: %v", err)
	}
	if _, err := d.Transmit(ctx, []byte{0x00, 0xA4}); !errors.Is(err, alpar.ErrAPDULength) {
		t.Fatalf("short APDU: %v", err)
	}
}

func TestSessionOverPipe(t *testing.T) {
	sim, d := startSim(t)
	runSession(t, sim, d)
}

// openRaw opens a pty slave like a serial port: read/write, no controlling
// terminal, raw mode already set by the simulator.
func openRaw(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSessionOverPTY(t *testing.T) {
	sim := alparsim.New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path, err := sim.ServePTY(ctx)
	if err != nil {
		t.Fatal(err)
	}
	port := openRaw(t, path)
	defer port.Close()
	d, err := alpar.New(port, nil)
	if err != nil {
		t.Fatal(err)
	}
	runSession(t, sim, d)
	if err := d.Halt(); err != nil {
		t.Fatalf("halt over pty: %v", err)
	}
	// The Dev stays usable: the next command starts a new reader (the
	// read deadline Halt used to interrupt the tty is cleared).
	if v, err := d.FirmwareVersion(ctx); err != nil || v == "" {
		t.Fatalf("after halt: %q %v", v, err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	// The port is still usable by a new driver (the bus is not closed).
	d2, err := alpar.New(port, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := d2.FirmwareVersion(ctx); err != nil || v == "" {
		t.Fatalf("second driver: %q %v", v, err)
	}
	if err := d2.Halt(); err != nil {
		t.Fatal(err)
	}
	// The simulator's goroutines end with their context.
	cancel()
	sim.Wait()
	if _, err := port.Write([]byte{0x60, 0x00, 0x00, 0x09, 0x69}); err == nil {
		// Writes may still be buffered by the tty; a read must fail or
		// time out, never return an answer.
		_ = port.SetReadDeadline(time.Now())
		if n, _ := port.Read(make([]byte, 8)); n > 0 {
			t.Fatal("answer after the simulator stopped")
		}
	}
}

func TestSimNacksBadLRC(t *testing.T) {
	host, chip := net.Pipe()
	defer host.Close()
	sim := alparsim.New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = sim.Serve(ctx, chip); close(done) }()
	defer func() { cancel(); chip.Close(); <-done }()

	if _, err := host.Write([]byte{0x60, 0x00, 0x00, 0x09, 0x68}); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 6)
	if _, err := io.ReadFull(host, got); err != nil {
		t.Fatal(err)
	}
	want := []byte{0xE0, 0x00, 0x01, 0x09, 0xF0, 0x18}
	if !bytes.Equal(got, want) {
		t.Fatalf("got % X, want % X", got, want)
	}
	// Unknown command: status 55h.
	if _, err := host.Write([]byte{0x60, 0x00, 0x00, 0x77, 0x17}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(host, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte{0xE0, 0x00, 0x01, 0x77, 0x55, 0xC3}) {
		t.Fatalf("unknown command answer % X", got)
	}
	if sim.Nacks() != 2 {
		t.Fatalf("nacks %d", sim.Nacks())
	}
}

// step is one exchange of a byte trace: what the host must write and what
// the chip answers.
type step struct {
	expect []byte
	reply  []byte
}

// playTrace plays the chip side of a trace on conn and reports the first
// mismatch.
func playTrace(conn net.Conn, steps []step) <-chan error {
	res := make(chan error, 1)
	go func() {
		for i, s := range steps {
			if len(s.expect) > 0 {
				got := make([]byte, len(s.expect))
				if _, err := io.ReadFull(conn, got); err != nil {
					res <- err
					return
				}
				if !bytes.Equal(got, s.expect) {
					res <- errors.New("step " + string(rune('0'+i)) + ": unexpected bytes")
					return
				}
			}
			if _, err := conn.Write(s.reply); err != nil {
				res <- err
				return
			}
		}
		res <- nil
	}()
	return res
}

func TestTrace(t *testing.T) {
	host, chip := net.Pipe()
	defer host.Close()
	defer chip.Close()
	atr := []byte{0x3B, 0x02, 0x14, 0x50}
	atrFrame := append([]byte{0x60, 0x00, 0x04, 0x69}, atr...)
	atrFrame = append(atrFrame, 0x60^0x04^0x69^0x3B^0x02^0x14^0x50)
	trace := playTrace(chip, []step{
		// Unsolicited insertion before any command.
		{reply: []byte{0x60, 0x00, 0x01, 0xA0, 0x01, 0xC0}},
		// check_pres_card -> present.
		{expect: []byte{0x60, 0x00, 0x00, 0x09, 0x69}, reply: []byte{0x60, 0x00, 0x01, 0x09, 0x01, 0x69}},
		// power_up_iso -> noise, then ATR.
		{expect: []byte{0x60, 0x00, 0x00, 0x69, 0x09}, reply: append([]byte{0x00, 0xFF}, atrFrame...)},
		// power_up_iso -> NACK card absent.
		{expect: []byte{0x60, 0x00, 0x00, 0x69, 0x09}, reply: []byte{0xE0, 0x00, 0x01, 0x69, 0xC0, 0x48}},
		// get_card_parameters: the command is 60 00 00 A6 C6 by the frame
		// format; the answer's payload is opaque to the driver (its layout
		// is not known here, see CardParams), so any bytes do.
		{expect: []byte{0x60, 0x00, 0x00, 0xA6, 0xC6}, reply: []byte{0x60, 0x00, 0x03, 0xA6, 0x11, 0x22, 0x33, 0x60 ^ 0x03 ^ 0xA6 ^ 0x11 ^ 0x22 ^ 0x33}},
		// get_card_parameters refused: card absent.
		{expect: []byte{0x60, 0x00, 0x00, 0xA6, 0xC6}, reply: []byte{0xE0, 0x00, 0x01, 0xA6, 0xC0, 0x87}},
		// power_off answered with a corrupted frame.
		{expect: []byte{0x60, 0x00, 0x00, 0x4D, 0x2D}, reply: []byte{0x60, 0x00, 0x00, 0x4D, 0x2C}},
	})
	d, err := alpar.New(host, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Halt()
	ctx := context.Background()
	waitEvent(t, d, alpar.CardInserted)
	if p, err := d.CardPresent(ctx); err != nil || !p {
		t.Fatalf("present %v %v", p, err)
	}
	got, err := d.PowerUp(ctx)
	if err != nil || !bytes.Equal(got, atr) {
		t.Fatalf("ATR % X %v", got, err)
	}
	if _, err := d.PowerUp(ctx); !errors.Is(err, alpar.ErrCardAbsent) {
		t.Fatalf("want card absent, got %v", err)
	}
	if p, err := d.CardParams(ctx); err != nil || !bytes.Equal(p.Raw, []byte{0x11, 0x22, 0x33}) {
		t.Fatalf("card params %+v %v", p, err)
	}
	if _, err := d.CardParams(ctx); !errors.Is(err, alpar.ErrCardAbsent) {
		t.Fatalf("card params without card: %v", err)
	}
	if err := d.PowerOff(ctx); !errors.Is(err, alpar.ErrFrameLRC) {
		t.Fatalf("want LRC error, got %v", err)
	}
	if err := <-trace; err != nil {
		t.Fatal(err)
	}
}

func TestTimeoutAndLateAnswer(t *testing.T) {
	host, chip := net.Pipe()
	defer host.Close()
	defer chip.Close()
	clk := clock.NewFake(time.Unix(1000, 0))
	opts := alpar.DefaultOpts
	opts.Clock = clk
	d, err := alpar.New(host, &opts)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Halt()
	ctx := context.Background()

	chipErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(chip, buf); err != nil { // check_pres_card, never answered in time
			chipErr <- err
			return
		}
		// The command waits for its answer: let its timeout pass.
		if err := clk.BlockUntil(ctx, 1); err != nil {
			chipErr <- err
			return
		}
		clk.Advance(opts.Timeout)
		chipErr <- nil
	}()
	if _, err := d.CardPresent(ctx); !errors.Is(err, alpar.ErrTimeout) {
		t.Fatalf("want timeout, got %v", err)
	}
	if err := <-chipErr; err != nil {
		t.Fatal(err)
	}
	// The next command gets the late presence answer first, then its own.
	go func() {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(chip, buf); err != nil {
			chipErr <- err
			return
		}
		_, err := chip.Write([]byte{
			0x60, 0x00, 0x01, 0x09, 0x01, 0x69, // late answer to 09h
			0x60, 0x00, 0x02, 0x0A, 'v', '1', 0x60 ^ 0x02 ^ 0x0A ^ 'v' ^ '1',
		})
		chipErr <- err
	}()
	v, err := d.FirmwareVersion(ctx)
	if err != nil || v != "v1" {
		t.Fatalf("version %q %v", v, err)
	}
	if err := <-chipErr; err != nil {
		t.Fatal(err)
	}
}

func TestContextCancel(t *testing.T) {
	host, chip := net.Pipe()
	defer host.Close()
	defer chip.Close()
	d, err := alpar.New(host, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Halt()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		buf := make([]byte, 5)
		_, _ = io.ReadFull(chip, buf)
		cancel()
	}()
	if _, err := d.PowerUp(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("want canceled, got %v", err)
	}
}

func TestHaltStopsReaderAndFailsCommands(t *testing.T) {
	host, chip := net.Pipe()
	defer host.Close()
	defer chip.Close()
	d, err := alpar.New(host, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := d.PowerUp(context.Background())
		got <- err
	}()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(chip, buf); err != nil {
		t.Fatal(err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, alpar.ErrHalted) {
		t.Fatalf("in-flight command: %v", err)
	}
	// A second Halt with nothing running returns at once.
	if err := d.Halt(); err != nil {
		t.Fatalf("second halt: %v", err)
	}
	// The Dev stays usable: the next command starts a new reader, which
	// also delivers slot events again (Events stayed open).
	go func() {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(chip, buf); err != nil {
			return
		}
		_, _ = chip.Write([]byte{
			0x60, 0x00, 0x01, 0xA0, 0x01, 0xC0, // card inserted
			0x60, 0x00, 0x01, 0x09, 0x01, 0x69, // present
		})
	}()
	if p, err := d.CardPresent(context.Background()); err != nil || !p {
		t.Fatalf("after halt: present=%v %v", p, err)
	}
	waitEvent(t, d, alpar.CardInserted)
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if d.String() == "" {
		t.Fatal("empty String")
	}
}

func TestBusFailure(t *testing.T) {
	host, chip := net.Pipe()
	d, err := alpar.New(host, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Halt()
	chip.Close()
	if _, ok := <-d.Events(); ok {
		t.Fatal("events open after bus failure")
	}
	if _, err := d.CardPresent(context.Background()); !errors.Is(err, alpar.ErrBus) {
		t.Fatalf("want bus error, got %v", err)
	}
	host.Close()
}

// eofPort behaves like a serial port opened with a read timeout: Read
// reports io.EOF while no byte is waiting.
type eofPort struct {
	in  chan []byte
	out chan []byte
	buf []byte
}

func (p *eofPort) Read(b []byte) (int, error) {
	if len(p.buf) == 0 {
		select {
		case p.buf = <-p.in:
		default:
			return 0, io.EOF
		}
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	return n, nil
}

func (p *eofPort) Write(b []byte) (int, error) {
	p.out <- append([]byte(nil), b...)
	return len(b), nil
}

func TestPollEOF(t *testing.T) {
	port := &eofPort{in: make(chan []byte, 1), out: make(chan []byte, 1)}
	opts := alpar.DefaultOpts
	opts.PollEOF = true
	opts.RetryDelay = time.Millisecond
	d, err := alpar.New(port, &opts)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		<-port.out
		port.in <- []byte{0x60, 0x00, 0x01, 0x09, 0x00, 0x68}
	}()
	if p, err := d.CardPresent(context.Background()); err != nil || p {
		t.Fatalf("present=%v err=%v", p, err)
	}
	// Halt works although the port has no deadline: Read returns by itself.
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	// And the next command polls again.
	go func() {
		<-port.out
		port.in <- []byte{0x60, 0x00, 0x01, 0x09, 0x01, 0x69}
	}()
	if p, err := d.CardPresent(context.Background()); err != nil || !p {
		t.Fatalf("after halt: present=%v err=%v", p, err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
}
