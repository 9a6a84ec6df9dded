package msr_test

import (
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"posd/conn/clock"
	"posd/drivers/msr"
	"posd/drivers/msr/msrsim"
)

const t2 = "4761739001010010=29121010000000000000"

// chanPort is a port whose Read waits at most 5 ms, like a serial port
// configured with a read timeout, and then returns (0, io.EOF) as tarm/serial
// does.
type chanPort struct {
	mu   sync.Mutex
	in   chan []byte
	rest []byte
}

func newChanPort() *chanPort { return &chanPort{in: make(chan []byte, 16)} }

func (p *chanPort) Write(b []byte) (int, error) {
	p.in <- append([]byte(nil), b...)
	return len(b), nil
}

func (p *chanPort) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.rest) == 0 {
		select {
		case p.rest = <-p.in:
		case <-time.After(5 * time.Millisecond):
			return 0, io.EOF
		}
	}
	n := copy(b, p.rest)
	p.rest = p.rest[n:]
	return n, nil
}

func newDev(t *testing.T, port io.ReadWriter, o *msr.Opts) *msr.Dev {
	t.Helper()
	if o == nil {
		o = &msr.Opts{}
		*o = msr.DefaultOpts
	}
	o.IdleSleep = time.Millisecond
	if o.SwipeGap == 0 || o.SwipeGap == msr.DefaultOpts.SwipeGap {
		// Real time: every swipe is written at once, so a short gap
		// never splits one.
		o.SwipeGap = 30 * time.Millisecond
	}
	d, err := msr.New(port, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Halt() })
	return d
}

func TestSwipeThroughSimulator(t *testing.T) {
	port := newChanPort()
	d := newDev(t, port, nil)
	sim := msrsim.New(port, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if err := sim.Swipe(msrsim.Tracks{T1: "B4761739001010010^TEST/CARD A^2912101000000000000000000000000", T2: t2}); err != nil {
		t.Fatal(err)
	}
	sw, err := d.Read(ctx)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if sw.Track2 == nil || string(sw.Track2.Raw) != t2 || sw.Track1 == nil {
		t.Fatalf("got %s", sw)
	}

	// A damaged stripe: the driver reports a typed error, and goes on
	// reading.
	if err := sim.Swipe(msrsim.Tracks{T2: "4761739001010010=2913"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read(ctx); !errors.Is(err, msr.ErrUnreadable) || !errors.Is(err, msr.ErrFormat) {
		t.Fatalf("damaged stripe: got %v", err)
	}
	sim.Swipe(msrsim.Tracks{T2: t2})
	if sw, err := d.Read(ctx); err != nil || sw.Track2 == nil {
		t.Fatalf("swipe after a damaged one: %v", err)
	}

	// Bytes arriving in pieces still make one swipe (the line format: the
	// CR, not a quiet line, ends it).
	o := msr.DefaultOpts
	o.Format = msr.FormatLine
	port = newChanPort()
	d = newDev(t, port, &o)
	sim = msrsim.New(port, &msrsim.Opts{Format: msr.FormatLine})
	frame := sim.Frame(msrsim.Tracks{T2: t2})
	for _, c := range frame {
		sim.WriteRaw([]byte{c})
	}
	if sw, err := d.Read(ctx); err != nil || sw.Track2 == nil {
		t.Fatalf("byte by byte: %v", err)
	}
}

func TestLRCAndSentinelOptions(t *testing.T) {
	port := newChanPort()
	s := msr.Sentinels{Track1Start: '%', Track2Start: ';', Track3Start: '+', End: '?'}
	o := msr.DefaultOpts
	o.Sentinels, o.LRC = s, true
	d := newDev(t, port, &o)
	sim := msrsim.New(port, &msrsim.Opts{Sentinels: s, LRC: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sim.Swipe(msrsim.Tracks{T2: t2, T3: "011234567890=99"})
	sw, err := d.Read(ctx)
	if err != nil || string(sw.Track3) != "011234567890=99" {
		t.Fatalf("LRC swipe: %v", err)
	}
	// The same swipe without LRC characters fails the LRC check.
	plain := msrsim.New(port, &msrsim.Opts{Sentinels: s})
	plain.Swipe(msrsim.Tracks{T2: t2})
	if _, err := d.Read(ctx); !errors.Is(err, msr.ErrLRC) {
		t.Fatalf("missing LRC: got %v", err)
	}
}

// TestTrace replays the byte stream a reader module sends for an ISO 7813
// track 1 + track 2 swipe with CR LF after the last track, then noise and an
// over-long line, as captured from the module's UART.
func TestTrace(t *testing.T) {
	trace := []byte("%B4761739001010010^TEST/CARD A^2912101000000000000000000000000?;4761739001010010=29121010000000000000?\r\n")
	port := newChanPort()
	o := msr.DefaultOpts
	o.MaxLine = 200
	d := newDev(t, port, &o)
	port.Write(trace)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if sw, err := d.Read(ctx); err != nil || sw.Track1 == nil || sw.Track2 == nil {
		t.Fatalf("trace: %v", err)
	}
	long := make([]byte, 300)
	for i := range long {
		long[i] = '1'
	}
	port.Write(append(long, '\r'))
	if _, err := d.Read(ctx); !errors.Is(err, msr.ErrTooLong) {
		t.Fatalf("long line: got %v", err)
	}
	// The remainder of the long line is discarded, the next swipe is read.
	port.Write(trace)
	if sw, err := d.Read(ctx); err != nil || sw.Track2 == nil {
		t.Fatalf("after long line: %v", err)
	}
}

// timeoutFile gives a pseudo-terminal a read timeout, as board/ configures
// real serial ports.
type timeoutFile struct{ *os.File }

func (f timeoutFile) Read(b []byte) (int, error) {
	f.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	n, err := f.File.Read(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return n, io.EOF
	}
	return n, err
}

func TestOverPseudoTerminal(t *testing.T) {
	p, err := msrsim.OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer p.Close()
	f, err := os.OpenFile(p.SlavePath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := newDev(t, timeoutFile{f}, nil)
	sim := msrsim.New(p.Master, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sim.Swipe(msrsim.Tracks{T2: t2})
	sw, err := d.Read(ctx)
	if err != nil || sw.Track2 == nil || sw.Track2.PAN != "4761739001010010" {
		t.Fatalf("pty: %v", err)
	}
}

func TestHaltStopsGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		d, err := msr.New(newChanPort(), nil)
		if err != nil {
			t.Fatal(err)
		}
		d.Halt()
		d.Halt() // twice is fine
		if _, err := d.Read(context.Background()); !errors.Is(err, msr.ErrHalted) {
			t.Fatalf("Read after Halt: %v", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("goroutines: %d before, %d after", before, n)
	}
}

// Halt stops activity but leaves the device usable: Start reads again.
func TestStartAfterHalt(t *testing.T) {
	port := newChanPort()
	o := msr.DefaultOpts
	o.Format = msr.FormatLine
	d, err := msr.New(port, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Halt()
	d.Halt()
	d.Start()
	d.Start() // while running: nothing
	port.Write([]byte(";4761739001010010=29121010000000000000?\r"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sw, err := d.Read(ctx)
	if err != nil || sw.PAN() != "4761739001010010" {
		t.Fatalf("read after Start: %v", err)
	}
	sw.Wipe()
}

func BenchmarkParse(b *testing.B) {
	line := []byte("%B4761739001010010^TEST/CARD A^2912101000000000000000000000000?;4761739001010010=29121010000000000000?")
	for b.Loop() {
		sw, err := msr.Parse(line, msr.ParseOpts{})
		if err != nil {
			b.Fatal(err)
		}
		sw.Wipe()
	}
}

const t1 = "B4761739001010010^TEST/CARD A^2912101000000000000000000000000"

// Every output format of the simulator reaches the driver, which parses it
// with its default (auto) format and with the reader's own. A damaged
// track 1 with a good track 2 is a swipe; a stripe with neither is
// ErrUnreadable and the driver reads the next swipe.
func TestFormatsThroughSimulator(t *testing.T) {
	for _, simFmt := range []msr.Format{msr.FormatLine, msr.FormatIDTech, msr.FormatMagTek} {
		for _, drvFmt := range []msr.Format{msr.FormatAuto, simFmt} {
			t.Run(simFmt.String()+"/"+drvFmt.String(), func(t *testing.T) {
				port := newChanPort()
				o := msr.DefaultOpts
				o.Format = drvFmt
				d := newDev(t, port, &o)
				sim := msrsim.New(port, &msrsim.Opts{Format: simFmt, ESC: true})
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()

				sim.Swipe(msrsim.Tracks{T1: t1, T2: t2, T3: "011234567890=99"})
				sw, err := d.Read(ctx)
				if err != nil || sw.Track1 == nil || sw.Track2 == nil || string(sw.Track3) != "011234567890=99" {
					t.Fatalf("three tracks: %v, %v", sw, err)
				}

				sim.Swipe(msrsim.Tracks{T1: t1, T2: t2, Bad: [3]bool{true, false, false}})
				sw, err = d.Read(ctx)
				if err != nil || sw.Track1 != nil || sw.Track2 == nil || string(sw.Track2.Raw) != t2 {
					t.Fatalf("bad track 1, good track 2: %v, %v", sw, err)
				}
				if simFmt != msr.FormatIDTech && !errors.Is(sw.Err(1), msr.ErrBadRead) {
					t.Errorf("track 1 status: %v", sw.Err(1))
				}

				sim.Swipe(msrsim.Tracks{T1: t1, T2: "4761739001010010=2913"})
				sw, err = d.Read(ctx)
				if err != nil || sw.Track1 == nil || sw.Track2 != nil || !errors.Is(sw.Err(2), msr.ErrFormat) {
					t.Fatalf("good track 1, malformed track 2: %v, %v", sw, err)
				}
				sim.Swipe(msrsim.Tracks{T1: "B4761739001010010^^2912", T2: "4761739001010010=2913"})
				if _, err := d.Read(ctx); !errors.Is(err, msr.ErrUnreadable) || !errors.Is(err, msr.ErrFormat) {
					t.Fatalf("both tracks malformed: %v", err)
				}
				if simFmt != msr.FormatIDTech {
					sim.Swipe(msrsim.Tracks{T1: t1, T2: t2, Bad: [3]bool{true, true, false}})
					if _, err := d.Read(ctx); !errors.Is(err, msr.ErrUnreadable) || !errors.Is(err, msr.ErrBadRead) {
						t.Fatalf("both tracks bad: %v", err)
					}
				}
				sim.Swipe(msrsim.Tracks{T2: t2})
				if sw, err := d.Read(ctx); err != nil || sw.Track2 == nil {
					t.Fatalf("swipe after an unreadable one: %v", err)
				}
			})
		}
	}
}

// TestMagTekTrace replays bytes as a MagTek reader with STX, ESC, CR and
// ETX enabled sends them for a card whose track 1 it could not decode
// (P-series manual: "STX ESC % E ? ; Track 2 Data ? 0 CR ETX", the '0'
// being the card sensor status), then a full three-track swipe as the
// MT-211232 manual's figure 3-2 (STX, SS TK1 ES, SS TK2 ES, SS TK3 ES, CR,
// ETX).
func TestMagTekTrace(t *testing.T) {
	port := newChanPort()
	o := msr.DefaultOpts
	o.Format = msr.FormatMagTek
	d := newDev(t, port, &o)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	port.Write([]byte("\x02\x1b%E?;" + t2 + "?0\r\x03"))
	sw, err := d.Read(ctx)
	if err != nil || sw.Track1 != nil || sw.Track2 == nil || !errors.Is(sw.Err(1), msr.ErrBadRead) {
		t.Fatalf("bad track 1: %v, %v", sw, err)
	}
	port.Write([]byte("\x02%" + t1 + "?;" + t2 + "?+011234567890=99?\r\x03"))
	sw, err = d.Read(ctx)
	if err != nil || sw.Track1 == nil || sw.Track2 == nil || sw.Track3 == nil {
		t.Fatalf("three tracks: %v, %v", sw, err)
	}
}

// TestIDTechTrace replays an ID TECH reader in its default format: each
// track as <SS><data><ES><CR> (MiniMag user's manual, appendix A: the CR
// after tracks 1 and 2 is the track separator, after the last track the
// terminator), two swipes in a row.
func TestIDTechTrace(t *testing.T) {
	port := newChanPort()
	o := msr.DefaultOpts
	o.Format = msr.FormatIDTech
	d := newDev(t, port, &o)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	port.Write([]byte("%" + t1 + "?\r;" + t2 + "?\r"))
	sw, err := d.Read(ctx)
	if err != nil || sw.Track1 == nil || sw.Track2 == nil {
		t.Fatalf("ID TECH swipe: %v, %v", sw, err)
	}
	// A reader set to "any track" sends the tracks it could read: track 2
	// alone is a swipe.
	port.Write([]byte(";" + t2 + "?\r"))
	if sw, err := d.Read(ctx); err != nil || sw.Track1 != nil || sw.Track2 == nil {
		t.Fatalf("track 2 alone: %v, %v", sw, err)
	}
}

// TestSwipeGapFakeClock checks, on a fake clock, that the per-track lines
// of an ID TECH swipe are held until the line has been quiet for
// SwipeGap, and delivered then as one swipe.
func TestSwipeGapFakeClock(t *testing.T) {
	clk := clock.NewFake(time.Unix(1700000000, 0))
	port := newChanPort()
	o := msr.DefaultOpts
	o.Format, o.Clock, o.SwipeGap, o.IdleSleep = msr.FormatIDTech, clk, 300*time.Millisecond, 10*time.Millisecond
	d, err := msr.New(port, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Halt()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// The driver idles on the fake clock.
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	port.Write([]byte("%" + t1 + "?\r;" + t2 + "?\r"))
	// Wake it: it reads both lines, finds the line quiet for 0 s of the
	// 300 ms gap and idles again; nothing is delivered yet.
	clk.Advance(o.IdleSleep)
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-d.Swipes():
		t.Fatalf("delivered before the gap: %v %v", r.Swipe, r.Err)
	default:
	}
	clk.Advance(o.SwipeGap)
	sw, err := d.Read(ctx)
	if err != nil || sw.Track1 == nil || sw.Track2 == nil {
		t.Fatalf("after the gap: %v, %v", sw, err)
	}
}

// TestReadCancelledTakesNothing: a Read whose context has ended leaves a
// waiting swipe for the next Read (select would pick either): the reader
// that lost the card wait to another interface must not eat a swipe.
func TestReadCancelledTakesNothing(t *testing.T) {
	port := newChanPort()
	d := newDev(t, port, nil)
	sim := msrsim.New(port, nil)
	if err := sim.Swipe(msrsim.Tracks{T2: t2}); err != nil {
		t.Fatal(err)
	}
	// Let the swipe arrive and wait to be read (past the swipe gap).
	time.Sleep(200 * time.Millisecond)
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for i := 0; i < 20; i++ {
		if sw, err := d.Read(ended); !errors.Is(err, context.Canceled) {
			t.Fatalf("try %d: a cancelled Read got %v, %v", i, sw, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if sw, err := d.Read(ctx); err != nil || sw.Track2 == nil {
		t.Fatalf("the waiting swipe: %v", err)
	}
}
