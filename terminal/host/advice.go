package host

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/moov-io/iso8583"

	"posd/terminal/wiresec"
)

// KindAdvice is a financial advice (0220, answered 0230): a sale the card
// approved offline, forwarded to the host afterwards.
const KindAdvice Kind = "advice"

// Response codes of an advice's answer that the terminal acts on.
const (
	// AdviceAccepted ("00"): the host has the advice (the first time or
	// again: the host deduplicates by terminal id and Ref).
	AdviceAccepted = "00"
	// AdviceBusy ("91", issuer or switch inoperative): the host refuses
	// for now; the terminal tries again later, after backing off.
	AdviceBusy = "91"
)

// OfflineApproved is DE39 of an advice: approved offline by the card
// (EMV's Y1; Y3 when the terminal could not go online).
const OfflineApproved = "Y1"

// Advice forwards an offline approval (0220). Every attempt at one advice
// carries the same STAN and Ref; the host answers a repeat as it answered
// the first.
type Advice struct {
	// STAN is the advice's own STAN, allocated once when the card
	// approved and reused by every attempt.
	STAN uint32
	// Ref is the terminal's reference of the transaction (DE37, at most
	// 12 characters): the host deduplicates advices by terminal id + Ref.
	Ref string
	// Time is when the card approved (ascii87 DE7/12/13).
	Time      time.Time
	Amount    int64  // minor units
	Currency  string // ISO 4217 numeric
	EntryMode string // DE22
	// Track2 is the clear track 2 equivalent (ASCII, as Purchase.Track2);
	// it is encrypted under the session's data key before it is sent.
	Track2 []byte
	// ICC is DE55: the data of the card's TC (no clear card data).
	ICC []byte
	// ResponseCode is DE39 as the terminal decided: OfflineApproved.
	ResponseCode string
	// Batch is the batch number (cup DE60.2).
	Batch uint32
}

// MaxRef is the longest Advice.Ref (DE37 is 12 characters).
const MaxRef = 12

// Advice sends one attempt of an advice and returns the host's answer. A
// nil error means a MAC-verified 0230 arrived: AdviceAccepted means the
// host has it (erase it), anything else (AdviceBusy...) means try again
// later. Errors are those of Purchase; after any of them the advice is
// sent again later, unchanged.
//
// The request is a 0220 in both dialects (see ASCII87 and CUP): the
// purchase's card fields (DE22, the session's KSN, DE55, the track 2
// encrypted under the session's data key in DE62) without a PIN block,
// Ref in DE37, ResponseCode in DE39 (OfflineApproved when empty), MACed
// like a purchase. Ref must be 1 to MaxRef digits or letters, Track2 1 to
// 40 bytes. The answer must echo the STAN, the terminal id, the amount
// and, when it carries DE37, the Ref; otherwise ErrBadResponse.
func (c *Client) Advice(ctx context.Context, a Advice, s *wiresec.Session) (Result, error) {
	if s == nil {
		return Result{}, fmt.Errorf("%w: no wire security session", ErrInvalidRequest)
	}
	if !validRef(a.Ref) {
		return Result{}, fmt.Errorf("%w: ref must be 1 to %d digits or letters", ErrInvalidRequest, MaxRef)
	}
	rc := a.ResponseCode
	if rc == "" {
		rc = OfflineApproved
	}
	t := a.Time
	if t.IsZero() {
		t = c.clock.Now()
	}
	return c.sendWithTrack(ctx, Request{
		Kind: KindAdvice, STAN: a.STAN, Time: t, TerminalID: c.tid, MerchantID: c.mid,
		Amount: a.Amount, Currency: a.Currency, EntryMode: a.EntryMode, Batch: a.Batch,
		Mode: s.Mode(), KSN: s.KSN(), ICC: a.ICC, Ref: a.Ref, ResponseCode: rc,
	}, a.Track2, s)
}

// validRef reports whether ref is 1 to MaxRef digits or letters.
func validRef(ref string) bool {
	return len(ref) > 0 && len(ref) <= MaxRef && isAlnum(ref)
}

// fmtRef gives DE37 of an advice: ref left-justified and space-padded to
// 12 characters (ISO 8583: fixed-length fields other than n are left
// justified with trailing spaces).
func fmtRef(ref string) (string, error) {
	if !validRef(ref) {
		return "", fmt.Errorf("%w: ref must be 1 to %d digits or letters", ErrInvalidRequest, MaxRef)
	}
	return ref + strings.Repeat(" ", MaxRef-len(ref)), nil
}

// parseRef reads DE37 of an advice or its answer back into the Ref.
func parseRef(de37 string) (string, error) {
	ref := strings.TrimRight(de37, " ")
	if !validRef(ref) {
		return "", fmt.Errorf("%w: field 37 is not a ref", ErrMalformed)
	}
	return ref, nil
}

// adviceFields checks and formats what an advice has beyond a purchase's
// fields: DE37 and DE39, and no PIN block.
func adviceFields(r *Request) (ref, rc string, err error) {
	if ref, err = fmtRef(r.Ref); err != nil {
		return "", "", err
	}
	if len(r.ResponseCode) != 2 || !isAlnum(r.ResponseCode) {
		return "", "", fmt.Errorf("%w: advice response code must be 2 digits or letters", ErrInvalidRequest)
	}
	if len(r.PINBlock) > 0 {
		return "", "", fmt.Errorf("%w: an advice carries no PIN block", ErrInvalidRequest)
	}
	return ref, r.ResponseCode, nil
}

// decodeAdvice reads DE37 and DE39 of an advice and checks that it carries
// no PIN block (a typed struct without DE52 would drop one unread).
func decodeAdvice(r *Request, m *iso8583.Message, de37, de39 string) error {
	if _, ok := m.GetFields()[DEPINBlock]; ok {
		return fmt.Errorf("%w: PIN block in an advice", ErrMalformed)
	}
	ref, err := parseRef(de37)
	if err != nil {
		return err
	}
	r.Ref = ref
	if len(de39) != 2 || !isAlnum(de39) {
		return fmt.Errorf("%w: advice response code missing or invalid", ErrMalformed)
	}
	r.ResponseCode = de39
	return nil
}

// decodeAdviceRef reads DE37 of an advice's answer, when present.
func decodeAdviceRef(r *Response, de37 string) error {
	if de37 == "" {
		return nil
	}
	ref, err := parseRef(de37)
	if err != nil {
		return err
	}
	r.Ref = ref
	return nil
}
