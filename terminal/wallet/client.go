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
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
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

// MaxOrders is how many orders an HTTPClient remembers the amount of
// (the last it paid or precreated): a query answer of one of them is
// checked against it (CheckAmount); one of an order it does not
// remember (older, or sent before a restart) cannot be.
const MaxOrders = 1024

// HTTPClient is the Client of the HTTP+JSON protocol.
type HTTPClient struct {
	base string
	tid  string
	key  []byte
	http *http.Client
	clk  clock.Clock
	log  *slog.Logger

	mu     sync.Mutex
	orders map[string]Order // platform "|" order id → its amount and currency (never its code)
	fifo   []string         // the keys of orders, oldest first
}

// remember keeps o's amount and currency for the checks of later
// answers about it (the first pay or precreate of its id); the oldest
// order gives way past MaxOrders.
func (c *HTTPClient) remember(p Platform, o Order) {
	if !p.Valid() {
		return // never sent (call refuses it)
	}
	key := string(p) + "|" + o.ID
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.orders == nil {
		c.orders = map[string]Order{}
	}
	if _, ok := c.orders[key]; ok {
		// The first is the order the platform holds: a pay of the
		// same id with another amount is refused (order_mismatch).
		return
	}
	if len(c.fifo) >= MaxOrders {
		delete(c.orders, c.fifo[0])
		c.fifo = c.fifo[1:]
	}
	c.fifo = append(c.fifo, key)
	c.orders[key] = Order{ID: o.ID, Amount: o.Amount, Currency: o.Currency}
}

// order is what the client remembers of order id at p.
func (c *HTTPClient) order(p Platform, id string) (Order, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.orders[string(p)+"|"+id]
	return o, ok
}

// checked is res of op on the order o, or, when the answer states
// another amount or currency, the mismatch: an answer not trusted, the
// order's outcome unknown (the resolver cancels it).
func (c *HTTPClient) checked(p Platform, op string, o Order, res Result, err error) (Result, error) {
	if err != nil {
		return res, err
	}
	if merr := CheckAmount(op, o.ID, o.Amount, o.Currency, res); merr != nil {
		c.log.Warn("wallet answer states another amount than the order's", "platform", string(p), "op", op, "order", o.ID,
			"status", string(res.Status), "amount", res.Amount, "currency", res.Currency, "order_amount", o.Amount)
		return Result{Status: StatusUnknown, Amount: res.Amount, Currency: res.Currency}, fmt.Errorf("%w: %w", ErrBadResponse, merr)
	}
	return res, nil
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
	c.remember(p, o)
	res, err := c.call(ctx, p, OpPay, Request{OrderID: o.ID, Amount: o.Amount, Currency: o.Currency, Code: o.Code})
	return c.checked(p, OpPay, o, res, err)
}

// Precreate implements Client.
func (c *HTTPClient) Precreate(ctx context.Context, p Platform, o Order) (Result, error) {
	if err := o.ValidatePrecreate(); err != nil {
		return Result{}, err
	}
	c.remember(p, o)
	res, err := c.call(ctx, p, OpPrecreate, Request{OrderID: o.ID, Amount: o.Amount, Currency: o.Currency})
	return c.checked(p, OpPrecreate, o, res, err)
}

// Query implements Client. The answer about an order the client paid or
// precreated (the last MaxOrders) is checked against its amount and
// currency.
func (c *HTTPClient) Query(ctx context.Context, p Platform, orderID string) (Result, error) {
	res, err := c.call(ctx, p, OpQuery, Request{OrderID: orderID})
	if o, ok := c.order(p, orderID); ok {
		return c.checked(p, OpQuery, o, res, err)
	}
	return res, err
}

// Cancel implements Client.
func (c *HTTPClient) Cancel(ctx context.Context, p Platform, orderID string) (Result, error) {
	return c.call(ctx, p, OpCancel, Request{OrderID: orderID})
}

// Refund implements Client. A refund whose outcome is unknown
// (OutcomeUnknown) may have been made: its result is StatusUnknown, and
// it is to be asked again with the same refund id (idempotent at the
// platform), never made another way. An answer stating another amount
// than asked is such an unknown outcome too (ErrAmountMismatch).
func (c *HTTPClient) Refund(ctx context.Context, p Platform, orderID, refundID string, amount int64) (Result, error) {
	if !ValidID(refundID) {
		return Result{}, fmt.Errorf("%w: refund id must be 1 to 32 letters and digits", ErrInvalidRequest)
	}
	if amount <= 0 {
		return Result{}, fmt.Errorf("%w: refund amount must be more than 0", ErrInvalidRequest)
	}
	res, err := c.call(ctx, p, OpRefund, Request{OrderID: orderID, RefundID: refundID, Amount: amount})
	if err == nil && (res.Status == StatusRefunded || res.Status == StatusSuccess) && res.Amount != amount {
		// Refunded, but not what was asked (or not said what): not
		// this refund as the terminal records it. Ask again.
		c.log.Warn("wallet refund answer states another amount", "platform", string(p), "order", orderID,
			"refund", refundID, "amount", res.Amount, "asked", amount)
		return Result{Status: StatusUnknown, Amount: res.Amount, Currency: res.Currency}, fmt.Errorf("%w: %w", ErrBadResponse,
			&AmountMismatchError{Op: OpRefund, OrderID: orderID, Want: amount, Got: res.Amount, GotCurrency: res.Currency})
	}
	return res, err
}

// call sends req; when the request's outcome is unknown (OutcomeUnknown:
// no answer, one not to be trusted, a system error) the result's status
// says so: StatusUnknown, never empty.
func (c *HTTPClient) call(ctx context.Context, p Platform, op string, req Request) (Result, error) {
	res, err := c.send(ctx, p, op, req)
	if err != nil && OutcomeUnknown(err) {
		res = Result{Status: StatusUnknown}
	}
	return res, err
}

func (c *HTTPClient) send(ctx context.Context, p Platform, op string, req Request) (Result, error) {
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
	var tr connTrace
	hr = hr.WithContext(httptrace.WithClientTrace(ctx, tr.hooks()))
	resp, err := c.http.Do(hr)
	if err != nil && tr.notSent() {
		log.Warn("wallet platform not reachable: request not sent", "err", errors.Unwrap(err))
		return Result{}, fmt.Errorf("%w: %s %s: %w", ErrNotSent, p, op, err)
	}
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
		// key. Trusted only as a refusal, and not of a pay or a refund.
		if resp.StatusCode == http.StatusUnauthorized {
			var r Response
			if json.Unmarshal(rb, &r) == nil && r.Code == CodeBadSignature {
				log.Warn("wallet platform refused our signature")
				if op == OpPay || op == OpRefund {
					// Not on the word of an unsigned answer: anyone on
					// the way can write it after passing the request
					// on. The money may have moved: unknown.
					return Result{}, fmt.Errorf("%w: %s %s answered an unsigned bad_signature", ErrBadResponse, p, op)
				}
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

// connTrace follows a request's connection: a request whose transport
// began getting a connection (GetConn) and never got one (GotConn) was
// never written: its dial, DNS lookup, proxy or TLS handshake failed.
// A transport that reports neither (a test double) says nothing, and its
// errors stay unknown outcomes.
type connTrace struct {
	getting, got atomic.Bool
}

func (t *connTrace) hooks() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) { t.getting.Store(true) },
		GotConn: func(httptrace.GotConnInfo) { t.got.Store(true) },
	}
}

// notSent reports whether no byte of the request can have left.
func (t *connTrace) notSent() bool { return t.getting.Load() && !t.got.Load() }
