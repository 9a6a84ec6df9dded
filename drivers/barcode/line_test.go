package barcode

import (
	"bytes"
	"errors"
	"testing"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in    string
		strip bool
		want  Scan
		err   error
	}{
		{"134567890123456789", true, Scan{Text: "134567890123456789"}, nil},
		{"]Q1134567890123456789", true, Scan{Text: "134567890123456789", Symbology: "]Q1"}, nil},
		{"]Q1134567890123456789", false, Scan{Text: "]Q1134567890123456789"}, nil},
		{"]zCaztec", true, Scan{Text: "aztec", Symbology: "]zC"}, nil},
		{"]d2https://pay.example/x?a=1", true, Scan{Text: "https://pay.example/x?a=1", Symbology: "]d2"}, nil},
		// ']' not followed by an identifier is data.
		{"]]abc", true, Scan{Text: "]]abc"}, nil},
		{"]Qx", true, Scan{Text: "]Qx"}, nil},
		{"支付码 ok", true, Scan{Text: "支付码 ok"}, nil},
		{"]Q1", true, Scan{}, ErrGarbled},
		{"", false, Scan{}, ErrGarbled},
		{"abc\x00def", false, Scan{}, ErrGarbled},
		{"abc\x1Ddef", true, Scan{}, ErrGarbled}, // GS1 separator
		{"abc\x7F", false, Scan{}, ErrGarbled},
		{"abc\xC2\x85", false, Scan{}, ErrGarbled}, // C1 NEL
		{"\xFF\xFEabc", false, Scan{}, ErrGarbled}, // not UTF-8
		{"]Q1\x1B", true, Scan{}, ErrGarbled},
	} {
		got, err := Parse([]byte(c.in), c.strip)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("Parse(%q, %v) = %+v, %v; want %+v, %v", c.in, c.strip, got, err, c.want, c.err)
		}
	}
}

type emitted struct {
	msg string
	err error
}

func feedAll(f *framer, chunks ...string) []emitted {
	var out []emitted
	for _, c := range chunks {
		f.feed([]byte(c), func(m []byte, err error) { out = append(out, emitted{string(m), err}) })
	}
	return out
}

func TestFramer(t *testing.T) {
	long := string(bytes.Repeat([]byte("1"), 20))
	for _, c := range []struct {
		name   string
		suffix Suffix
		chunks []string
		want   []emitted
	}{
		{"auto CR", SuffixAuto, []string{"abc\r"}, []emitted{{"abc", nil}}},
		{"auto LF", SuffixAuto, []string{"abc\n"}, []emitted{{"abc", nil}}},
		{"auto CRLF split", SuffixAuto, []string{"abc\r", "\ndef\r\n"}, []emitted{{"abc", nil}, {"def", nil}}},
		{"auto blank lines", SuffixAuto, []string{"\r\r\n\n", "a\r"}, []emitted{{"a", nil}}},
		{"auto two in one read", SuffixAuto, []string{"a\rb\r"}, []emitted{{"a", nil}, {"b", nil}}},
		{"CR keeps LF", SuffixCR, []string{"a\nb\r"}, []emitted{{"a\nb", nil}}},
		{"LF keeps CR", SuffixLF, []string{"a\rb\n"}, []emitted{{"a\rb", nil}}},
		{"CRLF", SuffixCRLF, []string{"ab", "c\r", "\n"}, []emitted{{"abc", nil}}},
		{"CRLF bare CR is data", SuffixCRLF, []string{"a\rb\r\n"}, []emitted{{"a\rb", nil}}},
		{"CRLF exactly max", SuffixCRLF, []string{"0123456789\r\n"}, []emitted{{"0123456789", nil}}},
		{"CRLF max+1", SuffixCRLF, []string{"0123456789a\r\n"}, []emitted{{"", ErrTooLong}}},
		{"exactly max", SuffixAuto, []string{"0123456789\r"}, []emitted{{"0123456789", nil}}},
		{"too long", SuffixAuto, []string{long[:5], long[5:] + "\r", "ok\r"}, []emitted{{"", ErrTooLong}, {"ok", nil}}},
	} {
		got := feedAll(newFramer(c.suffix, 10), c.chunks...)
		if len(got) != len(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i].msg != c.want[i].msg || !errors.Is(got[i].err, c.want[i].err) {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
		}
	}
}

func TestFramerDiscard(t *testing.T) {
	f := newFramer(SuffixAuto, 100)
	got := feedAll(f, "codeA\rcod")
	f.discard()
	// The tail of the discarded message never passes for a symbol.
	got = append(got, feedAll(f, "eB\r", "codeC\r")...)
	if len(got) != 2 || got[0].msg != "codeA" || got[1].msg != "codeC" {
		t.Fatalf("got %v", got)
	}
	for _, b := range f.buf[:cap(f.buf)] {
		if b != 0 {
			t.Fatalf("buffer not wiped: %q", f.buf[:cap(f.buf)])
		}
	}
}

func TestScanString(t *testing.T) {
	s := Scan{Text: "134567890123456789", Symbology: "]Q1"}
	if got := s.String(); got != "scan(]Q1, 18 bytes)" || bytes.Contains([]byte(s.LogValue().String()), []byte(s.Text)) {
		t.Fatalf("String %q, LogValue %v", got, s.LogValue())
	}
}

// FuzzParse cuts arbitrary bytes into messages in arbitrary read sizes
// with every suffix setting and parses them: nothing panics, every symbol
// is printable text within MaxLen holding no suffix character, and how the
// bytes were split across reads changes nothing.
func FuzzParse(f *testing.F) {
	f.Add([]byte("]Q1134567890123456789\r\n"), uint8(3), uint8(0))
	f.Add([]byte("a\rb\nc\r\n\x00\xff\r"), uint8(1), uint8(1))
	f.Add([]byte("0123456789abcdefghij\rok\r"), uint8(7), uint8(3))
	f.Add([]byte("]zC\xe6\x94\xaf\r"), uint8(2), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, step, mode uint8) {
		sfx := Suffix(mode % 4)
		run := func(step int) []emitted {
			fr := newFramer(sfx, 16)
			var out []emitted
			emit := func(m []byte, err error) {
				if err != nil {
					out = append(out, emitted{"", err})
					return
				}
				if len(m) == 0 || len(m) > 16 {
					t.Fatalf("message of %d bytes", len(m))
				}
				sc, err := Parse(m, true)
				if err == nil {
					if !utf8.ValidString(sc.Text) || bytes.ContainsAny([]byte(sc.Text), "\r\n\x00") || sc.Text == "" {
						t.Fatalf("bad scan %q", sc.Text)
					}
					if sc.Symbology != "" && len(sc.Symbology) != 3 {
						t.Fatalf("symbology %q", sc.Symbology)
					}
				} else if !errors.Is(err, ErrGarbled) {
					t.Fatalf("error %v", err)
				}
				out = append(out, emitted{sc.Text, err})
			}
			for i := 0; i < len(data); i += step {
				fr.feed(data[i:min(i+step, len(data))], emit)
			}
			return out
		}
		whole := run(len(data) + 1)
		split := run(int(step%16) + 1)
		if len(whole) != len(split) {
			t.Fatalf("split changes the result: %v vs %v", whole, split)
		}
		for i := range whole {
			if whole[i].msg != split[i].msg || whole[i].err != split[i].err {
				t.Fatalf("split changes the result: %v vs %v", whole, split)
			}
		}
	})
}
