package wallet

import (
	"context"
	"fmt"
)

// Platform names a wallet platform.
type Platform string

// The platforms.
const (
	WeChat   Platform = "wechat"
	Alipay   Platform = "alipay"
	UnionPay Platform = "unionpay"
)

// Valid reports whether p is one of the platforms.
func (p Platform) Valid() bool { return p == WeChat || p == Alipay || p == UnionPay }

// Status is a payment's state as the platform tells it.
type Status string

// The statuses. Success, Failed, Closed and Refunded are final;
// UserPaying and Unknown are not (resolve them).
const (
	StatusSuccess    Status = "success"
	StatusFailed     Status = "failed"
	StatusUserPaying Status = "user_paying"
	StatusClosed     Status = "closed"
	StatusRefunded   Status = "refunded"
	StatusUnknown    Status = "unknown"
)

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusSuccess, StatusFailed, StatusUserPaying, StatusClosed, StatusRefunded, StatusUnknown:
		return true
	}
	return false
}

// Final reports whether s will not change by itself (a refund excepted).
func (s Status) Final() bool {
	return s == StatusSuccess || s == StatusFailed || s == StatusClosed || s == StatusRefunded
}

// Order is a payment to take.
type Order struct {
	// ID is the terminal's order number and the idempotency key of the
	// payment at the platform: 1 to 32 ASCII letters and digits.
	ID       string
	Amount   int64  // minor units (fen), more than 0
	Currency string // ISO 4217, three letters or digits ("CNY" or "156")
	// Code is the customer's payment code (digits) as scanned; white
	// space around it is dropped by HTTPClient.Pay (Validate takes the
	// digits only). It is sent once and never kept, logged or put in an
	// error. Empty for Precreate: the payer scans the merchant's code
	// instead.
	Code string
}

// Result is the platform's answer.
type Result struct {
	Status        Status
	PlatformTxnID string
	Reason        string
	Amount        int64
	Currency      string
}

// Client is one interface over the wallet platforms.
type Client interface {
	// Pay takes the payment. It is idempotent by o.ID: a repeat (after
	// an unknown outcome) never pays twice and answers the order's state.
	Pay(ctx context.Context, p Platform, o Order) (Result, error)
	// Precreate registers an order that a payer will pay by scanning
	// the merchant-presented code (o.Code empty, see ValidatePrecreate).
	// It is idempotent by o.ID: a repeat answers the order's state. The
	// answer is StatusUserPaying while the order waits for the payer, or
	// a final status when it already finished. Query, Cancel and Refund
	// work on a precreated order as on a paid-by-code one: Cancel closes
	// it while unpaid and reverses it (refunded) once paid.
	Precreate(ctx context.Context, p Platform, o Order) (Result, error)
	// Query asks for an order's state.
	Query(ctx context.Context, p Platform, orderID string) (Result, error)
	// Cancel cancels an unfinished or unknown payment (closed), or
	// reverses it when it was paid (refunded). Idempotent.
	Cancel(ctx context.Context, p Platform, orderID string) (Result, error)
	// Refund gives back amount of a paid order; idempotent by refundID.
	Refund(ctx context.Context, p Platform, orderID, refundID string, amount int64) (Result, error)
}

// ValidID reports whether id is 1 to 32 ASCII letters and digits (order
// and refund ids).
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// ValidCode reports whether code looks like a payment code: 10 to 32
// digits.
func ValidCode(code string) bool {
	if len(code) < 10 || len(code) > 32 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// ValidCurrency reports whether c is three ASCII letters or digits.
func ValidCurrency(c string) bool { return len(c) == 3 && ValidID(c) }

// MaskCode masks a payment code for journals: its first 2 digits (the
// platform's prefix) and last 4, the rest '*'. A string too short to mask
// becomes all '*'.
func MaskCode(code string) string {
	b := []byte(code)
	if len(b) < 10 {
		for i := range b {
			b[i] = '*'
		}
		return string(b)
	}
	for i := 2; i < len(b)-4; i++ {
		b[i] = '*'
	}
	return string(b)
}

// Validate checks an order before it is sent to Pay; the error never
// quotes the code.
func (o Order) Validate() error {
	if err := o.validateOrder(); err != nil {
		return err
	}
	if !ValidCode(o.Code) {
		return fmt.Errorf("%w: payment code must be 10 to 32 digits", ErrInvalidRequest)
	}
	return nil
}

// ValidatePrecreate checks an order before it is sent to Precreate: as
// Validate, but the payment code must be empty (the payer scans the
// merchant's code). The error never quotes the code.
func (o Order) ValidatePrecreate() error {
	if err := o.validateOrder(); err != nil {
		return err
	}
	if o.Code != "" {
		return fmt.Errorf("%w: a precreated order carries no payment code", ErrInvalidRequest)
	}
	return nil
}

// validateOrder checks the id, amount and currency.
func (o Order) validateOrder() error {
	switch {
	case !ValidID(o.ID):
		return fmt.Errorf("%w: order id must be 1 to 32 letters and digits", ErrInvalidRequest)
	case o.Amount <= 0:
		return fmt.Errorf("%w: amount must be more than 0", ErrInvalidRequest)
	case !ValidCurrency(o.Currency):
		return fmt.Errorf("%w: currency must be 3 letters or digits", ErrInvalidRequest)
	}
	return nil
}
