package paycode

import (
	"strings"
	"unicode/utf8"
)

// Kind is the platform a customer-presented code belongs to.
type Kind string

// The kinds Classify returns.
const (
	KindWeChat   Kind = "wechat"   // WeChat Pay payment code (付款码)
	KindAlipay   Kind = "alipay"   // Alipay payment code
	KindUnionPay Kind = "unionpay" // UnionPay QuickPass QR payment code (C2B code)
	KindEMVCPM   Kind = "emv-cpm"  // EMV QRCPS consumer-presented mode
	KindUnknown  Kind = "unknown"  // anything else; Code.Reason says why
)

// MaxText is the longest scanned text Classify looks at. A QR code holds
// at most 7089 numeric characters; an EMV consumer-presented payload is
// far shorter.
const MaxText = 4096

// Code is what the terminal keeps of a scanned customer-presented code.
type Code struct {
	Kind Kind
	// Masked may be kept and shown: a wallet code's first 6 digits, one
	// '*', its last 4 (the length is not kept either); an EMV CPM's PAN
	// masked by redact.MaskPAN. Empty for KindUnknown.
	Masked string
	// CPM is the decoded consumer-presented payload (KindEMVCPM only). It
	// holds the clear track 2 for the online request: hand it on, then
	// Wipe it; it prints and marshals masked.
	CPM *CPM
	// Reason says why the text is KindUnknown, without quoting it.
	Reason string
}

// platform is one wallet's documented code range.
type platform struct {
	kind           Kind
	minLen, maxLen int
	lo, hi         int // two-digit prefix range, inclusive
}

// platforms are the wallet codes' ranges (sources in the package doc).
// The prefix ranges do not overlap, so at most one matches.
var platforms = []platform{
	{KindWeChat, 18, 18, 10, 15},
	{KindAlipay, 16, 24, 25, 30},
	{KindUnionPay, 19, 19, 62, 62},
}

// Classify tells which platform a scanned customer-presented code
// belongs to. The text is the scanner's or the QR decoder's output;
// surrounding white space (a scanner's CR LF) is ignored. The caller
// forwards the wallet code itself to the platform at once and keeps only
// Code.Masked: the full code must never be stored or logged.
func Classify(text string) Code {
	if len(text) > MaxText {
		return unknown("text longer than %d bytes", MaxText)
	}
	s := strings.TrimSpace(text)
	switch {
	case s == "":
		return unknown("empty")
	case !utf8.ValidString(s):
		return unknown("binary data, not text")
	case allDigits(s):
		return classifyDigits(s)
	case strings.Contains(s, "://") || hasPrefixFold(s, "www."):
		return unknown("a URL, not a customer-presented payment code")
	case strings.HasPrefix(s, "000201"):
		return unknown("a merchant-presented code (EMV MPM), not a customer-presented one")
	}
	if looksBase64(s) {
		cpm, err := ParseCPM(s)
		if err != nil {
			return Code{Kind: KindUnknown, Reason: err.Error()}
		}
		return Code{Kind: KindEMVCPM, Masked: cpm.MaskedPAN(), CPM: cpm}
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7F {
			return unknown("control characters, not a payment code")
		}
	}
	return unknown("not a payment code of a known format (%d characters)", utf8.RuneCountInString(s))
}

func classifyDigits(s string) Code {
	n := len(s)
	prefix := int(s[0]-'0')*10 + int(s[1]-'0')
	for _, p := range platforms {
		if prefix >= p.lo && prefix <= p.hi {
			if n < p.minLen || n > p.maxLen {
				if p.minLen == p.maxLen {
					return unknown("%d digits with a %s prefix, which has %d", n, p.kind, p.minLen)
				}
				return unknown("%d digits with a %s prefix, which has %d to %d", n, p.kind, p.minLen, p.maxLen)
			}
			return Code{Kind: p.kind, Masked: s[:6] + "*" + s[n-4:]}
		}
	}
	return unknown("%d digits with a prefix no platform uses", n)
}

// allDigits reports whether s is two or more ASCII digits.
func allDigits(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// looksBase64 reports whether s uses only the base64 alphabet (standard
// or URL-safe) and padding, and is long enough to hold "CPV01".
func looksBase64(s string) bool {
	if len(s) < 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9',
			c == '+', c == '/', c == '-', c == '_', c == '=':
		default:
			return false
		}
	}
	return true
}
