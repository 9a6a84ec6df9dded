package facepay

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"posd/terminal/linksig"
	"posd/terminal/money"
)

// The wire protocol, shared with the platform simulator
// (cmd/acquirer-sim/facepay, whose package doc describes it in full).
const (
	PathIdentify = "/face/v1/identify"
	PathConfirm  = "/face/v1/confirm"
	PathCancel   = "/face/v1/cancel"
	PathReverse  = "/face/v1/reverse"
	PathKey      = "/face/v1/key" // GET: the platform's public key, PEM

	// Headers of a request (terminal/linksig); HeaderSignature also
	// signs the answer, bound to the request's signature.
	HeaderTerminal  = "X-Face-Terminal"
	HeaderTimestamp = "X-Face-Timestamp" // unix seconds
	HeaderSignature = "X-Face-Signature" // lowercase hex HMAC-SHA256

	// MaxRequestBody bounds a request body (an identify carries the
	// envelope in base64: a 160x160 JPEG is a few kilobytes).
	MaxRequestBody = 128 << 10
	// MaxSealed bounds the envelope of an identify.
	MaxSealed = 64 << 10
	// MaxResponseBody bounds an answer.
	MaxResponseBody = 4096
	// MaxLiveness bounds the liveness scores sent with an identify.
	MaxLiveness = 32
	// MaxTriesLeft bounds a wrong password's tries_left: a platform
	// allows at most MaxTriesLeft+1 wrong passwords in a row.
	MaxTriesLeft = 9
)

// SigHeaders are the link's signature headers.
var SigHeaders = linksig.Headers{Terminal: HeaderTerminal, Timestamp: HeaderTimestamp, Signature: HeaderSignature}

// The Result statuses.
const (
	StatusApproved  = "approved"
	StatusDeclined  = "declined"
	StatusReversed  = "reversed"  // Reverse of an approved order: the money went back
	StatusCancelled = "cancelled" // Reverse of an order never approved (or unknown): it never will be
)

// The reasons of a declined Result.
const (
	ReasonWrongPassword = "wrong_password"
	ReasonLocked        = "locked"
)

// Codes of refusals (an answer's "code", HTTP 4xx).
const (
	CodeBadRequest     = "bad_request"     // 400 body or fields not valid
	CodeBadSignature   = "bad_signature"   // 401 request signature, terminal or timestamp wrong (answered unsigned)
	CodeBadEnvelope    = "bad_envelope"    // 400 the sealed crop does not open, or is not an envelope
	CodeNoMatch        = "no_match"        // 404 no enrolled face matched
	CodeOverLimit      = "over_limit"      // 403 amount over the face-pay limit
	CodeLocked         = "locked"          // 403 the candidate account is locked
	CodeNoSession      = "no_session"      // 404 confirm or cancel of a session unknown, expired or ended
	CodeOrderMismatch  = "order_mismatch"  // 409 the order id was used for another session or amount
	CodeReverseExpired = "reverse_expired" // 409 reverse of an order the platform paid and no longer holds (or, past its memory, any it does not hold): it cannot be reversed any more
	CodeKSNReused      = "ksn_reused"      // 409 confirm with a KSN the platform has seen from the terminal (a replayed PIN block), or one older than its replay window
)

// IdentifyBody is the JSON body of an identify.
type IdentifyBody struct {
	TerminalID string             `json:"terminal_id"`
	OrderID    string             `json:"order_id"`
	Amount     int64              `json:"amount"`
	Currency   string             `json:"currency"`
	Sealed     []byte             `json:"sealed"` // base64 (standard, padded)
	Liveness   map[string]float64 `json:"liveness,omitempty"`
	Challenge  string             `json:"challenge,omitempty"`
	ConsentAt  time.Time          `json:"consent_at"`
}

// ConfirmBody is the JSON body of a confirm: the session, its order and
// amount (the platform refuses a confirm that does not name its
// session's), the PIN block bound to them (PasswordBinding) and its KSN.
type ConfirmBody struct {
	TerminalID string `json:"terminal_id"`
	Session    string `json:"session"`
	OrderID    string `json:"order_id"`
	Amount     int64  `json:"amount"`
	Currency   string `json:"currency"`
	PINBlock   string `json:"pin_block"` // uppercase hex, 16 (format 0) or 32 (format 4) digits
	KSN        string `json:"ksn"`       // uppercase hex, 20 (TDES) or 24 (AES) digits
}

// CancelBody is the JSON body of a cancel.
type CancelBody struct {
	TerminalID string `json:"terminal_id"`
	Session    string `json:"session"`
}

// ReverseBody is the JSON body of a reverse.
type ReverseBody struct {
	TerminalID string `json:"terminal_id"`
	OrderID    string `json:"order_id"`
}

// Answer is the JSON body of every answer; fields an operation does not
// use are empty. Code is empty on success (HTTP 200) and names the
// refusal otherwise. Amount (minor units) and Currency are what the
// platform holds the order at, or charged once approved (a confirm's
// answer; a reverse's what it gave back or closed), as a real platform's
// answers state them; the terminal checks a confirm's against its order
// (AmountMismatchError).
type Answer struct {
	OrderID       string `json:"order_id,omitempty"`
	Session       string `json:"session,omitempty"`
	Masked        string `json:"masked,omitempty"` // identify: the candidate's account, masked, for the display
	Status        string `json:"status,omitempty"`
	Reason        string `json:"reason,omitempty"`
	PlatformTxnID string `json:"platform_txn_id,omitempty"`
	TriesLeft     *int   `json:"tries_left,omitempty"`
	Amount        int64  `json:"amount,omitempty"`
	Currency      string `json:"currency,omitempty"`
	Code          string `json:"code,omitempty"`
}

// AAD is the associated data a crop is sealed with and opened with: the
// bytes of terminal id "|" order id "|" amount in minor units (decimal)
// "|" currency, e.g. "T0000009|F0000000001|8800|156". Ids are letters
// and digits only, so the fields cannot run into each other.
func AAD(terminal, order string, amount int64, currency string) []byte {
	b := make([]byte, 0, len(terminal)+len(order)+len(currency)+24)
	b = append(b, terminal...)
	b = append(b, '|')
	b = append(b, order...)
	b = append(b, '|')
	b = strconv.AppendInt(b, amount, 10)
	b = append(b, '|')
	return append(b, currency...)
}

// PasswordBinding is what the payment password's PIN block is bound to
// in place of a card number (ISO 9564's PAN field): 19 decimal digits of
// SHA-256 over the terminal id, order id, amount, currency (AAD's bytes)
// and the session. The platform computes the same from its session, so a
// PIN block made for one session, order or amount does not decrypt to
// the password in any other; and the account number never has to reach
// the terminal.
func PasswordBinding(terminal, session, order string, amount int64, currency string) string {
	h := sha256.New()
	h.Write([]byte("posd face-pay password binding\x00"))
	h.Write(AAD(terminal, order, amount, currency))
	h.Write([]byte{'|'})
	h.Write([]byte(session))
	sum := h.Sum(nil)
	return fmt.Sprintf("%019d", binary.BigEndian.Uint64(sum[:8])%1e19)
}

// ValidID reports whether s is 1 to 32 ASCII letters and digits (terminal
// and order ids).
func ValidID(s string) bool { return validToken(s, 32) }

// ValidSession reports whether s is 1 to 64 ASCII letters and digits.
func ValidSession(s string) bool { return validToken(s, 64) }

func validToken(s string, n int) bool {
	if len(s) == 0 || len(s) > n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// ValidChallenge reports whether s can be an identify's liveness
// challenge: empty, or 1 to 16 ASCII letters and digits.
func ValidChallenge(s string) bool { return s == "" || validToken(s, 16) }

// ValidCurrency reports whether s is an ISO 4217 code: 3 digits ("156")
// or 3 uppercase letters ("CNY").
func ValidCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	digits, upper := 0, 0
	for i := 0; i < 3; i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			digits++
		case 'A' <= c && c <= 'Z':
			upper++
		}
	}
	return digits == 3 || upper == 3
}

// ValidMasked reports whether s can be a masked account the display
// shows: printable text of 1 to 32 bytes with a '*' and at most 10
// digits (first 6, last 4), so never a whole account number.
func ValidMasked(s string) bool {
	if s == "" || !validText(s, 32) || !strings.Contains(s, "*") {
		return false
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			digits++
		}
	}
	return digits <= 10
}

// validText: printable UTF-8 of at most n bytes, no control characters.
func validText(s string, n int) bool {
	if len(s) > n || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// ValidLiveness checks the liveness scores of an identify: at most
// MaxLiveness, names of 1 to 32 letters, digits or '_', finite values.
func ValidLiveness(m map[string]float64) bool {
	if len(m) > MaxLiveness {
		return false
	}
	for k, v := range m {
		if len(k) == 0 || len(k) > 32 || math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
		for i := 0; i < len(k); i++ {
			c := k[i]
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_') {
				return false
			}
		}
	}
	return true
}

// DecodeStrict reads exactly one JSON value of at most max bytes from r
// into v, refusing unknown fields and trailing data.
func DecodeStrict(body []byte, max int, v any) error {
	if len(body) > max {
		return fmt.Errorf("%d bytes, at most %d", len(body), max)
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("not the expected JSON")
	}
	if _, err := d.Token(); err != io.EOF {
		return fmt.Errorf("data after the JSON value")
	}
	return nil
}

// decodeAnswer reads an answer's body: the Answer of a 200, or the
// refusal of a 4xx as *RejectedError; anything else is ErrBadResponse
// (which matches ErrUnavailable).
func decodeAnswer(op string, httpStatus int, body []byte) (Answer, error) {
	bad := func(why string) (Answer, error) {
		return Answer{}, fmt.Errorf("%w (%w): %s answer %s", ErrUnavailable, ErrBadResponse, op, why)
	}
	if httpStatus >= 500 {
		return Answer{}, fmt.Errorf("%w: %s answer HTTP %d", ErrUnavailable, op, httpStatus)
	}
	var a Answer
	if err := DecodeStrict(body, MaxResponseBody, &a); err != nil {
		return bad(err.Error())
	}
	if !validText(a.Reason, 128) || a.Masked != "" && !ValidMasked(a.Masked) || len(a.Code) > 32 || !validText(a.Code, 32) ||
		len(a.Status) > 16 || len(a.PlatformTxnID) > 64 || !validText(a.PlatformTxnID, 64) {
		return bad("fields too long or not text")
	}
	if a.OrderID != "" && !ValidID(a.OrderID) || a.Session != "" && !ValidSession(a.Session) {
		return bad("ids not valid")
	}
	if a.Amount < 0 || a.Currency != "" && !ValidCurrency(a.Currency) {
		return bad("amount or currency not valid")
	}
	switch {
	case httpStatus == http.StatusOK && a.Code == "":
		return a, nil
	case httpStatus >= 400 && httpStatus < 500 && a.Code != "":
		return a, &RejectedError{Op: op, Status: httpStatus, Code: a.Code, Reason: a.Reason}
	}
	return bad(fmt.Sprintf("HTTP %d with code %q", httpStatus, a.Code))
}

// DecodeIdentify reads the answer to an identify of orderID.
func DecodeIdentify(orderID string, httpStatus int, body []byte) (Candidate, error) {
	a, err := decodeAnswer("identify", httpStatus, body)
	if err != nil {
		return Candidate{}, err
	}
	if a.OrderID != orderID {
		return Candidate{}, fmt.Errorf("%w (%w): identify answer names another order", ErrUnavailable, ErrBadResponse)
	}
	if !ValidSession(a.Session) || !ValidMasked(a.Masked) || a.Status != "" || a.TriesLeft != nil || a.PlatformTxnID != "" {
		return Candidate{}, fmt.Errorf("%w (%w): identify answer is not a candidate", ErrUnavailable, ErrBadResponse)
	}
	return Candidate{Session: a.Session, Masked: a.Masked}, nil
}

// DecodeConfirm reads the answer to a confirm of orderID at amount in
// currency: an approved Result (nil error), or a declined one with
// *DeclinedError. Either must state the order's amount and currency
// (SameCurrency): one that states another, or none, is an
// *AmountMismatchError wrapped in ErrBadResponse — never an approval,
// and the outcome unknown (the platform may have charged what it
// states): the order must be reversed.
func DecodeConfirm(orderID string, amount int64, currency string, httpStatus int, body []byte) (Result, error) {
	a, err := decodeAnswer("confirm", httpStatus, body)
	if err != nil {
		return Result{}, err
	}
	if a.OrderID != orderID || a.Masked != "" {
		return Result{}, fmt.Errorf("%w (%w): confirm answer names another order or an account", ErrUnavailable, ErrBadResponse)
	}
	r := Result{Status: a.Status, Reason: a.Reason, PlatformTxnID: a.PlatformTxnID, Amount: a.Amount, Currency: a.Currency}
	if a.TriesLeft != nil {
		r.TriesLeft = *a.TriesLeft
	}
	var derr error
	switch {
	case a.Status == StatusApproved && a.PlatformTxnID != "" && a.Reason == "":
	case a.Status == StatusDeclined && a.PlatformTxnID == "" && a.TriesLeft != nil && r.TriesLeft >= 0 && r.TriesLeft <= MaxTriesLeft &&
		(a.Reason == ReasonWrongPassword && r.TriesLeft > 0 || a.Reason == ReasonLocked && r.TriesLeft == 0):
		derr = &DeclinedError{Reason: a.Reason, TriesLeft: r.TriesLeft}
	default:
		return Result{}, fmt.Errorf("%w (%w): confirm answer is not a valid outcome", ErrUnavailable, ErrBadResponse)
	}
	if a.Amount != amount || !SameCurrency(a.Currency, currency) {
		return Result{}, fmt.Errorf("%w (%w): %w", ErrUnavailable, ErrBadResponse, &AmountMismatchError{Op: "confirm", OrderID: orderID,
			Status: a.Status, PlatformTxnID: a.PlatformTxnID, Want: amount, Got: a.Amount, WantCurrency: currency, GotCurrency: a.Currency})
	}
	return r, derr
}

// SameCurrency reports whether a and b name the same currency: equal,
// or the alphabetic and numeric codes of one (terminal/money: "CNY" and
// "156"). An empty code is no currency.
func SameCurrency(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if strings.EqualFold(a, b) {
		return true
	}
	ca, err1 := money.Lookup(a)
	cb, err2 := money.Lookup(b)
	return err1 == nil && err2 == nil && ca.Numeric == cb.Numeric
}

// DecodeReverse reads the answer to a reverse of orderID: reversed or
// cancelled.
func DecodeReverse(orderID string, httpStatus int, body []byte) (Result, error) {
	a, err := decodeAnswer("reverse", httpStatus, body)
	if err != nil {
		return Result{}, err
	}
	if a.OrderID != orderID || a.Masked != "" || a.Session != "" || a.TriesLeft != nil ||
		(a.Status != StatusReversed && a.Status != StatusCancelled) {
		return Result{}, fmt.Errorf("%w (%w): reverse answer is not a valid outcome", ErrUnavailable, ErrBadResponse)
	}
	return Result{Status: a.Status, Reason: a.Reason, PlatformTxnID: a.PlatformTxnID, Amount: a.Amount, Currency: a.Currency}, nil
}

// DecodeCancel reads the answer to a cancel of session.
func DecodeCancel(session string, httpStatus int, body []byte) error {
	a, err := decodeAnswer("cancel", httpStatus, body)
	if err != nil {
		return err
	}
	if a.Session != session || a.Status != StatusCancelled || a.Masked != "" {
		return fmt.Errorf("%w (%w): cancel answer is not a valid outcome", ErrUnavailable, ErrBadResponse)
	}
	return nil
}

// VerifyAnswer checks an answer's signature sig, as the terminal
// receives it, under key and bound to its request's signature requestSig
// on path. An answer that does not verify is ErrBadSignature (which
// matches ErrBadResponse and ErrUnavailable: nothing in it is trusted),
// with one exception: the platform cannot sign its refusal of a request
// it could not authenticate, so an unsigned HTTP 401 bad_signature to an
// identify, cancel or reverse is taken as that refusal (*RejectedError),
// which approves nothing. To a confirm it is not: a confirm's answer
// that does not verify leaves the outcome unknown.
func VerifyAnswer(key []byte, path, requestSig string, httpStatus int, sig string, body []byte) error {
	if linksig.VerifyResponse(key, path, requestSig, sig, body) == nil {
		return nil
	}
	op := opOf(path)
	if httpStatus == http.StatusUnauthorized && path != PathConfirm {
		var a Answer
		if DecodeStrict(body, MaxResponseBody, &a) == nil && a.Code == CodeBadSignature {
			return &RejectedError{Op: op, Status: httpStatus, Code: CodeBadSignature, Reason: "the platform did not accept our signature"}
		}
	}
	return fmt.Errorf("%w (%w, %w): %s answer", ErrUnavailable, ErrBadResponse, ErrBadSignature, op)
}

// opOf names the operation of a path for errors.
func opOf(path string) string {
	switch path {
	case PathIdentify:
		return "identify"
	case PathConfirm:
		return "confirm"
	case PathCancel:
		return "cancel"
	case PathReverse:
		return "reverse"
	}
	return "unknown"
}
