package barcode_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/drivers/barcode"
	"posd/drivers/barcode/barcodesim"
)

// A customer-presented wallet payment code: 18 digits.
const code = "134567890123456789"

// scriptPort returns one scripted chunk per Read, as a serial port returns
// what arrived since the last read, and then (0, io.EOF) after a short
// wait, as a port with a read timeout does (tarm/serial).
type scriptPort struct {
	chunks chan []byte
}

func newScriptPort() *scriptPort { return &scriptPort{chunks: make(chan []byte, 64)} }

// push queues chunks, each returned by one Read.
func (p *scriptPort) push(chunks ...string) {
	for _, c := range chunks {
		p.chunks <- []byte(c)
	}
}

func (p *scriptPort) Write(b []byte) (int, error) { return len(b), nil }

func (p *scriptPort) Read(b []byte) (int, error) {
	select {
	case c := <-p.chunks:
		if len(c) > len(b) {
			panic("chunk larger than the driver's read buffer")
		}
		return copy(b, c), nil
	case <-time.After(5 * time.Millisecond):
		return 0, io.EOF
	}
}

func newDev(t *testing.T, port io.ReadWriter, o *barcode.Opts) *barcode.Dev {
	t.Helper()
	if o == nil {
		o = &barcode.Opts{}
		*o = barcode.DefaultOpts
	}
	o.IdleSleep = time.Millisecond
	d, err := barcode.New(port, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Halt() })
	return d
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

type want struct {
	scan barcode.Scan
	err  error
}

// TestTraces plays byte traces of what serial scanners send. Suffixes: CR
// is the usual factory setting; Honeywell's plug-and-play interface codes
// program CR LF (Honeywell Xenon 1900/1910 user guide, "Prefix/Suffix
// Overview"); LF is a configurable suffix. Prefix: the AIM symbology
// identifier, ']' + code character + modifier ("]Q1" QR Code; Datalogic
// QuickScan/Magellan product reference guides, "Global AIM ID"; ISO/IEC
// 15424).
func TestTraces(t *testing.T) {
	long := strings.Repeat("9", 600)
	for _, c := range []struct {
		name   string
		suffix barcode.Suffix
		strip  bool
		chunks []string
		want   []want
	}{
		{"CR", barcode.SuffixAuto, true, []string{code + "\r"}, []want{{scan: barcode.Scan{Text: code}}}},
		{"CRLF", barcode.SuffixAuto, true, []string{code + "\r\n", code + "\r\n"},
			[]want{{scan: barcode.Scan{Text: code}}, {scan: barcode.Scan{Text: code}}}},
		{"LF", barcode.SuffixAuto, true, []string{code + "\n"}, []want{{scan: barcode.Scan{Text: code}}}},
		{"CRLF configured", barcode.SuffixCRLF, true, []string{code + "\r\n"}, []want{{scan: barcode.Scan{Text: code}}}},
		{"CR configured", barcode.SuffixCR, true, []string{code + "\r"}, []want{{scan: barcode.Scan{Text: code}}}},
		{"LF configured", barcode.SuffixLF, true, []string{code + "\n"}, []want{{scan: barcode.Scan{Text: code}}}},
		{"AIM QR", barcode.SuffixAuto, true, []string{"]Q1" + code + "\r"},
			[]want{{scan: barcode.Scan{Text: code, Symbology: "]Q1"}}}},
		{"AIM kept", barcode.SuffixAuto, false, []string{"]Q1" + code + "\r"},
			[]want{{scan: barcode.Scan{Text: "]Q1" + code}}}},
		{"two symbols in one read", barcode.SuffixAuto, true, []string{"]Q1" + code + "\r\n]Q1987654321098765432\r\n"},
			[]want{{scan: barcode.Scan{Text: code, Symbology: "]Q1"}}, {scan: barcode.Scan{Text: "987654321098765432", Symbology: "]Q1"}}}},
		{"split across reads", barcode.SuffixAuto, true, []string{"]", "Q1" + code[:5], code[5:] + "\r", "\n", "x\r"},
			[]want{{scan: barcode.Scan{Text: code, Symbology: "]Q1"}}, {scan: barcode.Scan{Text: "x"}}}},
		{"garbage", barcode.SuffixAuto, true, []string{"\x00\xff\x13\x80SECRET\r", code + "\r"},
			[]want{{err: barcode.ErrGarbled}, {scan: barcode.Scan{Text: code}}}},
		{"overlong", barcode.SuffixAuto, true, []string{long[:250], long[250:500], long[500:] + "\r\n", code + "\r\n"},
			[]want{{err: barcode.ErrTooLong}, {scan: barcode.Scan{Text: code}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			port := newScriptPort()
			o := barcode.DefaultOpts
			o.Suffix, o.StripAIM = c.suffix, c.strip
			d := newDev(t, port, &o)
			port.push(c.chunks...)
			for i, w := range c.want {
				sc, err := d.Read(ctx(t))
				if sc != w.scan || !errors.Is(err, w.err) {
					t.Fatalf("result %d: got %v (%q), %v; want %v, %v", i, sc, sc.Text, err, w.scan, w.err)
				}
				if err != nil && strings.Contains(err.Error(), "SECRET") {
					t.Fatalf("error echoes the input: %v", err)
				}
			}
			short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if sc, err := d.Read(short); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("extra result %v, %v", sc, err)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := barcode.New(nil, nil); err == nil {
		t.Fatal("nil port accepted")
	}
	if _, err := barcode.New(newScriptPort(), &barcode.Opts{Suffix: 9}); err == nil {
		t.Fatal("unknown suffix accepted")
	}
	d := newDev(t, newScriptPort(), nil)
	if s := d.String(); s != "barcode(suffix auto, AIM id stripped)" {
		t.Fatalf("String %q", s)
	}
}

func TestFlushDiscardsEarlierCodes(t *testing.T) {
	port := newScriptPort()
	d := newDev(t, port, nil)
	// Codes read before the sale started, in one read with the start of
	// another. Once Read has A, the read that brought it is being fed:
	// Flush waits for that, so B and the partial C are discarded.
	port.push("AAAA\rBBBB\rCC")
	if sc, err := d.Read(ctx(t)); err != nil || sc.Text != "AAAA" {
		t.Fatalf("first: %v, %v", sc, err)
	}
	d.Flush()
	// The rest of C never passes for a symbol.
	port.push("CC\r", code+"\r")
	if sc, err := d.Read(ctx(t)); err != nil || sc.Text != code {
		t.Fatalf("after Flush: %v (%q), %v", sc, sc.Text, err)
	}
}

func TestInterceptHidesSymbolFromRead(t *testing.T) {
	port := newScriptPort()
	d := newDev(t, port, nil)
	got := make(chan barcode.Scan, 4)
	rctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			sc, err := d.Read(rctx)
			if err != nil {
				return
			}
			got <- sc
		}
	}()
	sc, err := d.Intercept(ctx(t), func() error { port.push("]Q1POSD-SELFTEST\r"); return nil })
	if err != nil || sc.Text != "POSD-SELFTEST" || sc.Symbology != "]Q1" {
		t.Fatalf("Intercept: %v, %v", sc, err)
	}
	port.push(code + "\r")
	if sc := <-got; sc.Text != code {
		t.Fatalf("Read got the intercepted symbol: %v", sc)
	}
	cancel()
	wg.Wait()
	trigErr := errors.New("no trigger")
	if _, err := d.Intercept(ctx(t), func() error { return trigErr }); !errors.Is(err, trigErr) {
		t.Fatalf("trigger error: %v", err)
	}
}

func TestHaltAndStart(t *testing.T) {
	port := newScriptPort()
	d := newDev(t, port, nil)
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read(ctx(t)); !errors.Is(err, barcode.ErrHalted) {
		t.Fatalf("Read after Halt: %v", err)
	}
	d.Halt()
	d.Start()
	port.push(code + "\r")
	if sc, err := d.Read(ctx(t)); err != nil || sc.Text != code {
		t.Fatalf("after Start: %v, %v", sc, err)
	}
}

type failPort struct{}

func (failPort) Read([]byte) (int, error)  { return 0, errors.New("EIO") }
func (failPort) Write([]byte) (int, error) { return 0, errors.New("EIO") }

func TestPortError(t *testing.T) {
	d := newDev(t, failPort{}, nil)
	var pe *barcode.PortError
	if _, err := d.Read(ctx(t)); !errors.As(err, &pe) {
		t.Fatalf("got %v", err)
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

// TestThroughSimulator reads symbols the simulated scanner sends on a real
// pseudo-terminal, for every suffix, with and without an AIM prefix; no
// code reaches the logs.
func TestThroughSimulator(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	lg := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, sfx := range []barcode.Suffix{barcode.SuffixAuto, barcode.SuffixCR, barcode.SuffixLF, barcode.SuffixCRLF} {
		for _, prefix := range []string{"", "]Q1"} {
			t.Run(sfx.String()+prefix, func(t *testing.T) {
				sctx, cancel := context.WithCancel(context.Background())
				sim := barcodesim.New(&barcodesim.Opts{Prefix: prefix, Suffix: sfx, Logger: lg})
				if err := sim.Scan(code); !errors.Is(err, barcodesim.ErrNotServing) {
					t.Fatalf("Scan before ServePTY: %v", err)
				}
				path, err := sim.ServePTY(sctx)
				if err != nil {
					cancel()
					t.Skipf("no pseudo-terminal: %v", err)
				}
				defer func() { cancel(); sim.Wait() }()
				f, err := os.OpenFile(path, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				o := barcode.DefaultOpts
				o.Suffix, o.Logger = sfx, lg
				d := newDev(t, timeoutFile{f}, &o)
				defer d.Halt()
				for range 3 {
					if err := sim.Scan(code); err != nil {
						t.Fatal(err)
					}
					sc, err := d.Read(ctx(t))
					if err != nil || sc.Text != code || sc.Symbology != prefix {
						t.Fatalf("got %v, %v", sc, err)
					}
				}
				if err := sim.WriteRaw([]byte("\x01\x02garbage" + string(sfx.Bytes()))); err != nil {
					t.Fatal(err)
				}
				if _, err := d.Read(ctx(t)); !errors.Is(err, barcode.ErrGarbled) {
					t.Fatalf("garbage: %v", err)
				}
			})
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	if strings.Contains(logs.String(), code) {
		t.Fatal("a payment code reached the logs")
	}
	if !strings.Contains(logs.String(), "len=18") {
		t.Fatalf("scans not logged by length:\n%s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestReadCancelledTakesNothing: a Read whose context has ended returns
// its error and leaves a waiting scan for the next Read (select would
// pick either): a code reader that lost the race to another reader must
// not eat the next customer's code.
func TestReadCancelledTakesNothing(t *testing.T) {
	port := newScriptPort()
	d := newDev(t, port, nil)
	port.push("C01\rC02\r")
	if sc, err := d.Read(ctx(t)); err != nil || sc.Text != "C01" {
		t.Fatalf("first: %v, %v", sc, err)
	}
	time.Sleep(20 * time.Millisecond) // C02 is waiting to be taken
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for i := 0; i < 20; i++ {
		if sc, err := d.Read(ended); !errors.Is(err, context.Canceled) {
			t.Fatalf("try %d: a cancelled Read got %q, %v", i, sc.Text, err)
		}
	}
	if sc, err := d.Read(ctx(t)); err != nil || sc.Text != "C02" {
		t.Fatalf("the waiting scan: %q, %v", sc.Text, err)
	}
}
