package money

import (
	"errors"
	"testing"
)

func TestParseFormat(t *testing.T) {
	cny, _ := Lookup("cny")
	jpy, _ := Lookup("392")
	for _, c := range []struct {
		cur  Currency
		in   string
		want int64
		out  string
	}{
		{cny, "12.34", 1234, "12.34"}, {cny, "12", 1200, "12.00"}, {cny, "0.5", 50, "0.50"},
		{cny, "0.05", 5, "0.05"}, {cny, "999999999.99", 99999999999, "999999999.99"},
		{jpy, "1500", 1500, "1500"},
	} {
		got, err := c.cur.Parse(c.in)
		if err != nil || got != c.want {
			t.Errorf("%s Parse(%q) = %d, %v", c.cur.Alpha, c.in, got, err)
		}
		if s := c.cur.Format(got); s != c.out {
			t.Errorf("Format(%d) = %q", got, s)
		}
	}
	for _, bad := range []string{"", "1.234", "-1", "1e3", "1.", ".5", "abc", "10000000000.00", " 1 2"} {
		if _, err := cny.Parse(bad); !errors.Is(err, ErrAmount) {
			t.Errorf("Parse(%q) accepted: %v", bad, err)
		}
	}
	if _, err := jpy.Parse("1.5"); !errors.Is(err, ErrAmount) {
		t.Error("JPY with decimals accepted")
	}
	if _, err := Lookup("XXX"); !errors.Is(err, ErrCurrency) {
		t.Error("unknown currency accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add("12.34", "CNY")
	f.Fuzz(func(t *testing.T, s, code string) {
		c, err := Lookup(code)
		if err != nil {
			return
		}
		n, err := c.Parse(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatal("negative")
		}
		back, err := c.Parse(c.Format(n))
		if err != nil || back != n {
			t.Fatalf("round trip %d -> %q -> %d %v", n, c.Format(n), back, err)
		}
	})
}
