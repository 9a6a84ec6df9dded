// Package printer is the contract between a receipt printer and the parts
// of the application that print: a Printer takes a Doc (lines of UTF-8
// text with a few attributes) and says whether it can print (paper, cover,
// errors). A thermal printer's driver (drivers/escpos) satisfies it through
// board/; terminal/receipt lays receipts out for it.
package printer

import (
	"context"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Align places a line on the paper.
type Align uint8

// Alignments.
const (
	Left Align = iota
	Center
	Right
)

// Line is one line of a document. Text is UTF-8 without control
// characters; a driver prints the characters its printer has (CJK on a
// Chinese printer) and wraps a line longer than the paper at Columns.
type Line struct {
	Text  string `json:"text"`
	Align Align  `json:"align,omitempty"`
	Bold  bool   `json:"bold,omitempty"`
	// Large prints the line at double width and height (a large line
	// holds half as many columns).
	Large bool `json:"large,omitempty"`
}

// MarshalText names the alignment ("left", "center", "right").
func (a Align) MarshalText() ([]byte, error) {
	switch a {
	case Left:
		return []byte("left"), nil
	case Center:
		return []byte("center"), nil
	case Right:
		return []byte("right"), nil
	}
	return nil, errors.New("printer: unknown alignment")
}

// Doc is one document (a receipt copy): its lines, then the paper is fed
// past the cutter and cut.
type Doc struct {
	Lines []Line `json:"lines"`
}

// Status is what the printer reports about itself.
type Status struct {
	// PaperOut: the roll is empty; nothing prints.
	PaperOut bool `json:"paper_out"`
	// PaperLow: the near-end sensor sees the end of the roll coming.
	PaperLow bool `json:"paper_low"`
	// CoverOpen: the paper cover is open; nothing prints.
	CoverOpen bool `json:"cover_open"`
	// Fault: the printer stopped on an error of its own (cutter jammed,
	// head overheated).
	Fault bool `json:"fault"`
}

// Ready reports whether a document can print now.
func (s Status) Ready() bool { return !s.PaperOut && !s.CoverOpen && !s.Fault }

// Err is the error a document sent now would meet (nil when Ready),
// paper first: it is what the cashier can fix.
func (s Status) Err() error {
	switch {
	case s.PaperOut:
		return ErrPaperOut
	case s.CoverOpen:
		return ErrCoverOpen
	case s.Fault:
		return ErrFault
	}
	return nil
}

// Printer prints documents.
type Printer interface {
	// Columns is how many normal-size columns a line holds (32 on 58 mm
	// paper, 48 on 80 mm); a wide character (Han, kana, Hangul,
	// full-width forms) takes two (see Width).
	Columns() int
	// Status asks the printer for its state.
	Status(ctx context.Context) (Status, error)
	// Print prints doc and cuts the paper. A printer that cannot print
	// (ErrPaperOut, ErrCoverOpen, ErrFault) prints nothing of it; one
	// that stops in the middle (paper running out) returns its state's
	// error: the document is incomplete and must be printed again.
	Print(ctx context.Context, doc Doc) error
}

// Errors a Printer returns; callers decide on them (the cashier changes
// the roll and reprints).
var (
	ErrPaperOut  = errors.New("printer: out of paper")
	ErrCoverOpen = errors.New("printer: cover open")
	ErrFault     = errors.New("printer: printer fault")
	// ErrNoAnswer: the printer did not answer (off, unplugged, wrong
	// port or speed).
	ErrNoAnswer = errors.New("printer: no answer")
)

// Width is how many columns s takes: two for an East Asian wide or
// full-width character, none for a combining mark or a control, one for
// the rest.
func Width(s string) int {
	n := 0
	for _, r := range s {
		n += RuneWidth(r)
	}
	return n
}

// RuneWidth is Width of one rune.
func RuneWidth(r rune) int {
	switch {
	case r == utf8.RuneError, unicode.IsControl(r), unicode.Is(unicode.Mn, r), unicode.Is(unicode.Me, r):
		return 0
	case wide(r):
		return 2
	}
	return 1
}

// wide reports the East Asian Wide and Fullwidth ranges a receipt meets
// (Unicode's EastAsianWidth.txt, W and F): Hangul Jamo, CJK radicals and
// symbols, kana, CJK ideographs and their extensions, Yi, Hangul
// syllables, compatibility ideographs, vertical and small forms, the
// full-width ASCII and signs.
func wide(r rune) bool {
	switch {
	case r >= 0x1100 && r <= 0x115F,
		r >= 0x2E80 && r <= 0x303E,
		r >= 0x3041 && r <= 0x33FF,
		r >= 0x3400 && r <= 0x4DBF,
		r >= 0x4E00 && r <= 0x9FFF,
		r >= 0xA000 && r <= 0xA4CF,
		r >= 0xAC00 && r <= 0xD7A3,
		r >= 0xF900 && r <= 0xFAFF,
		r >= 0xFE10 && r <= 0xFE19,
		r >= 0xFE30 && r <= 0xFE6F,
		r >= 0xFF00 && r <= 0xFF60,
		r >= 0xFFE0 && r <= 0xFFE6,
		r >= 0x20000 && r <= 0x3FFFD:
		return true
	}
	return false
}

// Wrap breaks text into pieces of at most cols columns (Width), at the
// last space that fits when there is one, never inside a character; a
// character wider than cols gets a piece of its own. Empty text is one
// empty piece.
func Wrap(text string, cols int) []string {
	if cols < 2 {
		cols = 2
	}
	var out []string
	for {
		if Width(text) <= cols {
			return append(out, text)
		}
		w, cut, space := 0, 0, -1
		for i := 0; i < len(text); {
			r, n := utf8.DecodeRuneInString(text[i:])
			rw := RuneWidth(r)
			if w+rw > cols {
				break
			}
			w += rw
			if r == ' ' {
				space = i
			}
			i += n
			cut = i
		}
		if cut == 0 { // the first character alone is wider than cols
			_, n := utf8.DecodeRuneInString(text)
			cut = n
		}
		if space > 0 && cut < len(text) && text[cut] != ' ' {
			out = append(out, text[:space])
			text = text[space+1:]
			continue
		}
		out = append(out, text[:cut])
		text = strings.TrimPrefix(text[cut:], " ")
	}
}

// Preview renders doc as plain text, one line of at most cols columns a
// printed line (a Large line at half the columns, its characters
// doubled by spaces), aligned as the printer aligns: what the paper will
// show, for a screen or a test.
func Preview(doc Doc, cols int) string {
	var sb strings.Builder
	for _, l := range doc.Lines {
		width := cols
		if l.Large {
			width = cols / 2
		}
		for _, piece := range Wrap(l.Text, width) {
			if l.Large {
				var d strings.Builder
				for _, r := range piece {
					d.WriteRune(r)
					if RuneWidth(r) == 1 {
						d.WriteByte(' ')
					} else {
						d.WriteString("  ")
					}
				}
				piece = strings.TrimRight(d.String(), " ")
			}
			pad := cols - Width(piece)
			switch {
			case pad <= 0:
			case l.Align == Center:
				piece = strings.Repeat(" ", pad/2) + piece
			case l.Align == Right:
				piece = strings.Repeat(" ", pad) + piece
			}
			sb.WriteString(strings.TrimRight(piece, " "))
			sb.WriteByte('\n')
		}
	}
	return sb.String()
}
