package msr

import (
	"errors"
	"strings"
	"testing"
)

// Test cards: the PANs are Luhn-valid test numbers, not real accounts.
const (
	panVisa = "4761739001010010"
	t1Visa  = "B4761739001010010^TEST/CARD A^2912101000000000000000000000000"
	t2Visa  = "4761739001010010=29121010000000000000"
)

func TestParseTracks12(t *testing.T) {
	line := "%" + t1Visa + "?;" + t2Visa + "?"
	sw, err := Parse([]byte(line), ParseOpts{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if sw.Track1 == nil || sw.Track2 == nil || sw.Track3 != nil {
		t.Fatalf("tracks: %s", sw)
	}
	if sw.Track1.Name != "TEST/CARD A" || sw.Track1.Expiry != "2912" || sw.Track1.ServiceCode != "101" {
		t.Errorf("track 1 fields: %q %q %q", sw.Track1.Name, sw.Track1.Expiry, sw.Track1.ServiceCode)
	}
	if sw.Track2.PAN != panVisa || sw.Track2.Expiry != "2912" || sw.Track2.ServiceCode != "101" {
		t.Errorf("track 2 fields: %q %q %q", MaskPAN(sw.Track2.PAN), sw.Track2.Expiry, sw.Track2.ServiceCode)
	}
	if string(sw.Track2.Raw) != t2Visa {
		t.Errorf("track 2 raw differs")
	}
	if got := sw.MaskedPAN(); got != "476173******0010" {
		t.Errorf("MaskedPAN = %q", got)
	}
	for _, s := range []string{sw.String(), sw.LogValue().String()} {
		if strings.Contains(s, panVisa) || strings.Contains(s, "2912") {
			t.Errorf("String leaks card data: %q", s)
		}
	}
	sw.Wipe()
	if sw.Track1 != nil || sw.Track2 != nil {
		t.Error("Wipe kept tracks")
	}
}

func TestParseTrack3AndCustomSentinels(t *testing.T) {
	s := Sentinels{Track1Start: '%', Track2Start: ';', Track3Start: '+', End: '?'}
	sw, err := Parse([]byte(";"+t2Visa+"?+0112345678901234567890=1234?"), ParseOpts{Sentinels: s})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if sw.Track1 != nil || sw.Track2 == nil || string(sw.Track3) != "0112345678901234567890=1234" {
		t.Fatalf("tracks: %s / %q", sw, sw.Track3)
	}
	// Default sentinels: track 3 also starts with ';' and comes second.
	sw, err = Parse([]byte(";"+t2Visa+"?;0112345678901234567890=1234?"), ParseOpts{})
	if err != nil || sw.Track3 == nil {
		t.Fatalf("Parse default track 3: %v", err)
	}
}

// frame adds sentinels and the LRC character computed from its definition:
// the XOR of all character codes including the LRC is zero.
func frameLRC(start byte, body string, track1 bool) string {
	base, mask := byte(0x30), byte(0x0F)
	if track1 {
		base, mask = 0x20, 0x3F
	}
	f := string(start) + body + "?"
	var x byte
	for i := 0; i < len(f); i++ {
		x ^= (f[i] - base) & mask
	}
	return f + string(rune(x+base))
}

// A track 1 whose character codes XOR to zero has a space for its LRC;
// trimming the line must not eat it.
func TestLRCSpace(t *testing.T) {
	for _, d := range []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"} {
		for _, e := range []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"} {
			line := frameLRC('%', t1Visa[:len(t1Visa)-2]+d+e, true)
			if line[len(line)-1] != ' ' {
				continue
			}
			if _, err := Parse([]byte(line), ParseOpts{LRC: true}); err != nil {
				t.Fatalf("LRC space rejected: %v", err)
			}
			return
		}
	}
	t.Fatal("no sample track with a space LRC")
}

func TestLRC(t *testing.T) {
	line := frameLRC('%', t1Visa, true) + frameLRC(';', t2Visa, false)
	if _, err := Parse([]byte(line), ParseOpts{LRC: true}); err != nil {
		t.Fatalf("good LRC rejected: %v", err)
	}
	// Every character code of a framed track XORed with its LRC is zero.
	f := ";" + t2Visa + "?"
	l := LRC([]byte(f), 0x30, 0x0F)
	var x byte
	for _, c := range []byte(f + string(rune(l))) {
		x ^= (c - 0x30) & 0x0F
	}
	if x != 0 {
		t.Errorf("LRC %q does not cancel the track", l)
	}
	// A bad track 2 LRC costs track 2 only: track 1 still makes a swipe.
	bad := []byte(line)
	bad[len(bad)-1] ^= 0x01
	sw, err := Parse(bad, ParseOpts{LRC: true})
	if err != nil || sw.Track2 != nil || sw.Track1 == nil {
		t.Fatalf("bad track 2 LRC: got %v, %v", sw, err)
	}
	var te *TrackError
	if !errors.Is(sw.Err(2), ErrLRC) || !errors.As(sw.Err(2), &te) || te.Track != 2 {
		t.Errorf("bad LRC: track 2 error %v", sw.Err(2))
	}
	// Bad LRCs on both tracks: unreadable.
	bad[len(frameLRC('%', t1Visa, true))-1] ^= 0x01
	if _, err := Parse(bad, ParseOpts{LRC: true}); !errors.Is(err, ErrUnreadable) || !errors.Is(err, ErrLRC) {
		t.Fatalf("two bad LRCs: got %v", err)
	}
}

func TestParseMalformed(t *testing.T) {
	cases := map[string]struct {
		line string
		want error
	}{
		"empty":              {"", ErrNoTracks},
		"no end sentinel":    {";" + t2Visa, ErrSentinel},
		"garbage":            {"hello", ErrSentinel},
		"bad luhn":           {";4761739001010011=29121010000000000000?", ErrFormat},
		"short pan":          {";47617390=29121010000000000000?", ErrFormat},
		"no separator":       {";476173900101001029121010000000000000?", ErrFormat},
		"month 13":           {";4761739001010010=29131010000000000000?", ErrFormat},
		"short tail":         {";4761739001010010=2912?", ErrFormat},
		"letters in track 2": {";4761739001010010=2912101A000000000000?", ErrFormat},
		"track 2 too long":   {";4761739001010010=291210100000000000000000000000?", ErrFormat},
		"track 1 not B":      {"%A4761739001010010^TEST/CARD^2912101?", ErrFormat},
		"track 1 short name": {"%B4761739001010010^T^2912101?", ErrFormat},
		"track 1 lowercase":  {"%B4761739001010010^test/card^2912101?", ErrFormat},
		"pan mismatch":       {"%B4761739001010010^TEST/CARD^2912101?;4000000000000002=29121010000000000000?", ErrMismatch},
		"missing lrc":        {";" + t2Visa + "?", nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(c.line), ParseOpts{})
			if c.want == nil {
				if err != nil {
					t.Fatalf("got %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) || !errors.Is(err, ErrUnreadable) {
				t.Fatalf("got %v, want %v and ErrUnreadable", err, c.want)
			}
			if strings.Contains(err.Error(), "4761739001010010") || strings.Contains(err.Error(), "2912") {
				t.Errorf("error leaks card data: %v", err)
			}
		})
	}
}

func TestMaskPAN(t *testing.T) {
	for in, want := range map[string]string{
		"":                    "",
		"4761739001010010":    "476173******0010",
		"6212345678901234567": "621234*********4567",
		"1234567890":          "******7890",
		"123":                 "***",
	} {
		if got := MaskPAN(in); got != want {
			t.Errorf("MaskPAN(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("%"+t1Visa+"?;"+t2Visa+"?"), false)
	f.Add([]byte(frameLRC('%', t1Visa, true)+frameLRC(';', t2Visa, false)), true)
	f.Add([]byte(";"+t2Visa+"?;011234=1?"), false)
	f.Add([]byte("%B^^?"), false)
	f.Add([]byte("%E?;"+t2Visa+"?+E?0"), false)
	f.Add([]byte(frameLRC('%', "E", true)+";E?"), true)
	f.Fuzz(func(t *testing.T, line []byte, lrc bool) {
		sw, err := Parse(line, ParseOpts{LRC: lrc})
		if err != nil {
			if sw != nil {
				t.Fatal("swipe with error")
			}
			if !errors.Is(err, ErrUnreadable) {
				t.Fatalf("error %v does not match ErrUnreadable", err)
			}
			return
		}
		if sw.Track1 == nil && sw.Track2 == nil {
			t.Fatal("swipe without track 1 or 2 and no error")
		}
		if sw.Track2 != nil && !validPAN([]byte(sw.Track2.PAN)) {
			t.Fatal("invalid PAN accepted")
		}
		if sw.Track1 != nil && sw.Track2 != nil && sw.Track1.PAN != sw.Track2.PAN {
			t.Fatal("disagreeing tracks accepted")
		}
		for n := 1; n <= 3; n++ {
			var te *TrackError
			if err := sw.Err(n); err != nil && (!errors.As(err, &te) || te.Track != n) {
				t.Fatalf("track %d error %v", n, err)
			}
		}
	})
}

// Per-track status (issue 9): the reader's error marker or a malformed
// track costs that track only.
func TestParsePerTrack(t *testing.T) {
	cases := []struct {
		name       string
		line       string
		lrc        bool
		t1, t2, t3 bool     // tracks expected present
		bad        [3]error // per-track reasons expected
	}{
		{name: "MagTek bad track 1, good track 2", line: "%E?" + t2Frame,
			t2: true, bad: [3]error{ErrBadRead, nil, nil}},
		{name: "good track 1, bad track 2", line: t1Frame + ";E?",
			t1: true, bad: [3]error{nil, ErrBadRead, nil}},
		{name: "IntelliHead sample: bad track 2 between good 1 and 3", line: t1Frame + ";E?+" + t3Body + "?",
			t1: true, t3: true, bad: [3]error{nil, ErrBadRead, nil}},
		{name: "insertion reader: card sensor status after the tracks", line: "%E?" + t2Frame + "0",
			t2: true, bad: [3]error{ErrBadRead, nil, nil}},
		{name: "malformed track 1", line: "%B4761739001010010^^2912?" + t2Frame,
			t2: true, bad: [3]error{ErrFormat, nil, nil}},
		{name: "track 1 without end sentinel", line: "%" + t1Visa + t2Frame,
			t2: true, bad: [3]error{ErrSentinel, nil, nil}},
		{name: "track 3 '+' after a good track 2", line: t2Frame + "+" + t3Body + "?",
			t2: true, t3: true},
		{name: "LRC after an error marker", line: frameLRC('%', "E", true) + frameLRC(';', t2Visa, false), lrc: true,
			t2: true, bad: [3]error{ErrBadRead, nil, nil}},
		{name: "error marker without LRC, LRC mode", line: "%E?" + frameLRC(';', t2Visa, false), lrc: true,
			t2: true, bad: [3]error{ErrBadRead, nil, nil}},
		{name: "bad track 3", line: t1Frame + t2Frame + "+E?",
			t1: true, t2: true, bad: [3]error{nil, nil, ErrBadRead}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sw, err := Parse([]byte(c.line), ParseOpts{LRC: c.lrc})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if (sw.Track1 != nil) != c.t1 || (sw.Track2 != nil) != c.t2 || (sw.Track3 != nil) != c.t3 {
				t.Fatalf("tracks: %s", sw)
			}
			if sw.Track2 != nil && string(sw.Track2.Raw) != t2Visa {
				t.Error("track 2 differs")
			}
			for n := 1; n <= 3; n++ {
				want, got := c.bad[n-1], sw.Err(n)
				var te *TrackError
				switch {
				case want == nil && got != nil:
					t.Errorf("track %d: unexpected %v", n, got)
				case want != nil && (!errors.Is(got, want) || !errors.As(got, &te) || te.Track != n):
					t.Errorf("track %d: got %v, want %v", n, got, want)
				}
			}
			if s := sw.String(); strings.Contains(s, panVisa) || strings.Contains(s, "2912") {
				t.Errorf("String leaks card data: %q", s)
			}
		})
	}
}

// A swipe with neither a usable track 1 nor a usable track 2 is
// ErrUnreadable, with the per-track reasons.
func TestParseUnreadable(t *testing.T) {
	cases := map[string]struct {
		line string
		want []error
	}{
		"MagTek both bad":       {"%E?;E?", []error{ErrBadRead}},
		"MagTek all three bad":  {"%E?;E?+E?", []error{ErrBadRead}},
		"only track 3":          {"+" + t3Body + "?", []error{ErrNoTracks}},
		"bad track 1, short t2": {"%E?;4761739001010010=2913?", []error{ErrBadRead, ErrFormat}},
		"pan mismatch":          {"%B4761739001010010^TEST/CARD^2912101?;4000000000000002=29121010000000000000?", []error{ErrMismatch}},
		"noise":                 {"hello", []error{ErrSentinel}},
		"empty":                 {" \r\n", []error{ErrNoTracks}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			sw, err := Parse([]byte(c.line), ParseOpts{})
			if sw != nil || !errors.Is(err, ErrUnreadable) {
				t.Fatalf("got %v, %v", sw, err)
			}
			for _, w := range c.want {
				if !errors.Is(err, w) {
					t.Errorf("%v does not match %v", err, w)
				}
			}
			var se *SwipeError
			if !errors.As(err, &se) || len(se.Errs) == 0 {
				t.Errorf("not a *SwipeError: %T", err)
			}
			if strings.Contains(err.Error(), "4761739001010010") || strings.Contains(err.Error(), "2912") {
				t.Errorf("error leaks card data: %v", err)
			}
		})
	}
}
