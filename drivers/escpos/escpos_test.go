package escpos_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/conn/clock"
	"posd/conn/printer"
	"posd/drivers/escpos"
	"posd/drivers/escpos/escpossim"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// recorder keeps every byte written to the port.
type recorder struct {
	io.ReadWriter
	mu sync.Mutex
	w  bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	r.w.Write(b)
	r.mu.Unlock()
	return r.ReadWriter.Write(b)
}

func (r *recorder) written() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.w.Bytes())
}

// rig is a driver on a simulated printer.
type rig struct {
	dev  *escpos.Dev
	sim  *escpossim.Sim
	port *recorder
}

func newRig(t *testing.T, so *escpossim.Opts, o *escpos.Opts) rig {
	t.Helper()
	sim := escpossim.New(so)
	port := &recorder{ReadWriter: sim.Port(2 * time.Millisecond)}
	if o == nil {
		o = &escpos.Opts{}
	}
	if so != nil && o.Columns == 0 {
		o.Columns = so.Columns
	}
	if o.StatusTimeout == 0 {
		o.StatusTimeout = time.Second
	}
	if o.PollInterval == 0 {
		o.PollInterval = 5 * time.Millisecond
	}
	if o.PrintTimeout == 0 {
		o.PrintTimeout = 5 * time.Second
	}
	if o.LineTime == 0 {
		o.LineTime = time.Millisecond
	}
	d, err := escpos.New(port, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Halt() })
	return rig{dev: d, sim: sim, port: port}
}

// lines renders sim lines as "align|B|L|text" for comparison.
func lines(ls []escpossim.Line) []string {
	var out []string
	for _, l := range ls {
		s := [...]string{"L", "C", "R"}[l.Align] + "|"
		if l.Bold {
			s += "B"
		}
		s += "|"
		switch {
		case l.Large():
			s += "2"
		case l.Width != 1 || l.Height != 1:
			s += "?"
		}
		if l.Mixed || l.Overflow {
			s += "!"
		}
		out = append(out, s+"|"+l.Text)
	}
	return out
}

func want(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("printed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func onlyDoc(t *testing.T, s *escpossim.Sim) escpossim.Doc {
	t.Helper()
	docs := s.Documents()
	if len(docs) != 1 {
		t.Fatalf("%d documents, want 1", len(docs))
	}
	if docs[0].Cut != escpossim.Partial {
		t.Errorf("cut %v, want partial", docs[0].Cut)
	}
	if st := s.Stats(); st.Unknown != 0 || st.Overflows != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
	return docs[0]
}

func TestPrintAttributes(t *testing.T) {
	r := newRig(t, nil, nil)
	doc := printer.Doc{Lines: []printer.Line{
		{Text: "SHOP", Align: printer.Center, Bold: true, Large: true},
		{Text: "12 Main Street", Align: printer.Center},
		{},
		{Text: "Total        12.00", Bold: true},
		{Text: "Thank you", Align: printer.Right},
	}}
	if err := r.dev.Print(ctx(t), doc); err != nil {
		t.Fatal(err)
	}
	d := onlyDoc(t, r.sim)
	want(t, lines(d.Lines), []string{
		"C|B|2|SHOP",
		"C|||12 Main Street",
		"L|||",
		"L|B||Total        12.00",
		"R|||Thank you",
	})
	if len(r.sim.Pending()) != 0 {
		t.Errorf("lines left under the cutter: %v", r.sim.Pending())
	}
	if r.dev.Columns() != 32 || r.dev.String() != "escpos(32 columns)" {
		t.Errorf("%d %s", r.dev.Columns(), r.dev)
	}
}

func TestWrap(t *testing.T) {
	r := newRig(t, &escpossim.Opts{Chinese: true}, &escpos.Opts{Chinese: true})
	doc := printer.Doc{Lines: []printer.Line{
		// 40 columns of words: cut at the last space that fits.
		{Text: "The quick brown fox jumps over the lazy dog", Align: printer.Center},
		// No space: cut at 32.
		{Text: strings.Repeat("0123456789", 4)},
		// Large: 16 columns.
		{Text: "TOTAL AMOUNT DUE 12.00", Large: true, Bold: true},
		// 17 Han characters = 34 columns: 16 then 1, never half a glyph.
		{Text: strings.Repeat("汉", 17)},
		// An odd column left: the wide character goes to the next line.
		{Text: "a" + strings.Repeat("字", 16)},
		// Exactly 32: one line; trailing spaces at a cut are dropped.
		{Text: strings.Repeat("x", 32)},
		{Text: strings.Repeat("y", 31) + "     z"},
	}}
	if err := r.dev.Print(ctx(t), doc); err != nil {
		t.Fatal(err)
	}
	d := onlyDoc(t, r.sim)
	want(t, lines(d.Lines), []string{
		"C|||The quick brown fox jumps over",
		"C|||the lazy dog",
		"L|||01234567890123456789012345678901",
		"L|||23456789",
		"L|B|2|TOTAL AMOUNT DUE",
		"L|B|2|12.00",
		"L|||" + strings.Repeat("汉", 16),
		"L|||汉",
		"L|||a" + strings.Repeat("字", 15),
		"L|||字",
		"L|||" + strings.Repeat("x", 32),
		"L|||" + strings.Repeat("y", 31),
		"L|||z",
	})
}

func TestWrap80mm(t *testing.T) {
	r := newRig(t, &escpossim.Opts{Columns: 48}, nil)
	text := strings.TrimSpace(strings.Repeat("word ", 12)) // 59 columns
	if err := r.dev.Print(ctx(t), printer.Doc{Lines: []printer.Line{{Text: text}, {Text: text, Large: true}}}); err != nil {
		t.Fatal(err)
	}
	d := onlyDoc(t, r.sim)
	want(t, lines(d.Lines), []string{
		"L|||" + strings.TrimSpace(strings.Repeat("word ", 9)),
		"L|||word word word",
		"L||2|word word word word word",
		"L||2|word word word word word",
		"L||2|word word",
	})
}

func TestChinese(t *testing.T) {
	text := "欢迎光临 合计 ￥12.00 镕"
	for _, c := range []struct {
		name   string
		so     escpossim.Opts
		o      escpos.Opts
		want   string
		chunks bool // FS & was sent
	}{
		{"GBK", escpossim.Opts{Chinese: true}, escpos.Opts{Chinese: true}, text, true},
		{"GB2312", escpossim.Opts{Chinese: true}, escpos.Opts{Chinese: true, GB2312: true}, "欢迎光临 合计 ￥12.00 ?", true},
		{"no font", escpossim.Opts{}, escpos.Opts{}, "???? ?? ?12.00 ?", false},
		// Outside two-byte GB: '?' whatever the font.
		{"four-byte", escpossim.Opts{Chinese: true}, escpos.Opts{Chinese: true}, "?", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, &c.so, &c.o)
			in := text
			if c.name == "four-byte" {
				in = "ö"
			}
			if err := r.dev.Print(ctx(t), printer.Doc{Lines: []printer.Line{{Text: in, Bold: true}}}); err != nil {
				t.Fatal(err)
			}
			want(t, lines(onlyDoc(t, r.sim).Lines), []string{"L|B||" + c.want})
			if got := bytes.Contains(r.port.written(), []byte{0x1C, 0x26}); got != c.chunks {
				t.Errorf("FS & sent: %v", got)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(*escpossim.Sim)
		want printer.Status
		err  error
	}{
		{"ready", func(*escpossim.Sim) {}, printer.Status{}, nil},
		{"near end", func(s *escpossim.Sim) { s.LoadPaper(5) }, printer.Status{PaperLow: true}, nil},
		{"paper out", func(s *escpossim.Sim) { s.LoadPaper(0); drain(s) }, printer.Status{PaperOut: true, PaperLow: true}, printer.ErrPaperOut},
		{"cover open", func(s *escpossim.Sim) { s.SetCover(true) }, printer.Status{CoverOpen: true}, printer.ErrCoverOpen},
		{"cutter jam", func(s *escpossim.Sim) { s.SetFault(escpossim.FaultCutter) }, printer.Status{Fault: true}, printer.ErrFault},
		{"head hot", func(s *escpossim.Sim) { s.SetFault(escpossim.FaultHeadHot) }, printer.Status{Fault: true}, printer.ErrFault},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, &escpossim.Opts{NearEndLines: 10}, nil)
			c.set(r.sim)
			st, err := r.dev.Status(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if st != c.want {
				t.Errorf("status %+v, want %+v", st, c.want)
			}
			before := len(r.port.written())
			pending := len(r.sim.Pending())
			err = r.dev.Print(ctx(t), printer.Doc{Lines: []printer.Line{{Text: "x"}}})
			if !errors.Is(err, c.err) {
				t.Fatalf("Print: %v, want %v", err, c.err)
			}
			if c.err == nil {
				return
			}
			// Nothing but the four status requests was sent.
			if got := r.port.written()[before:]; !bytes.Equal(got, []byte{0x10, 4, 1, 0x10, 4, 2, 0x10, 4, 3, 0x10, 4, 4}) {
				t.Errorf("sent % x", got)
			}
			if len(r.sim.Documents()) != 0 || len(r.sim.Pending()) != pending {
				t.Error("printed")
			}
		})
	}
}

// drain empties the roll by printing on it directly.
func drain(s *escpossim.Sim) {
	for s.PaperLeft() > 0 {
		s.Receive([]byte("\n"))
	}
}

func TestDetail(t *testing.T) {
	r := newRig(t, nil, nil)
	r.sim.SetCover(true)
	r.sim.SetFault(escpossim.FaultUnrecoverable)
	det, err := r.dev.Detail(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if det != (escpos.Detail{Offline: true, CoverOpen: true, ErrorStop: true, Unrecoverable: true}) {
		t.Errorf("%+v", det)
	}
}

// The roll runs out in the middle of a slip. The printer keeps the rest
// of it; the driver clears that (DLE DC4 fn=8) as it reports the slip
// incomplete, so once a roll is loaded only the reprint comes out: the
// torn half and one full slip, no tail.
func TestPaperRunsOut(t *testing.T) {
	for _, c := range []struct {
		name                    string
		xonxoff, noClear, noGSr bool
	}{
		{"no flow control", false, false, false},
		{"XON/XOFF", true, false, false},
		{"printer cannot clear", false, true, false},
		{"printer cannot clear, XON/XOFF", true, true, false},
		// Without GS r the status after the data says paper out: the
		// slip is not reported printed.
		{"no GS r", false, false, true},
		{"no GS r, XON/XOFF", true, false, true},
		{"no GS r, printer cannot clear", false, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, &escpossim.Opts{PaperLines: 20, XonXoff: c.xonxoff, NoClear: c.noClear, NoGSr: c.noGSr}, nil)
			var doc printer.Doc
			for i := range 30 {
				doc.Lines = append(doc.Lines, printer.Line{Text: "line " + string(rune('A'+i))})
			}
			err := r.dev.Print(ctx(t), doc)
			if !errors.Is(err, printer.ErrPaperOut) {
				t.Fatalf("Print: %v, want ErrPaperOut", err)
			}
			if errors.Is(err, escpos.ErrNotCleared) != c.noClear {
				t.Errorf("Print: %v; the printer can clear: %v", err, !c.noClear)
			}
			if n := len(r.sim.Pending()); n != 20 || len(r.sim.Documents()) != 0 {
				t.Fatalf("%d lines printed, %d documents", n, len(r.sim.Documents()))
			}
			if held := r.sim.Held(); (held == 0) != !c.noClear {
				t.Errorf("the printer holds %d bytes", held)
			}
			// A new roll; the torn-off part is a document of its own.
			r.sim.LoadPaper(100)
			if err := r.dev.Print(ctx(t), doc); err != nil {
				t.Fatal(err)
			}
			docs := r.sim.Documents()
			if c.noClear {
				// The rest of the slip the printer got prints before the
				// reprint (cut off on its own when the cut had been sent;
				// with XON/XOFF the driver may have stopped before), and
				// the reprint is whole.
				var after []string
				for _, d := range docs[1:] {
					after = append(after, lines(d.Lines)...)
				}
				n := len(after)
				if len(docs) < 2 || docs[0].Cut != escpossim.Torn || len(docs[0].Lines) != 20 || n < 30 || n > 40 ||
					(n > 30 && after[0] != "L|||line U") || after[n-30] != "L|||line A" || after[n-1] != "L|||line ^" || docs[len(docs)-1].Cut != escpossim.Partial {
					t.Fatalf("documents %+v", docs)
				}
				return
			}
			if len(docs) != 2 || docs[0].Cut != escpossim.Torn || len(docs[0].Lines) != 20 || len(docs[1].Lines) != 30 || docs[1].Cut != escpossim.Partial {
				t.Fatalf("documents %+v", docs)
			}
			if len(r.sim.Pending()) != 0 {
				t.Errorf("pending %+v", r.sim.Pending())
			}
		})
	}
}

// A printer that answers DLE EOT but ignores GS r: the driver finds out
// once, with a GS r of its own before the first document, and then
// confirms each document by the status after its printing time.
func TestNoGSr(t *testing.T) {
	for _, noGSr := range []bool{true, false} {
		r := newRig(t, &escpossim.Opts{NoGSr: noGSr}, nil)
		doc := printer.Doc{Lines: []printer.Line{{Text: "SALE", Large: true}, {Text: "Total 12.00"}}}
		for range 2 {
			if err := r.dev.Print(ctx(t), doc); err != nil {
				t.Fatalf("no GS r %v: %v", noGSr, err)
			}
		}
		docs := r.sim.Documents()
		if len(docs) != 2 || len(docs[1].Lines) != 2 {
			t.Fatalf("no GS r %v: documents %+v", noGSr, docs)
		}
		// One GS r alone, before the first document; with each document
		// only on a printer that answers it.
		sent := r.port.written()
		probe := append([]byte{0x10, 4, 1, 0x10, 4, 2, 0x10, 4, 3, 0x10, 4, 4}, 0x1D, 0x72, 0x01, 0x1B, 0x40)
		n := bytes.Count(sent, []byte{0x1D, 0x72, 0x01})
		if !bytes.HasPrefix(sent, probe) || (noGSr && n != 1) || (!noGSr && n != 3) {
			t.Errorf("no GS r %v: %d GS r sent: % x", noGSr, n, sent)
		}
	}
}

func TestXOFF(t *testing.T) {
	r := newRig(t, nil, nil)
	r.sim.SetBusy(true)
	done := make(chan error, 1)
	go func() {
		done <- r.dev.Print(ctx(t), printer.Doc{Lines: []printer.Line{{Text: "after XON"}}})
	}()
	// The driver polls the status while it waits: let it do so twice.
	for r.sim.Stats().Status < 12 {
		time.Sleep(time.Millisecond)
	}
	if st := r.sim.Stats(); st.WhileBusy != 0 || st.Commands != st.Status {
		t.Fatalf("data sent after XOFF: %+v", st)
	}
	r.sim.SetBusy(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want(t, lines(onlyDoc(t, r.sim).Lines), []string{"L|||after XON"})
}

func TestXOFFThenCoverOpen(t *testing.T) {
	r := newRig(t, &escpossim.Opts{XonXoff: true}, nil)
	r.sim.SetBusy(true)
	done := make(chan error, 1)
	go func() {
		done <- r.dev.Print(ctx(t), printer.Doc{Lines: []printer.Line{{Text: "x"}}})
	}()
	for r.sim.Stats().Status < 8 {
		time.Sleep(time.Millisecond)
	}
	r.sim.SetCover(true)
	if err := <-done; !errors.Is(err, printer.ErrCoverOpen) {
		t.Fatalf("Print: %v, want ErrCoverOpen", err)
	}
}

func TestInjection(t *testing.T) {
	r := newRig(t, &escpossim.Opts{Chinese: true}, &escpos.Opts{Chinese: true})
	evil := []string{
		"ACME\x1b@\x1dV\x00Shop",            // ESC @, GS V 0
		"\x10\x04\x01\x10\x14\x01\x00\x05x", // DLE EOT, DLE DC4 (drawer pulse)
		"\x1bd\x09feed\r\nnext\fpage",       // ESC d, CR LF, FF
		"a\u009b2Jb\u0085c",                 // C1: CSI, NEL
		"l\u2028r\u202eevil\u200b",          // line separator, RTL override, ZWSP
		"tab\there",
		"bad\xff\xfeutf8",
		"e\u0301",
	}
	var doc printer.Doc
	for _, s := range evil {
		doc.Lines = append(doc.Lines, printer.Line{Text: s})
	}
	if err := r.dev.Print(ctx(t), doc); err != nil {
		t.Fatal(err)
	}
	d := onlyDoc(t, r.sim)
	want(t, lines(d.Lines), []string{
		"L|||ACME@VShop",
		"L|||x",
		"L|||d feednextpage",
		"L|||a2Jbc",
		"L|||lrevil",
		"L|||tab here",
		"L|||bad??utf8",
		"L|||e",
	})
	// 8 lines: ESC @, 3 mode commands each, the cut, GS r, the GS r
	// asked alone before the first document, the 8 DLE EOT.
	if st := r.sim.Stats(); st.Commands != 1+8*3+2+1+8 {
		t.Errorf("%d commands executed, want %d", st.Commands, 1+8*3+2+1+8)
	}
}

func TestNoiseAndStaleAnswers(t *testing.T) {
	r := newRig(t, nil, nil)
	// Noise, a stray GS r-like byte and XON before anything was asked.
	r.sim.SendRaw([]byte{0xFF, 0x80, 0x00, 0x11, 0x1E, 0x12})
	time.Sleep(20 * time.Millisecond)
	st, err := r.dev.Status(ctx(t))
	if err != nil || st != (printer.Status{}) {
		t.Fatalf("%+v %v", st, err)
	}
	if err := r.dev.Print(ctx(t), printer.Doc{Lines: []printer.Line{{Text: "ok"}}}); err != nil {
		t.Fatal(err)
	}
	onlyDoc(t, r.sim)
}

// silent is a printer that is off or unplugged: writes vanish, reads time out.
type silent struct{}

func (silent) Write(b []byte) (int, error) { return len(b), nil }
func (silent) Read([]byte) (int, error) {
	time.Sleep(time.Millisecond)
	return 0, io.EOF
}

func TestNoAnswer(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	port := &recorder{ReadWriter: silent{}}
	d, err := escpos.New(port, &escpos.Opts{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Halt()
	for _, f := range []func() error{
		func() error { _, err := d.Status(ctx(t)); return err },
		func() error { return d.Print(ctx(t), printer.Doc{Lines: []printer.Line{{Text: "x"}}}) },
	} {
		errc := make(chan error, 1)
		go func() { errc <- f() }()
		if err := clk.BlockUntil(ctx(t), 1); err != nil {
			t.Fatal(err)
		}
		clk.Advance(escpos.DefaultOpts.StatusTimeout)
		if err := <-errc; !errors.Is(err, printer.ErrNoAnswer) {
			t.Fatalf("%v, want ErrNoAnswer", err)
		}
	}
	if got := port.written(); !bytes.Equal(got, []byte{0x10, 4, 1, 0x10, 4, 1}) {
		t.Errorf("sent % x", got)
	}
}

func TestHalt(t *testing.T) {
	r := newRig(t, nil, nil)
	if err := r.dev.Halt(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.dev.Status(ctx(t)); !errors.Is(err, escpos.ErrHalted) {
		t.Fatalf("%v", err)
	}
	if err := r.dev.Print(ctx(t), printer.Doc{}); !errors.Is(err, escpos.ErrHalted) {
		t.Fatalf("%v", err)
	}
	r.dev.Halt()
}

func TestNew(t *testing.T) {
	if _, err := escpos.New(nil, nil); err == nil {
		t.Error("nil port")
	}
	for _, c := range []int{3, 256, -1} {
		if _, err := escpos.New(silent{}, &escpos.Opts{Columns: c}); err == nil {
			t.Errorf("columns %d accepted", c)
		}
	}
	d, err := escpos.New(silent{}, &escpos.Opts{Columns: 48, Chinese: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Halt()
	if d.String() != "escpos(48 columns, GBK)" {
		t.Error(d.String())
	}
}
