package printer

import (
	"errors"
	"testing"
)

func TestWidth(t *testing.T) {
	for _, c := range []struct {
		s    string
		want int
	}{
		{"", 0},
		{"AMOUNT", 6},
		{"金额", 4},
		{"消费 SALE", 9},
		{"ＡＢ", 4},      // full-width Latin
		{"e\u0301", 1}, // e + combining acute
		{"가", 2},
		{"\x1b@", 1}, // ESC is a control: only '@' counts
		{"¥12.00", 6},
		{"\xff", 0}, // invalid UTF-8
	} {
		if got := Width(c.s); got != c.want {
			t.Errorf("Width(%q) = %d, want %d", c.s, got, c.want)
		}
	}
}

func TestStatusErr(t *testing.T) {
	for _, c := range []struct {
		s    Status
		want error
	}{
		{Status{}, nil},
		{Status{PaperLow: true}, nil},
		{Status{PaperOut: true, CoverOpen: true}, ErrPaperOut},
		{Status{CoverOpen: true}, ErrCoverOpen},
		{Status{Fault: true}, ErrFault},
	} {
		if got := c.s.Err(); !errors.Is(got, c.want) || (got == nil) != c.s.Ready() {
			t.Errorf("%+v: Err %v Ready %v, want %v", c.s, got, c.s.Ready(), c.want)
		}
	}
}
