// Package escpossim simulates a serial ESC/POS thermal receipt printer
// (the command set of Epson's TM-T20 and TM-T88 and of the Chinese panel
// printers, Xprinter, Sprt, Hprt, with their FS Chinese-mode commands),
// byte for byte: it parses what the host sends, renders what would be
// printed into text lines with their attributes, cuts the paper into
// documents, answers real-time status requests (DLE EOT 1-4) and GS r 1,
// and models a roll of paper that runs out, a cover and faults.
//
// # What is modelled
//
//   - Real-time commands are taken on arrival, before and whatever the
//     command parser is doing, and even while the printer is off-line,
//     as a printer's receive interrupt does (Epson ESC/POS Command
//     Reference, DLE EOT); the answer bytes follow the reference's bit
//     tables (fixed bits 1 and 4 on, 0 and 7 off).
//   - Text: printable ASCII; bytes 0x80-0xFF in code page PC437 (the
//     default table); in Chinese (Kanji) mode, FS & to FS ., GB18030
//     codes of two or four bytes, two columns wide. A line that does
//     not fit the paper is printed where it overflows and goes on on the
//     next line, as the printers do (Stats.Overflows counts them).
//   - Modes: ESC @, ESC a (only at the start of a line, as the
//     reference says), ESC E, ESC ! (emphasis and double size), GS !
//     (width and height 1-8), FS & and FS . (with Opts.Chinese; a
//     printer without a Chinese font ignores them).
//   - Paper: the roll holds Opts.PaperLines lines; every printed line
//     takes its height, feeds take theirs. When the roll ends the printer
//     goes off-line and keeps the line it was printing and everything it
//     receives after it, as a real one keeps its print and receive
//     buffers: once a roll is loaded (or the cover closed, the fault
//     cleared) it prints them, so the rest of a slip cut short comes out
//     on the new roll, its GS r answered then. The near-end sensor trips
//     Opts.NearEndLines before the end.
//   - Buffer clear, DLE DC4 fn=8 (10 14 08 01 03 14 01 06 02 08, Epson
//     TM-T88III and later, TM-T90, TM-L90, Citizen CT-S): real-time,
//     executed on arrival even off-line; it discards the receive buffer
//     and the line being printed, keeps the modes, and answers 37 25 00.
//     With Opts.NoClear the printer ignores it, as many low-cost models
//     do. ESC @ clears only the line buffer, in its turn, after the data
//     before it: it cannot stop what the printer holds.
//   - Cutting: GS V 0/1/48/49 cut where the paper stands, GS V 65/66 n
//     feed the printed lines past the cutter first. The cutter is
//     Opts.CutterLines above the head, so lines printed just before a
//     cut without feed go out with the next document.
//   - Off-line (paper out, cover open, fault): only real-time commands
//     are executed; the rest waits in the receive buffer (Held).
//   - GS r 1 is answered once the data before it is processed; with
//     Opts.NoGSr the printer ignores it (low-cost models that answer
//     DLE EOT only).
//   - XON/XOFF: with Opts.XonXoff the printer sends XOFF when it goes
//     off-line and XON when it is back (BUSY condition "receive buffer
//     full/offline" of Epson's TM manuals); SetBusy sends them as a full
//     receive buffer does.
//
// Not modelled: page mode, bit-image and raster graphics (parsed and
// skipped; raster images feed the paper and show as a "[raster WxH]"
// line), barcodes (skipped), character spacing and fonts B/C, code pages
// other than PC437, user-defined characters, ASB, the receive buffer's
// size and printing speed.
package escpossim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"

	"posd/conn/printer"
	"posd/drivers/ptysim"
)

// Opts configure the simulated printer.
type Opts struct {
	// Columns of normal-size characters a line holds: 32 (58 mm), 48
	// (80 mm). Zero is 32.
	Columns int
	// Chinese: the printer has a GB18030 font and takes FS & / FS .
	Chinese bool
	// PaperLines is the length of the roll loaded at start, in lines;
	// zero is 10000.
	PaperLines int
	// NearEndLines: the near-end sensor trips when this many lines or
	// fewer are left (zero: only at the end).
	NearEndLines int
	// CutterLines is the distance from the head to the cutter, in
	// lines; zero is 3.
	CutterLines int
	// XonXoff: send XOFF on going off-line, XON on coming back.
	XonXoff bool
	// NoGSr: the printer ignores GS r (transmit status) and answers only
	// the real-time DLE EOT.
	NoGSr bool
	// NoClear: the printer ignores DLE DC4 fn=8 (clear buffers): what it
	// holds when it goes off-line prints when it comes back.
	NoClear bool
	// Logger receives diagnostics (counts, never text); nil discards.
	Logger *slog.Logger
}

// Line is one printed line.
type Line struct {
	Text  string
	Align printer.Align
	Bold  bool
	// Width and Height are the character magnification (1-8); a
	// printer.Line's Large is 2 and 2.
	Width, Height int
	// Mixed: the emphasis or size changed within the line (Bold, Width
	// and Height are its first character's).
	Mixed bool
	// Overflow: the printer broke the line because the text did not fit.
	Overflow bool
}

// Large reports double width and height.
func (l Line) Large() bool { return l.Width == 2 && l.Height == 2 }

// Cut is how a document was separated from the roll.
type Cut uint8

// Cuts.
const (
	Torn    Cut = iota // no cut: the roll ran out and a new one was loaded
	Partial            // one point left uncut
	Full
)

// Doc is what one cut (or a new roll) separated.
type Doc struct {
	Lines []Line
	Cut   Cut
}

// Text renders the document as plain text at columns: each line aligned,
// large characters followed by a space.
func (d Doc) Text(columns int) string {
	var sb strings.Builder
	for _, l := range d.Lines {
		t := l.Text
		w := printer.Width(t)
		if l.Width > 1 {
			var b strings.Builder
			for _, r := range t {
				b.WriteRune(r)
				b.WriteString(strings.Repeat(" ", (l.Width-1)*printer.RuneWidth(r)))
			}
			t, w = b.String(), w*l.Width
		}
		pad := 0
		switch l.Align {
		case printer.Center:
			pad = (columns - w) / 2
		case printer.Right:
			pad = columns - w
		}
		sb.WriteString(strings.Repeat(" ", max(pad, 0)))
		sb.WriteString(strings.TrimRight(t, " "))
		sb.WriteByte('\n')
	}
	return sb.String()
}

// Fault is an error condition of the printer (DLE EOT 3).
type Fault uint8

// Faults, as DLE EOT 3 reports them.
const (
	FaultCutter        Fault = 1 << iota // autocutter error, bit 3
	FaultUnrecoverable                   // bit 5
	FaultHeadHot                         // automatically recoverable error, bit 6
)

// Stats counts what the parser met.
type Stats struct {
	Commands  int // commands executed or skipped by design
	Unknown   int // commands and control bytes the simulator does not know
	Overflows int // lines the printer had to break
	Dropped   int // characters lost (the paper ran out in a tab)
	WhileBusy int // non-real-time bytes received after XOFF was sent
	Status    int // DLE EOT requests answered
	Cleared   int // DLE DC4 fn=8 buffer clears executed
}

// Sim is a simulated printer. It is safe for concurrent use.
type Sim struct {
	opts Opts
	log  *slog.Logger

	mu     sync.Mutex
	out    io.Writer // the host link
	stats  Stats
	docs   []Doc
	paper  []Line // printed, not yet cut off
	ys     []int  // where each line of paper ends, in lines from the last cut
	y      int    // paper fed since the last cut, in lines
	left   int    // lines left on the roll
	cover  bool
	fault  Fault
	busy   bool // SetBusy
	xoff   bool // XOFF sent and not yet XON
	parser parser
	rt     [len(clearCmd)]byte // the last bytes received, for real-time commands
	held   []byte              // received while off-line, not yet processed
	stuck  []stuckLine         // lines the paper ran out under

	wg sync.WaitGroup
}

// New returns a printer with a full roll, cover closed.
func New(opts *Opts) *Sim {
	var o Opts
	if opts != nil {
		o = *opts
	}
	if o.Columns <= 0 {
		o.Columns = 32
	}
	if o.PaperLines <= 0 {
		o.PaperLines = 10000
	}
	if o.CutterLines <= 0 {
		o.CutterLines = 3
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	s := &Sim{opts: o, log: lg, left: o.PaperLines}
	s.parser.reset(o.Chinese)
	return s
}

// Documents returns the documents cut so far, oldest first.
func (s *Sim) Documents() []Doc {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Doc, len(s.docs))
	for i, d := range s.docs {
		out[i] = Doc{Lines: append([]Line(nil), d.Lines...), Cut: d.Cut}
	}
	return out
}

// Pending returns the lines printed since the last cut.
func (s *Sim) Pending() []Line {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Line(nil), s.paper...)
}

// Stats returns the parser's counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// PaperLeft is how many lines are left on the roll.
func (s *Sim) PaperLeft() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.left
}

// Held is how many received bytes the printer holds, off-line, to
// process once it is back on line.
func (s *Sim) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held) + len(s.stuck)
}

// LoadPaper puts in a new roll of lines (zero: Opts.PaperLines; less
// than zero: none, the roll is taken out). What was printed and not cut
// is torn off as a document of its own; then what the printer held
// prints on the new roll.
func (s *Sim) LoadPaper(lines int) {
	if lines == 0 {
		lines = s.opts.PaperLines
	}
	lines = max(lines, 0)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.paper) > 0 {
		s.docs = append(s.docs, Doc{Lines: s.paper, Cut: Torn})
	}
	s.paper, s.ys, s.y = nil, nil, 0
	s.left = lines
	s.resume()
	s.flow()
}

// SetCover opens or closes the paper cover.
func (s *Sim) SetCover(open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cover = open
	s.resume()
	s.flow()
}

// SetFault sets the printer's error conditions (0 clears them).
func (s *Sim) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
	s.resume()
	s.flow()
}

// stuckLine is a line the paper ran out under: it prints first once the
// printer is back on line.
type stuckLine struct {
	l Line
	h int
}

// resume prints what the printer held while it was off-line, as far as
// it can.
func (s *Sim) resume() {
	if s.offline() {
		return
	}
	for len(s.stuck) > 0 {
		st := s.stuck[0]
		if !s.feed(st.h) {
			return
		}
		s.stuck = s.stuck[1:]
		s.paper = append(s.paper, st.l)
		s.ys = append(s.ys, s.y)
	}
	s.stuck = nil
	for len(s.held) > 0 && !s.offline() {
		c := s.held[0]
		s.held = s.held[1:]
		s.parser.feed(s, c)
	}
	if len(s.held) == 0 {
		s.held = nil
	}
}

// clearCmd is DLE DC4 fn=8, clear buffers (Epson ESC/POS Command
// Reference, "DLE DC4 (fn = 8)"), and clearAnswer its answer: header
// 37H, identifier 25H, NUL.
var (
	clearCmd    = [...]byte{0x10, 0x14, 0x08, 0x01, 0x03, 0x14, 0x01, 0x06, 0x02, 0x08}
	clearAnswer = []byte{0x37, 0x25, 0x00}
)

// clear executes DLE DC4 fn=8: the receive buffer and the line being
// printed are discarded, the modes stay.
func (s *Sim) clear() {
	s.stats.Cleared++
	s.held, s.stuck = nil, nil
	p := &s.parser
	p.clearLine()
	p.cmd, p.skip, p.until = p.cmd[:0], 0, 0
	s.log.Info("escpossim: buffers cleared")
	s.emit(clearAnswer...)
}

// SetBusy makes the printer send XOFF (its receive buffer is full) or,
// when it is on line, XON.
func (s *Sim) SetBusy(busy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy = busy
	s.flow()
}

func (s *Sim) paperOut() bool { return s.left <= 0 }

func (s *Sim) offline() bool { return s.paperOut() || s.cover || s.fault != 0 }

// flow sends XOFF or XON when the state calls for the other one.
func (s *Sim) flow() {
	want := s.busy || (s.opts.XonXoff && s.offline())
	if want == s.xoff {
		return
	}
	s.xoff = want
	if want {
		s.emit(0x13)
	} else {
		s.emit(0x11)
	}
}

// emit sends bytes to the host, or drops them without a link.
func (s *Sim) emit(b ...byte) {
	if s.out == nil {
		return
	}
	if _, err := s.out.Write(b); err != nil {
		s.log.Warn("escpossim: host link write failed", "err", err)
	}
}

// StatusBytes are the answers to DLE EOT 1 to 4 in the printer's
// present state (Epson ESC/POS Command Reference, DLE EOT).
func (s *Sim) StatusBytes() [4]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return [4]byte{s.dleEOT(1), s.dleEOT(2), s.dleEOT(3), s.dleEOT(4)}
}

func (s *Sim) dleEOT(n byte) byte {
	b := byte(0x12) // bits 1 and 4 fixed on
	on := func(c bool, bits byte) {
		if c {
			b |= bits
		}
	}
	switch n {
	case 1:
		on(s.offline(), 0x08)
	case 2:
		on(s.cover, 0x04)
		on(s.paperOut(), 0x20)
		on(s.fault != 0, 0x40)
	case 3:
		on(s.fault&FaultCutter != 0, 0x08)
		on(s.fault&FaultUnrecoverable != 0, 0x20)
		on(s.fault&FaultHeadHot != 0, 0x40)
	case 4:
		on(s.nearEnd(), 0x0C)
		on(s.paperOut(), 0x60)
	}
	return b
}

func (s *Sim) nearEnd() bool { return s.left <= s.opts.NearEndLines }

// gsr1 is the answer to GS r 1, paper sensor status: bits 0-1 near end,
// 2-3 paper end, 4 and 7 fixed off.
func (s *Sim) gsr1() byte {
	b := byte(0)
	if s.nearEnd() {
		b |= 0x03
	}
	if s.paperOut() {
		b |= 0x0C
	}
	return b
}

// Receive takes bytes from the host. Answers go to the host link (Port,
// Serve), or nowhere without one.
func (s *Sim) Receive(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range b {
		s.receive(c)
	}
}

func (s *Sim) receive(c byte) {
	if s.xoff {
		s.stats.WhileBusy++
	}
	n := len(s.rt)
	if s.rt[n-2] == 0x10 && s.rt[n-1] == 0x04 {
		if c >= 1 && c <= 4 {
			s.stats.Status++
			if s.xoff {
				s.stats.WhileBusy = max(s.stats.WhileBusy-3, 0)
			}
			s.emit(s.dleEOT(c))
		}
	}
	copy(s.rt[:], s.rt[1:])
	s.rt[n-1] = c
	// Off-line, the data waits in the receive buffer; the real-time
	// commands in it have been executed on arrival.
	if s.offline() || len(s.held) > 0 || len(s.stuck) > 0 {
		s.held = append(s.held, c)
	} else {
		s.parser.feed(s, c)
	}
	if s.rt == clearCmd {
		s.rt = [len(clearCmd)]byte{}
		if s.opts.NoClear {
			return
		}
		s.clear()
	}
}

// Port returns an in-memory link to the simulator, as a serial port with
// a read timeout: Write delivers bytes to the printer, Read returns what
// it sent, or (0, io.EOF) after readTimeout. It replaces any other link.
func (s *Sim) Port(readTimeout time.Duration) *Port {
	p := &Port{s: s, timeout: readTimeout, more: make(chan struct{}, 1)}
	s.mu.Lock()
	s.out = (*portSink)(p)
	s.mu.Unlock()
	return p
}

// Port is an in-memory serial link to a Sim.
type Port struct {
	s       *Sim
	timeout time.Duration
	mu      sync.Mutex
	buf     []byte
	more    chan struct{}
}

// Write implements io.Writer: the printer receives b.
func (p *Port) Write(b []byte) (int, error) {
	p.s.Receive(b)
	return len(b), nil
}

// Read implements io.Reader.
func (p *Port) Read(b []byte) (int, error) {
	t := time.NewTimer(p.timeout)
	defer t.Stop()
	for {
		p.mu.Lock()
		if len(p.buf) > 0 {
			n := copy(b, p.buf)
			p.buf = p.buf[n:]
			p.mu.Unlock()
			return n, nil
		}
		p.mu.Unlock()
		select {
		case <-p.more:
		case <-t.C:
			return 0, io.EOF
		}
	}
}

type portSink Port

func (p *portSink) Write(b []byte) (int, error) {
	p.mu.Lock()
	p.buf = append(p.buf, b...)
	p.mu.Unlock()
	select {
	case p.more <- struct{}{}:
	default:
	}
	return len(b), nil
}

// Serve makes rw the host link until ctx is done or reading rw fails.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	s.mu.Lock()
	s.out = rw
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.out == rw {
			s.out = nil
		}
		s.mu.Unlock()
	}()
	buf := make([]byte, 256)
	for ctx.Err() == nil {
		n, err := rw.Read(buf)
		s.Receive(buf[:n])
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("escpossim: %w", err)
		}
	}
	return nil
}

// ServePTY opens a pseudo-terminal and serves the simulator on its master
// side until ctx is done. It returns the slave's path, which the board
// opens as the printer's serial port.
func (s *Sim) ServePTY(ctx context.Context) (string, error) {
	return ptysim.Serve(ctx, &s.wg, s.log, "escpossim", func(w io.Writer) {
		s.mu.Lock()
		s.out = w
		s.mu.Unlock()
	}, s.Serve)
}

// Wait blocks until the goroutines of ServePTY have ended.
func (s *Sim) Wait() { s.wg.Wait() }

// Printing, called by the parser with s.mu held.

// putChar adds a character of cols columns (before magnification).
func (s *Sim) putChar(r rune, cols int) {
	if s.offline() {
		s.stats.Dropped++
		return
	}
	p := &s.parser
	w := cols * p.width
	if p.lineW+w > s.opts.Columns && p.lineW > 0 {
		s.stats.Overflows++
		s.printLine(true) // the paper may run out: the character waits with the rest
	}
	if len(p.line) == 0 {
		p.cur = Line{Align: p.align, Bold: p.bold, Width: p.width, Height: p.height}
	} else if p.cur.Bold != p.bold || p.cur.Width != p.width || p.cur.Height != p.height {
		p.cur.Mixed = true
	}
	p.maxH = max(p.maxH, p.height)
	p.line = append(p.line, r)
	p.lineW += w
}

// printLine prints the line buffer and feeds one line of its height.
// When the roll ends under it the line is kept and printed first on the
// next roll.
func (s *Sim) printLine(overflow bool) {
	p := &s.parser
	l := p.cur
	h := p.maxH
	if len(p.line) == 0 {
		l = Line{Align: p.align, Bold: p.bold, Width: p.width, Height: p.height}
		h = 1
	}
	l.Text = string(p.line)
	l.Overflow = overflow
	p.clearLine()
	if s.offline() || len(s.stuck) > 0 || !s.feed(h) {
		s.stuck = append(s.stuck, stuckLine{l: l, h: h})
		return
	}
	s.paper = append(s.paper, l)
	s.ys = append(s.ys, s.y)
}

// feed moves the paper n lines; false when the roll ends first (the
// printer is then off-line).
func (s *Sim) feed(n int) bool {
	if s.left < n {
		s.y += s.left
		s.left = 0
		s.log.Info("escpossim: paper out")
		s.flow()
		return false
	}
	s.left -= n
	s.y += n
	s.flow()
	return true
}

// cut separates what is above the cutter, after feeding the printed
// lines past it with feed.
func (s *Sim) cut(c Cut, feed bool, extra int) {
	if s.offline() {
		return
	}
	if len(s.parser.line) > 0 {
		return // GS V is taken at the start of a line only
	}
	if feed && !s.feed(s.opts.CutterLines+extra) {
		return
	}
	at := max(s.y-s.opts.CutterLines, 0)
	n := 0
	for n < len(s.ys) && s.ys[n] <= at {
		n++
	}
	s.docs = append(s.docs, Doc{Lines: s.paper[:n:n], Cut: c})
	s.paper = append([]Line(nil), s.paper[n:]...)
	ys := make([]int, 0, len(s.ys)-n)
	for _, y := range s.ys[n:] {
		ys = append(ys, y-at)
	}
	s.ys, s.y = ys, s.y-at
	s.log.Info("escpossim: cut", "lines", n)
}

var (
	gbDecoder = simplifiedchinese.GB18030
	cp437     = charmap.CodePage437
)

// SendRaw sends bytes to the host as they are, for tests of line noise.
func (s *Sim) SendRaw(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.emit(b...)
}
