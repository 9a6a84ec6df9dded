package console

import (
	"strings"
	"testing"
)

func TestGuardLine(t *testing.T) {
	cases := []struct{ in, want string }{
		{"card 4761739001010010 ok", "card 476173******0010 ok"},
		{"card 4761739001010011", "card 4761739001010011"}, // not Luhn
		{"4761 7390 0101 0010", "4761 73** **** 0010"},
		{"4761-7390-0101-0010.", "4761-73**-****-0010."},
		{"amex 3782 822463 10005", "amex 3782 82**** *0005"},
		{"6222021234567890128x", "622202*********0128x"},                   // 19 digits
		{"track 47617390010100102512101", "track ***********************"}, // > 19
		{"already 476173******0010", "already 476173******0010"},
		{"at 2026-03-04T10:00:00Z seq 000123", "at 2026-03-04T10:00:00Z seq 000123"},
		{"KBPK KCV 3B5B6F", "KBPK KCV 3B5B6F"},
		{"BDK usage B0, KCV 1A2B3C, KSN FFFF9876543210E00000", "BDK usage B0, KCV 1A2B3C, KSN FFFF9876543210E00000"},
		{"AES KSN 123456789ABCDEF012345678", "AES KSN 123456789ABCDEF012345678"}, // 24 hex
		{"key 0123456789ABCDEF0123456789ABCDEF", withheld},
		{"key=0123456789abcdef0123456789abcdef", withheld},
		{"0123 4567 89AB CDEF 0123 4567 89AB CDEF", withheld},
		{"01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF", withheld},
		{"t2 4761739001010010D25122011000000000000F", withheld},
		{"0123456789ABCDEF0123456789ABCDE", "0123456789ABCDEF0123456789ABCDE"}, // 31
		{"esc \x1b[2J bell \a tab\tend", "esc ?[2J bell ? tab end"},
		{"caf\u00e9 \uff14\uff17\uff16", "caf? ???"},
		{"bad utf8 \xff\xfe", "bad utf8 ??"},
		// Stripe data: masking the number would leave the rest in clear.
		{"track2 4761739001010010=2512201114380", withheld},
		{"track1 %B4761739001010010^DOE/JOHN^2512201114380?", withheld},
		{"pan 4761.7390.0101.0010", "pan 4761.73**.****.0010"},
		{"pan 4761  7390  0101  0010", "pan 4761  73**  ****  0010"},
		{"amount 1500.00 at 10.0.0.5", "amount 1500.00 at 10.0.0.5"},
	}
	for _, tc := range cases {
		if got := guardLine(tc.in); got != tc.want {
			t.Errorf("guardLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestGuardLineTruncates(t *testing.T) {
	in := strings.Repeat("word ", maxOutLine/5) + "4761739001010010"
	got := guardLine(in)
	if !strings.HasSuffix(got, truncated) || len(got) > maxOutLine+len(truncated) {
		t.Fatalf("len %d, ends %q", len(got), got[len(got)-20:])
	}
	// The cut never leaves part of a number behind.
	in = strings.Repeat("x", maxOutLine-8) + "4761739001010010"
	if got := guardLine(in); strings.Contains(got, "4761") {
		t.Fatalf("cut left %q", got[len(got)-30:])
	}
}

func TestLuhn(t *testing.T) {
	for s, want := range map[string]bool{
		"4761739001010010": true, "378282246310005": true, "6011111111111117": true,
		"4761739001010011": false, "0": true, "18": true, "19": false,
	} {
		if got := luhn([]byte(s)); got != want {
			t.Errorf("luhn(%s) = %t", s, got)
		}
	}
}
