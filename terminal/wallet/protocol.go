package wallet

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"posd/terminal/linksig"
	"posd/terminal/money"
)

// The wire protocol (shared with the simulator, cmd/acquirer-sim/wallet,
// whose package doc describes it in full).
const (
	OpPay       = "pay"
	OpPrecreate = "precreate" // an order the payer pays by scanning the merchant's code
	OpQuery     = "query"
	OpCancel    = "cancel"
	OpRefund    = "refund"

	// Headers of a request; HeaderSignature also signs the answer.
	HeaderTerminal  = "X-Wallet-Terminal"
	HeaderTimestamp = "X-Wallet-Timestamp" // unix seconds
	HeaderSignature = "X-Wallet-Signature" // lowercase hex HMAC-SHA256

	// MaxBody bounds a request or response body.
	MaxBody = 4096
)

// Codes of refusals in Response.Code.
const (
	CodeTooFrequent    = "too_frequent"
	CodeBadSignature   = "bad_signature"
	CodeBadRequest     = "bad_request"
	CodeNotFound       = "not_found"
	CodeOrderMismatch  = "order_mismatch"
	CodeNotPaid        = "not_paid"
	CodeRefundExceeds  = "refund_exceeds"
	CodeRefundMismatch = "refund_mismatch"
	// CodeCodeUsed: the customer's payment code already paid another
	// order (a code is a one-time bearer token).
	CodeCodeUsed = "code_used"
	// CodeCodeInvalid: the payment code is not one of the platform's
	// (WeChat Pay AUTHCODEINVALID, Alipay ACQ.PAYMENT_AUTH_CODE_INVALID):
	// a code routed to the wrong platform. Nothing was paid.
	CodeCodeInvalid = "code_invalid"
	// CodeSystemError (HTTP 500): the platform failed and cannot tell
	// what became of the request (WeChat Pay SYSTEMERROR, Alipay
	// ACQ.SYSTEM_ERROR); it may have been executed. Not a refusal:
	// DecodeResponse returns ErrSystemError for it, as for any 5xx.
	CodeSystemError = "system_error"
)

// Request is the JSON body of every request; fields an operation does not
// use are empty.
type Request struct {
	OrderID  string `json:"order_id"`
	Amount   int64  `json:"amount,omitempty"`
	Currency string `json:"currency,omitempty"`
	Code     string `json:"code,omitempty"` // pay only (never precreate)
	RefundID string `json:"refund_id,omitempty"`
}

// Response is the JSON body of every answer. Code is empty on success
// and names the refusal otherwise (then Status may be empty). Amount
// and Currency are what the platform holds the order at (what it
// charged, once paid), as a real platform's pay and query answers state
// them (WeChat Pay total_fee and fee_type, Alipay total_amount); a
// refund's answer states the refund's amount. The terminal checks them
// against its order (AmountMismatchError).
type Response struct {
	OrderID       string `json:"order_id"`
	Status        Status `json:"status,omitempty"`
	PlatformTxnID string `json:"platform_txn_id,omitempty"`
	Reason        string `json:"reason,omitempty"`
	Code          string `json:"code,omitempty"`
	Amount        int64  `json:"amount,omitempty"`
	Currency      string `json:"currency,omitempty"`
}

// Path is the request path of an operation: /{platform}/{op}.
func Path(p Platform, op string) string { return "/" + string(p) + "/" + op }

// SignRequest is the request signature: hex HMAC-SHA256 under key of
// "POST\n" path "\n" terminal "\n" timestamp "\n" body
// (terminal/linksig, shared with the face-pay link).
func SignRequest(key []byte, path, terminal, timestamp string, body []byte) string {
	return linksig.SignRequest(key, path, terminal, timestamp, body)
}

// SignResponse is the answer's signature, bound to its request: hex
// HMAC-SHA256 under key of "RESP\n" path "\n" request signature "\n" body.
func SignResponse(key []byte, path, requestSig string, body []byte) string {
	return linksig.SignResponse(key, path, requestSig, body)
}

// VerifySignature compares a received hex signature with the expected
// one in constant time.
func VerifySignature(got, want string) bool { return linksig.Equal(got, want) }

// Timestamp formats t for HeaderTimestamp.
func Timestamp(t time.Time) string { return linksig.Timestamp(t) }

// DecodeResponse reads an answer's body to op on order orderID, its
// signature already checked: it returns the result, or the refusal as a
// *RejectedError, or ErrSystemError when the platform answered that it
// failed (code system_error, or any HTTP 5xx naming the order), or
// ErrBadResponse when the body is not a valid answer to the request.
func DecodeResponse(op, orderID string, httpStatus int, body []byte) (Result, error) {
	if len(body) > MaxBody {
		return Result{}, fmt.Errorf("%w: %s answer of %d bytes", ErrBadResponse, op, len(body))
	}
	var r Response
	if err := json.Unmarshal(body, &r); err != nil {
		return Result{}, fmt.Errorf("%w: %s answer is not JSON", ErrBadResponse, op)
	}
	if r.OrderID != orderID {
		return Result{}, fmt.Errorf("%w: %s answer names another order", ErrBadResponse, op)
	}
	if len(r.Reason) > 256 || len(r.PlatformTxnID) > 64 || len(r.Code) > 32 {
		return Result{}, fmt.Errorf("%w: %s answer fields too long", ErrBadResponse, op)
	}
	if r.Amount < 0 || r.Currency != "" && !ValidCurrency(r.Currency) {
		return Result{}, fmt.Errorf("%w: %s answer amount or currency not valid", ErrBadResponse, op)
	}
	if r.Code == CodeSystemError || httpStatus >= 500 {
		// The platform failed: it refused nothing, and may have done
		// what was asked. Neither the code nor the reason is quoted.
		return Result{}, fmt.Errorf("%w: %s answered HTTP %d", ErrSystemError, op, httpStatus)
	}
	if r.Code != "" {
		if httpStatus == http.StatusOK {
			return Result{}, fmt.Errorf("%w: %s answer has code with status 200", ErrBadResponse, op)
		}
		return Result{Status: r.Status, Reason: r.Reason}, &RejectedError{Op: op, Code: r.Code, Reason: r.Reason}
	}
	if httpStatus != http.StatusOK {
		return Result{}, fmt.Errorf("%w: %s answer HTTP %d without a code", ErrBadResponse, op, httpStatus)
	}
	if !r.Status.Valid() {
		return Result{}, fmt.Errorf("%w: %s answer has no valid status", ErrBadResponse, op)
	}
	return Result{Status: r.Status, PlatformTxnID: r.PlatformTxnID, Reason: r.Reason, Amount: r.Amount, Currency: r.Currency}, nil
}

// SameCurrency reports whether a and b name the same currency: equal, or
// the alphabetic and numeric codes of one (terminal/money: "CNY" and
// "156").
func SameCurrency(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	ca, err1 := money.Lookup(a)
	cb, err2 := money.Lookup(b)
	return err1 == nil && err2 == nil && ca.Numeric == cb.Numeric
}

// CheckAmount checks the amount and currency an answer to op on order
// states against the order's (want, wantCurrency): nil when they are
// the order's, or when the answer's status moves no money (failed,
// closed, refunded, unknown: nothing is charged on them), else an
// *AmountMismatchError. An answer paid (success) or waiting for the
// payer (user_paying) must state both: one that does not is a mismatch,
// since the terminal cannot tell what the customer is charged.
func CheckAmount(op, orderID string, want int64, wantCurrency string, res Result) error {
	if res.Status != StatusSuccess && res.Status != StatusUserPaying {
		return nil
	}
	if res.Amount == want && SameCurrency(res.Currency, wantCurrency) {
		return nil
	}
	return &AmountMismatchError{Op: op, OrderID: orderID, Want: want, Got: res.Amount,
		WantCurrency: wantCurrency, GotCurrency: res.Currency}
}
