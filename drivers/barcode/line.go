package barcode

import (
	"log/slog"
	"strconv"
	"unicode/utf8"
)

// Suffix is what ends each message from the scanner.
type Suffix int

// Suffixes a scanner can be configured to send.
const (
	// SuffixAuto: CR or LF ends a message; an LF right after the CR
	// that ended a message is part of that suffix (CR LF).
	SuffixAuto Suffix = iota
	// SuffixCR: carriage return (0x0D), the usual factory setting. An
	// LF in a message is a control character: ErrGarbled.
	SuffixCR
	// SuffixLF: line feed (0x0A).
	SuffixLF
	// SuffixCRLF: CR LF. A message ends at the LF; a CR elsewhere is a
	// control character: ErrGarbled.
	SuffixCRLF
)

func (s Suffix) String() string {
	switch s {
	case SuffixAuto:
		return "auto"
	case SuffixCR:
		return "CR"
	case SuffixLF:
		return "LF"
	case SuffixCRLF:
		return "CRLF"
	}
	return "Suffix(" + strconv.Itoa(int(s)) + ")"
}

// Bytes is what a scanner configured with s sends after each symbol
// (SuffixAuto: CR).
func (s Suffix) Bytes() []byte {
	switch s {
	case SuffixLF:
		return []byte{'\n'}
	case SuffixCRLF:
		return []byte{'\r', '\n'}
	}
	return []byte{'\r'}
}

// Scan is one decoded symbol.
type Scan struct {
	// Text is the symbol's data: printable, without prefix or suffix. A
	// payment code is a bearer token: never log or print it.
	Text string
	// Symbology is the AIM symbology identifier the scanner sent in
	// front of the data ("]Q1": QR Code), when Opts.StripAIM removed
	// one; empty otherwise.
	Symbology string
}

// String describes s without its text.
func (s Scan) String() string {
	sym := s.Symbology
	if sym == "" {
		sym = "no AIM id"
	}
	return "scan(" + sym + ", " + strconv.Itoa(len(s.Text)) + " bytes)"
}

// LogValue logs s without its text.
func (s Scan) LogValue() slog.Value {
	return slog.GroupValue(slog.String("symbology", s.Symbology), slog.Int("len", len(s.Text)))
}

// Parse turns one message (without its suffix) into a Scan. With stripAIM
// a leading AIM symbology identifier (']', a letter, a digit or capital
// letter) is removed and reported. It fails with ErrGarbled when the text
// is empty after the identifier or is not printable. The error never
// holds the message's content.
func Parse(msg []byte, stripAIM bool) (Scan, error) {
	var sc Scan
	if stripAIM && isAIM(msg) {
		sc.Symbology = string(msg[:3])
		msg = msg[3:]
	}
	if len(msg) == 0 || !printable(msg) {
		return Scan{}, ErrGarbled
	}
	sc.Text = string(msg)
	return sc, nil
}

// isAIM reports whether msg starts with an AIM symbology identifier:
// ']', the code character (a letter), the modifier character (a digit,
// or a capital letter for the symbologies with more than ten options).
func isAIM(msg []byte) bool {
	if len(msg) < 3 || msg[0] != ']' {
		return false
	}
	c, m := msg[1], msg[2]
	letter := ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z')
	mod := ('0' <= m && m <= '9') || ('A' <= m && m <= 'Z')
	return letter && mod
}

// printable: valid UTF-8 with no C0 or C1 control character and no DEL.
func printable(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7F {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError || r < 0xA0 {
			return false
		}
		i += n
	}
	return true
}

// framer cuts the byte stream into messages at the suffix.
type framer struct {
	suffix Suffix
	max    int
	buf    []byte
	over   bool // discarding an over-long message up to its suffix
	lastCR bool // SuffixAuto: the previous byte was a CR that ended a message
}

func newFramer(s Suffix, max int) *framer {
	return &framer{suffix: s, max: max, buf: make([]byte, 0, 64)}
}

// feed consumes p, calling emit for each complete message (its bytes,
// valid only during the call) or for a message discarded as too long
// (nil, ErrTooLong), as soon as it exceeds the limit.
func (f *framer) feed(p []byte, emit func(msg []byte, err error)) {
	for _, c := range p {
		end := false
		switch f.suffix {
		case SuffixAuto:
			switch {
			case c == '\n' && f.lastCR:
				f.lastCR = false
				continue
			case c == '\r' || c == '\n':
				end = true
			}
			f.lastCR = c == '\r'
		case SuffixCR:
			end = c == '\r'
		case SuffixLF, SuffixCRLF:
			end = c == '\n'
		}
		if end {
			f.end(emit)
			continue
		}
		if f.over {
			continue
		}
		limit := f.max
		if f.suffix == SuffixCRLF {
			limit++ // room for the suffix's CR
		}
		if len(f.buf) >= limit {
			f.over = true
			f.reset()
			emit(nil, ErrTooLong)
			continue
		}
		f.buf = append(f.buf, c)
	}
}

func (f *framer) end(emit func([]byte, error)) {
	if f.over {
		f.over = false
		return
	}
	msg := f.buf
	if f.suffix == SuffixCRLF && len(msg) > 0 && msg[len(msg)-1] == '\r' {
		msg = msg[:len(msg)-1]
	}
	switch {
	case len(msg) == 0:
	case len(msg) > f.max:
		emit(nil, ErrTooLong)
	default:
		emit(msg, nil)
	}
	f.reset()
}

// reset drops (and wipes) a partial message.
func (f *framer) reset() {
	clear(f.buf[:cap(f.buf)])
	f.buf = f.buf[:0]
}

// discard drops (and wipes) what was received of the current message
// (Flush, Halt): the rest of that message, up to its suffix, is discarded
// too, so its tail can never pass for a symbol.
func (f *framer) discard() {
	if len(f.buf) > 0 {
		f.over = true
	}
	f.reset()
}
