package deck

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"posd/drivers/msr"
	"posd/drivers/msr/msrsim"
)

// Every card's stripe, as its reader sends it, parses with the driver's
// parser to the card's PAN; a damaged stripe is unreadable; a card with
// bad tracks still reads on the others.
func TestDeckTracksParse(t *testing.T) {
	names := map[string]bool{}
	for _, c := range Cards {
		if names[c.Name] {
			t.Fatalf("duplicate card %s", c.Name)
		}
		names[c.Name] = true
		if c.Raw != "" {
			if _, err := msr.Parse([]byte(c.Raw), msr.ParseOpts{}); !errors.Is(err, msr.ErrUnreadable) || !errors.Is(err, msr.ErrFormat) {
				t.Errorf("%s: damaged stripe parses: %v", c.Name, err)
			}
			continue
		}
		f, err := msr.ParseFormat(c.Reader)
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		tr := msrsim.Tracks{T1: c.Track1, T2: c.Track2}
		for _, n := range c.BadTracks {
			tr.Bad[n-1] = true
		}
		frame := msrsim.New(nil, &msrsim.Opts{Format: f}).Frame(tr)
		// The framing characters of the formats are not track data.
		line := strings.NewReplacer("\x02", "", "\x03", "", "\r", "").Replace(string(frame))
		sw, err := msr.Parse([]byte(line), msr.ParseOpts{})
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		if sw.PAN() != c.PAN || sw.Track2 == nil {
			t.Errorf("%s: PAN differs from track", c.Name)
		}
		for _, n := range c.BadTracks {
			if f != msr.FormatIDTech && !errors.Is(sw.Err(n), msr.ErrBadRead) {
				t.Errorf("%s: track %d: %v", c.Name, n, sw.Err(n))
			}
		}
	}
	if len(Cards) < 4 {
		t.Fatal("the deck needs at least three magstripe cards and a damaged one")
	}
	for _, want := range []string{"damaged-stripe", "visa-worn-track1"} {
		if !names[want] {
			t.Errorf("no %s card", want)
		}
	}
}

// The deck as the simulator API lists it carries no card data.
func TestDeckJSONHidesCardData(t *testing.T) {
	b, err := json.Marshal(Cards)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range Cards {
		for _, secret := range []string{c.PAN, c.Track1, c.Track2, c.Raw} {
			if secret != "" && strings.Contains(string(b), secret) {
				t.Fatalf("%s: card data in the deck JSON", c.Name)
			}
		}
		if len(c.PAN) > 10 && strings.Contains(string(b), c.PAN[6:len(c.PAN)-4]) {
			t.Fatalf("%s: PAN digits in the deck JSON", c.Name)
		}
	}
}
