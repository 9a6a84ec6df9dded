package console

import (
	"strings"
	"testing"
)

// feedAll runs s through an editor in mode and returns the lines (or
// "<abandon>", "<too long>") and the echo.
func feedAll(e *editor, mode echoMode, s string) (events []string, echo string) {
	e.start(mode)
	var out []byte
	for i := 0; i < len(s); i++ {
		var ev lineEvent
		out, ev = e.feed(s[i], out)
		switch ev {
		case evLine:
			events = append(events, string(e.take()))
		case evAbandon:
			events = append(events, "<abandon>")
		case evTooLong:
			events = append(events, "<too long>")
		case evEOF:
			events = append(events, "<eof>")
		}
	}
	return events, string(out)
}

func TestEditor(t *testing.T) {
	cases := []struct {
		name, in   string
		mode       echoMode
		lines      []string
		echo       string
		pendingBuf string
	}{
		{"CR", "ab\r", echoOn, []string{"ab"}, "ab\r\n", ""},
		{"LF", "ab\n", echoOn, []string{"ab"}, "ab\r\n", ""},
		{"CRLF is one end", "ab\r\ncd\r\n", echoOn, []string{"ab", "cd"}, "ab\r\ncd\r\n", ""},
		{"CR CR is two", "a\r\r", echoOn, []string{"a", ""}, "a\r\n\r\n", ""},
		{"LF CR is two", "a\n\r", echoOn, []string{"a", ""}, "a\r\n\r\n", ""},
		{"backspace", "ax\by\x7f\x7f\x7fz\r", echoOn, []string{"z"}, "ax\b \by\b \b\b \bz\r\n", ""},
		{"Ctrl-U", "abc\x15d\r", echoOn, []string{"d"}, "abc\b \b\b \b\b \bd\r\n", ""},
		{"Ctrl-C", "abc\x03d\r", echoOn, []string{"<abandon>", "d"}, "abc^C\r\nd\r\n", ""},
		{"controls and high bytes dropped", "a\x00\x01\t\x7e\x80\xff\x1a\r", echoOn, []string{"a~"}, "a~\r\n", ""},
		{"arrow keys dropped", "a\x1b[Ab\x1bOBc\x1b[1;5Cd\x1bxe\r", echoOn, []string{"abcde"}, "abcde\r\n", ""},
		{"ESC then CR ends the line", "a\x1b\r", echoOn, []string{"a"}, "a\r\n", ""},
		{"CSI cut by CR", "a\x1b[12\r", echoOn, []string{"a"}, "a\r\n", ""},
		// A terminal's answer to a device attributes query, longer than
		// 16 bytes: none of it enters the line.
		// The Linux console's F1-F5: ESC [ [ A .. ESC [ [ E.
		{"Linux console function keys dropped", "a\x1b[[Ab\x1b[[Ec\r", echoOn, []string{"abc"}, "abc\r\n", ""},
		{"long CSI dropped whole", "a\x1b[?62;1;2;6;7;8;9;15;18;21;22;28;29cb\r", echoOn, []string{"ab"}, "ab\r\n", ""},
		{"secret", "s3cr\x7fet\r", echoStar, []string{"s3cet"}, "****\b \b**\r\n", ""},
		{"secret Ctrl-U", "se\x15x\r", echoStar, []string{"x"}, "**\b \b\b \b*\r\n", ""},
		{"Ctrl-D on an empty line", "\x04a\x04\x7f\x04", echoOn, []string{"<eof>", "<eof>"}, "^D\r\na\b \b^D\r\n", ""},
		{"masked hex", "yes 0f\x7fZ9\r", echoMaskHex, []string{"yes 0Z9"}, "y*s **\b \bZ*\r\n", ""},
		{"unfinished", "abc", echoOn, nil, "abc", "abc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := checkEditor(t, tc.mode, tc.in, tc.lines, tc.echo)
			if string(e.buf) != tc.pendingBuf {
				t.Errorf("left %q, want %q", e.buf, tc.pendingBuf)
			}
		})
	}
}

func TestEditorLongLine(t *testing.T) {
	var e editor
	long := strings.Repeat("x", MaxLine)
	lines, echo := feedAll(&e, echoOn, long+"\r")
	if len(lines) != 1 || lines[0] != long || echo != long+"\r\n" {
		t.Fatalf("a line of exactly MaxLine: %d lines", len(lines))
	}
	lines, echo = feedAll(&e, echoOn, long+"yz\x7f\rok\r")
	if strings.Join(lines, "|") != "<too long>|ok" || echo != long+"\r\nok\r\n" {
		t.Fatalf("lines %q, echo ...%q", lines, echo[len(echo)-12:])
	}
	// Ctrl-U forgives an overlong line and erases what was echoed.
	lines, echo = feedAll(&e, echoOn, long+"more\x15ok\r")
	if strings.Join(lines, "|") != "ok" || !strings.HasSuffix(echo, strings.Repeat("\b \b", MaxLine)+"ok\r\n") {
		t.Fatalf("lines %q", lines)
	}
}

func TestEditorWipes(t *testing.T) {
	var e editor
	e.start(echoStar)
	for _, b := range []byte("secret") {
		e.feed(b, nil)
	}
	buf := e.buf[:cap(e.buf)]
	e.start(echoOn)
	for _, b := range buf {
		if b != 0 {
			t.Fatalf("a new line left the old one in memory: %q", buf[:8])
		}
	}
}

// TestEditorMasksCardNumbers: at an echoing prompt, a number's digits
// beyond the 6th come back as '*' (a card number typed or pasted at the
// prompt by mistake never travels back down the wire, not even for a
// moment before a redraw: a terminal program's capture file would keep
// it). A number is digits joined by up to two of ' ', '-', '.', ':', '='
// or '^' (groups, track 2's separator, track 1's). The line itself keeps
// what was typed; backspace and Ctrl-U erase one column per byte.
func TestEditorMasksCardNumbers(t *testing.T) {
	cases := []struct {
		name, in string
		mode     echoMode
		lines    []string
		echo     string
	}{
		{"PAN", "4761739001010010\r", echoOn, []string{"4761739001010010"}, "476173**********\r\n"},
		{"track 2 after a word", "help 4761739001010010=30121010000000000000\r", echoOn,
			[]string{"help 4761739001010010=30121010000000000000"}, "help 476173**********=********************\r\n"},
		// Track 1's format code B is a hex digit: the hex group shows 6.
		{"track 1", "%B4761739001010010^DOE/JOHN^2512\r", echoOn,
			[]string{"%B4761739001010010^DOE/JOHN^2512"}, "%B47617***********^DOE/JOHN^2512\r\n"},
		{"groups", "4761 7390-0101.0010\r", echoOn, []string{"4761 7390-0101.0010"}, "4761 73**-****.****\r\n"},
		{"two spaces join", "4761  7390  0101  0010\r", echoOn, []string{"4761  7390  0101  0010"}, "4761  73**  ****  ****\r\n"},
		{"three spaces part", "txns 50   1234567\r", echoOn, []string{"txns 50   1234567"}, "txns 50   123456*\r\n"},
		{"short numbers", "log 200\r", echoOn, []string{"log 200"}, "log 200\r\n"},
		{"six digits", "123456\r", echoOn, []string{"123456"}, "123456\r\n"},
		{"letters part numbers", "T0001 xyz123456w7\r", echoOn, []string{"T0001 xyz123456w7"}, "T0001 xyz123456w7\r\n"},
		// Hex letters do not: one space joins hex runs into a group, as
		// the output guard counts them.
		{"hex group across a space", "T0001 abc123456x7\r", echoOn, []string{"T0001 abc123456x7"}, "T0001 ab*******x7\r\n"},
		{"backspace", "12345678\x7f\x7f9\r", echoOn, []string{"1234569"}, "123456**\b \b\b \b*\r\n"},
		{"backspace below six", "1234567\x7f\x7f\x7f89\r", echoOn, []string{"123489"}, "123456*\b \b\b \b\b \b89\r\n"},
		{"Ctrl-U", "12345678\x15" + "42\r", echoOn, []string{"42"}, "123456**" + strings.Repeat("\b \b", 8) + "42\r\n"},
		{"masked hex mode", "y 47617390\r", echoMaskHex, []string{"y 47617390"}, "y ********\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkEditor(t, tc.mode, tc.in, tc.lines, tc.echo) })
	}
}

// checkEditor feeds in to a fresh editor in mode and checks the lines it
// ends and what it echoed; it returns the editor for more checks.
func checkEditor(t *testing.T, mode echoMode, in string, lines []string, echo string) *editor {
	t.Helper()
	var e editor
	got, gotEcho := feedAll(&e, mode, in)
	if strings.Join(got, "|") != strings.Join(lines, "|") {
		t.Errorf("lines %q, want %q", got, lines)
	}
	if gotEcho != echo {
		t.Errorf("echo %q, want %q", gotEcho, echo)
	}
	return &e
}

// TestEditorMasksKeysAndTokens: at an echoing prompt the echo never shows
// what the output guard would withhold. A hex group (hex runs joined by
// single ' ', ':' or '-', as guardLine counts it) shows its first 6 hex
// digits, fewer than the guard's 16, the rest as '*'; a base64url run
// that mixes cases (a login token) shows its first 15 characters. A key
// component or a token typed at the wrong prompt never comes back.
// Command words stay readable.
func TestEditorMasksKeysAndTokens(t *testing.T) {
	cases := []struct {
		name, in string
		echo     string
	}{
		{"component", "8A3F5C0E9B2D7146E1F0A2B3C4D5E6F7", "8A3F5C" + strings.Repeat("*", 26)},
		{"component in groups", "8A3F 5C0E 9B2D 7146 E1F0 A2B3 C4D5 E6F7", "8A3F 5C** **** **** **** **** **** ****"},
		{"colons", "8a:3f:5c:0e:9b", "8a:3f:5c:**:**"},
		{"letters only", "CAFEBABEDEADBEEFCAFEBABEDEADBEEF", "CAFEBA" + strings.Repeat("*", 26)},
		{"digits and letters", "0123456789ABCDEF0123456789ABCDEF", "012345" + strings.Repeat("*", 26)},
		{"PIN block after a word", "help 0412AC89ABCDEF67", "help 0412AC**********"},
		{"two spaces part groups", "ABC  DEF  012", "ABC  DEF  012"},
		{"token", "eyJ2IjoxLCJlbmciOiJyb290Iiwicm9sZSI6ImFkbWluIn0.Zm9vYmFy_-ZZ",
			"eyJ2IjoxLCJlbmc" + strings.Repeat("*", 32) + ".Zm9vYmFy_-ZZ"},
		{"one case is no token", "abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz"},
		{"commands", "help factory-reset", "help factory-reset"},
		{"two words", "kbpk component", "kbpk component"},
		{"ota", "ota history", "ota history"},
		{"terminal id", "T0001", "T0001"},
		{"count", "audit 500", "audit 500"},
		{"KCV", "BDK KCV 08D7B4", "BDK KCV 08D7B4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkEditor(t, echoOn, tc.in+"\r", []string{tc.in}, tc.echo+"\r\n")
		})
	}
}

func TestEditorCtrlW(t *testing.T) {
	checkEditor(t, echoOn, "kbpk compo\x17cancel\r", []string{"kbpk cancel"}, "kbpk compo"+strings.Repeat("\b \b", 5)+"cancel\r\n")
	// Spaces before the cursor go with the word, as on a tty.
	checkEditor(t, echoOn, "log 20  \x17\x17status\r", []string{"status"}, "log 20  "+strings.Repeat("\b \b", 4)+strings.Repeat("\b \b", 4)+"status\r\n")
	checkEditor(t, echoStar, "ab cd\x17\r", []string{"ab "}, "*****\b \b\b \b\r\n")
	checkEditor(t, echoOn, "\x17ok\r", []string{"ok"}, "ok\r\n")
}

// TestEditorNonASCII: a UTF-8 character is dropped and reported once per
// line; noise bytes are dropped without a word.
func TestEditorNonASCII(t *testing.T) {
	var e editor
	e.start(echoOn)
	count := func(in string) int {
		n := 0
		for i := 0; i < len(in); i++ {
			if _, ev := e.feed(in[i], nil); ev == evNonASCII {
				n++
			}
		}
		return n
	}
	if n := count("\xff\xfe\x80\xf0\x80a"); n != 0 {
		t.Fatalf("noise reported %d times", n)
	}
	if n := count("st\u72b6\u6001atus\u00e9"); n != 1 || string(e.buf) != "astatus" {
		t.Fatalf("reported %d times, line %q", n, e.buf)
	}
	count("\r")
	e.take()
	if n := count("\u72b6"); n != 1 {
		t.Fatalf("a new line: reported %d times", n)
	}
	e.start(echoOn)
	count("0123456789")
	if got := string(e.redraw()); got != "012345****" {
		t.Fatalf("redraw %q", got)
	}
}
