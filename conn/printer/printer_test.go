package printer

import (
	"errors"
	"strings"
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

func TestWrap(t *testing.T) {
	for _, c := range []struct {
		text string
		cols int
		want []string
	}{
		{"", 10, []string{""}},
		{"SHORT", 10, []string{"SHORT"}},
		{"ONE TWO THREE", 8, []string{"ONE TWO", "THREE"}},
		{"ABCDEFGHIJ", 4, []string{"ABCD", "EFGH", "IJ"}},
		{"持卡人签名 SIGNATURE", 10, []string{"持卡人签名", "SIGNATURE"}},
		{"本人确认以上交易", 5, []string{"本人", "确认", "以上", "交易"}},
		{"A本", 2, []string{"A", "本"}},
	} {
		got := Wrap(c.text, c.cols)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("Wrap(%q, %d) = %q, want %q", c.text, c.cols, got, c.want)
		}
		for _, p := range got {
			if Width(p) > c.cols && len([]rune(p)) > 1 {
				t.Errorf("Wrap(%q, %d): piece %q is %d columns", c.text, c.cols, p, Width(p))
			}
		}
	}
}

func TestPreview(t *testing.T) {
	doc := Doc{Lines: []Line{
		{Text: "SHOP", Align: Center, Large: true},
		{Text: "RIGHT", Align: Right},
		{Text: "金额", Align: Center},
		{Text: "LEFT ALIGNED LINE THAT WRAPS"},
	}}
	want := "    S H O P\n" +
		"           RIGHT\n" +
		"      金额\n" +
		"LEFT ALIGNED\n" +
		"LINE THAT WRAPS\n"
	if got := Preview(doc, 16); got != want {
		t.Errorf("Preview:\n%s\nwant:\n%s", got, want)
	}
}

// FuzzWrap: whatever the text, the pieces put back together give it
// again (spaces at the breaks aside) and none is wider than the columns
// unless it is a single character.
func FuzzWrap(f *testing.F) {
	f.Add("持卡人签名 CARDHOLDER SIGNATURE", 7)
	f.Add("\xff\xfe A", 2)
	f.Fuzz(func(t *testing.T, text string, cols int) {
		cols = cols%60 + 2
		if cols < 2 {
			cols = 2
		}
		pieces := Wrap(text, cols)
		for _, p := range pieces {
			if Width(p) > cols && len([]rune(p)) > 1 {
				t.Fatalf("piece %q of %q is %d columns, more than %d", p, text, Width(p), cols)
			}
		}
		joined := strings.ReplaceAll(strings.Join(pieces, ""), " ", "")
		if joined != strings.ReplaceAll(text, " ", "") {
			t.Fatalf("Wrap(%q, %d) = %q loses text", text, cols, pieces)
		}
	})
}
