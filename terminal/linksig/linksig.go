// Package linksig signs the HTTP link between a terminal and a payment
// platform (the wallet gateway, terminal/wallet; the face-pay platform,
// terminal/facepay) with a per-terminal HMAC-SHA256 key, both ways.
//
// A request carries the terminal id, a timestamp (unix seconds) and the
// signature of
//
//	"POST\n" path "\n" terminal "\n" timestamp "\n" body
//
// (SignRequest). The platform derives the terminal's key from its master
// key (TerminalKey), refuses a request whose signature does not verify or
// whose timestamp is more than Window off its clock (VerifyRequest), and
// signs its answer with
//
//	"RESP\n" path "\n" request signature "\n" body
//
// (SignResponse): an answer is bound to the request it answers, so an
// answer recorded for one request is no answer to another. The terminal
// refuses an answer whose signature does not verify (VerifyResponse).
// Signatures are lowercase hex; they are compared in constant time.
//
// A request verifies again and again until its timestamp is Window off:
// a platform executes each one once and answers a verbatim repeat (a
// retry within the same second, or a copy replayed off the wire) with the
// first answer, kept in a bounded Answers.
//
// Every protocol names its own three headers (Headers). Keys are never
// printed.
package linksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Window is how far a request's timestamp may be from the platform's
// clock, either way.
const Window = 5 * time.Minute

// MinKeyLen is the shortest signing key accepted.
const MinKeyLen = 16

// maxTimestamp bounds a timestamp's unix seconds (about year 36812): a
// larger number is not a time.
const maxTimestamp = 1 << 40

// Headers names a protocol's headers of the request's terminal id, its
// timestamp and the signature (of the request, and of the answer).
type Headers struct {
	Terminal  string
	Timestamp string
	Signature string
}

// SignRequest is the request signature: hex HMAC-SHA256 under key of
// "POST\n" path "\n" terminal "\n" timestamp "\n" body.
func SignRequest(key []byte, path, terminal, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "POST\n%s\n%s\n%s\n", path, terminal, timestamp)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// SignResponse is the answer's signature, bound to its request: hex
// HMAC-SHA256 under key of "RESP\n" path "\n" request signature "\n" body.
func SignResponse(key []byte, path, requestSig string, body []byte) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "RESP\n%s\n%s\n", path, requestSig)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Equal compares a received hex signature with the expected one in
// constant time.
func Equal(got, want string) bool {
	return hmac.Equal([]byte(got), []byte(want))
}

// Timestamp formats t for a request's timestamp header.
func Timestamp(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// ParseTimestamp reads a timestamp header (unix seconds, decimal) and
// checks it is within window of now: ErrBadTimestamp when it is not a
// timestamp, ErrStale when it is too far off.
func ParseTimestamp(ts string, now time.Time, window time.Duration) (time.Time, error) {
	if len(ts) == 0 || len(ts) > 16 {
		return time.Time{}, fmt.Errorf("%w: %d characters", ErrBadTimestamp, len(ts))
	}
	for i := 0; i < len(ts); i++ {
		if ts[i] < '0' || ts[i] > '9' {
			return time.Time{}, fmt.Errorf("%w: not decimal seconds", ErrBadTimestamp)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec > maxTimestamp {
		return time.Time{}, fmt.Errorf("%w: out of range", ErrBadTimestamp)
	}
	t := time.Unix(sec, 0)
	if d := now.Sub(t); d > window || d < -window {
		return time.Time{}, fmt.Errorf("%w: %v off the platform's clock", ErrStale, d.Round(time.Second))
	}
	return t, nil
}

// VerifyRequest checks a request as the platform receives it: its
// signature sig under key over path, terminal, timestamp and body
// (ErrBadSignature), then its timestamp within window of now
// (ErrBadTimestamp, ErrStale).
func VerifyRequest(key []byte, path, terminal, timestamp, sig string, body []byte, now time.Time, window time.Duration) error {
	if !Equal(sig, SignRequest(key, path, terminal, timestamp, body)) {
		return ErrBadSignature
	}
	_, err := ParseTimestamp(timestamp, now, window)
	return err
}

// VerifyResponse checks an answer as the terminal receives it: its
// signature sig under key, bound to the request's signature requestSig.
func VerifyResponse(key []byte, path, requestSig, sig string, body []byte) error {
	if !Equal(sig, SignResponse(key, path, requestSig, body)) {
		return ErrBadSignature
	}
	return nil
}

// SignHTTP signs hr, a request of terminal to path with body at now,
// under key: it sets the three headers and returns the request's
// signature (the answer's signature is bound to it).
func (h Headers) SignHTTP(hr *http.Request, key []byte, path, terminal string, now time.Time, body []byte) string {
	ts := Timestamp(now)
	sig := SignRequest(key, path, terminal, ts, body)
	hr.Header.Set(h.Terminal, terminal)
	hr.Header.Set(h.Timestamp, ts)
	hr.Header.Set(h.Signature, sig)
	return sig
}

// TerminalKey is a terminal's signing key under the platform's master
// key: HMAC-SHA256(master, terminal id). The terminal is provisioned with
// it; the platform derives it for every request.
func TerminalKey(master []byte, terminalID string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(terminalID))
	return m.Sum(nil)
}
