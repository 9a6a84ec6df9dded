package wallet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"posd/conn/clock"
)

// Opts configures an HTTPClient.
type Opts struct {
	// BaseURL is the platform gateway, e.g. http://127.0.0.1:8585.
	BaseURL string
	// TerminalID identifies the terminal (HeaderTerminal).
	TerminalID string
	// Key is the terminal's HMAC-SHA256 signing key.
	Key []byte
	// HTTP is the HTTP client (its Timeout bounds a request; nil: a
	// client with a 10 s timeout).
	HTTP   *http.Client
	Clock  clock.Clock  // nil: clock.Real
	Logger *slog.Logger // nil: discard
}

const defaultHTTPTimeout = 10 * time.Second

// HTTPClient is the Client of the HTTP+JSON protocol.
type HTTPClient struct {
	base string
	tid  string
	key  []byte
	http *http.Client
	clk  clock.Clock
	log  *slog.Logger
}

var _ Client = (*HTTPClient)(nil)

// NewHTTPClient checks o and returns a client.
func NewHTTPClient(o Opts) (*HTTPClient, error) {
	if !strings.HasPrefix(o.BaseURL, "http://") && !strings.HasPrefix(o.BaseURL, "https://") {
		return nil, fmt.Errorf("%w: base URL must be http or https", ErrInvalidRequest)
	}
	if o.TerminalID == "" || len(o.TerminalID) > 32 || !ValidID(o.TerminalID) {
		return nil, fmt.Errorf("%w: terminal id must be 1 to 32 letters and digits", ErrInvalidRequest)
	}
	if len(o.Key) < 16 {
		return nil, fmt.Errorf("%w: signing key shorter than 16 bytes", ErrInvalidRequest)
	}
	c := &HTTPClient{base: strings.TrimRight(o.BaseURL, "/"), tid: o.TerminalID, key: bytes.Clone(o.Key),
		http: o.HTTP, clk: clock.Or(o.Clock), log: o.Logger}
	if c.http == nil {
		c.http = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Pay implements Client. The white space around o.Code (a scanner's
// CR LF, as paycode.Classify ignores it) is not sent.
func (c *HTTPClient) Pay(ctx context.Context, p Platform, o Order) (Result, error) {
	o.Code = strings.TrimSpace(o.Code)
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	return c.call(ctx, p, OpPay, Request{OrderID: o.ID, Amount: o.Amount, Currency: o.Currency, Code: o.Code})
}

// Precreate implements Client.
func (c *HTTPClient) Precreate(ctx context.Context, p Platform, o Order) (Result, error) {
	if err := o.ValidatePrecreate(); err != nil {
		return Result{}, err
	}
	return c.call(ctx, p, OpPrecreate, Request{OrderID: o.ID, Amount: o.Amount, Currency: o.Currency})
}

// Query implements Client.
func (c *HTTPClient) Query(ctx context.Context, p Platform, orderID string) (Result, error) {
	return c.call(ctx, p, OpQuery, Request{OrderID: orderID})
}

// Cancel implements Client.
func (c *HTTPClient) Cancel(ctx context.Context, p Platform, orderID string) (Result, error) {
	return c.call(ctx, p, OpCancel, Request{OrderID: orderID})
}

// Refund implements Client.
func (c *HTTPClient) Refund(ctx context.Context, p Platform, orderID, refundID string, amount int64) (Result, error) {
	if !ValidID(refundID) {
		return Result{}, fmt.Errorf("%w: refund id must be 1 to 32 letters and digits", ErrInvalidRequest)
	}
	if amount <= 0 {
		return Result{}, fmt.Errorf("%w: refund amount must be more than 0", ErrInvalidRequest)
	}
	return c.call(ctx, p, OpRefund, Request{OrderID: orderID, RefundID: refundID, Amount: amount})
}

func (c *HTTPClient) call(ctx context.Context, p Platform, op string, req Request) (Result, error) {
	if !p.Valid() {
		return Result{}, fmt.Errorf("%w: unknown platform", ErrInvalidRequest)
	}
	if !ValidID(req.OrderID) {
		return Result{}, fmt.Errorf("%w: order id must be 1 to 32 letters and digits", ErrInvalidRequest)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %s", ErrInvalidRequest, op)
	}
	path := Path(p, op)
	ts := Timestamp(c.clk.Now())
	sig := SignRequest(c.key, path, c.tid, ts, body)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("%w: %s request", ErrInvalidRequest, op)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set(HeaderTerminal, c.tid)
	hr.Header.Set(HeaderTimestamp, ts)
	hr.Header.Set(HeaderSignature, sig)
	log := c.log.With("platform", string(p), "op", op, "order", req.OrderID)
	resp, err := c.http.Do(hr)
	if err != nil {
		log.Warn("wallet platform unreachable", "err", errors.Unwrap(err))
		// The *url.Error names the URL only; never the body.
		return Result{}, fmt.Errorf("%w: %s %s: %w", ErrUnreachable, p, op, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		log.Warn("wallet answer cut short", "err", err)
		return Result{}, fmt.Errorf("%w: %s %s answer: %w", ErrUnreachable, p, op, err)
	}
	got := resp.Header.Get(HeaderSignature)
	if !VerifySignature(got, SignResponse(c.key, path, sig, rb)) {
		// The one refusal the platform cannot sign: it does not know our
		// key. Trusted only as a refusal.
		if resp.StatusCode == http.StatusUnauthorized {
			var r Response
			if json.Unmarshal(rb, &r) == nil && r.Code == CodeBadSignature {
				log.Warn("wallet platform refused our signature")
				return Result{}, &RejectedError{Op: op, Code: CodeBadSignature}
			}
		}
		log.Warn("wallet answer signature does not verify", "http_status", resp.StatusCode)
		return Result{}, fmt.Errorf("%w: %s %s answer signature does not verify", ErrBadResponse, p, op)
	}
	res, err := DecodeResponse(op, req.OrderID, resp.StatusCode, rb)
	if err != nil {
		log.Info("wallet request not done", "err", err)
		return res, err
	}
	log.Info("wallet answer", "status", string(res.Status), "platform_txn", res.PlatformTxnID)
	return res, nil
}
