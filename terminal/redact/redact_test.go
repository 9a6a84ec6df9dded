package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

func TestDigits(t *testing.T) {
	for in, want := range map[string]string{
		"pan 4761739001010010 ok":                 "pan 476173******0010 ok",
		";4761739001010010=30121010000000000000?": ";476173******0010=********************?",
		"stan 000123 amount 1234":                 "stan 000123 amount 1234",
		"6212345678901234569":                     "621234*********4569",
		// A platform's transaction id (2-4 capitals and 12 digits, the
		// face-pay and wallet platforms' FP000000000001) is no card
		// number; the receipt shows it whole.
		"face-pay approved platform_txn=FP000000000001": "face-pay approved platform_txn=FP000000000001",
		`{"platform_txn_id":"WE000000000043"}`:          `{"platform_txn_id":"WE000000000043"}`,
		"ALIP123456789012 ok":                           "ALIP123456789012 ok",
		// Anything else of 12 or more digits is still masked: a number
		// of a card's length glued to capitals, 12 digits after a word,
		// a hex letter, a fifth capital, or glued on the right.
		"FP4761739001010010":       "FP476173******0010",
		"FP0000000000012":          "FP000000***0012",
		"MC123456789015 declined":  "MC123456**9015 declined", // Luhn: may be a 12-digit card number
		"pan 123456789012":         "pan 123456**9012",
		"pan123456789012":          "pan123456**9012",
		"5A0A123456789012":         "5A0A123456**9012",
		"ALIPA123456789012":        "ALIPA123456**9012",
		"xFP000000000001":          "xFP000000**0001",
		"FP000000000001X":          "FP000000**0001X",
		"FP000000000001=251220":    "FP000000**0001=251220",
		"FP1234567890123456789012": "FP**********************",
		"":                         "",
		// A card number written in groups, as a cashier types it.
		`unknown type "4761 7390 0101 0010"`: `unknown type "4761 73** **** 0010"`,
		"4761-7390-0101-0010":                "4761-73**-****-0010",
		"3782 822463 10005":                  "3782 82**** *0005",
		"6212 3456 7890 1234 569":            "6212 34** **** ***4 569",
		"4761 7390 0101 0010 123 cvv":        "4761 73** **** 0010 123 cvv",
		"ref 5678 4761 7390 0101 0010":       "ref 5678 4761 73** **** 0010",
		// Dates, times, amounts and short lists stay.
		"2026-11-29 23:21:41 amount 1 234.00":        "2026-11-29 23:21:41 amount 1 234.00",
		"stan 000072 invoice 000051":                 "stan 000072 invoice 000051",
		"ids 1001 1002 1003":                         "ids 1001 1002 1003",
		"4761  7390  0101  0010":                     "4761  73**  ****  0010",
		"4761/7390/0101/0010":                        "4761/73**/****/0010",
		"4761_7390_0101_0010 or 4761,7390,0101,0010": "4761_73**_****_0010 or 4761,73**,****,0010",
		"acquirer 203.119.205.118:8583":              "acquirer 203.119.205.118:8583", // an address
		"4761   7390 0101 0010":                      "4761   7390 0101 0010",         // three spaces: separate numbers
		"7390 0101 0010 0011 not luhn":               "7390 0101 0010 0011 not luhn",
	} {
		if got := Digits(in); got != want {
			t.Errorf("Digits(%q) = %q, want %q", in, got, want)
		}
	}
}

type stringer struct{}

func (stringer) String() string { return "track 4761739001010010=30121010000000000000" }

func TestHandlerMasks(t *testing.T) {
	var buf bytes.Buffer
	lg := slog.New(NewHandler(slog.NewTextHandler(&buf, nil)))
	lg = lg.With("card", "5413330089010012")
	lg.Info("read 4761739001010010", "err", errors.New("bad 4000000000000002"),
		"s", stringer{}, "g", slog.Group("x", "pan", "6212345678901234569"), "raw", []byte("4111111111111111"))
	out := buf.String()
	for _, pan := range []string{"4761739001010010", "5413330089010012", "4000000000000002", "6212345678901234569", "4111111111111111", "30121010000000000000"} {
		if strings.Contains(out, pan) {
			t.Errorf("log line leaks %s: %s", pan, out)
		}
	}
	if !strings.Contains(out, "476173******0010") {
		t.Errorf("masked PAN missing: %s", out)
	}
}

var (
	digitRun = regexp.MustCompile(`[0-9]+`)
	// platformIDShape finds the id around a run of 12 digits (with up to 5
	// bytes before it and 1 after).
	platformIDShape = regexp.MustCompile(`(^|[^A-Za-z0-9])[A-Z]{2,4}[0-9]{12}($|[^A-Za-z0-9=^])`)
	// fourGroups is a card number as printed on the card.
	fourGroups = regexp.MustCompile(`(?:^|[^0-9])([0-9]{4}[ -][0-9]{4}[ -][0-9]{4}[ -][0-9]{4})(?:$|[^0-9])`)
)

func FuzzDigits(f *testing.F) {
	f.Add("4761739001010010")
	f.Add("platform_txn=FP000000000001 5A0A123456789012")
	f.Add("type 4761 7390 0101 0010 ok 3782-822463-10005")
	f.Fuzz(func(t *testing.T, s string) {
		out := Digits(s)
		if len(out) != len(s) {
			t.Fatalf("length changed")
		}
		// Runs of 12 or more digits are masked, but for a platform's
		// transaction id (a word of 2-4 capitals and 12 digits, no track
		// separator after it).
		for _, loc := range digitRun.FindAllStringIndex(out, -1) {
			if n := loc[1] - loc[0]; n > 11 && !(n == 12 && platformIDShape.MatchString(out[max(0, loc[0]-5):min(len(out), loc[1]+1)])) {
				t.Fatalf("unmasked run in %q", out)
			}
		}
		for _, m := range fourGroups.FindAllStringSubmatch(out, -1) {
			if g := m[1]; Luhn(strings.NewReplacer(" ", "", "-", "").Replace(g)) {
				t.Fatalf("unmasked grouped card number %q in %q", g, out)
			}
		}
	})
}

// TestHandlerKeepsPlatformIDs: posd.log shows a face-pay transaction id
// as the receipt does, and masks the card number on the same line.
func TestHandlerKeepsPlatformIDs(t *testing.T) {
	var buf bytes.Buffer
	lg := slog.New(NewHandler(slog.NewTextHandler(&buf, nil)))
	lg.Info("face-pay approved", "platform_txn", "FP000000000001", "card", "4761739001010010")
	out := buf.String()
	if !strings.Contains(out, "platform_txn=FP000000000001") || !strings.Contains(out, "card=476173******0010") {
		t.Fatalf("log line %s", out)
	}
}
