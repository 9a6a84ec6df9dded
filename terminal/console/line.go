package console

import "strings"

// The line discipline: the console reads the raw byte stream of a serial
// terminal (keystrokes, pastes, garbage on a floating line) and makes lines
// of it, echoing as a cooked terminal would.

// MaxLine is the longest line the console accepts, in bytes. A longer line
// is discarded up to its end and refused with a message.
const MaxLine = 1024

// echoMode says what the console echoes for a printable byte.
type echoMode int

const (
	// echoOn echoes every accepted byte (commands, confirmations), but
	// for the digits of a number beyond its 6th (see echoDigits).
	echoOn echoMode = iota
	// echoStar echoes '*' for every accepted byte (token, key components,
	// key blocks): the secret never travels back down the wire.
	echoStar
	// echoMaskHex echoes hex digits as '*' and the rest as typed: for the
	// line after a key component (its y/n question, or the command line
	// after the component prompt ended without one), where a custodian
	// typing the form's next row, eyes on the paper, would otherwise see
	// it come back in clear.
	echoMaskHex
)

// lineEvent is what one byte did to the line.
type lineEvent int

const (
	evNone    lineEvent = iota
	evLine              // a line ended: take it with editor.take
	evAbandon           // Ctrl-C: the line is abandoned
	evTooLong           // the line ended but was longer than MaxLine: refused
	evEOF               // Ctrl-D on an empty line: leave (log out, or cancel the question)
	evBreak             // NUL, how a raw UART reads a BREAK: the line is left as it was
)

// escState tracks an ANSI escape sequence (arrow keys, function keys),
// which is dropped whole.
type escState int

const (
	escNone escState = iota
	escStart
	escCSI
	escCSIFirst // just after ESC [: a '[' here starts a Linux console function key
	escLinuxFn  // ESC [ [: one letter follows (F1-F5 on the Linux console)
	escSS3
)

// editor is the line discipline as a pure state machine, fed one byte at a
// time: CR, LF and CRLF end a line; 0x08 and 0x7F erase; Ctrl-U kills the
// line; Ctrl-C abandons it; Ctrl-D on an empty line leaves; ESC
// sequences, other control bytes and bytes of 0x80 and above are dropped;
// only 0x20..0x7E enter the line.
type editor struct {
	buf    []byte
	mode   echoMode
	over   bool // more than MaxLine bytes: the rest of the line is discarded
	lastCR bool // the previous byte was CR: a following LF is its pair
	esc    escState
}

// start begins a new line read in mode. The CR/LF pairing and escape state
// carry over: they belong to the byte stream, not to the line.
func (e *editor) start(mode echoMode) {
	e.wipe()
	e.mode = mode
}

// wipe clears the line being edited (its bytes are overwritten).
func (e *editor) wipe() {
	clear(e.buf)
	e.buf = e.buf[:0]
	e.over = false
}

// take returns a copy of the completed line and wipes the editor's own.
func (e *editor) take() []byte {
	l := make([]byte, len(e.buf))
	copy(l, e.buf)
	e.wipe()
	return l
}

// feed processes one byte, appending what to echo to out.
func (e *editor) feed(b byte, out []byte) ([]byte, lineEvent) {
	wasCR := e.lastCR
	e.lastCR = false
	switch e.esc {
	case escStart:
		e.esc = escNone
		switch {
		case b == '[':
			e.esc = escCSIFirst
			return out, evNone
		case b == 'O':
			e.esc = escSS3
			return out, evNone
		case b >= 0x20 && b < 0x7f: // Alt-key: ESC and the key dropped
			return out, evNone
		}
		// a control byte after ESC is itself
	case escLinuxFn:
		e.esc = escNone
		if b >= 0x20 && b < 0x7f {
			return out, evNone
		}
	case escCSIFirst, escCSI:
		if e.esc == escCSIFirst && b == '[' {
			e.esc = escLinuxFn
			return out, evNone
		}
		e.esc = escCSI
		// Parameter and intermediate bytes, however many (a terminal's
		// answer to a query runs past 16): none of them enters the line.
		// A final byte ends the sequence, any other byte ends it and is
		// itself.
		if b >= 0x20 && b <= 0x3f {
			return out, evNone
		}
		e.esc = escNone
		if b >= 0x40 && b <= 0x7e { // final byte
			return out, evNone
		}
	case escSS3:
		e.esc = escNone
		if b >= 0x20 && b < 0x7f {
			return out, evNone
		}
	}
	switch {
	case b == '\r':
		e.lastCR = true
		return e.end(out)
	case b == '\n':
		if wasCR {
			return out, evNone
		}
		return e.end(out)
	case b == 0x08 || b == 0x7f:
		if e.over || len(e.buf) == 0 {
			return out, evNone
		}
		e.buf[len(e.buf)-1] = 0
		e.buf = e.buf[:len(e.buf)-1]
		out = append(out, "\b \b"...)
	case b == 0x15: // Ctrl-U: kill the line (all echoed columns erased)
		for range e.buf {
			out = append(out, "\b \b"...)
		}
		e.wipe()
	case b == 0x03: // Ctrl-C
		e.wipe()
		return append(out, "^C\r\n"...), evAbandon
	case b == 0x04: // Ctrl-D: on an empty line only, as a shell reads it
		if len(e.buf) > 0 || e.over {
			return out, evNone
		}
		return append(out, "^D\r\n"...), evEOF
	case b == 0x1b:
		e.esc = escStart
	case b == 0x00:
		// A BREAK (the line held low: an adapter unplugged or powered
		// off) reads as NUL; the session decides what it means.
		return out, evBreak
	case b < 0x20 || b >= 0x7f:
		// dropped, not echoed
	default:
		if e.over {
			return out, evNone
		}
		if len(e.buf) >= MaxLine {
			e.over = true // echo stops here; the line will be refused
			return out, evNone
		}
		if e.buf == nil {
			// Full size at once: a growing slice would leave copies of a
			// secret behind in freed memory.
			e.buf = make([]byte, 0, MaxLine)
		}
		star := e.mode == echoStar || (e.mode == echoMaskHex && isHex(b)) ||
			(isDigit(b) && e.numberDigits() >= echoDigits)
		e.buf = append(e.buf, b)
		if star {
			b = '*'
		}
		out = append(out, b)
	}
	return out, evNone
}

// echoDigits is how many digits of a number the echo shows: a card number
// typed or pasted at an echoing prompt comes back with its first 6 digits
// only, the rest as '*'. Masking as typed, not redrawing the line when it
// turns out to be long: the digits would have travelled down the wire,
// and a terminal program's capture file keeps what a redraw hides.
const echoDigits = 6

// numberSeps join the digit groups of one number for the echo: groups
// ("4761 7390 ...", "4761-7390-...", "4761.7390...", "47:61:..."), and
// the separators of track 2 ('=') and track 1 ('^'), after which the
// rest of the track is the same card's data.
const numberSeps = " -.:=^"

// numberDigits counts the digits of the number that ends the line: digits
// back from its end, across up to two numberSeps in a row, up to anything
// else. It stops counting at echoDigits: no keystroke reads the whole
// line back.
func (e *editor) numberDigits() int {
	n, gap := 0, 0
	for i := len(e.buf) - 1; i >= 0 && n < echoDigits; i-- {
		c := e.buf[i]
		switch {
		case isDigit(c):
			n, gap = n+1, 0
		case strings.IndexByte(numberSeps, c) >= 0 && gap < 2:
			gap++
		default:
			return n
		}
	}
	return n
}

// end ends the line at CR or LF.
func (e *editor) end(out []byte) ([]byte, lineEvent) {
	out = append(out, "\r\n"...)
	if e.over {
		e.wipe()
		return out, evTooLong
	}
	return out, evLine
}
