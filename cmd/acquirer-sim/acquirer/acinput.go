package acquirer

import (
	"errors"
	"fmt"
)

// The data an application cryptogram covers, in one place. (The simulated
// cards compute the same; when the deck publishes its own definition,
// this is what it replaces.)
//
// Every scheme of the deck covers, in this order, the values of
//
//	9F02 amount, authorised (6)     9F03 amount, other (6; zeros when absent)
//	9F1A terminal country code (2)  95   TVR (5)
//	5F2A transaction currency (2)   9A   transaction date (3)
//	9C   transaction type (1)       9F37 unpredictable number (4)
//	82   AIP (2)                    9F36 ATC (2)
//
// (EMV book 2 A1.2's recommended minimum, the CDOL1 data of these
// cryptogram versions), then the card verification results taken from the
// issuer application data (9F10), whose layout the scheme's cryptogram
// version fixes:
//
//	scheme      version          9F10 layout                       CVR covered
//	visa        Visa CVN 10      len 06, DKI, CVN 0A, CVR (4), ... 9F10[3:7], 4 bytes (03 and 3 bytes)
//	mastercard  M/Chip CVN 16    DKI, CVN 10, CVR (6), ...          9F10[2:8], 6 bytes
//	unionpay    PBOC CVN 01      len, DKI, CVN 01, CVR (4), ...    9F10[3:7], 4 bytes (03 and 3 bytes)
//
// The CVN byte of 9F10 must be the version's: a card of another version
// computes over other data, and the check says so instead of failing on a
// mismatch.

// acTags are the data objects every AC input starts with, in order, with
// their lengths.
var acTags = []struct {
	tag      string
	n        int
	optional bool // absent: zeros
}{
	{"9F02", 6, false}, {"9F03", 6, true}, {"9F1A", 2, false}, {"95", 5, false},
	{"5F2A", 2, false}, {"9A", 3, false}, {"9C", 1, false}, {"9F37", 4, false},
	{"82", 2, false}, {"9F36", 2, false},
}

// cvrLayout is where a scheme's CVR sits in 9F10 and which CVN byte says
// so.
type cvrLayout struct {
	version    string
	cvnAt      int
	cvn        byte
	from, upto int
}

var cvrLayouts = map[string]cvrLayout{
	"visa":       {version: "Visa CVN 10", cvnAt: 2, cvn: 0x0A, from: 3, upto: 7},
	"mastercard": {version: "M/Chip CVN 16", cvnAt: 1, cvn: 0x10, from: 2, upto: 8},
	"unionpay":   {version: "PBOC CVN 01", cvnAt: 2, cvn: 0x01, from: 3, upto: 7},
}

// errACData: DE55 lacks a value the cryptogram covers, or one has the
// wrong length, or 9F10 is not of the scheme's cryptogram version.
var errACData = errors.New("cryptogram data incomplete")

// ACInput returns the data the application cryptogram of a card of scheme
// covers, from the top-level values of DE55 by tag. Errors name tags,
// never values.
func ACInput(scheme string, v map[string][]byte) ([]byte, error) {
	l, ok := cvrLayouts[scheme]
	if !ok {
		return nil, fmt.Errorf("%w: no cryptogram version known for scheme %q", errACData, scheme)
	}
	out := make([]byte, 0, 48)
	for _, t := range acTags {
		b, present := v[t.tag]
		if !present && t.optional {
			b = make([]byte, t.n)
		}
		if len(b) != t.n {
			return nil, fmt.Errorf("%w: tag %s missing or not %d bytes", errACData, t.tag, t.n)
		}
		out = append(out, b...)
	}
	iad := v["9F10"]
	if len(iad) < l.upto {
		return nil, fmt.Errorf("%w: issuer application data (9F10) shorter than %d bytes", errACData, l.upto)
	}
	if iad[l.cvnAt] != l.cvn {
		return nil, fmt.Errorf("%w: 9F10 names cryptogram version %02X, the %s issuer checks %s", errACData, iad[l.cvnAt], scheme, l.version)
	}
	return append(out, iad[l.from:l.upto]...), nil
}
