package paycode

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// digits returns a code of n digits starting with prefix (filler 7s,
// last four 1234 when there is room).
func digits(prefix string, n int) string {
	s := prefix + strings.Repeat("7", max(0, n-len(prefix)))
	if n >= len(prefix)+4 {
		s = s[:n-4] + "1234"
	}
	return s[:n]
}

func TestClassifyWallets(t *testing.T) {
	tests := []struct {
		name string
		text string
		want Kind
	}{
		{"wechat 10", digits("10", 18), KindWeChat},
		{"wechat 13", digits("13", 18), KindWeChat},
		{"wechat 15", digits("15", 18), KindWeChat},
		{"wechat 17 digits", digits("13", 17), KindUnknown},
		{"wechat 19 digits", digits("13", 19), KindUnknown},
		{"prefix 09, 18 digits", digits("09", 18), KindUnknown},
		{"prefix 16, 18 digits", digits("16", 18), KindUnknown},
		{"alipay 25 16 digits", digits("25", 16), KindAlipay},
		{"alipay 28 18 digits", digits("28", 18), KindAlipay},
		{"alipay 30 24 digits", digits("30", 24), KindAlipay},
		{"alipay 15 digits", digits("28", 15), KindUnknown},
		{"alipay 25 digits", digits("28", 25), KindUnknown},
		{"prefix 24, 18 digits", digits("24", 18), KindUnknown},
		{"prefix 31, 18 digits", digits("31", 18), KindUnknown},
		{"alipay doc sample", "251001020123456789012345", KindAlipay},
		{"unionpay 62 19 digits", digits("62", 19), KindUnionPay},
		{"unionpay 18 digits", digits("62", 18), KindUnknown},
		{"unionpay 20 digits", digits("62", 20), KindUnknown},
		{"prefix 61, 19 digits", digits("61", 19), KindUnknown},
		{"prefix 63, 19 digits", digits("63", 19), KindUnknown},
		{"scanner CR LF", digits("13", 18) + "\r\n", KindWeChat},
		{"empty", "", KindUnknown},
		{"blank", " \t\r\n", KindUnknown},
		{"one digit", "1", KindUnknown},
		{"url", "https://qr.alipay.com/bax01234567890123456", KindUnknown},
		{"wechat url", "weixin://wxpay/bizpayurl?pr=abcdefg", KindUnknown},
		{"mpm", "00020101021229300012D156000000000510A93FO3230Q6304ABCD", KindUnknown},
		{"garbage", "hello, world!", KindUnknown},
		{"binary", "\xff\xfe\x00\x01\x02", KindUnknown},
		{"control", "abc\x00def\x01ghi", KindUnknown},
		{"digits with space inside", "134567 890123456789", KindUnknown},
		{"full-width digits", "１３４５６７８９０１２３４５６７８９", KindUnknown},
		{"very long digits", strings.Repeat("1", MaxText+1), KindUnknown},
		{"long digits within limit", strings.Repeat("1", 4000), KindUnknown},
		{"base64 not a CPM", "aGVsbG8gd29ybGQ=", KindUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Classify(tc.text)
			if c.Kind != tc.want {
				t.Fatalf("Kind = %s (%s), want %s", c.Kind, c.Reason, tc.want)
			}
			if c.Kind == KindUnknown {
				if c.Reason == "" || c.Masked != "" || c.CPM != nil {
					t.Fatalf("unknown without a reason, or with data: %#v", c)
				}
				if len(tc.text) >= 10 && strings.Contains(c.Reason, strings.TrimSpace(tc.text)) {
					t.Fatalf("reason quotes the input: %q", c.Reason)
				}
				return
			}
			s := strings.TrimSpace(tc.text)
			if want := s[:6] + "*" + s[len(s)-4:]; c.Masked != want {
				t.Fatalf("Masked = %q, want %q", c.Masked, want)
			}
			if c.Reason != "" {
				t.Fatalf("Reason %q on a recognised code", c.Reason)
			}
		})
	}
}

// TestClassifyKeepsNoFullCode: a recognised wallet code survives in no
// printed or marshalled form of the Code.
func TestClassifyKeepsNoFullCode(t *testing.T) {
	for _, s := range []string{digits("13", 18), digits("28", 24), digits("62", 19)} {
		c := Classify(s)
		j, _ := json.Marshal(c)
		for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), string(j)} {
			if strings.Contains(out, s) || strings.Contains(out, s[6:len(s)-4]) {
				t.Fatalf("full code in %q", out)
			}
		}
	}
}

// TestPlatformsDisjoint: no two platforms share a prefix, so a code has
// at most one kind.
func TestPlatformsDisjoint(t *testing.T) {
	for i, a := range platforms {
		for _, b := range platforms[i+1:] {
			if a.lo <= b.hi && b.lo <= a.hi {
				t.Fatalf("%s and %s overlap", a.kind, b.kind)
			}
		}
	}
}
