package escpos_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/conntest"

	"posd/conn/printer"
	"posd/drivers/escpos"
	"posd/internal/testhex"
)

// playPort plays a conntest.Playback as a serial port: each write op is
// what the driver must send (its writes are joined, so where it splits
// them does not matter), each read op (W empty) is what the printer
// sends next, handed to the reader once the writes before it are done.
type playPort struct {
	pb   *conntest.Playback
	mu   sync.Mutex
	wbuf []byte
}

// next returns the next op, ok false at the end.
func (p *playPort) next() (conntest.IO, bool) {
	p.pb.Lock()
	defer p.pb.Unlock()
	if p.pb.Count >= len(p.pb.Ops) {
		return conntest.IO{}, false
	}
	return p.pb.Ops[p.pb.Count], true
}

func (p *playPort) Read(b []byte) (int, error) {
	op, ok := p.next()
	if !ok || len(op.W) != 0 {
		time.Sleep(time.Millisecond) // the port's read timeout
		return 0, io.EOF
	}
	if len(op.R) > len(b) {
		return 0, errors.New("playback: read op larger than the driver's buffer")
	}
	if err := p.pb.Tx(nil, b[:len(op.R)]); err != nil {
		return 0, err
	}
	return len(op.R), nil
}

func (p *playPort) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wbuf = append(p.wbuf, b...)
	for len(p.wbuf) > 0 {
		// The printer's answers due before this write go first.
		var op conntest.IO
		for start := time.Now(); ; time.Sleep(time.Millisecond) {
			var ok bool
			if op, ok = p.next(); !ok {
				return 0, conntest.Errorf("playback: unexpected write % X", p.wbuf)
			}
			if len(op.W) != 0 {
				break
			}
			if time.Since(start) > 5*time.Second {
				return 0, conntest.Errorf("playback: write % X while % X was not read", p.wbuf, op.R)
			}
		}
		if len(p.wbuf) < len(op.W) {
			if !bytes.HasPrefix(op.W, p.wbuf) {
				return 0, conntest.Errorf("playback: wrote % X, want % X", p.wbuf, op.W)
			}
			break
		}
		if err := p.pb.Tx(p.wbuf[:len(op.W)], nil); err != nil {
			return 0, err
		}
		p.wbuf = p.wbuf[len(op.W):]
	}
	return len(b), nil
}

func w(t testing.TB, hex string) conntest.IO { return conntest.IO{W: testhex.Bytes(t, hex)} }
func r(t testing.TB, hex string) conntest.IO { return conntest.IO{R: testhex.Bytes(t, hex)} }

// status is DLE EOT 1 to 4 (10 04 n, Epson ESC/POS Command Reference,
// "DLE EOT: Transmit real-time status") and the four answers. An answer
// may carry bytes before it (XON, XOFF, noise) in the same read.
func status(t testing.TB, answers ...string) []conntest.IO {
	var ops []conntest.IO
	for i, a := range answers {
		ops = append(ops, w(t, "10 04 0"+string(rune('1'+i))), r(t, a))
	}
	return ops
}

// Sample answers from the DLE EOT bit tables: bits 1 and 4 fixed on.
var (
	ready = []string{"12", "12", "12", "12"}
	// Off-line (n=1 bit 3), stopped at paper end (n=2 bit 5), near end
	// and end sensors (n=4 bits 2-3, 5-6).
	paperOut = []string{"1A", "32", "12", "7E"}
	// Off-line, cover open (n=2 bit 2).
	coverOpen = []string{"1A", "16", "12", "12"}
	// Off-line, error (n=2 bit 6), autocutter error (n=3 bit 3).
	cutterJam = []string{"1A", "52", "1A", "12"}
)

// The document of the traces and its bytes: ESC @ (1B 40, "Initialize
// printer"); per line ESC a n (1B 61 n, "Select justification": 0 left,
// 1 centre, 2 right), ESC E n (1B 45 n, "Turn emphasized mode on/off",
// bit 0), GS ! n (1D 21 n, "Select character size": 11 double width and
// height), the text and LF (0A, "Print and line feed"); GS V 66 0 (1D 56
// 42 00, "Select cut mode and cut paper", function B: feed to the cutting
// position and cut partially); GS r 1 (1D 72 01, "Transmit status",
// paper sensor).
var traceDoc = printer.Doc{Lines: []printer.Line{
	{Text: "SHOP", Align: printer.Center, Bold: true, Large: true},
	{Text: "Total 1.00"},
	{Text: "Thanks", Align: printer.Right},
}}

const traceBytes = "1B 40" +
	"1B 61 01 1B 45 01 1D 21 11 53 48 4F 50 0A" +
	"1B 61 00 1B 45 00 1D 21 00 54 6F 74 61 6C 20 31 2E 30 30 0A" +
	"1B 61 02 1B 45 00 1D 21 00 54 68 61 6E 6B 73 0A" +
	"1D 56 42 00 1D 72 01"

const clearBuffers = "10 14 08 01 03 14 01 06 02 08"

// probe is the GS r 1 the driver sends alone before its first document,
// to learn whether the printer answers GS r; this one does.
func probe(t testing.TB) []conntest.IO {
	return []conntest.IO{w(t, "1D 72 01"), r(t, "00")}
}

func concat(parts ...[]conntest.IO) []conntest.IO {
	var out []conntest.IO
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestTraces(t *testing.T) {
	for _, c := range []struct {
		name string
		opts escpos.Opts
		doc  *printer.Doc // nil: Status
		ops  []conntest.IO
		want error
		st   printer.Status
	}{
		{name: "status ready", ops: status(t, ready...)},
		{name: "status near end, drawer high", ops: status(t, "16", "12", "12", "1E"), st: printer.Status{PaperLow: true}},
		{name: "status paper out", ops: status(t, paperOut...), st: printer.Status{PaperOut: true, PaperLow: true}},
		{name: "status cover open", ops: status(t, coverOpen...), st: printer.Status{CoverOpen: true}},
		{name: "status cutter jam", ops: status(t, cutterJam...), st: printer.Status{Fault: true}},
		// Bytes without the fixed bits are not answers: the next one is.
		{name: "status through noise", ops: concat(
			[]conntest.IO{w(t, "10 04 01"), r(t, "FF 80 01 12")},
			status(t, ready...)[2:]),
		},
		{
			name: "print",
			// No status poll while GS r is answered: a loaded machine
			// once took more than a 5 ms poll to hand the answer over
			// (CI: "unexpected write 10 04 01").
			opts: escpos.Opts{PollInterval: time.Hour},
			doc:  &traceDoc,
			ops: concat(status(t, ready...), probe(t),
				[]conntest.IO{w(t, traceBytes), r(t, "00")}, // GS r 1: paper adequate
				status(t, ready...)),
		},
		{
			// FS & (1C 26) and FS . (1C 2E), "Select/Cancel Kanji character
			// mode"; 合计 in GB18030 is BA CF BC C6.
			name: "print Chinese",
			opts: escpos.Opts{Chinese: true, PollInterval: time.Hour},
			doc:  &printer.Doc{Lines: []printer.Line{{Text: "合计"}}},
			ops: concat(status(t, ready...), probe(t),
				[]conntest.IO{
					w(t, "1B 40 1C 26 1B 61 00 1B 45 00 1D 21 00 BA CF BC C6 0A 1C 2E 1D 56 42 00 1D 72 01"),
					r(t, "00"),
				},
				status(t, ready...)),
		},
		{name: "refused: cover open", doc: &traceDoc, ops: status(t, coverOpen...), want: printer.ErrCoverOpen},
		{name: "refused: paper out", doc: &traceDoc, ops: status(t, paperOut...), want: printer.ErrPaperOut},
		{name: "refused: fault", doc: &traceDoc, ops: status(t, cutterJam...), want: printer.ErrFault},
		{
			// The roll ends in the document: GS r 1 is never answered, the
			// status asked meanwhile says paper out. The driver clears what
			// the printer kept (DLE DC4 fn=8, "Clear buffer(s)": 10 14 08
			// 01 03 14 01 06 02 08), which answers 37 25 00.
			name: "paper runs out",
			doc:  &traceDoc,
			ops: concat(status(t, ready...), probe(t),
				[]conntest.IO{w(t, traceBytes)},
				status(t, paperOut...),
				[]conntest.IO{w(t, clearBuffers), r(t, "37 25 00")}),
			want: printer.ErrPaperOut,
		},
		{
			// A printer without DLE DC4 fn=8 does not answer it: the
			// error says the rest of the slip may still print.
			name: "paper runs out, printer cannot clear",
			opts: escpos.Opts{StatusTimeout: 50 * time.Millisecond},
			doc:  &traceDoc,
			ops: concat(status(t, ready...), probe(t),
				[]conntest.IO{w(t, traceBytes)},
				status(t, paperOut...),
				[]conntest.IO{w(t, clearBuffers)}),
			want: escpos.ErrNotCleared,
		},
		{
			// XOFF (13) inside the clear answer is still XOFF.
			name: "paper runs out, XOFF in the clear answer",
			doc:  &traceDoc,
			ops: concat(status(t, ready...), probe(t),
				[]conntest.IO{w(t, traceBytes)},
				status(t, paperOut...),
				[]conntest.IO{w(t, clearBuffers), r(t, "37 13 25 00")}),
			want: printer.ErrPaperOut,
		},
		{
			// GS r answered, but the end sensor tripped on the last line.
			name: "paper out after the cut",
			opts: escpos.Opts{PollInterval: time.Hour},
			doc:  &traceDoc,
			ops: concat(status(t, ready...), probe(t),
				[]conntest.IO{w(t, traceBytes), r(t, "0C")},
				status(t, paperOut...)),
			want: printer.ErrPaperOut,
		},
		{
			// A printer without GS r: the GS r before the first document
			// gets no answer within StatusTimeout, the document goes
			// without it, and after its printing time (LineTime a line,
			// 4 lines to the cutter) the status is its outcome.
			name: "print, no GS r",
			opts: escpos.Opts{StatusTimeout: 50 * time.Millisecond, LineTime: time.Millisecond, PollInterval: time.Hour},
			doc:  &traceDoc,
			ops: concat(status(t, ready...),
				[]conntest.IO{w(t, "1D 72 01"), w(t, strings.TrimSuffix(traceBytes, " 1D 72 01"))},
				status(t, ready...)),
		},
		{
			// The same printer out of paper after the document: it is not
			// reported printed, and what it may hold is cleared.
			name: "print, no GS r, paper out",
			opts: escpos.Opts{StatusTimeout: 50 * time.Millisecond, LineTime: time.Millisecond, PollInterval: time.Hour},
			doc:  &traceDoc,
			ops: concat(status(t, ready...),
				[]conntest.IO{w(t, "1D 72 01"), w(t, strings.TrimSuffix(traceBytes, " 1D 72 01"))},
				status(t, paperOut...),
				[]conntest.IO{w(t, clearBuffers), r(t, "37 25 00")}),
			want: printer.ErrPaperOut,
		},
		{
			// XOFF (13) before the document: nothing is written until XON
			// (11); the status is asked meanwhile.
			name: "XOFF",
			doc:  &traceDoc,
			ops: concat(status(t, "12", "12", "12", "13 12"),
				status(t, "12", "12", "12", "11 12"), probe(t),
				[]conntest.IO{w(t, traceBytes), r(t, "00")},
				status(t, ready...)),
		},
		{
			// XOFF, then the printer reports its cover open: the document
			// is abandoned before its first byte.
			name: "XOFF then cover open",
			doc:  &traceDoc,
			ops: concat(status(t, "12", "12", "12", "13 12"),
				status(t, coverOpen...)),
			want: printer.ErrCoverOpen,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			pb := &conntest.Playback{Ops: c.ops, DontPanic: true}
			port := &playPort{pb: pb}
			o := c.opts
			if o.PollInterval == 0 {
				o.PollInterval = 5 * time.Millisecond
			}
			if o.StatusTimeout == 0 {
				o.StatusTimeout = 5 * time.Second
			}
			d, err := escpos.New(port, &o)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Halt()
			if c.doc == nil {
				st, err := d.Status(ctx(t))
				if err != nil || st != c.st {
					t.Fatalf("Status: %+v, %v; want %+v", st, err, c.st)
				}
			} else if err := d.Print(ctx(t), *c.doc); !errors.Is(err, c.want) {
				t.Fatalf("Print: %v, want %v", err, c.want)
			}
			if err := pb.Close(); err != nil {
				t.Fatal(err)
			}
			if len(port.wbuf) != 0 {
				t.Fatalf("unmatched write % X", port.wbuf)
			}
		})
	}
}

// TestParseStatus decodes sample answers per the DLE EOT bit tables.
func TestParseStatus(t *testing.T) {
	for _, c := range []struct {
		raw  [4]byte
		want escpos.Detail
	}{
		{[4]byte{0x12, 0x12, 0x12, 0x12}, escpos.Detail{}},
		{[4]byte{0x16, 0x1A, 0x12, 0x12}, escpos.Detail{DrawerHigh: true, FeedButton: true}},
		{[4]byte{0x1A, 0x32, 0x12, 0x7E}, escpos.Detail{Offline: true, PaperEndStop: true, NearEnd: true, PaperEnd: true}},
		{[4]byte{0x1A, 0x56, 0x72, 0x12}, escpos.Detail{Offline: true, CoverOpen: true, ErrorStop: true, Unrecoverable: true, AutoRecoverable: true}},
		// One bit per sensor (Citizen): still near end, still paper end.
		{[4]byte{0x12, 0x12, 0x12, 0x36}, escpos.Detail{NearEnd: true, PaperEnd: true}},
		// Undefined bits (n=1 bits 5-6, n=3 bit 2) are ignored.
		{[4]byte{0x72, 0x12, 0x16, 0x12}, escpos.Detail{}},
	} {
		got, err := escpos.ParseStatus(c.raw)
		if err != nil || got != c.want {
			t.Errorf("% X: %+v, %v; want %+v", c.raw, got, err, c.want)
		}
	}
	for _, raw := range [][4]byte{
		{0x13, 0x12, 0x12, 0x12}, // XOFF
		{0x12, 0x11, 0x12, 0x12}, // XON
		{0x12, 0x12, 0x00, 0x12}, // a GS r answer
		{0x12, 0x12, 0x12, 0x92}, // bit 7
		{0x12, 0x12, 0x12, 0x10}, // ASB first byte
	} {
		if _, err := escpos.ParseStatus(raw); !errors.Is(err, escpos.ErrBadStatus) {
			t.Errorf("% X accepted: %v", raw, err)
		}
	}
}

// FuzzParseStatus: a status is accepted exactly when every byte has the
// fixed bits, and what is decoded encodes back to the same state.
func FuzzParseStatus(f *testing.F) {
	f.Add(byte(0x12), byte(0x12), byte(0x12), byte(0x12))
	f.Add(byte(0x1A), byte(0x32), byte(0x12), byte(0x7E))
	f.Add(byte(0x13), byte(0x11), byte(0x00), byte(0xFF))
	f.Fuzz(func(t *testing.T, a, b, c, d byte) {
		raw := [4]byte{a, b, c, d}
		det, err := escpos.ParseStatus(raw)
		valid := escpos.IsStatusByte(a) && escpos.IsStatusByte(b) && escpos.IsStatusByte(c) && escpos.IsStatusByte(d)
		if (err == nil) != valid {
			t.Fatalf("% X: err %v, valid %v", raw, err, valid)
		}
		if err != nil {
			if det != (escpos.Detail{}) {
				t.Fatalf("% X: a detail with an error", raw)
			}
			return
		}
		again, err := escpos.ParseStatus(det.Bytes())
		if err != nil || again != det {
			t.Fatalf("% X: %+v encodes to % X: %+v, %v", raw, det, det.Bytes(), again, err)
		}
		if st := det.Status(); st.Ready() != (st.Err() == nil) {
			t.Fatalf("%+v", st)
		}
	})
}
