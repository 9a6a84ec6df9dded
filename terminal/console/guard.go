package console

import (
	"strings"
	"unicode/utf8"
)

// The output guard: every line the console writes (except the echo of
// keystrokes and the login challenge it makes itself) passes guardLine.
// The daemon's texts should already be clean; this is the last line of
// defence on a port an attacker can reach with a screwdriver.

const (
	// maxOutLine bounds one output line before it is guarded; the rest is
	// cut (with any digits or hex at the cut) and marked.
	maxOutLine = 4096
	// minHexRun is the shortest hex run taken for key material: 32 hex
	// digits are a double-length TDES or an AES-128 key. KCVs (6-10 hex
	// digits) and KSNs (20-24) stay below it.
	minHexRun = 32
	// withheld replaces a line that looks like key material.
	withheld  = "[line withheld: it looks like key material]"
	truncated = " [truncated]"
)

// guardLine makes one line (no line end) safe to print:
//
//  1. non-printable or non-ASCII characters become '?' (no terminal
//     escape sequences, no look-alike digits); a tab becomes a space;
//  2. a line holding 32 or more hex digits in one run, or in runs joined by
//     single ' ', ':' or '-' (key components are often written in groups),
//     is withheld whole;
//  3. a line with stripe data (a card number followed by track 2's '=' or
//     track 1's '^') is withheld whole;
//  4. a run of more than 19 digits (track data) is masked whole; 13 to 19
//     digits, in one run or in runs joined by one or two of ' ', '-', '.'
//     ("4111 1111 1111 1111", "4111.1111.1111.1111"), that pass the Luhn
//     check keep their first 6 and last 4 digits only.
//
// The hex check comes first: masking digits would split a key's hex run and
// let the rest of it through.
func guardLine(s string) string {
	cut := false
	if len(s) > maxOutLine {
		s = strings.TrimRight(s[:maxOutLine], "0123456789abcdefABCDEF -:")
		cut = true
	}
	b := printable(s)
	if hasLongHex(b) || hasTrack(b) {
		return withheld
	}
	maskPANs(b)
	if cut {
		return string(b) + truncated
	}
	return string(b)
}

// printable returns s as printable ASCII.
func printable(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\t':
				b = append(b, ' ')
			case c < 0x20 || c == 0x7f:
				b = append(b, '?')
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		_, n := utf8.DecodeRuneInString(s[i:])
		b = append(b, '?')
		i += n
	}
	return b
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// span is a maximal run [start, end) of one character class.
type span struct{ start, end int }

// runs lists the maximal runs of characters in class.
func runs(b []byte, class func(byte) bool) []span {
	var out []span
	for i := 0; i < len(b); {
		if !class(b[i]) {
			i++
			continue
		}
		j := i
		for j < len(b) && class(b[j]) {
			j++
		}
		out = append(out, span{i, j})
		i = j
	}
	return out
}

// joined reports whether runs r and next are separated by exactly one
// separator byte from seps.
func joined(b []byte, r, next span, seps string) bool {
	return next.start == r.end+1 && strings.IndexByte(seps, b[r.end]) >= 0
}

// joinedLoose reports whether runs r and next are separated by one or two
// separator bytes from seps ("4761  7390", "4761 - 7390" is not).
func joinedLoose(b []byte, r, next span, seps string) bool {
	gap := next.start - r.end
	if gap < 1 || gap > 2 {
		return false
	}
	for p := r.end; p < next.start; p++ {
		if strings.IndexByte(seps, b[p]) < 0 {
			return false
		}
	}
	return true
}

// hasTrack reports whether b holds magnetic stripe data: a card number
// (12 to 19 digits) followed by track 2's '=' separator or track 1's '^'.
// Masking the number would leave the expiry, service code and
// discretionary data (and track 1's name) in clear: the line is withheld.
func hasTrack(b []byte) bool {
	for _, r := range runs(b, isDigit) {
		if n := r.end - r.start; n >= 12 && n <= 19 && r.end < len(b) && (b[r.end] == '=' || b[r.end] == '^') {
			return true
		}
	}
	return false
}

// hasLongHex reports whether b holds minHexRun hex digits in one run or in
// runs joined by single ' ', ':' or '-'.
func hasLongHex(b []byte) bool {
	rs := runs(b, isHex)
	total := 0
	for i, r := range rs {
		if i > 0 && joined(b, rs[i-1], r, " :-") {
			total += r.end - r.start
		} else {
			total = r.end - r.start
		}
		if total >= minHexRun {
			return true
		}
	}
	return false
}

// maskPANs masks card numbers in b in place (see guardLine).
func maskPANs(b []byte) {
	for _, r := range runs(b, isDigit) {
		if r.end-r.start > 19 {
			for i := r.start; i < r.end; i++ {
				b[i] = '*'
			}
		}
	}
	// Masking can leave kept digits that join the next runs into a new
	// candidate: repeat until nothing changes (each round masks digits, so
	// this ends).
	for maskOnePAN(b) {
	}
}

// maskOnePAN masks the first Luhn-valid chain of 13 to 19 digits (the
// longest starting at the first run that starts one) and reports whether
// it found one.
func maskOnePAN(b []byte) bool {
	rs := runs(b, isDigit)
	var digits [19]byte
	for i := range rs {
		n, best := 0, -1
		for j := i; j < len(rs); j++ {
			if j > i && !joinedLoose(b, rs[j-1], rs[j], " -.") {
				break
			}
			l := rs[j].end - rs[j].start
			if n+l > len(digits) {
				break
			}
			copy(digits[n:], b[rs[j].start:rs[j].end])
			n += l
			if n >= 13 && luhn(digits[:n]) {
				best = j
			}
		}
		if best < 0 {
			continue
		}
		total := 0
		for j := i; j <= best; j++ {
			total += rs[j].end - rs[j].start
		}
		k := 0
		for j := i; j <= best; j++ {
			for p := rs[j].start; p < rs[j].end; p++ {
				if k >= 6 && k < total-4 {
					b[p] = '*'
				}
				k++
			}
		}
		return true
	}
	return false
}

// luhn reports whether the ASCII digits d pass the Luhn check.
func luhn(d []byte) bool {
	sum := 0
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return sum%10 == 0
}
