package console

import (
	"bytes"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"

	"posd/terminal/redact"
)

// FuzzLine drives the line discipline with arbitrary bytes: lines are
// printable ASCII of at most MaxLine bytes, the echo is printable ASCII
// plus BS, CR and LF, a secret's echo is stars only, and a terminal that
// plays the echo back shows exactly the line the console took.
func FuzzLine(f *testing.F) {
	f.Add([]byte("status\r\n"), uint8(echoOn))
	f.Add([]byte("ab\x7fc\x08\x15\x03\x1b[A\x1bOP\xff\r"), uint8(echoStar))
	f.Add(bytes.Repeat([]byte("x"), MaxLine+3), uint8(echoOn))
	f.Add([]byte("s3cret\r\nnext\n\r"), uint8(echoStar))
	f.Add([]byte("yes 0f1E\x7f\r"), uint8(echoMaskHex))
	f.Add([]byte("help 4761 7390  0101\x7f1=3012^\r"), uint8(echoOn))
	f.Add([]byte("8A3F 5C0E-9b2d:7146 eyJ2IjoxLCJlbmciOiJy\x17\xe7\x8a\xb6ab\r"), uint8(echoOn))
	f.Fuzz(func(t *testing.T, data []byte, m uint8) {
		mode := echoMode(m % 3)
		secret := mode == echoStar
		masked := func(c byte) byte {
			if secret || (mode == echoMaskHex && isHex(c)) {
				return '*'
			}
			return c
		}
		var e editor
		e.start(mode)
		var screen []byte // what a terminal shows of the current line
		cursor := 0
		var out []byte
		for _, b := range data {
			var ev lineEvent
			out, ev = e.feed(b, out[:0])
			if ev == evLine {
				// The terminal shows the line just as the console took it
				// (stars for a secret), before the line end's echo.
				line := e.take()
				want := make([]byte, len(line))
				for i, c := range line {
					want[i] = masked(c)
					if c >= '0' && c <= '9' && shownDigits(line[:i]) >= 6 {
						want[i] = '*'
					}
					if isHex(c) && shownHex(line[:i]) >= 6 {
						want[i] = '*'
					}
					if b64AtEnd.Match([]byte{c}) && tokenRun(line[:i]) {
						want[i] = '*'
					}
				}
				if !bytes.Equal(screen[:cursor], want) {
					t.Fatalf("terminal shows %q, line is %q", screen[:cursor], want)
				}
				if len(line) > MaxLine {
					t.Fatalf("line of %d bytes", len(line))
				}
				for _, c := range line {
					if c < 0x20 || c >= 0x7f {
						t.Fatalf("line byte %#x", c)
					}
				}
				if string(out) != "\r\n" {
					t.Fatalf("line end echoed as %q", out)
				}
			}
			if ev == evAbandon && !bytes.HasSuffix(out, []byte("^C\r\n")) {
				t.Fatalf("Ctrl-C echoed as %q", out)
			}
			if ev == evBreak && (len(out) != 0 || b != 0) {
				t.Fatalf("byte %#x a break, echoed as %q", b, out)
			}
			if ev == evEOF && (string(out) != "^D\r\n" || cursor != 0) {
				t.Fatalf("Ctrl-D echoed as %q after %d columns", out, cursor)
			}
			for _, c := range out {
				switch {
				case c == '\b':
					if cursor == 0 {
						t.Fatal("echo backs up past the line start")
					}
					cursor--
				case c == '\r':
					cursor = 0
				case c == '\n':
					screen, cursor = screen[:0], 0
				case c >= 0x20 && c < 0x7f:
					if secret && !strings.ContainsRune("* ^CD", rune(c)) {
						t.Fatalf("secret echo shows %q", c)
					}
					if mode == echoMaskHex && isHex(c) && ev != evAbandon && ev != evEOF { // "^C", "^D"
						t.Fatalf("masked echo shows hex digit %q", c)
					}
					if cursor < len(screen) {
						screen[cursor] = c
					} else {
						screen = append(screen, c)
					}
					cursor++
				default:
					t.Fatalf("echo byte %#x", c)
				}
			}
		}
	})
}

var numberAtEnd = regexp.MustCompile(`[0-9](?:[ .:=^-]{0,2}[0-9])*[ .:=^-]{0,2}$`)

// shownDigits counts the digits of the number at the end of l, as the echo
// sees it: digits, and groups of them joined by one or two of ' ', '-',
// '.', ':', '=' or '^'.
func shownDigits(l []byte) int {
	m := numberAtEnd.Find(l)
	if m == nil {
		return 0
	}
	// The match may start inside a run of separators: count digits only.
	n := 0
	for _, c := range m {
		if c >= '0' && c <= '9' {
			n++
		}
	}
	return n
}

var (
	hexAtEnd = regexp.MustCompile(`[0-9A-Fa-f]+(?:[ :-][0-9A-Fa-f]+)*[ :-]?$`)
	b64AtEnd = regexp.MustCompile(`[A-Za-z0-9_-]+$`)
	upper    = regexp.MustCompile(`[A-Z]`)
	lower    = regexp.MustCompile(`[a-z]`)
)

// shownHex counts the hex digits of the hex group at the end of l, as the
// output guard counts a group: runs joined by single ' ', ':' or '-'.
func shownHex(l []byte) int {
	n := 0
	for _, c := range hexAtEnd.Find(l) {
		if isHex(c) {
			n++
		}
	}
	return n
}

// tokenRun reports whether l ends in a base64url run of 15 or more
// characters that mixes upper and lower case letters.
func tokenRun(l []byte) bool {
	m := b64AtEnd.Find(l)
	return len(m) >= 15 && upper.Match(m) && lower.Match(m)
}

// FuzzCommand parses arbitrary command lines.
func FuzzCommand(f *testing.F) {
	for _, c := range commands {
		f.Add(c.name + " " + c.args)
	}
	f.Add("log 500")
	f.Add("LOG -1")
	f.Add("txns 99999999999999999999")
	f.Add("kbpk")
	f.Add("stauts")
	f.Add("otta check")
	f.Add("help host test")
	f.Add("  key   LOAD  ")
	f.Fuzz(func(t *testing.T, line string) {
		p, err := parseCommand(line)
		var ue *usageError
		switch {
		case err == nil:
			if p.cmd == nil || byName[p.cmd.name] != p.cmd {
				t.Fatalf("%q: command %v", line, p.cmd)
			}
			if len(p.args) > p.cmd.maxArgs {
				t.Fatalf("%q: %d args for %s", line, len(p.args), p.cmd.name)
			}
			if p.cmd.count > 0 && (p.n < 1 || p.n > maxCount) {
				t.Fatalf("%q: count %d", line, p.n)
			}
		case errors.Is(err, errEmpty):
			if strings.TrimSpace(line) != "" && len(strings.Fields(line)) != 0 {
				t.Fatalf("%q: empty", line)
			}
		case errors.Is(err, errUnknown):
			if p.cmd != nil {
				t.Fatalf("%q: unknown with a command", line)
			}
			// The suggestion names commands only, never what was typed.
			if near := nearest(line); near != "" {
				names := strings.TrimPrefix(near, "one of ")
				for n := range strings.SplitSeq(names, ", ") {
					if byName[n] == nil {
						t.Fatalf("%q: suggests %q", line, near)
					}
				}
			}
		case errors.As(err, &ue):
			if ue.cmd == nil && groups[ue.group] == nil {
				t.Fatalf("%q: usage of nothing", line)
			}
			if strings.Contains(ue.Error(), "\n") {
				t.Fatalf("%q: usage %q", line, ue.Error())
			}
		default:
			t.Fatalf("%q: error %v", line, err)
		}
	})
}

var (
	digitChain = regexp.MustCompile(`[0-9]+(?:[ -][0-9]+)*`)
	digitRun   = regexp.MustCompile(`[0-9]+`)
	hexChain   = regexp.MustCompile(`[0-9A-Fa-f]+(?:[ :-][0-9A-Fa-f]+)*`)
	hexRun     = regexp.MustCompile(`[0-9A-Fa-f]+`)
	hexLetters = regexp.MustCompile(`^[A-Fa-f]+$`)
)

// keyStretch returns the first stretch of 16 or more hex digits in out, as
// guardLine's rule 3 defines it: a group of hex runs joined by single ' ',
// ':' or '-', split at KSNs and ids (20 or 24 hex digits not glued on
// their right to a letter g-z) and at a word's hex head or tail (a-f only,
// glued to such a letter).
func keyStretch(out string) string {
	glued := func(i int) bool {
		return i >= 0 && i < len(out) && strings.IndexByte("ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ", out[i]) >= 0
	}
	for _, g := range hexChain.FindAllStringIndex(out, -1) {
		n, from := 0, -1
		for _, r := range hexRun.FindAllStringIndex(out[g[0]:g[1]], -1) {
			start, end := g[0]+r[0], g[0]+r[1]
			run := out[start:end]
			stuck := glued(start-1) || glued(end)
			if (!glued(end) && (len(run) == 20 || len(run) == 24)) || (stuck && hexLetters.MatchString(run)) {
				n, from = 0, -1
				continue
			}
			if from < 0 {
				from = start
			}
			if n += len(run); n >= 16 {
				return out[from:end]
			}
		}
	}
	return ""
}

// FuzzGuard: whatever the daemon hands over, the guarded line is printable
// ASCII, has no Luhn-valid 13-19 digit number (in one run or in groups),
// no run of more than 19 digits (but a KSN's 20 or 24 on a line naming
// it), no 32 hex digits in one run or group,
// and no stretch of 16 hex digits (a PIN block, a DES key, a MAC, an
// ARQC) that is not a KSN.
func FuzzGuard(f *testing.F) {
	f.Add("card 4761739001010010")
	f.Add("PIN block 0412AC89ABCDEF67")
	f.Add("1234 5678 9ABC DEF0 KSN FFFF9876543210E00000 at 10:00")
	f.Add("4761:7390:0101:0010 pinblock 0412345678901234")
	f.Add("0123456789 4761739001010010ABCD")
	f.Add("4761 7390 0101 0010 4761 7390 0101 0010")
	f.Add("0123 4567 89AB CDEF 0123 4567 89AB CDE")
	f.Add("KSN FFFF9876543210E00000 KCV 1A2B3C")
	f.Add("KSN 123456789012345600000001 card 4761739001010010")
	f.Add("KSN 12345678901234560000006D card 4761739001010010")
	f.Add("session=FSE8A4CA1F9AB92615B253D271 platform_txn=FP000000000001")
	f.Add("\x1b]0;title\a 378282246310005")
	f.Fuzz(func(t *testing.T, in string) {
		out := guardLine(in)
		for i := 0; i < len(out); i++ {
			if out[i] < 0x20 || out[i] >= 0x7f {
				t.Fatalf("byte %#x in %q", out[i], out)
			}
		}
		if out == withheld {
			return
		}
		for _, ch := range hexChain.FindAllString(out, -1) {
			n := 0
			for i := 0; i < len(ch); i++ {
				if isHex(ch[i]) {
					n++
				}
			}
			if n >= minHexRun {
				t.Fatalf("%d hex digits in %q", n, out)
			}
		}
		if st := keyStretch(out); st != "" {
			t.Fatalf("key-sized hex %q in %q", st, out)
		}
		// A KSN (20 or 24 hex digits, of decimal digits only or not) is
		// shown on a line naming it; any other run of more than 19
		// digits is masked.
		named := namesKSN([]byte(out))
		for _, loc := range digitRun.FindAllStringIndex(out, -1) {
			if loc[1]-loc[0] > 19 && !(named && ksnShaped(out, loc[0], loc[1])) {
				t.Fatalf("run of %d digits in %q", loc[1]-loc[0], out)
			}
		}
		for _, ch := range digitChain.FindAllString(out, -1) {
			rs := digitRun.FindAllString(ch, -1)
			for i := range rs {
				d := ""
				for j := i; j < len(rs); j++ {
					d += rs[j]
					if len(d) > 19 {
						break
					}
					if len(d) >= 13 && redact.Luhn([]byte(d)) {
						t.Fatalf("card number %s left in %q", d, out)
					}
				}
			}
		}
	})
}

// ksnShaped reports whether s[i:j] lies in a run of exactly 20 or 24 hex
// digits that no letter g-z touches.
func ksnShaped(s string, i, j int) bool {
	hexDigit := func(c byte) bool { return strings.IndexByte("0123456789abcdefABCDEF", c) >= 0 }
	for i > 0 && hexDigit(s[i-1]) {
		i--
	}
	for j < len(s) && hexDigit(s[j]) {
		j++
	}
	letter := func(k int) bool {
		return k >= 0 && k < len(s) && strings.IndexByte("ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ", s[k]) >= 0
	}
	return (j-i == 20 || j-i == 24) && !letter(i-1) && !letter(j)
}

// TestKeyStretch: FuzzGuard's rule-3 check finds what it must, so the
// property can fail.
func TestKeyStretch(t *testing.T) {
	for in, want := range map[string]string{
		"PIN block 0412AC89ABCDEF67":             "0412AC89ABCDEF67",
		"x 1234 5678 9ABC DEF0 y":                "1234 5678 9ABC DEF0",
		"12:34:56:78:9A:BC:DE:F0":                "12:34:56:78:9A:BC:DE:F0",
		"0123456789ABCDEF01234":                  "0123456789ABCDEF01234",
		"ABCD 1234567890ABCDEF":                  "ABCD 1234567890ABCDEF",
		"KSN FFFF9876543210E00000 at 10:00":      "",
		"KSN FFFF9876543210E00000 0123456789ABC": "",
		"session=FSE8A4CA1F9AB92615B253D271":     "",
		"FSE8A4CA1F9AB92615B253D271x":            "E8A4CA1F9AB92615B253D271",
		"card 476173******0010 ok":               "",
		"0123456789 FFFF476173******0010":        "0123456789 FFFF476173",
		"0123456789ABCDE":                        "",
		"1234 5678 9012 3456":                    "1234 5678 9012 3456",
	} {
		if got := keyStretch(in); got != want {
			t.Errorf("keyStretch(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseComponent: a component as a custodian types it. Taken, it is
// exactly the hex digits typed; refused, the reason never quotes them.
func FuzzParseComponent(f *testing.F) {
	f.Add([]byte(component1))
	f.Add([]byte(component2))
	f.Add([]byte("0f1e2d3c4b5a6978"))
	f.Add([]byte("0f1e2d3c-4b5a6978-8796a5b4-c3d2e1f0"))
	f.Add([]byte(" \x00\xff"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		in := string(raw)
		k, problem := parseComponent(raw)
		if problem != "" {
			if k != nil {
				t.Fatal("a key and a problem")
			}
			if len(strings.TrimSpace(in)) >= 4 && strings.Contains(problem, strings.TrimSpace(in)) {
				t.Fatalf("problem %q quotes the input", problem)
			}
			return
		}
		if n := len(k); n != 16 && n != 24 && n != 32 {
			t.Fatalf("a component of %d bytes", n)
		}
		if want := strings.ToLower(strings.ReplaceAll(in, " ", "")); hex.EncodeToString(k) != want {
			t.Fatalf("%q decoded as %x", in, k)
		}
	})
}
