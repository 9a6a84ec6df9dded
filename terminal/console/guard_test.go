package console

import (
	"strings"
	"testing"

	"posd/terminal/redact"
)

func TestGuardLine(t *testing.T) {
	cases := []struct{ in, want string }{
		{"card 4761739001010010 ok", "card 476173******0010 ok"},
		{"card 4761739001010011", withheld}, // not Luhn: 16 digits, a PIN block or a key
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
		{"0123456789ABCDEF0123456789ABCDE", withheld}, // 31: holds 16-digit keys
		// 24 + 7 = 31 hex digits in one group: a KSN and a KCV-sized run
		// pass; one more digit makes 32.
		{"KSN 123456789ABCDEF012345678 1A2B3C4", "KSN 123456789ABCDEF012345678 1A2B3C4"},
		{"KSN 123456789ABCDEF012345678 1A2B3C4D", withheld},
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

// TestGuardLine16Hex: 16 hex digits are a PIN block (ISO 9564), a
// single-length DES key, a retail MAC or an EMV cryptogram (ARQC, TC):
// never printed. KSNs (20 or 24 hex digits) and KCVs (6-10) are.
func TestGuardLine16Hex(t *testing.T) {
	cases := []struct{ in, want string }{
		// Withheld: 16 or more hex digits, in one run or in groups.
		{"PIN block 0412AC89ABCDEF67", withheld},
		{"des key 0123456789abcdef", withheld},
		{"MAC 1A2B3C4D5E6F7081", withheld},
		{"ARQC=8E5F4D3C2B1A0918 ATC 0001", withheld},
		{`  "pin_block": "0412ac89abcdef67",`, withheld},
		{"1234 5678 9ABC DEF0", withheld},
		{"12:34:56:78:9A:BC:DE:F0", withheld},
		{"12-34-56-78-9a-bc-de-f0", withheld},
		{"0x0123456789ABCDEF", withheld},
		{"0123456789ABCDEF01", withheld},                            // 18: a key and two more digits
		{"0123456789ABCDEF0123456", withheld},                       // 23: not a KSN's length
		{"ABCD 1234567890ABCDEF", withheld},                         // 20 digits, but in two runs: not a KSN
		{"MAC 1A2B3C4D5E6F7081 KSN FFFF9876543210E00001", withheld}, // a KSN does not excuse its line
		{"KSN FFFF9876543210E00000 1A2B3C4D5E6F7081", withheld},
		// Decimal only: a Luhn-valid 16-19 digit number is masked as a
		// card number; any other is withheld (a PIN block of digits).
		{"pinblock 0412345678901234", withheld},
		{"1234 5678 9012 3456", withheld},
		{"9876543210987654 ok", withheld},
		{"4761:7390:0101:0010", "4761:73**:****:0010"},
		{"card 4012888888881881", "card 401288******1881"},
		// Shown: KSNs, KCVs, other short hex, dates, times, amounts.
		{"KSN FFFF9876543210E00000", "KSN FFFF9876543210E00000"},
		{"ksn=ffff9876543210e00000", "ksn=ffff9876543210e00000"},
		{`  "ksn": "FFFF9876543210E00000",`, `  "ksn": "FFFF9876543210E00000",`},
		{"loaded: usage B1, KCV 1A2B3C, initial KSN ABCDEF012345678900000000", "loaded: usage B1, KCV 1A2B3C, initial KSN ABCDEF012345678900000000"},
		{"KSN FFFF9876543210E00000 at 2026-03-04", "KSN FFFF9876543210E00000 at 2026-03-04"},
		// A KSN of decimal digits only (the simulated board's test KSN is
		// one) is a KSN when its line says so; unnamed, or of another
		// length, a long run of digits is still masked as track data.
		{"DUKPT AES KSN 123456789012345600000001", "DUKPT AES KSN 123456789012345600000001"},
		{`  "ksn": "12345678901234560001",`, `  "ksn": "12345678901234560001",`},
		{"track 123456789012345600000001", "track ************************"},
		{"KSN 1234567890123456000000012", "KSN *************************"},
		{"KSN 123456789012345600000001 card 4761739001010010", "KSN 123456789012345600000001 card 476173******0010"},
		{"ksnx 123456789012345600000001", "ksnx ************************"},
		// A KSN of digits with a hex letter (the counter of the test KSN
		// past 9) is one hex run: shown whole on a line naming a KSN,
		// where its decimal head is no track data.
		{"DUKPT KSN 12345678901234560000006D", "DUKPT KSN 12345678901234560000006D"},
		{`  "ksn": "12345678901234560000006D",`, `  "ksn": "12345678901234560000006D",`},
		{"dukpt       AES  KSN 1234567890123456000000AF", "dukpt       AES  KSN 1234567890123456000000AF"},
		{"KSN 1234567890123456789E0001", "KSN 1234567890123456789E0001"},
		{"track 12345678901234560000006D", "track ***********************D"}, // not named: track data
		{"KSN 12345678901234560000006DE", withheld},                          // 25: no KSN
		{"KSN 12345678901234560000006Dx", withheld},                          // glued to a word: no KSN
		// The face-pay platform's session id (FS and 24 hex digits) is on
		// every face-pay log line: a word's letters and 20 or 24 hex
		// digits is an id, shown as a KSN is; it does not excuse its
		// line, nor a card number in it.
		{"time=2026-03-04T10:00:00Z level=INFO msg=\"face-pay approved\" op=confirm order=0001 session=FSE8A4CA1F9AB92615B253D271 platform_txn=FP000000000001",
			"time=2026-03-04T10:00:00Z level=INFO msg=\"face-pay approved\" op=confirm order=0001 session=FSE8A4CA1F9AB92615B253D271 platform_txn=FP000000000001"},
		{"session=FS0123456789ABCDEF01234567", "session=FS0123456789ABCDEF01234567"},
		{"session=FSE8A4CA1F9AB92615B253D271 mac=1A2B3C4D5E6F7081", withheld},
		{"session=FSE8A4CA1F9AB92615B253D2711", withheld}, // 25
		{"session=FSE8A4CA1F9AB92615B253D271x", withheld}, // glued on both sides
		{"session=FSE8A4CA1F9AB92615B253D271:1A2B3C4D5E6F7081", withheld},
		{"keyS0123456789ABCDEF", withheld},
		{"kX0123456789ABCDEF0123456789ABCDEF", withheld},
		{"session=FS123456789012345678901234", "session=FS************************"},
		{"session=FS4761739001010010ABCDEF01", "session=FS476173******0010ABCDEF01"},
		{"KSN of session FS123456789012345678901234", "KSN of session FS************************"},
		// A card number inside a KSN-shaped run is still masked.
		{"KSN 4761739001010010ABCD", "KSN 476173******0010ABCD"},
		{"KCV 1A2B3C4D5E TVR 0000008000 TSI E800", "KCV 1A2B3C4D5E TVR 0000008000 TSI E800"},
		{"0123456789ABCDE", "0123456789ABCDE"}, // 15
		{"aid=A0000000031010 candidates=2", "aid=A0000000031010 candidates=2"},
		{"at 2026-03-04 10:00:00.123456789 +0000 UTC", "at 2026-03-04 10:00:00.123456789 +0000 UTC"},
		{"2026-03-04T10:00:00Z bob custodian kbpk_component: component 1 confirmed, KCV 3B5B6F",
			"2026-03-04T10:00:00Z bob custodian kbpk_component: component 1 confirmed, KCV 3B5B6F"},
		{"123456 sale       reversal_pending       1,234.50 EUR 622202*********0128 2026-03-04T10:00:00Z 00",
			"123456 sale       reversal_pending       1,234.50 EUR 622202*********0128 2026-03-04T10:00:00Z 00"},
		{"amount 1234567890.00 EUR, batch 4294967295", "amount 1234567890.00 EUR, batch 4294967295"},
		{"posd 1.4.2, firmware 17, params 7", "posd 1.4.2, firmware 17, params 7"},
		{"approved 4761739001010010", "approved 476173******0010"}, // "ed" is part of a word
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
		if got := redact.Luhn([]byte(s)); got != want {
			t.Errorf("luhn(%s) = %t", s, got)
		}
	}
}
