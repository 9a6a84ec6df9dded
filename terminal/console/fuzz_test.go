package console

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// FuzzLine drives the line discipline with arbitrary bytes: lines are
// printable ASCII of at most MaxLine bytes, the echo is printable ASCII
// plus BS, CR and LF, a secret's echo is stars only, and a terminal that
// plays the echo back shows exactly the line the console took.
func FuzzLine(f *testing.F) {
	f.Add([]byte("status\r\n"), false)
	f.Add([]byte("ab\x7fc\x08\x15\x03\x1b[A\x1bOP\xff\r"), true)
	f.Add(bytes.Repeat([]byte("x"), MaxLine+3), false)
	f.Add([]byte("s3cret\r\nnext\n\r"), true)
	f.Fuzz(func(t *testing.T, data []byte, secret bool) {
		mode := echoOn
		if secret {
			mode = echoStar
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
				want := line
				if secret {
					want = bytes.Repeat([]byte("*"), len(line))
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
					if secret && !strings.ContainsRune("* ^C", rune(c)) {
						t.Fatalf("secret echo shows %q", c)
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

// FuzzCommand parses arbitrary command lines.
func FuzzCommand(f *testing.F) {
	for _, c := range commands {
		f.Add(c.name + " " + c.args)
	}
	f.Add("log 500")
	f.Add("LOG -1")
	f.Add("txns 99999999999999999999")
	f.Add("kbpk")
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
)

// FuzzGuard: whatever the daemon hands over, the guarded line is printable
// ASCII, has no Luhn-valid 13-19 digit number (in one run or in groups),
// no run of more than 19 digits, and no 32 hex digits in one run or group.
func FuzzGuard(f *testing.F) {
	f.Add("card 4761739001010010")
	f.Add("4761 7390 0101 0010 4761 7390 0101 0010")
	f.Add("0123 4567 89AB CDEF 0123 4567 89AB CDE")
	f.Add("KSN FFFF9876543210E00000 KCV 1A2B3C")
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
		for _, ch := range digitChain.FindAllString(out, -1) {
			rs := digitRun.FindAllString(ch, -1)
			for i := range rs {
				if len(rs[i]) > 19 {
					t.Fatalf("run of %d digits in %q", len(rs[i]), out)
				}
				d := ""
				for j := i; j < len(rs); j++ {
					d += rs[j]
					if len(d) > 19 {
						break
					}
					if len(d) >= 13 && luhn([]byte(d)) {
						t.Fatalf("card number %s left in %q", d, out)
					}
				}
			}
		}
	})
}
