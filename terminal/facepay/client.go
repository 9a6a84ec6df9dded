package facepay

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"posd/conn/clock"
	"posd/terminal/linksig"
)

// HTTPOpts configures an HTTPClient.
type HTTPOpts struct {
	// BaseURL is the platform, e.g. http://127.0.0.1:8586.
	BaseURL string
	// TerminalID identifies the terminal (1-32 letters and digits); it
	// is in every request and in the sealed crop's associated data.
	TerminalID string
	// Key is the terminal's HMAC-SHA256 key of the link (at least 16
	// bytes): it signs every request and checks every answer
	// (terminal/linksig). Provisioned like the wallet link's key.
	Key []byte
	// HTTP is the HTTP client (its Timeout bounds a request; nil: a
	// client with a 15 s timeout). The caller's context bounds it too.
	// Redirects are never followed, whatever its CheckRedirect.
	HTTP   *http.Client
	Clock  clock.Clock  // the requests' timestamps; nil: clock.Real
	Logger *slog.Logger // nil: discard
}

const defaultHTTPTimeout = 15 * time.Second

// HTTPClient is the Client of the HTTP+JSON protocol. It is safe for
// concurrent use.
type HTTPClient struct {
	base string
	tid  string
	key  []byte
	http *http.Client
	clk  clock.Clock
	log  *slog.Logger
}

var _ Client = (*HTTPClient)(nil)

// NewHTTP checks o and returns a client.
func NewHTTP(o HTTPOpts) (*HTTPClient, error) {
	if !strings.HasPrefix(o.BaseURL, "http://") && !strings.HasPrefix(o.BaseURL, "https://") {
		return nil, fmt.Errorf("%w: base URL must be http or https", ErrInvalidRequest)
	}
	if !ValidID(o.TerminalID) {
		return nil, fmt.Errorf("%w: terminal id must be 1 to 32 letters and digits", ErrInvalidRequest)
	}
	if len(o.Key) < linksig.MinKeyLen {
		return nil, fmt.Errorf("%w: signing key shorter than %d bytes", ErrInvalidRequest, linksig.MinKeyLen)
	}
	c := &HTTPClient{base: strings.TrimRight(o.BaseURL, "/"), tid: o.TerminalID, key: bytes.Clone(o.Key),
		clk: clock.Or(o.Clock), log: o.Logger}
	// A copy of the caller's client that never follows a redirect: the
	// request (the sealed crop, the PIN block, their signature) goes to
	// the platform's URL only, and a 3xx, unsigned, is no answer.
	hc := http.Client{Timeout: defaultHTTPTimeout}
	if o.HTTP != nil {
		hc = *o.HTTP
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.http = &hc
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// TerminalID returns the terminal id the client sends (and the crop's
// associated data must name).
func (c *HTTPClient) TerminalID() string { return c.tid }

// Identify implements Client.
func (c *HTTPClient) Identify(ctx context.Context, r IdentifyRequest) (Candidate, error) {
	if err := r.Validate(); err != nil {
		return Candidate{}, err
	}
	body := IdentifyBody{TerminalID: c.tid, OrderID: r.OrderID, Amount: r.Amount, Currency: r.Currency,
		Sealed: r.Sealed, Liveness: r.Liveness, Challenge: r.Challenge, ConsentAt: r.ConsentAt.UTC()}
	log := c.log.With("op", "identify", "order", r.OrderID)
	status, rb, err := c.post(ctx, PathIdentify, body, log)
	if err != nil {
		return Candidate{}, err
	}
	cand, err := DecodeIdentify(r.OrderID, status, rb)
	if err != nil {
		log.Info("face-pay identify not done", "err", err)
		return Candidate{}, err
	}
	log.Info("face-pay candidate", "candidate", cand)
	return cand, nil
}

// Confirm implements Client.
func (c *HTTPClient) Confirm(ctx context.Context, r ConfirmRequest) (Result, error) {
	if err := r.Validate(); err != nil {
		return Result{}, err
	}
	body := ConfirmBody{TerminalID: c.tid, Session: r.Session, OrderID: r.OrderID, Amount: r.Amount, Currency: r.Currency,
		PINBlock: strings.ToUpper(hex.EncodeToString(r.PINBlock)), KSN: strings.ToUpper(hex.EncodeToString(r.KSN))}
	log := c.log.With("op", "confirm", "order", r.OrderID, "session", r.Session)
	status, rb, err := c.post(ctx, PathConfirm, body, log)
	if err != nil {
		return Result{}, err
	}
	res, err := DecodeConfirm(r.OrderID, r.Amount, r.Currency, status, rb)
	if errors.Is(err, ErrAmountMismatch) {
		log.Error("face-pay platform states another amount than the order's: not approved, the order must be reversed", "err", err)
		return res, err
	}
	if err != nil {
		log.Info("face-pay confirm not approved", "status", res.Status, "tries_left", res.TriesLeft, "err", err)
		return res, err
	}
	log.Info("face-pay approved", "platform_txn", res.PlatformTxnID)
	return res, nil
}

// Cancel implements Client.
func (c *HTTPClient) Cancel(ctx context.Context, session string) error {
	if !ValidSession(session) {
		return fmt.Errorf("%w: session must be 1 to 64 letters and digits", ErrInvalidRequest)
	}
	log := c.log.With("op", "cancel", "session", session)
	status, rb, err := c.post(ctx, PathCancel, CancelBody{TerminalID: c.tid, Session: session}, log)
	if err != nil {
		return err
	}
	if err := DecodeCancel(session, status, rb); err != nil {
		log.Info("face-pay cancel not done", "err", err)
		return err
	}
	log.Info("face-pay session cancelled")
	return nil
}

// Reverse implements Client.
func (c *HTTPClient) Reverse(ctx context.Context, orderID string) (Result, error) {
	if !ValidID(orderID) {
		return Result{}, fmt.Errorf("%w: order id must be 1 to 32 letters and digits", ErrInvalidRequest)
	}
	log := c.log.With("op", "reverse", "order", orderID)
	status, rb, err := c.post(ctx, PathReverse, ReverseBody{TerminalID: c.tid, OrderID: orderID}, log)
	if err != nil {
		return Result{}, err
	}
	res, err := DecodeReverse(orderID, status, rb)
	if errors.Is(err, ErrReverseExpired) {
		log.Error("face-pay order can no longer be reversed: it may have been paid; settle it with the platform by hand", "err", err)
		return Result{}, err
	}
	if err != nil {
		log.Info("face-pay reverse not done", "err", err)
		return Result{}, err
	}
	log.Info("face-pay order reversed", "status", res.Status, "amount", res.Amount, "currency", res.Currency)
	return res, nil
}

// post sends body as JSON to path, signed, and returns the answer's
// HTTP status and body (at most MaxResponseBody+1 bytes, so an oversized
// one is refused by the decoder) once its signature verifies
// (VerifyAnswer).
func (c *HTTPClient) post(ctx context.Context, path string, body any, log *slog.Logger) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %s", ErrInvalidRequest, path)
	}
	defer clear(b)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %s request", ErrInvalidRequest, path)
	}
	hr.Header.Set("Content-Type", "application/json")
	sig := SigHeaders.SignHTTP(hr, c.key, path, c.tid, c.clk.Now(), b)
	resp, err := c.http.Do(hr)
	if err != nil {
		// The *url.Error names the URL only; never the body.
		log.Warn("face-pay platform unreachable", "err", errors.Unwrap(err))
		return 0, nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, path, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody+1))
	if err != nil {
		log.Warn("face-pay answer cut short", "err", err)
		return 0, nil, fmt.Errorf("%w: %s answer: %w", ErrUnavailable, path, err)
	}
	if err := VerifyAnswer(c.key, path, sig, resp.StatusCode, resp.Header.Get(HeaderSignature), rb); err != nil {
		if errors.Is(err, ErrRejected) {
			log.Warn("face-pay platform refused our signature")
		} else {
			log.Warn("face-pay answer signature does not verify: not trusted", "http_status", resp.StatusCode)
		}
		return 0, nil, err
	}
	return resp.StatusCode, rb, nil
}
