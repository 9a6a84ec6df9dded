package escpos

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"posd/conn/printer"
	"posd/drivers/escpos/escpossim"
)

type nopPort struct{}

func (nopPort) Write(b []byte) (int, error) { return len(b), nil }
func (nopPort) Read([]byte) (int, error)    { return 0, nil }

// newIdle is a Dev whose reader is stopped, to feed take by hand.
func newIdle(t testing.TB) *Dev {
	d, err := New(nopPort{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Halt()
	return d
}

func (d *Dev) paused() bool {
	d.fcMu.Lock()
	defer d.fcMu.Unlock()
	select {
	case <-d.resume:
		return false
	default:
		return true
	}
}

// TestTake sorts the printer's bytes by their fixed bits.
func TestTake(t *testing.T) {
	d := newIdle(t)
	for _, b := range []byte{
		0x13,                   // XOFF
		0x14, 0x00, 0x13, 0x0F, // ASB: first byte, two of its three, XOFF among them
		0x00,       // the third ASB byte
		0x12,       // DLE EOT answer
		0x0C,       // GS r answer
		0xFF, 0x81, // noise
		0x11,             // XON
		0x32,             // DLE EOT answer
		0x37, 0x25, 0x00, // DLE DC4 fn=8 answer
		0x37, 0x12, // a header and a DLE EOT answer: noise and the answer
	} {
		d.take(b)
	}
	if d.paused() || len(d.answers) != 3 || len(d.syncs) != 1 || len(d.cleared) != 1 || d.noise != 3 || d.asb != 0 || d.blk != 0 {
		t.Fatalf("paused %v, %d answers, %d syncs, %d cleared, noise %d, asb %d, blk %d",
			d.paused(), len(d.answers), len(d.syncs), len(d.cleared), d.noise, d.asb, d.blk)
	}
	if a, b := <-d.answers, <-d.answers; a != 0x12 || b != 0x32 {
		t.Errorf("answers %x %x", a, b)
	}
	d.take(0x13)
	if !d.paused() {
		t.Error("XOFF not taken")
	}
}

func TestWrapUnits(t *testing.T) {
	cs := newCharset(true, false)
	for _, c := range []struct {
		in   string
		cols int
		want string
	}{
		{"", 8, ""},
		{"   ", 2, ""},
		{"ab  cd", 8, "ab  cd"},
		{"abcd efgh", 4, "abcd|efgh"},
		{"abcd  efgh", 4, "abcd|efgh"},
		{"ab cdefghij", 4, "ab|cdef|ghij"},
		{"中文字", 4, "中文|字"},
		{"a中文", 4, "a中|文"},
		{"中", 1, "中"},
	} {
		var got []string
		for _, l := range wrap(cs.glyphs(c.in), c.cols) {
			got = append(got, text(l))
		}
		if g := strings.Join(got, "|"); g != c.want {
			t.Errorf("%q at %d: %q, want %q", c.in, c.cols, g, c.want)
		}
	}
}

// text is the glyphs as the simulator prints them.
func text(gs []glyph) string {
	var b []byte
	for _, g := range gs {
		b = append(b, g.b...)
	}
	s, _ := simplifiedchinese.GB18030.NewDecoder().String(string(b))
	return s
}

// FuzzTake: any byte stream from the printer is sorted without a panic,
// and only bytes with the fixed bits are taken as status answers.
func FuzzTake(f *testing.F) {
	f.Add([]byte{0x13, 0x14, 0x00, 0x13, 0x0F, 0x00, 0x12, 0x0C, 0xFF, 0x11})
	f.Add([]byte{0x37, 0x25, 0x00, 0x37, 0x13, 0x25, 0x00, 0x37, 0x12, 0x37, 0x25, 0x12})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := newIdle(t)
		for _, c := range b {
			d.take(c)
		}
		for len(d.answers) > 0 {
			if a := <-d.answers; !IsStatusByte(a) {
				t.Fatalf("answer %#x", a)
			}
		}
		for len(d.syncs) > 0 {
			if s := <-d.syncs; s&gsrMask != 0 {
				t.Fatalf("GS r answer %#x", s)
			}
		}
		// A clear answer only after 37 25 00 (XON/XOFF aside).
		var rest []byte
		for _, c := range b {
			if c != xon && c != xoff {
				rest = append(rest, c)
			}
		}
		if len(d.cleared) > 0 && !bytes.Contains(rest, []byte{0x37, 0x25, 0x00}) {
			t.Fatalf("clear answer taken from % x", b)
		}
	})
}

// FuzzRender prints arbitrary text on the simulator: whatever the text,
// the printer executes only the driver's own commands, no line overflows
// the paper, and what is printed is the text (with '?' for what the
// printer has no glyph for, less control characters and the spaces at a
// cut).
func FuzzRender(f *testing.F) {
	f.Add("Total 12.00", false, false)
	f.Add("欢迎光临 合计 ￥12.00", true, true)
	f.Add("ACME\x1b@\x1dV\x00\x10\x04\x01\u009b\u2028\xff", false, true)
	f.Fuzz(func(t *testing.T, s string, large, chinese bool) {
		const cols = 32
		sim := escpossim.New(&escpossim.Opts{Columns: cols, Chinese: chinese})
		cs := newCharset(chinese, false)
		doc := printer.Doc{Lines: []printer.Line{{Text: s, Large: large, Bold: true, Align: printer.Right}}}
		kanji := false
		chunks, _ := render(doc, cols, cs)
		for _, c := range chunks {
			if strings.Contains(string(c), string(cmdKanjiOn)) {
				kanji = true
			}
			sim.Receive(c)
		}
		want := 1 + 3 + 1 // ESC @, the line's modes, GS V
		if kanji {
			want += 2
		}
		st := sim.Stats()
		if st.Unknown != 0 || st.Overflows != 0 || st.Commands != want {
			t.Fatalf("%q: %+v, want %d commands", s, st, want)
		}
		docs := sim.Documents()
		if len(docs) != 1 || len(sim.Pending()) != 0 {
			t.Fatalf("%q: %d documents", s, len(docs))
		}
		var got strings.Builder
		for _, l := range docs[0].Lines {
			if l.Mixed || l.Overflow || !l.Bold || l.Align != printer.Right || l.Large() != large {
				t.Fatalf("%q: %+v", s, l)
			}
			got.WriteString(l.Text)
		}
		exp := text(cs.glyphs(s))
		if strings.ReplaceAll(got.String(), " ", "") != strings.ReplaceAll(exp, " ", "") {
			t.Fatalf("%q printed %q, want %q", s, got.String(), exp)
		}
	})
}

// scriptPort answers DLE EOT at once, ready, and calls onSync in a
// goroutine for each GS r 1.
type scriptPort struct {
	in     chan byte
	onSync func(p *scriptPort)
}

func (p *scriptPort) Write(b []byte) (int, error) {
	for i := 0; i+2 < len(b); i++ {
		switch {
		case b[i] == 0x10 && b[i+1] == 0x04:
			p.in <- 0x12
		case b[i] == 0x1D && b[i+1] == 0x72:
			go p.onSync(p)
		}
	}
	return len(b), nil
}

func (p *scriptPort) Read(b []byte) (int, error) {
	select {
	case c := <-p.in:
		b[0] = c
		return 1, nil
	case <-time.After(time.Millisecond):
		return 0, nil
	}
}

// A slip the printer kept while off-line (it could not clear it) answers
// its GS r once the printer is back, after the reprint was sent: that
// answer does not confirm the reprint, the next one does.
func TestOwedAnswer(t *testing.T) {
	var mu sync.Mutex
	own := false // the reprint's own answer was sent
	port := &scriptPort{in: make(chan byte, 64), onSync: func(p *scriptPort) {
		p.in <- 0x00 // the kept slip's
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		own = true
		mu.Unlock()
		p.in <- 0x00
	}}
	d, err := New(port, &Opts{PollInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Halt()
	d.owed, d.gsr = 1, gsrYes
	if err := d.Print(context.Background(), printer.Doc{Lines: []printer.Line{{Text: "x"}}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !own || d.owed != 0 {
		t.Fatalf("confirmed by the kept slip's answer (owed %d)", d.owed)
	}
}
