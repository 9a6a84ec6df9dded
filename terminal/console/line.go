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
	// for the digits of a number beyond its 6th, the hex digits of a hex
	// group beyond its 6th and the characters of a base64url run beyond
	// its 15th (see echoStars).
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
	evNone     lineEvent = iota
	evLine               // a line ended: take it with editor.take
	evAbandon            // Ctrl-C: the line is abandoned
	evTooLong            // the line ended but was longer than MaxLine: refused
	evEOF                // Ctrl-D on an empty line: leave (log out, or cancel the question)
	evBreak              // NUL, how a raw UART reads a BREAK: the line is left as it was
	evNonASCII           // the line's first non-ASCII character was dropped: say so once
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
// time: CR, LF and CRLF end a line; 0x08 and 0x7F erase; Ctrl-W erases
// the word before the cursor; Ctrl-U kills the line; Ctrl-C abandons it;
// Ctrl-D on an empty line leaves; ESC
// sequences, other control bytes and bytes of 0x80 and above are dropped;
// only 0x20..0x7E enter the line.
type editor struct {
	buf    []byte
	mode   echoMode
	over   bool // more than MaxLine bytes: the rest of the line is discarded
	lastCR bool // the previous byte was CR: a following LF is its pair
	esc    escState
	// warned: the line's first non-ASCII character was reported
	// (evNonASCII); the others are dropped silently.
	warned bool
	// utf8Left is how many continuation bytes the UTF-8 character being
	// read still needs (0: none begun).
	utf8Left int
}

// utf8Char follows a UTF-8 character through its bytes (b >= 0x80) and
// reports whether b completed one.
func (e *editor) utf8Char(b byte) bool {
	switch {
	case b >= 0x80 && b <= 0xbf:
		if e.utf8Left == 0 {
			return false
		}
		e.utf8Left--
		return e.utf8Left == 0
	case b >= 0xc2 && b <= 0xdf:
		e.utf8Left = 1
	case b >= 0xe0 && b <= 0xef:
		e.utf8Left = 2
	case b >= 0xf0 && b <= 0xf4:
		e.utf8Left = 3
	default:
		e.utf8Left = 0
	}
	return false
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
	e.warned = false
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
	if b < 0x80 {
		e.utf8Left = 0 // a character cut short
	}
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
	case b == 0x17: // Ctrl-W: erase the word before the cursor, as a tty's WERASE
		if e.over {
			return out, evNone
		}
		n := len(e.buf)
		for n > 0 && e.buf[n-1] == ' ' {
			n--
		}
		for n > 0 && e.buf[n-1] != ' ' {
			n--
		}
		for i := n; i < len(e.buf); i++ {
			e.buf[i] = 0
			out = append(out, "\b \b"...)
		}
		e.buf = e.buf[:n]
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
	case b >= 0x80:
		// Dropped. A whole UTF-8 character (Chinese, an accented
		// letter) tells the engineer, once per line, that only ASCII is
		// taken; line noise (0xFF, stray high bytes) says nothing.
		if e.utf8Char(b) && !e.warned {
			e.warned = true
			return out, evNonASCII
		}
	case b < 0x20 || b == 0x7f:
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
		out = append(out, echoByte(e.mode, e.buf, b))
		e.buf = append(e.buf, b)
	}
	return out, evNone
}

// redraw returns the echo of the line so far, as it was echoed byte by
// byte (after a message broke into it).
func (e *editor) redraw() []byte {
	out := make([]byte, 0, len(e.buf))
	for i, c := range e.buf {
		out = append(out, echoByte(e.mode, e.buf[:i], c))
	}
	return out
}

// echoByte is what the echo shows for b typed after line in mode.
func echoByte(mode echoMode, line []byte, b byte) byte {
	if echoStars(mode, line, b) {
		return '*'
	}
	return b
}

// echoStars reports whether b, typed after line, is echoed as '*': always
// for a secret (echoStar), for a hex digit in echoMaskHex, and at any
// prompt for what the output guard would withhold, decided as it is
// typed from the run so far (see echoDigits).
func echoStars(mode echoMode, line []byte, b byte) bool {
	switch {
	case mode == echoStar, mode == echoMaskHex && isHex(b):
		return true
	case isDigit(b) && numberDigits(line) >= echoDigits:
		return true
	case isHex(b) && hexDigits(line) >= echoHex:
		return true
	}
	return isB64(b) && b64Run(line) >= echoB64
}

// What the echo shows of a run, at most. A card number typed or pasted at
// an echoing prompt comes back with its first 6 digits only, the rest as
// '*'; a key, a component or a PIN block (a hex group, as the output guard
// counts it) with its first 6 hex digits, fewer than the guard's
// minKeyRun; a login token (base64url) with the first 15 characters of a
// run that mixes upper and lower case. Masking as typed, not redrawing
// the line when it turns out to be long: the digits would have travelled
// down the wire, and a terminal program's capture file keeps what a
// redraw hides. Command words stay readable: none has more than 3 hex
// digits in a row (the "fac" of "factory-reset"), nor more than 15
// base64url characters ("factory-reset" has 13).
const (
	echoDigits = 6
	echoHex    = 6
	echoB64    = 15
)

// numberSeps join the digit groups of one number for the echo: groups
// ("4761 7390 ...", "4761-7390-...", "4761.7390...", "47:61:..."), and
// the separators of track 2 ('=') and track 1 ('^'), after which the
// rest of the track is the same card's data.
const numberSeps = " -.:=^"

// numberDigits counts the digits of the number that ends line: digits
// back from its end, across up to two numberSeps in a row, up to anything
// else. It stops counting at echoDigits: no keystroke reads the whole
// line back.
func numberDigits(line []byte) int {
	n, gap := 0, 0
	for i := len(line) - 1; i >= 0 && n < echoDigits; i-- {
		c := line[i]
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

// hexDigits counts the hex digits of the hex group that ends line, as the
// output guard counts a group (hasLongHex): hex runs joined by single ' ',
// ':' or '-'. A separator at the end counts as joining when a hex digit
// precedes it. It stops counting at echoHex.
func hexDigits(line []byte) int {
	n := 0
	for i := len(line) - 1; i >= 0 && n < echoHex; i-- {
		c := line[i]
		switch {
		case isHex(c):
			n++
		case strings.IndexByte(" :-", c) >= 0 && i > 0 && isHex(line[i-1]):
			// joins the hex digit before it to the one after (or to the
			// one being typed)
		default:
			return n
		}
	}
	return n
}

// isB64 reports whether c is of the base64url alphabet (RFC 4648 §5), the
// one of a login token.
func isB64(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_'
}

// b64Run counts the base64url characters that end line, up to echoB64,
// when the run mixes upper and lower case letters as base64 of anything
// does; a run in one case (a word, "AAAA...", caps lock on) is not a
// token and counts 0 (its hex digits still count, see hexDigits).
func b64Run(line []byte) int {
	n := 0
	upper, lower := false, false
	for i := len(line) - 1; i >= 0 && isB64(line[i]); i-- {
		c := line[i]
		upper = upper || (c >= 'A' && c <= 'Z')
		lower = lower || (c >= 'a' && c <= 'z')
		if n < echoB64 {
			n++
		}
		if n >= echoB64 && upper && lower {
			return n
		}
	}
	return 0
}

// end ends the line at CR or LF.
func (e *editor) end(out []byte) ([]byte, lineEvent) {
	out = append(out, "\r\n"...)
	e.warned = false
	if e.over {
		e.wipe()
		return out, evTooLong
	}
	return out, evLine
}
