package deck

import (
	"errors"
	"testing"

	"posd/drivers/msr"
)

func TestDeckTracksParse(t *testing.T) {
	names := map[string]bool{}
	for _, c := range Cards {
		if names[c.Name] {
			t.Fatalf("duplicate card %s", c.Name)
		}
		names[c.Name] = true
		if c.Raw != "" {
			if _, err := msr.Parse([]byte(c.Raw), msr.ParseOpts{}); !errors.Is(err, msr.ErrFormat) {
				t.Errorf("%s: damaged stripe parses: %v", c.Name, err)
			}
			continue
		}
		line := ";" + c.Track2 + "?"
		if c.Track1 != "" {
			line = "%" + c.Track1 + "?" + line
		}
		sw, err := msr.Parse([]byte(line), msr.ParseOpts{})
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		if sw.PAN() != c.PAN {
			t.Errorf("%s: PAN differs from track", c.Name)
		}
	}
	if len(Cards) < 4 {
		t.Fatal("the deck needs at least three magstripe cards and a damaged one")
	}
}
