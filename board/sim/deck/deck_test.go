package deck

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"posd/crypto/emv"

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

// The simulated CAs: one per scheme with chip cards, valid checksums,
// the same keys on every call (fixed seeds), and no RID/index pair of a
// published CA key.
func TestCAPKs(t *testing.T) {
	a, b := CAPKs(), CAPKs()
	if len(a) != 3 {
		t.Fatalf("%d CA keys, want one per scheme", len(a))
	}
	published, err := os.ReadFile("../../../crypto/emv/testdata/capk_test_keys.json")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := emv.ParseCAPKFile(published)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range a {
		if err := k.Validate(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k.Modulus, b[i].Modulus) || k.Index != CAIndex {
			t.Fatalf("CA %X/%02X differs between calls or has another index", k.RID, k.Index)
		}
		for _, p := range pub {
			if p.RID == k.RID && p.Index == k.Index {
				t.Fatalf("CA %X/%02X collides with a published key", k.RID, k.Index)
			}
		}
	}
	if _, err := EncodeCAPKs(); err != nil {
		t.Fatal(err)
	}
}

// Every chip card has a track 2 whose PAN is the card's, a PAN sequence
// number and a PIN, and its scheme an issuer and a CVN.
func TestChipCardsComplete(t *testing.T) {
	for _, c := range Cards {
		if c.Chip == nil {
			continue
		}
		pan, _, svc, _, err := track2Fields(c.Track2)
		if err != nil || pan != c.PAN || svc[0] != '2' {
			t.Errorf("%s: track 2 does not match or is not an IC card's", c.Name)
		}
		if len(c.PSN) != 2 || len(c.PIN) < 4 {
			t.Errorf("%s: PSN or PIN missing", c.Name)
		}
		is, ok := Issuers[c.Scheme]
		if !ok || is.CVN == 0 {
			t.Errorf("%s: no issuer or CVN", c.Name)
		}
		modes := strings.Join(c.Entry, ",")
		if strings.Contains(modes, "insert") != c.Chip.Contact || strings.Contains(modes, "tap") != c.Chip.Contactless {
			t.Errorf("%s: entry modes %s do not match the chip's interfaces", c.Name, modes)
		}
	}
}

// No PIN in the deck JSON either.
func TestDeckJSONHidesPINs(t *testing.T) {
	b, err := json.Marshal(Cards)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range Cards {
		if c.PIN != "" && strings.Contains(string(b), `"`+c.PIN+`"`) {
			t.Fatalf("%s: PIN in the deck JSON", c.Name)
		}
		if c.Chip != nil && strings.Contains(string(b), "IMK") {
			t.Fatal("keys in the deck JSON")
		}
	}
}
