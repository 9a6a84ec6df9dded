package host

import "fmt"

// Notices from the host: things the acquirer tells a terminal in its
// ordinary answers, outside the transaction answered. Both dialects carry
// them the same way, in DE62 of a response (the field their requests use
// for the encrypted track or the original's KSN, never set in a response
// before): ascii87 b..64 LLLVAR, cup b..64 LLLVAR with a BCD length.
//
// DE62 of a response is a list of notices, each a private-class BER-TLV
// of a two-byte tag DF01 to DF7F, a one-byte length (0 to 127) and its
// value:
//
//	tag   length  value  notice
//	DF01  1       01     an update waits at the terminal management
//	                     system: check it soon (Result.UpdateWaiting)
//
// Any response may carry it: the answers to a sale, a refund, an advice,
// a reversal, a settlement, an echo, and the rest. A notice of another tag
// is skipped (notices added later do not break older terminals); a field
// that does not read as notices, or DF01 with another length or value,
// makes the response malformed (ErrMalformed), as any field would.
// Terminals that know nothing of notices ignore DE62 in a response.
//
// Network management answers (sign-on, echo) carry no MAC, so the notice
// in them is unauthenticated: the worst a forged one can do is bring a
// terminal's next check of its TMS forward, which the terminal jitters
// and rate-limits (terminal/ota), and whose answer it verifies (TUF).
const (
	// TagUpdateWaiting is the notice "an update waits at the TMS".
	TagUpdateWaiting = 0xDF01
	// MaxNotices bounds DE62 of a response.
	MaxNotices = MaxTrack2Enc
)

// noticeUpdateWaiting is DE62 of a response with the update notice.
var noticeUpdateWaiting = []byte{0xDF, 0x01, 0x01, 0x01}

// Notices are what a response's DE62 said.
type Notices struct {
	// UpdateWaiting: the host says an update waits at the TMS.
	UpdateWaiting bool
}

// encode gives DE62 of a response carrying n; nil when it says nothing.
func (n Notices) encode() []byte {
	if !n.UpdateWaiting {
		return nil
	}
	return append([]byte(nil), noticeUpdateWaiting...)
}

// ParseNotices reads DE62 of a response. Errors match ErrMalformed.
func ParseNotices(b []byte) (Notices, error) {
	var n Notices
	if len(b) > MaxNotices {
		return Notices{}, fmt.Errorf("%w: notices of %d bytes", ErrMalformed, len(b))
	}
	seen := map[int]bool{}
	for len(b) > 0 {
		if len(b) < 3 || b[0] != 0xDF || b[1] == 0 || b[1] > 0x7F || b[2] > 0x7F {
			return Notices{}, fmt.Errorf("%w: field 62 does not read as notices", ErrMalformed)
		}
		tag, l := int(b[0])<<8|int(b[1]), int(b[2])
		if len(b) < 3+l {
			return Notices{}, fmt.Errorf("%w: field 62: notice %04X cut short", ErrMalformed, tag)
		}
		v := b[3 : 3+l]
		if seen[tag] {
			return Notices{}, fmt.Errorf("%w: field 62: notice %04X twice", ErrMalformed, tag)
		}
		seen[tag] = true
		if tag == TagUpdateWaiting {
			if l != 1 || v[0] != 0x01 {
				return Notices{}, fmt.Errorf("%w: field 62: notice %04X is not 01", ErrMalformed, tag)
			}
			n.UpdateWaiting = true
		}
		b = b[3+l:]
	}
	return n, nil
}
