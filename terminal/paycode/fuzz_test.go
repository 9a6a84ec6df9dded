package paycode

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// echoes reports whether out repeats a run of 12 or more bytes of in:
// errors and reasons may name tags and lengths, not quote input.
func echoes(out, in string) bool {
	const n = 12
	for i := 0; i+n <= len(in); i++ {
		if strings.Contains(out, in[i:i+n]) {
			return true
		}
	}
	return false
}

// FuzzClassify: Classify never panics, a recognised wallet code keeps
// only its masked form, and a reason never quotes the input.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"", "134567890123456789", "251001020123456789012345", "6212345678901234567",
		specCPM1, specCPM2, specMPM, "https://example.com/pay", "\xff\x00", strings.Repeat("9", 30)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Classify(s)
		switch c.Kind {
		case KindUnknown:
			if c.Reason == "" || c.Masked != "" || c.CPM != nil || len(c.Reason) > 200 || echoes(c.Reason, s) {
				t.Fatalf("unknown %#v", c)
			}
		case KindWeChat, KindAlipay, KindUnionPay:
			d := strings.TrimSpace(s)
			if len(c.Masked) != 11 || strings.Contains(c.Masked, d) {
				t.Fatalf("masked %q", c.Masked)
			}
		case KindEMVCPM:
			if c.CPM == nil {
				t.Fatal("emv-cpm without CPM")
			}
		default:
			t.Fatalf("kind %q", c.Kind)
		}
	})
}

// FuzzParseCPM: ParseCPM never panics, its errors quote no input, and a
// decoded payload prints and marshals without its clear PAN.
func FuzzParseCPM(f *testing.F) {
	for _, s := range []string{specCPM1, specCPM2, ownCPM(f), "hQVDUFYwMQ==", "", "====", "hQVDUFYwMWGIAAAAAAAAAAA="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCPM(s)
		if err != nil {
			if len(err.Error()) > 200 || echoes(err.Error(), s) {
				t.Fatalf("error %q", err)
			}
			return
		}
		pan, _ := c.pan()
		j, _ := json.Marshal(c)
		for _, out := range []string{c.String(), fmt.Sprintf("%#v", c), string(j)} {
			if strings.Contains(out, pan) {
				t.Fatalf("clear PAN in %s", out)
			}
		}
		_ = c.ICC()
		_ = c.Track2()
		c.Wipe()
	})
}

// FuzzParseMPM: ParseMPM never panics, its errors quote no input, and
// what it accepts re-encodes to the same payload.
func FuzzParseMPM(f *testing.F) {
	f.Add(specMPM)
	if s, err := BuildMPM(testMerchant(), 1234, "CNY", "INV1"); err == nil {
		f.Add(s)
	}
	for _, s := range []string{"", "000201", "0002016304FFFF", "00020101021226990001", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMPM(s)
		if err != nil {
			if len(err.Error()) > 200 || echoes(err.Error(), s) {
				t.Fatalf("error %q", err)
			}
			return
		}
		if again := encodeFields(m.Fields); !strings.EqualFold(again, s) {
			t.Fatalf("re-encodes to %q", again)
		}
		_, _ = m.Minor()
	})
}
