package alpar

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// The ATRs below are built by hand to the rules of ISO/IEC 7816-3:2006
// clause 8: T0 and TDi say which interface bytes follow (b5..b8 = TA, TB,
// TC, TD) and carry K or T; TCK, present unless only T=0 is indicated,
// makes the XOR of T0..TCK zero. Expected values are read off the
// standard's tables by hand (Table 7: Fi index 1 = 372 at 5 MHz, 9 = 512;
// Table 8: Di index 4 = 8... see each case).
func TestParseATR(t *testing.T) {
	cases := []struct {
		name  string
		atr   []byte
		check func(t *testing.T, a ATR)
	}{
		{"T=0 card, TB1 TC1, 5 historical bytes", []byte{0x3B, 0x65, 0x00, 0x00, 0x9C, 0x11, 0x01, 0x01, 0x03}, func(t *testing.T, a ATR) {
			// No TA1: defaults Fi 372, Di 1, f(max) 5 MHz; no TD1: T=0 only.
			if a.Inverse || a.FiDi != 0x11 || a.Fi() != 372 || a.Di() != 1 || a.FMaxKHz() != 5000 || a.N != 0 ||
				!slices.Equal(a.Protocols, []int{0}) || a.WI != 10 || a.Specific ||
				!bytes.Equal(a.Historical, []byte{0x9C, 0x11, 0x01, 0x01, 0x03}) {
				t.Errorf("%+v", a)
			}
		}},
		{"T=1 card with IFSC, BWI/CWI and TCK", append(append([]byte{0x3B, 0xF8, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x45}, "POSDTEST"...), 0xFE), func(t *testing.T, a ATR) {
			// TA1 13h: Fi index 1 (372, 5 MHz), Di index 3 (4). TD1 81h: TD2
			// follows, T=1. TD2 31h: TA3 TB3 follow, T=1. TA3 FEh: IFSC
			// 254. TB3 45h: BWI 4, CWI 5.
			if a.FiDi != 0x13 || a.Fi() != 372 || a.Di() != 4 || !slices.Equal(a.Protocols, []int{1}) || a.Offers(0) ||
				a.IFSC != 254 || a.BWI != 4 || a.CWI != 5 || a.CRC || string(a.Historical) != "POSDTEST" {
				t.Errorf("%+v", a)
			}
		}},
		{"inverse convention, nothing else", []byte{0x3F, 0x00}, func(t *testing.T, a ATR) {
			if !a.Inverse || !slices.Equal(a.Protocols, []int{0}) || len(a.Historical) != 0 || a.IFSC != 32 || a.BWI != 4 || a.CWI != 13 {
				t.Errorf("%+v", a)
			}
		}},
		{"specific mode T=1, TA1 96h", []byte{0x3B, 0x90, 0x96, 0x11, 0x81, 0x96}, func(t *testing.T, a ATR) {
			// TA1 96h: Fi index 9 (512, 5 MHz), Di index 6 (32). TA2 81h:
			// specific mode, T=1.
			if a.Fi() != 512 || a.Di() != 32 || a.FMaxKHz() != 5000 || !a.Specific || a.SpecificT != 1 || !slices.Equal(a.Protocols, []int{1}) {
				t.Errorf("%+v", a)
			}
		}},
		{"T=0 with TC2 (WI 20), no TCK", []byte{0x3B, 0x80, 0x40, 0x14}, func(t *testing.T, a ATR) {
			if a.WI != 20 || !slices.Equal(a.Protocols, []int{0}) {
				t.Errorf("%+v", a)
			}
		}},
		{"T=0 and T=1 offered, TCK", []byte{0x3B, 0x80, 0x80, 0x01, 0x01}, func(t *testing.T, a ATR) {
			if !slices.Equal(a.Protocols, []int{0, 1}) || !a.Offers(1) {
				t.Errorf("%+v", a)
			}
		}},
		{"T=1 then T=15 global bytes", []byte{0x3B, 0x80, 0x81, 0x1F, 0x03, 0x1D}, func(t *testing.T, a ATR) {
			// TD2 1Fh: T=15 (global), TA3 follows; it is not a T=1 TA.
			if !slices.Equal(a.Protocols, []int{1}) || a.IFSC != 32 {
				t.Errorf("%+v", a)
			}
		}},
	}
	for _, tc := range cases {
		a, err := ParseATR(tc.atr)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		tc.check(t, a)
	}
}

func TestParseATRErrors(t *testing.T) {
	long := make([]byte, MaxATR+1)
	long[0], long[1] = 0x3B, 0x0F
	for name, b := range map[string][]byte{
		"empty":                 nil,
		"TS only":               {0x3B},
		"bad TS":                {0x3C, 0x00},
		"interface bytes cut":   {0x3B, 0xF0, 0x11},
		"historical bytes cut":  {0x3B, 0x02, 0x41},
		"extra byte after T=0":  {0x3B, 0x00, 0x00},
		"TCK missing":           {0x3B, 0x80, 0x80, 0x01},
		"TCK wrong":             {0x3B, 0x80, 0x80, 0x01, 0x02},
		"byte after TCK":        {0x3B, 0x80, 0x80, 0x01, 0x01, 0x00},
		"longer than 33 bytes":  long,
		"TD chain past the end": {0x3B, 0x80, 0x80},
	} {
		if _, err := ParseATR(b); !errors.Is(err, ErrBadATR) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParseATR(f *testing.F) {
	f.Add([]byte{0x3B, 0x65, 0x00, 0x00, 0x9C, 0x11, 0x01, 0x01, 0x03})
	f.Add([]byte{0x3B, 0x90, 0x96, 0x11, 0x81, 0x96})
	f.Add([]byte{0x3B, 0x80, 0x81, 0x1F, 0x03, 0x1D})
	f.Add([]byte{0x3F, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		in := append([]byte(nil), b...)
		a, err := ParseATR(b)
		if !bytes.Equal(in, b) {
			t.Fatal("ParseATR changed its input")
		}
		if err != nil {
			if !errors.Is(err, ErrBadATR) {
				t.Fatalf("error %v is not ErrBadATR", err)
			}
			return
		}
		if len(b) > MaxATR || len(a.Protocols) == 0 || len(a.Historical) > 15 || (b[0] == 0x3F) != a.Inverse {
			t.Fatalf("% X: %+v", b, a)
		}
		// The result must not alias the input.
		hist := append([]byte(nil), a.Historical...)
		for i := range b {
			b[i] ^= 0xFF
		}
		if !bytes.Equal(hist, a.Historical) {
			t.Fatal("historical bytes alias the input")
		}
		for _, p := range a.Protocols {
			if p < 0 || p > 14 {
				t.Fatalf("protocol T=%d", p)
			}
		}
	})
}
