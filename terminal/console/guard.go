package console

import (
	"strings"
	"unicode/utf8"

	"posd/terminal/redact"
)

// The output guard: every line the console writes (except the echo of
// keystrokes and the login challenge it makes itself) passes guardLine.
// The daemon's texts should already be clean; this is the last line of
// defence on a port an attacker can reach with a screwdriver.

const (
	// maxOutLine bounds one output line before it is guarded; the rest is
	// cut (with any digits or hex at the cut) and marked.
	maxOutLine = 4096
	// minHexRun hex digits in one group are withheld whatever they are:
	// 32 are a double-length TDES or an AES-128 key.
	minHexRun = 32
	// minKeyRun is the shortest stretch of hex digits taken for key
	// material on its own: 16 are an ISO 9564 PIN block, a single-length
	// DES key (or half of a longer one), a retail MAC or an EMV
	// cryptogram (ARQC, TC). KCVs (6-10 hex digits) stay below it; KSNs
	// (20 or 24) are let through by shape (see guardLine).
	minKeyRun = 16
	// withheld replaces a line that looks like key material.
	withheld  = "[line withheld: it looks like key material]"
	truncated = " [truncated]"
)

// guardLine makes one line (no line end) safe to print:
//
//  1. non-printable or non-ASCII characters become '?' (no terminal
//     escape sequences, no look-alike digits); a tab becomes a space;
//  2. a line holding 32 or more hex digits in one group is withheld whole;
//     a group is a run of hex digits, or runs joined by single ' ', ':'
//     or '-' (key components are often written in groups);
//  3. a line holding a stretch of 16 or more hex digits is withheld whole
//     (a PIN block, a single DES key, a MAC, an ARQC or TC). A stretch is
//     a group split at, and without, two kinds of runs:
//     a KSN, a run of exactly 20 or 24 hex digits (TDES, AES DUKPT) not
//     glued to a letter g-z; written in groups or glued to a word, it is
//     not taken for one, but for one glued on its left only: an id made
//     of a word's letters and 20 or 24 hex digits ("FS" and 24 hex, the
//     face-pay platform's session on every face-pay log line);
//     a word's hex head or tail, a run of the letters a-f only glued to a
//     letter g-z (the "ca" and "d" of "card", the "C" of "KCV"): text
//     that does not join the number next to it. A word made of a-f only
//     ("added", "decade") is not glued and counts as hex.
//     So "1234 5678 9ABC DEF0", "12:34:...:F0", "0x0123456789ABCDEF" and
//     runs of 18 or 23 hex digits are withheld; KSNs, KCVs, TVRs, RFC 3339
//     times and "KSN <20 hex> at 10:00" are shown; a KSN does not excuse
//     the rest of its line ("MAC <16 hex> KSN <20 hex>" is withheld).
//     Stretches of decimal digits only are the exception when they are
//     card numbers: a Luhn-valid stretch of 16 to 19 digits keeps its
//     first 6 and last 4 digits (also when ':' joins its groups, which
//     rule 5 does not join), a single run of more than 19 is masked whole
//     by rule 5. Any other (a 16-digit number failing Luhn, "1234 5678
//     9012 3456") is withheld as a PIN block or a key made of digits.
//     Why not withhold Luhn-valid ones too: first 6 and last 4 is how
//     PCI DSS allows a PAN to be shown and what an auditor expects of a
//     card number on a service port; a random 16-hex PIN block or key is
//     all decimal and Luhn-valid once in about 18,000, and only then would
//     10 of its digits show; withholding them would hide every line with
//     a 16-digit PAN instead of masking it;
//  4. a line with stripe data (a card number followed by track 2's '=' or
//     track 1's '^') is withheld whole;
//  5. a run of more than 19 digits (track data) is masked whole, but for
//     one in a KSN-shaped run (rule 3: of digits only, or with hex
//     letters, "...0000006D") on a line with the word "KSN"; 13 to 19
//     digits, in one run or in runs joined by one or two of ' ', '-', '.'
//     ("4111 1111 1111 1111", "4111.1111.1111.1111"), that pass the Luhn
//     check keep their first 6 and last 4 digits only.
//
// The hex checks come first: masking digits would split a key's hex run
// and let the rest of it through. Rule 3 is checked again on the masked
// line (masking never joins runs, but it can cut a KSN-shaped run down to
// a piece that is no longer one).
func guardLine(s string) string {
	cut := false
	if len(s) > maxOutLine {
		s = strings.TrimRight(s[:maxOutLine], "0123456789abcdefABCDEF -:")
		cut = true
	}
	b := printable(s)
	if hasLongHex(b) || hasTrack(b) || hasKeyRun(b) {
		return withheld
	}
	maskPANs(b)
	if hasKeyRun(b) {
		return withheld
	}
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

// isWordLetter reports whether c is a letter that is not a hex digit.
func isWordLetter(c byte) bool { return (c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z') }

// A hex run's part in rule 3 of guardLine.
const (
	runHex  = iota // counts
	runKSN         // a KSN: shown, splits the group
	runWord        // a word's hex head or tail: not digits, splits the group
)

// runClass classifies the hex run r of b for rule 3 (see guardLine).
func runClass(b []byte, r span) int {
	left := r.start > 0 && isWordLetter(b[r.start-1])
	right := r.end < len(b) && isWordLetter(b[r.end])
	if !right {
		// A KSN, or an id: a word's letters and 20 or 24 hex digits
		// (the face-pay platform's session FS + 24 hex). Neither length
		// is a key's (16, 32, 48 or 64 hex digits), and the letters in
		// front show no more of it than a KSN shows.
		if n := r.end - r.start; n == 20 || n == 24 {
			return runKSN
		}
		if !left {
			return runHex
		}
	}
	for _, c := range b[r.start:r.end] {
		if isDigit(c) {
			return runHex
		}
	}
	return runWord
}

// hasKeyRun reports whether b holds a stretch of minKeyRun hex digits that
// is not a card number (rule 3 of guardLine); it masks, in place, the card
// numbers that rule lets through (Luhn-valid stretches of 16 to 19
// decimal digits; longer single runs are left to maskPANs).
func hasKeyRun(b []byte) bool {
	rs := runs(b, isHex)
	for i := 0; i < len(rs); {
		if runClass(b, rs[i]) != runHex {
			i++
			continue
		}
		j := i + 1
		for j < len(rs) && joined(b, rs[j-1], rs[j], " :-") && runClass(b, rs[j]) == runHex {
			j++
		}
		if !keyFree(b, rs[i:j]) {
			return true
		}
		i = j
	}
	return false
}

// keyFree reports whether the stretch st may be shown: it is shorter than
// minKeyRun, or it is a card number (then masked here, or by maskPANs when
// it is one run of more than 19 digits).
func keyFree(b []byte, st []span) bool {
	n := 0
	for _, r := range st {
		n += r.end - r.start
	}
	if n < minKeyRun {
		return true
	}
	var digits [19]byte
	k := 0
	for _, r := range st {
		for _, c := range b[r.start:r.end] {
			if !isDigit(c) {
				return false
			}
			if k < len(digits) {
				digits[k] = c
			}
			k++
		}
	}
	switch {
	case len(st) == 1 && n > 19:
		return true // track data: maskPANs masks it whole
	case n > 19 || !redact.Luhn(digits[:n]):
		return false
	}
	k = 0
	for _, r := range st {
		for p := r.start; p < r.end; p++ {
			if k >= 6 && k < n-4 {
				b[p] = '*'
			}
			k++
		}
	}
	return true
}

// maskPANs masks card numbers in b in place (see guardLine).
func maskPANs(b []byte) {
	named := namesKSN(b)
	for _, r := range runs(b, isDigit) {
		if named && inKSN(b, r) {
			continue
		}
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

// namesKSN reports whether b has the word "ksn" (any case, not inside a
// longer word): a line that says it shows a KSN.
func namesKSN(b []byte) bool {
	for _, r := range runs(b, func(c byte) bool { return isWordLetter(c) || isHex(c) }) {
		if strings.EqualFold(string(b[r.start:r.end]), "ksn") {
			return true
		}
	}
	return false
}

// inKSN reports whether the digit run r of b lies in a KSN-shaped hex
// run (rule 3: exactly 20 or 24 hex digits, not glued to a word), all
// decimal ("123456789012345600000001") or not ("...0000006D"): its
// decimal part would otherwise be masked as track data.
func inKSN(b []byte, r span) bool {
	h := r
	for h.start > 0 && isHex(b[h.start-1]) {
		h.start--
	}
	for h.end < len(b) && isHex(b[h.end]) {
		h.end++
	}
	if h.start > 0 && isWordLetter(b[h.start-1]) {
		return false // an id (rule 3), not a KSN: its long digit runs are masked
	}
	return runClass(b, h) == runKSN
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
			if n >= 13 && redact.Luhn(digits[:n]) {
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
