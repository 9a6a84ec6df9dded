package escpos

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"

	"posd/conn/printer"
)

// Commands the driver sends (Epson ESC/POS Command Reference; the
// Chinese models' programming manuals give the same bytes).
var (
	cmdInit     = []byte{0x1B, 0x40} // ESC @: initialise (modes reset, buffer cleared)
	cmdKanjiOn  = []byte{0x1C, 0x26} // FS &: select Kanji (Chinese) character mode
	cmdKanjiOff = []byte{0x1C, 0x2E} // FS .: cancel Kanji (Chinese) character mode
	// GS V 66 0 (function B): feed the paper to the cutting position,
	// then partial cut. GS V 1 would cut where the paper stands, with
	// the last lines still between the head and the cutter, and the
	// feed needed to get them past it differs by model; function B
	// makes the printer do it. TM-T20 and TM-T88 and the Chinese
	// compatibles (Xprinter, Sprt, Hprt, Zijiang) all take it.
	cmdCut = []byte{0x1D, 0x56, 0x42, 0x00}
	// cutRows is about how far GS V 66 feeds the paper to the cutter,
	// in lines (the head-to-cutter distance of the panel printers).
	cutRows = 4
	cmdSync = []byte{0x1D, 0x72, 0x01} // GS r 1: transmit paper sensor status, after what precedes it
	// DLE DC4 fn=8 d1...d7, clear buffers: real-time, executed on
	// arrival even off-line; discards the receive and print buffers and
	// answers clearAnswer (Epson ESC/POS Command Reference, "DLE DC4
	// (fn = 8)": TM-T88III and later, TM-T90, TM-L90; Citizen CT-S).
	cmdClear = []byte{0x10, 0x14, 0x08, 0x01, 0x03, 0x14, 0x01, 0x06, 0x02, 0x08}
)

// The answer to DLE DC4 fn=8: header 37H, identifier 25H, NUL.
const (
	blockHeader = 0x37
	clearID     = 0x25
)

const lf = 0x0A

// ESC a n, ESC E n, GS ! n.
func cmdAlign(a printer.Align) []byte {
	n := byte(0)
	switch a {
	case printer.Center:
		n = 1
	case printer.Right:
		n = 2
	}
	return []byte{0x1B, 0x61, n}
}

func cmdBold(on bool) []byte {
	if on {
		return []byte{0x1B, 0x45, 1}
	}
	return []byte{0x1B, 0x45, 0}
}

// cmdSize: GS ! n, bits 4-6 width and 0-2 height magnification minus one;
// 0x11 is double width and double height.
func cmdSize(large bool) []byte {
	if large {
		return []byte{0x1D, 0x21, 0x11}
	}
	return []byte{0x1D, 0x21, 0x00}
}

// glyph is one printed character: the bytes that print it and the
// columns it takes at normal size.
type glyph struct {
	b     []byte
	width int
	gb    bool // a two-byte GB code: needs Chinese mode
}

func (g glyph) space() bool { return len(g.b) == 1 && g.b[0] == ' ' }

var question = glyph{b: []byte{'?'}, width: 1}

// charset turns text into glyphs for one printer.
type charset struct {
	chinese bool
	gb2312  bool
	enc     *encoding.Encoder
}

func newCharset(chinese, gb2312 bool) *charset {
	c := &charset{chinese: chinese, gb2312: gb2312}
	if chinese {
		c.enc = simplifiedchinese.GB18030.NewEncoder()
	}
	return c
}

// glyphs converts a line's text. Only printable ASCII (0x20-0x7E) and,
// in Chinese mode, two-byte GB codes (both bytes 0x81-0xFE / 0x40-0xFE,
// never a control byte) come out: a line cannot carry a command.
//
//   - A tab becomes a space; other control and format characters (C0,
//     DEL, C1, U+200B.., bidi controls, line and paragraph separators)
//     and combining marks are dropped: a printer does not combine.
//   - Invalid UTF-8 bytes become '?'.
//   - Other characters become '?' unless the printer has a Chinese font
//     and GB18030 gives them a two-byte code (the GBK set, GB2312
//     alone with Opts.GB2312). Such a character prints as one full-width
//     glyph, two columns, whatever its Unicode width ('é' too). Four-
//     byte GB18030 codes are not sent: several fonts have only the two-
//     byte areas.
func (c *charset) glyphs(s string) []glyph {
	out := make([]glyph, 0, len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == utf8.RuneError && n == 1:
			out = append(out, question)
		case r == '\t':
			out = append(out, glyph{b: []byte{' '}, width: 1})
		case r >= 0x20 && r < 0x7F:
			out = append(out, glyph{b: []byte{byte(r)}, width: 1})
		case unicode.IsControl(r), unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Cs, unicode.Co),
			printer.RuneWidth(r) == 0:
		default:
			if g, ok := c.gb(r); ok {
				out = append(out, g)
			} else {
				out = append(out, question)
			}
		}
	}
	return out
}

func (c *charset) gb(r rune) (glyph, bool) {
	if !c.chinese {
		return glyph{}, false
	}
	b, err := c.enc.Bytes([]byte(string(r)))
	if err != nil || len(b) != 2 || b[0] < 0x81 || b[0] == 0xFF || b[1] < 0x40 || b[1] == 0x7F || b[1] == 0xFF {
		return glyph{}, false
	}
	if c.gb2312 && (b[0] < 0xA1 || b[1] < 0xA1) {
		return glyph{}, false
	}
	return glyph{b: b, width: 2, gb: true}, true
}

// wrap cuts a line's glyphs into printed lines of at most cols columns:
// at the last space that fits (the spaces at the cut are dropped), else
// between two glyphs, never inside one. An empty line stays one empty
// printed line.
func wrap(gs []glyph, cols int) [][]glyph {
	var lines [][]glyph
	for {
		w, cut, lastSpace := 0, len(gs), -1
		for i, g := range gs {
			if w+g.width > cols {
				cut = i
				break
			}
			if g.space() {
				lastSpace = i
			}
			w += g.width
		}
		if cut == len(gs) {
			return append(lines, gs)
		}
		rest := cut
		if gs[cut].space() {
			lastSpace = cut
		}
		if lastSpace > 0 {
			cut, rest = lastSpace, lastSpace
		}
		if cut == 0 { // a glyph wider than the line: print it alone
			cut, rest = 1, 1
		}
		line := gs[:cut]
		for len(line) > 0 && line[len(line)-1].space() {
			line = line[:len(line)-1]
		}
		lines = append(lines, line)
		gs = gs[rest:]
		for len(gs) > 0 && gs[0].space() {
			gs = gs[1:]
		}
		if len(gs) == 0 {
			return lines
		}
	}
}

// render is the byte stream of doc, from ESC @ to the cut, as one chunk
// per printed line (the writer pauses between chunks on XOFF); Print
// adds GS r 1 to the last.
// rows is how many lines of normal height the document takes on paper.
func render(doc printer.Doc, cols int, cs *charset) (chunks [][]byte, rows int) {
	chunks = [][]byte{cmdInit}
	kanji := false
	for _, l := range doc.Lines {
		gs := cs.glyphs(l.Text)
		width := cols
		if l.Large {
			width = cols / 2
		}
		for i, line := range wrap(gs, width) {
			var b []byte
			if !kanji && hasGB(line) {
				// At the start of a line, not before the first GB
				// code: some models (Sprt) print the current line when
				// they take FS &. ASCII prints the same in Chinese
				// mode, which stays on to the end of the document.
				b = append(b, cmdKanjiOn...)
				kanji = true
			}
			if i == 0 {
				// Modes stay in effect over the wrapped lines; ESC a is
				// taken at the start of a line only.
				b = append(b, cmdAlign(l.Align)...)
				b = append(b, cmdBold(l.Bold)...)
				b = append(b, cmdSize(l.Large)...)
			}
			for _, g := range line {
				b = append(b, g.b...)
			}
			chunks = append(chunks, append(b, lf))
			rows++
			if l.Large {
				rows++
			}
		}
	}
	end := []byte(nil)
	if kanji {
		end = append(end, cmdKanjiOff...)
	}
	return append(chunks, append(end, cmdCut...)), rows
}

func hasGB(line []glyph) bool {
	for _, g := range line {
		if g.gb {
			return true
		}
	}
	return false
}
