// Package redact keeps card numbers out of logs and messages: MaskPAN for
// the places that knowingly show a PAN, and a slog.Handler that masks any
// long run of digits that reaches a log line anyway (defence in depth: no
// code path should log card data in the first place).
package redact

import (
	"context"
	"log/slog"
	"strings"
)

// MaskPAN keeps the first 6 and last 4 digits and masks the rest with '*'.
// Inputs of 10 characters or fewer keep only their last 4; 4 or fewer are
// masked entirely.
func MaskPAN(pan string) string {
	n := len(pan)
	b := []byte(pan)
	switch {
	case n <= 4:
		for i := range b {
			b[i] = '*'
		}
	case n <= 10:
		for i := 0; i < n-4; i++ {
			b[i] = '*'
		}
	default:
		for i := 6; i < n-4; i++ {
			b[i] = '*'
		}
	}
	return string(b)
}

// Digits masks every run of 12 or more decimal digits in s: runs of 12 to 19
// digits (a PAN's length) keep their first 6 and last 4, longer runs (track
// data) are masked entirely. One shape is not masked: a platform's
// transaction id, a word of 2 to 4 capital letters and exactly 12 digits
// ("FP000000000001" of the face-pay platform, "AL000000000001" of a wallet
// platform), which the receipt shows whole, unless its digits pass the
// Luhn check (a 12-digit card number may follow capitals). 12 digits
// glued to anything else (a word in lower case, a hex dump's "5A0A",
// more letters or digits or a track separator after them) are masked.
// A card number written in groups is masked too (see minGroup).
func Digits(s string) string {
	s = grouped(s)
	var out []byte
	start := -1
	flush := func(end int) {
		run := s[start:end]
		switch {
		case len(run) < 12, len(run) == 12 && platformID(s, start, end) && !Luhn(run):
			out = append(out, run...)
		case len(run) <= 19:
			out = append(out, MaskPAN(run)...)
		default:
			for range run {
				out = append(out, '*')
			}
		}
		start = -1
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			flush(i)
		}
		out = append(out, c)
	}
	if start >= 0 {
		flush(len(s))
	}
	return string(out)
}

// A card number typed by hand comes in groups: "4761 7390 0101 0010",
// "3782-822463-10005", "6212 3456 7890 1234 569", "4761/7390/0101/0010".
// Groups of 3 to 11 digits, each joined to the next by one or two of
// groupSeps (not '.' or ':', which join an address's numbers), whose digits
// make 12 to 19 that pass the Luhn check (as a card number's do) are
// masked as one run, first 6 and last 4 digits kept, the separators
// left in place. Dates ("2026-11-29"), times and lists of ids, whose
// digits are not a card number's, stay.
const (
	minGroup  = 3
	maxGroup  = 11
	groupSeps = " -/_,"
)

// grouped masks the grouped card numbers in s (see minGroup).
func grouped(s string) string {
	type run struct{ start, end int }
	var b []byte // a copy, made on the first masked group
	var group []run
	mask := func(g []run, total int) {
		if b == nil {
			b = []byte(s)
		}
		i := 0
		for _, r := range g {
			for p := r.start; p < r.end; p++ {
				if i >= 6 && i < total-4 {
					b[p] = '*'
				}
				i++
			}
		}
	}
	flush := func() {
		// Every stretch of whole groups, as a card number may be
		// followed or preceded by other numbers ("... 0010 123").
		digits := make([]byte, 0, 2*maxGroup)
		for a := range group {
			digits = digits[:0]
			for z := a; z < len(group); z++ {
				digits = append(digits, s[group[z].start:group[z].end]...)
				total := len(digits)
				if total > 19 {
					break
				}
				if z > a && total >= 12 && Luhn(digits) {
					mask(group[a:z+1], total)
				}
			}
		}
		group = group[:0]
	}
	for i := 0; i < len(s); {
		if s[i] < '0' || s[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		r := run{i, j}
		if n := j - i; n < minGroup || n > maxGroup {
			flush()
		} else {
			if len(group) > 0 {
				last := group[len(group)-1]
				gap := s[last.end:r.start]
				if len(gap) > 2 || strings.Trim(gap, groupSeps) != "" {
					flush()
				}
			}
			group = append(group, r)
		}
		i = j
	}
	flush()
	if b == nil {
		return s
	}
	return string(b)
}

// platformID reports whether the 12 digits s[start:end] end a platform's
// transaction id: 2 to 4 capital letters before them, a word of its own
// (nothing alphanumeric touches it on either side, and no track
// separator, '=' or '^', follows it).
func platformID(s string, start, end int) bool {
	if end < len(s) && (isAlnum(s[end]) || s[end] == '=' || s[end] == '^') {
		return false
	}
	i := start
	for i > 0 && s[i-1] >= 'A' && s[i-1] <= 'Z' {
		i--
	}
	if n := start - i; n < 2 || n > 4 {
		return false
	}
	return i == 0 || !isAlnum(s[i-1])
}

func isAlnum(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// Handler masks long digit runs in the message and in every string (and
// error, and Stringer) attribute before passing the record on.
type Handler struct{ next slog.Handler }

// NewHandler wraps next.
func NewHandler(next slog.Handler) *Handler { return &Handler{next: next} }

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, Digits(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(attr(a))
		return true
	})
	return h.next.Handle(ctx, nr)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	m := make([]slog.Attr, len(as))
	for i, a := range as {
		m[i] = attr(a)
	}
	return &Handler{next: h.next.WithAttrs(m)}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler { return &Handler{next: h.next.WithGroup(name)} }

func attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Digits(v.String()))
	case slog.KindGroup:
		g := v.Group()
		m := make([]any, len(g))
		for i, x := range g {
			m[i] = attr(x)
		}
		return slog.Group(a.Key, m...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, Digits(x.Error()))
		case interface{ String() string }:
			return slog.String(a.Key, Digits(x.String()))
		case []byte:
			return slog.String(a.Key, Digits(string(x)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// Luhn reports whether the decimal digits d pass the Luhn check (a card
// number's check digit).
func Luhn[D ~string | ~[]byte](d D) bool {
	sum := 0
	for i := range len(d) {
		n := int(d[len(d)-1-i] - '0')
		if i%2 == 1 {
			if n *= 2; n > 9 {
				n -= 9
			}
		}
		sum += n
	}
	return sum%10 == 0
}
