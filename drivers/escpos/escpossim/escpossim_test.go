package escpossim_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"posd/conn/printer"
	"posd/drivers/escpos/escpossim"
	"posd/internal/testhex"
)

// ask sends b on a fresh in-memory link and returns what the printer
// answered.
func ask(t *testing.T, s *escpossim.Sim, b []byte) []byte {
	t.Helper()
	p := s.Port(5 * time.Millisecond)
	if _, err := p.Write(b); err != nil {
		t.Fatal(err)
	}
	var out []byte
	buf := make([]byte, 64)
	for {
		n, err := p.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out
		}
	}
}

var queryAll = testhex.Must("10 04 01 10 04 02 10 04 03 10 04 04")

// TestStatusBytes checks the answers to DLE EOT 1-4 against the bit
// tables of the Epson ESC/POS Command Reference (DLE EOT): bits 1 and 4
// fixed on; n=1 bit 3 off-line; n=2 bit 2 cover open, bit 5 paper-end
// stop, bit 6 error; n=3 bit 3 autocutter, bit 5 unrecoverable, bit 6
// auto-recoverable; n=4 bits 2-3 near end, bits 5-6 paper end.
func TestStatusBytes(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(*escpossim.Sim)
		want string
	}{
		{"ready", func(*escpossim.Sim) {}, "12 12 12 12"},
		{"near end", func(s *escpossim.Sim) { s.LoadPaper(10) }, "12 12 12 1E"},
		{"paper out", func(s *escpossim.Sim) { s.LoadPaper(1); s.Receive([]byte("a\nb\n")) }, "1A 32 12 7E"},
		{"cover open", func(s *escpossim.Sim) { s.SetCover(true) }, "1A 16 12 12"},
		{"cutter", func(s *escpossim.Sim) { s.SetFault(escpossim.FaultCutter) }, "1A 52 1A 12"},
		{"unrecoverable", func(s *escpossim.Sim) { s.SetFault(escpossim.FaultUnrecoverable) }, "1A 52 32 12"},
		{"head hot", func(s *escpossim.Sim) { s.SetFault(escpossim.FaultHeadHot) }, "1A 52 52 12"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := escpossim.New(&escpossim.Opts{NearEndLines: 10})
			c.set(s)
			got := ask(t, s, queryAll)
			if testhex.Upper(got) != strings.ReplaceAll(c.want, " ", "") {
				t.Errorf("answered % X, want %s", got, c.want)
			}
			if sb := s.StatusBytes(); !bytes.Equal(sb[:], got) {
				t.Errorf("StatusBytes % X", sb)
			}
		})
	}
}

// Real-time commands are answered on arrival, even inside another
// command's parameters and while a GB code is half received.
func TestRealTime(t *testing.T) {
	s := escpossim.New(&escpossim.Opts{Chinese: true})
	if got := ask(t, s, testhex.Must("1B 61 10 04 01")); !bytes.Equal(got, []byte{0x12}) {
		t.Errorf("% X", got)
	}
	if got := ask(t, s, testhex.Must("1C 26 BA 10 04 04")); !bytes.Equal(got, []byte{0x12}) {
		t.Errorf("% X", got)
	}
	// n outside 1-4 is not answered.
	if got := ask(t, s, testhex.Must("10 04 05 10 04 00")); len(got) != 0 {
		t.Errorf("% X", got)
	}
}

func render(t *testing.T, s *escpossim.Sim) string {
	t.Helper()
	var sb strings.Builder
	for _, d := range s.Documents() {
		sb.WriteString(d.Text(32))
		sb.WriteString("--\n")
	}
	sb.WriteString(escpossim.Doc{Lines: s.Pending()}.Text(32))
	return sb.String()
}

func TestParse(t *testing.T) {
	s := escpossim.New(&escpossim.Opts{Chinese: true})
	s.Receive(testhex.Must(
		"1B 40" + // ESC @
			"1B 61 01 1B 45 01 1D 21 11 53 48 4F 50 0A" + // centre, bold, large "SHOP"
			"1B 61 02 1B 45 00 1D 21 00 31 2E 30 30 0A" + // right "1.00"
			"1B 61 00 61 09 62 0A" + // left, a HT b
			"1B 21 38 42 0A 1B 21 00" + // ESC ! bold + double: "B"
			"1C 2E 82 0A" + // out of Chinese mode (on at power-on): PC437 é
			"1C 26 BA CF BC C6 20 81 30 8B 32 1C 2E 0A" + // 合计 ö
			"1D 56 42 00")) // feed and cut
	docs := s.Documents()
	if len(docs) != 1 || docs[0].Cut != escpossim.Partial || len(s.Pending()) != 0 {
		t.Fatalf("%+v, pending %v", docs, s.Pending())
	}
	want := "" +
		"            S H O P\n" +
		"                            1.00\n" +
		"a       b\n" +
		"B\n" +
		"é\n" +
		"合计 ö\n"
	if got := docs[0].Text(32); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	l := docs[0].Lines
	if !l[0].Bold || !l[0].Large() || l[0].Align != printer.Center || l[1].Bold || l[1].Align != printer.Right || !l[3].Large() || !l[3].Bold {
		t.Errorf("%+v", l)
	}
	if st := s.Stats(); st.Unknown != 0 || st.Overflows != 0 {
		t.Errorf("%+v", st)
	}
}

func TestAlignOnlyAtLineStart(t *testing.T) {
	s := escpossim.New(nil)
	s.Receive(testhex.Must("61 1B 61 02 62 0A 63 0A"))
	if got := render(t, s); got != "ab\nc\n" {
		t.Errorf("%q", got)
	}
}

func TestOverflow(t *testing.T) {
	s := escpossim.New(nil)
	s.Receive([]byte(strings.Repeat("x", 40) + "\n"))
	s.Receive(testhex.Must("1D 21 11"))
	s.Receive([]byte(strings.Repeat("y", 17) + "\n"))
	p := s.Pending()
	if len(p) != 4 || len(p[0].Text) != 32 || !p[0].Overflow || p[1].Overflow || len(p[2].Text) != 16 || s.Stats().Overflows != 2 {
		t.Errorf("%+v", p)
	}
}

// The cutter is above the head: a cut without feed leaves the last
// lines for the next document.
func TestCutWithoutFeed(t *testing.T) {
	s := escpossim.New(&escpossim.Opts{CutterLines: 3})
	s.Receive([]byte("1\n2\n3\n4\n5\n"))
	s.Receive(testhex.Must("1D 56 01"))
	docs := s.Documents()
	if len(docs) != 1 || len(docs[0].Lines) != 2 || len(s.Pending()) != 3 {
		t.Fatalf("%+v pending %+v", docs, s.Pending())
	}
	s.Receive(testhex.Must("1D 56 41 00")) // feed and full cut
	docs = s.Documents()
	if len(docs) != 2 || docs[1].Cut != escpossim.Full || docs[1].Text(32) != "3\n4\n5\n" {
		t.Fatalf("%+v", docs)
	}
}

// Commands with data are skipped whole; what follows prints.
func TestSkipData(t *testing.T) {
	s := escpossim.New(nil)
	s.Receive(testhex.Must(
		"1D 76 30 00 02 00 03 00 0A 0A 0A 0A 0A 0A" + // raster 16x3, data of LFs
			"1D 28 4C 02 00 30 0A" + // GS ( L, 2 bytes
			"1D 6B 04 31 32 0A 00" + // CODE39 up to NUL
			"1D 6B 49 03 7B 42 0A" + // CODE128, 3 bytes
			"1B 2A 00 02 00 0A 0A" + // bit image, 2 columns
			"1B 44 08 10 00" + // tabs
			"1B FE" + // unknown
			"6F 6B 0A"))
	if got := render(t, s); got != "[raster 16x3]\nok\n" {
		t.Errorf("%q", got)
	}
	if st := s.Stats(); st.Unknown != 1 {
		t.Errorf("%+v", st)
	}
}

func TestGSr(t *testing.T) {
	s := escpossim.New(&escpossim.Opts{PaperLines: 12, NearEndLines: 10})
	if got := ask(t, s, testhex.Must("1D 72 01")); !bytes.Equal(got, []byte{0}) {
		t.Errorf("% X", got)
	}
	s.Receive([]byte("\n\n"))
	if got := ask(t, s, testhex.Must("1D 72 31")); !bytes.Equal(got, []byte{3}) {
		t.Errorf("% X", got)
	}
	// Off-line: held, answered once the printer is back on line.
	s.SetCover(true)
	p := s.Port(5 * time.Millisecond)
	p.Write(testhex.Must("1D 72 01"))
	buf := make([]byte, 4)
	if n, _ := p.Read(buf); n != 0 {
		t.Errorf("answered off-line: % X", buf[:n])
	}
	s.SetCover(false)
	if n, _ := p.Read(buf); n != 1 || buf[0] != 3 {
		t.Errorf("after the cover closed: % X", buf[:n])
	}
	// A printer without GS r answers DLE EOT only.
	s = escpossim.New(&escpossim.Opts{NoGSr: true})
	if got := ask(t, s, testhex.Must("1D 72 01 10 04 01")); !bytes.Equal(got, []byte{0x12}) {
		t.Errorf("% X", got)
	}
}

// The roll ends in the middle of the data: the printer keeps the line
// it was printing and what follows, and prints them on the next roll.
func TestPaperOut(t *testing.T) {
	s := escpossim.New(&escpossim.Opts{PaperLines: 3, XonXoff: true})
	got := ask(t, s, []byte("1\n2\n3\n4\n5\n"))
	if !bytes.Equal(got, []byte{0x13}) || len(s.Pending()) != 3 || s.PaperLeft() != 0 {
		t.Fatalf("% X %+v", got, s.Pending())
	}
	if st := s.Stats(); st.Dropped != 0 || s.Held() != 4 {
		t.Errorf("%+v, %d held", st, s.Held())
	}
	p := s.Port(5 * time.Millisecond)
	s.LoadPaper(0)
	buf := make([]byte, 4)
	if n, _ := p.Read(buf); n != 1 || buf[0] != 0x11 {
		t.Errorf("% X", buf[:n])
	}
	if d := s.Documents(); len(d) != 1 || d[0].Cut != escpossim.Torn || len(d[0].Lines) != 3 {
		t.Errorf("%+v", d)
	}
	if got := render(t, s); !strings.HasSuffix(got, "--\n4\n5\n") || s.Held() != 0 {
		t.Errorf("after the new roll: %q", got)
	}
	// The line under which the paper ran out prints first.
	s = escpossim.New(&escpossim.Opts{PaperLines: 2})
	s.Receive([]byte("1\n2\n"))
	s.Receive([]byte("3\n4\n"))
	s.LoadPaper(10)
	if got := render(t, s); got != "1\n2\n--\n3\n4\n" {
		t.Errorf("%q", got)
	}
}

var clearCmd = testhex.Must("10 14 08 01 03 14 01 06 02 08")

// DLE DC4 fn=8 clears what the printer holds, on arrival, even off-line,
// and answers 37 25 00; a printer without it keeps the data.
func TestClear(t *testing.T) {
	for _, noClear := range []bool{false, true} {
		s := escpossim.New(&escpossim.Opts{PaperLines: 2, NoClear: noClear})
		s.Receive([]byte("1\n2\n3\n4\n"))
		s.Receive(testhex.Must("1D 56 42 00"))
		got := ask(t, s, clearCmd)
		s.LoadPaper(10)
		docs := render(t, s)
		if noClear {
			if len(got) != 0 || docs != "1\n2\n--\n3\n4\n--\n" || s.Stats().Cleared != 0 {
				t.Errorf("without clear: answered % X, printed %q", got, docs)
			}
			continue
		}
		if !bytes.Equal(got, []byte{0x37, 0x25, 0}) || docs != "1\n2\n--\n" || s.Held() != 0 || s.Stats().Cleared != 1 {
			t.Errorf("answered % X, printed %q", got, docs)
		}
	}
	// On line it drops the line not yet printed and keeps the modes.
	s := escpossim.New(nil)
	s.Receive(testhex.Must("1B 45 01 61 62"))
	if got := ask(t, s, clearCmd); !bytes.Equal(got, []byte{0x37, 0x25, 0}) {
		t.Errorf("% X", got)
	}
	s.Receive([]byte("c\n"))
	if p := s.Pending(); len(p) != 1 || p[0].Text != "c" || !p[0].Bold {
		t.Errorf("%+v", p)
	}
	if st := s.Stats(); st.Unknown != 0 {
		t.Errorf("%+v", st)
	}
}

func TestFlowControl(t *testing.T) {
	s := escpossim.New(&escpossim.Opts{XonXoff: true})
	p := s.Port(5 * time.Millisecond)
	s.SetCover(true)
	s.SetBusy(true) // already XOFF: nothing more
	s.SetCover(false)
	s.SetBusy(false)
	p.Write([]byte("x"))
	s.SetBusy(true)
	p.Write(testhex.Must("10 04 01 79"))
	buf := make([]byte, 8)
	n, _ := p.Read(buf)
	// XOFF (cover), XON (busy and cover over), XOFF (busy), the status.
	if testhex.Upper(buf[:n]) != "13111312" {
		t.Errorf("% X", buf[:n])
	}
	if st := s.Stats(); st.WhileBusy != 1 {
		t.Errorf("%+v", st)
	}
}

func TestServePTYEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := escpossim.New(nil)
	if _, err := s.ServePTY(ctx); err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	cancel()
	s.Wait()
}

// FuzzParse feeds arbitrary host bytes, then a new roll: the simulator
// must not panic and must keep its roll and lines within bounds.
func FuzzParse(f *testing.F) {
	f.Add(testhex.Must("1B 40 1B 61 01 1B 45 01 1D 21 11 53 0A 1D 56 42 00 1D 72 01"))
	f.Add(testhex.Must("1C 26 BA CF 81 30 8B 32 BA 0A 1C 2E 10 04 01"))
	f.Add(testhex.Must("1D 76 30 00 FF FF FF FF 00"))
	f.Add(testhex.Must("1B 44 01 02 1D 6B 04 31 1D 28 4C FF FF 10 14 08 01"))
	f.Add(testhex.Must("31 0A 32 0A 33 0A 10 14 08 01 03 14 01 06 02 08 34 0A"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := escpossim.New(&escpossim.Opts{Chinese: true, PaperLines: 50, NearEndLines: 5, XonXoff: true})
		p := s.Port(time.Millisecond)
		p.Write(b)
		// What the printer held when the roll ran out prints on the
		// next one.
		s.LoadPaper(0)
		if l := s.PaperLeft(); l < 0 || l > 50 {
			t.Fatalf("paper left %d", l)
		}
		all := s.Pending()
		for _, d := range s.Documents() {
			all = append(all, d.Lines...)
		}
		for _, l := range all {
			if l.Width < 1 || l.Width > 8 || l.Height < 1 || l.Height > 8 {
				t.Fatalf("%+v", l)
			}
			// A line of one size (Mixed: Width is its first character's).
			if !l.Mixed && !strings.HasPrefix(l.Text, "[raster") && printer.Width(l.Text)*l.Width > 32 {
				t.Fatalf("line wider than the paper: %+v", l)
			}
		}
		st := s.Stats()
		if st.Unknown < 0 || st.Dropped < 0 || st.WhileBusy < 0 {
			t.Fatalf("%+v", st)
		}
	})
}
