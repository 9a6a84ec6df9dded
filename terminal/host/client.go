package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/moov-io/iso8583"

	"posd/conn/clock"
	"posd/terminal/host/link"
	"posd/terminal/wiresec"
)

// Opts configures a Client.
type Opts struct {
	// Addr is the acquirer's host:port.
	Addr string
	// Dialect names the dialect spoken (see LookupDialect); "" is
	// DefaultDialect.
	Dialect string
	// TPDU is the 5-byte TPDU sent before every message (0x60, destination,
	// source); nil means the dialect's default (none for ascii87).
	TPDU []byte
	// ConnectTimeout bounds a TCP connect.
	ConnectTimeout time.Duration
	// ResponseTimeout bounds the wait for a response once a request was
	// handed to the connection.
	ResponseTimeout time.Duration
	// TerminalID (DE41, up to 8 characters) and MerchantID (DE42, up to 15)
	// are right-padded with spaces.
	TerminalID, MerchantID string
	// Logger receives link events; nil discards them.
	Logger *slog.Logger
	// Clock gives the time of requests that carry none and times the
	// link's waits; nil is the wall clock.
	Clock clock.Clock
}

// DefaultOpts are the defaults New starts from for unset fields.
var DefaultOpts = Opts{
	Addr:            "127.0.0.1:8583",
	Dialect:         DefaultDialect,
	ConnectTimeout:  5 * time.Second,
	ResponseTimeout: 30 * time.Second,
	TerminalID:      "00000001",
	MerchantID:      "000000000000001",
}

// Client is the acquirer link of one terminal: the messages of its dialect
// over a link.Link. Its methods are safe for concurrent use, but requests
// take turns on the link.
type Client struct {
	d     *Dialect
	link  *link.Link
	log   *slog.Logger
	clock clock.Clock
	tid   string
	mid   string

	hintMu     sync.Mutex
	onHint     func()
	onHostTime func(time.Time)

	stateMu sync.Mutex
	state   LinkState
}

// LinkState is what the exchanges with the host have shown so far: when
// an answer last came back and passed its checks, and when, why and how
// many times in a row exchanges failed since. The field engineer reads
// it in posctl status before any host test.
type LinkState struct {
	LastAnswer time.Time `json:"last_answer,omitzero"`
	// LastFailure and Failure are the last failed exchange's time and
	// class ("unreachable", "no response", "bad MAC", "bad response",
	// "closed", "other"); Failures counts them since the last answer.
	LastFailure time.Time `json:"last_failure,omitzero"`
	Failure     string    `json:"failure,omitempty"`
	Failures    int       `json:"failures_in_a_row"`
}

// LinkState reports the link as the last exchanges left it.
func (c *Client) LinkState() LinkState {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return c.state
}

// record notes an exchange's outcome in the link state.
func (c *Client) record(err error) {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	now := c.clock.Now()
	if err == nil {
		c.state.LastAnswer, c.state.Failures = now, 0
		return
	}
	class := "other"
	switch {
	case errors.Is(err, ErrUnreachable):
		class = "unreachable"
	case errors.Is(err, ErrNoResponse):
		class = "no response"
	case errors.Is(err, ErrBadMAC):
		class = "bad MAC"
	case errors.Is(err, ErrBadResponse):
		class = "bad response"
	case errors.Is(err, ErrClosed):
		class = "closed"
	}
	c.state.LastFailure, c.state.Failure = now, class
	c.state.Failures++
}

// OnHint sets fn to be called whenever an answer from the host (of any
// kind, checked like every answer: MAC first where there is one) says an
// update waits (Result.UpdateWaiting); nil stops the calls. fn runs on
// the requester's goroutine before the request returns: it must not
// block (send on a buffered channel without waiting, say). The client
// knows nothing of updates: what a hint leads to is the caller's.
func (c *Client) OnHint(fn func()) {
	c.hintMu.Lock()
	c.onHint = fn
	c.hintMu.Unlock()
}

// OnHostTime sets fn to be called with the acquirer's time whenever an
// answer that passed its checks carries one (see hosttime.go); nil stops
// the calls. fn runs on the requester's goroutine and must not block.
func (c *Client) OnHostTime(fn func(time.Time)) {
	c.hintMu.Lock()
	c.onHostTime = fn
	c.hintMu.Unlock()
}

// Addr is the acquirer's address the next connection goes to.
func (c *Client) Addr() string { return c.link.Addr() }

// SetAddr makes the next connection go to addr (host:port): an exchange
// under way finishes on the connection it started on, and the next one
// dials addr (the connection to the old address is closed then, between
// two exchanges).
func (c *Client) SetAddr(addr string) error {
	if err := c.link.SetAddr(addr); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	return nil
}

// Result is what the acquirer answered to a purchase (of any kind), a
// reversal, an advice, a follow-up, a settlement or a batch upload.
type Result struct {
	ResponseCode string // DE39
	AuthCode     string // DE38, empty when absent
	RRN          string // DE37, empty when absent
	// Balance is the available balance of a balance inquiry's answer
	// (DE54), in minor units of BalanceCurrency, when HasBalance.
	Balance         int64
	BalanceCurrency string
	HasBalance      bool
	// ICC is DE55 of the answer to a purchase as received (MAC verified,
	// well formed); nil when absent. Issuer is what it says for the card.
	ICC    []byte
	Issuer IssuerData
	// UpdateWaiting: the answer said an update waits at the terminal
	// management system (DE62 notice DF01; see notice.go).
	UpdateWaiting bool
}

// Approved reports whether the response code is "00".
func (r Result) Approved() bool { return r.ResponseCode == "00" }

// ARC is the authorisation response code for the card (tag 8A of the
// second GENERATE AC): DE39 as its two ASCII characters, in both dialects
// ("00" is 30 30).
func (r Result) ARC() []byte { return []byte(r.ResponseCode) }

// Purchase is a card-present financial request: a sale (0200), or with
// Kind set a refund, a pre-authorization or a balance inquiry (see
// kinds.go for how each dialect sends them).
type Purchase struct {
	// Kind is KindPurchase (also when empty), KindRefund, KindPreauth or
	// KindBalance.
	Kind Kind
	// Orig names the sale a refund gives money back for, when the
	// cashier knows it (optional; zero for the other kinds).
	Orig      Original
	STAN      uint32
	Amount    int64  // minor units
	Currency  string // ISO 4217 numeric, e.g. "156"
	EntryMode string // DE22, 3 digits; empty sends "000"
	Track2    []byte // clear track 2 as ASCII, "PAN=YYMM..." ('D' separator and start sentinel ';' accepted; for EMV tag 57 send its hex digits); encrypted before it is sent, at most 40 bytes
	// PINBlock is the encrypted PIN block (DE52) of an online PIN, made
	// by the same wiresec.Session as the request (EncryptPIN: format 0
	// under TDES, format 4 under AES, under the PIN key of the session's
	// KSN); optional.
	PINBlock []byte
	// ICC is DE55, BER-TLV: the data of the card's ARQC (see ParseICC);
	// optional. It must not hold clear card data (ClearCardTags): a chip
	// card's track 2 equivalent data (tag 57) goes in Track2.
	ICC []byte
	// Batch is the batch number (cup: DE60.2); 0 until batches are kept.
	Batch uint32
	Time  time.Time
}

// Reversal reverses an earlier purchase, refund, pre-authorization,
// completion or void (0400; OrigKind says which: ascii87 sends the
// original's DE3, DE25 and MTI in DE90, cup its DE3, DE25 and 60.1; a
// balance inquiry and an advice are not reversed). A void's codes depend
// on what it voided (VoidedKind), and so do those of its reversal. The caller allocates STAN
// once per reversal, keeps it, and sends every attempt with the same STAN
// and Repeat set from the second attempt on; each dialect decides what a
// repeat looks like (see ASCII87 and CUP).
type Reversal struct {
	// STAN is the reversal's own STAN (ascii87 DE11). The cup dialect
	// resends the original's STAN (OrigSTAN) instead.
	STAN uint32
	// OrigKind is the kind of the original: KindPurchase (also when
	// empty), KindRefund, KindPreauth, KindCompletion or KindVoid.
	OrigKind Kind
	// VoidedKind is, when OrigKind is KindVoid, what that void voided:
	// KindPurchase (also when empty), KindRefund, KindCompletion or
	// KindPreauth (its cancellation). The reversal carries the void's
	// codes, which depend on it, so the host finds the void it reverses.
	// Empty for any other OrigKind.
	VoidedKind Kind
	// OrigSTAN, OrigTime (Purchase.Time of the original), OrigEntryMode
	// (its DE22) and Amount/Currency (its DE4/DE49) name the original.
	OrigSTAN      uint32
	OrigTime      time.Time
	OrigEntryMode string
	Amount        int64
	Currency      string
	// OrigKSN is the KSN the original was sent under: the reference to the
	// card data the host received (cup DE62). Optional.
	OrigKSN []byte
	// Batch is the original's batch number (cup DE60.2).
	Batch uint32
	// Reason says why; see ReversalReason.
	Reason ReversalReason
	// Repeat is false for the first attempt and true for every later one.
	Repeat bool
}

// New checks opts and returns a client. It does not connect yet.
func New(opts *Opts) (*Client, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
		if o.Addr == "" {
			o.Addr = DefaultOpts.Addr
		}
		if o.ConnectTimeout <= 0 {
			o.ConnectTimeout = DefaultOpts.ConnectTimeout
		}
		if o.ResponseTimeout <= 0 {
			o.ResponseTimeout = DefaultOpts.ResponseTimeout
		}
		if o.TerminalID == "" {
			o.TerminalID = DefaultOpts.TerminalID
		}
		if o.MerchantID == "" {
			o.MerchantID = DefaultOpts.MerchantID
		}
	}
	d, err := LookupDialect(o.Dialect)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	tid, err := padText(o.TerminalID, 8)
	if err != nil {
		return nil, fmt.Errorf("%w: terminal id: %w", ErrInvalidRequest, err)
	}
	mid, err := padText(o.MerchantID, 15)
	if err != nil {
		return nil, fmt.Errorf("%w: merchant id: %w", ErrInvalidRequest, err)
	}
	fr, err := d.NewFramer(o.TPDU)
	if err != nil {
		return nil, err
	}
	c := &Client{d: d, tid: tid, mid: mid, log: o.Logger, clock: clock.Or(o.Clock)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.link, err = link.New(link.Opts{
		Addr: o.Addr, Spec: d.Spec, Framer: fr, MatchKey: d.MatchKey, Describe: d.describe, Answer: c.answer,
		ConnectTimeout: o.ConnectTimeout, ResponseTimeout: o.ResponseTimeout,
		Logger: c.log, Clock: o.Clock,
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// TerminalID returns DE41 as sent.
func (c *Client) TerminalID() string { return c.tid }

// Dialect returns the dialect the client speaks.
func (c *Client) Dialect() *Dialect { return c.d }

// Close closes the connection, waiting for requests in flight (at most
// ResponseTimeout), and the client's goroutines. Later calls fail with
// ErrClosed.
func (c *Client) Close() error { return c.link.Close() }

// SignOn sends a sign-on (ascii87: 0800 DE70 001; cup: 0800 60.3 003) and
// expects "00".
func (c *Client) SignOn(ctx context.Context, stan uint32) error {
	return c.network(ctx, stan, KindSignOn)
}

// Echo sends an echo test (ascii87: 0800 DE70 301; cup: 0820 60.3 301) and
// expects "00".
func (c *Client) Echo(ctx context.Context, stan uint32) error {
	return c.network(ctx, stan, KindEcho)
}

func (c *Client) network(ctx context.Context, stan uint32, kind Kind) error {
	req := Request{Kind: kind, STAN: stan, Time: c.clock.Now(), TerminalID: c.tid, MerchantID: c.mid}
	m, err := c.d.EncodeRequest(req)
	if err != nil {
		return err
	}
	res, mti, err := c.exchange(ctx, m, &req, nil)
	if err != nil {
		return err
	}
	if res.ResponseCode != "00" {
		return &RejectedError{MTI: mti, ResponseCode: res.ResponseCode}
	}
	return nil
}

// RCHostRequestRefused is the response code of the terminal's answer to a
// request the host sends it that is not an echo test of this terminal:
// "12", invalid transaction.
const RCHostRequestRefused = "12"

// answer is the terminal's answer to a request the host sends on the link
// (link.Opts.Answer). The host's echo test (ascii87 0800 DE70 301, cup
// 0820 60.3 301; Dialect.DecodeRequest says KindEcho) for this terminal
// id (or none) is answered as the dialect answers an echo: its response
// MTI (0810, 0830), the same STAN, the terminal id, DE39 "00" (cup: the
// merchant id and DE60 echoed, the local time). The host uses it to tell
// the terminal is alive, so it is answered whatever the terminal is
// doing, also while a request of its own waits for its reply. Any other
// request (another network management code, a sign-on, a financial
// request, an echo for another terminal id, one that does not decode) is
// refused: the dialect's reject (Dialect.EncodeReject: response MTI,
// STAN and terminal id echoed) with RCHostRequestRefused. A request that
// cannot even be refused (no STAN) is dropped. Each is logged with its
// MTI and STAN, never more of it.
func (c *Client) answer(m *iso8583.Message) *iso8583.Message {
	mti, _ := m.GetMTI()
	stan, _ := m.GetString(DESTAN)
	req, err := c.d.DecodeRequest(m)
	if err == nil && req.Kind == KindEcho && (req.TerminalID == "" || req.TerminalID == c.tid) {
		req.TerminalID = c.tid
		if req.MerchantID == "" {
			req.MerchantID = c.mid
		}
		a, err := c.d.EncodeResponse(req, Response{ResponseCode: "00", Time: c.clock.Now()})
		if err == nil {
			c.log.Debug("answered the acquirer's echo test", "mti", mti, "stan", stan)
			return a
		}
		c.log.Warn("cannot answer the acquirer's echo test", "mti", mti, "stan", stan, "err", err)
	}
	if stan == "" {
		c.log.Warn("request from the acquirer without a STAN dropped", "mti", mti)
		return nil
	}
	a, err := c.d.EncodeReject(m, RCHostRequestRefused)
	if err != nil {
		c.log.Warn("request from the acquirer dropped: no refusal encodes", "mti", mti, "stan", stan, "err", err)
		return nil
	}
	c.log.Warn("request from the acquirer refused", "mti", mti, "stan", stan, "kind", string(req.Kind), "response_code", RCHostRequestRefused)
	return a
}

// Purchase sends a purchase and returns the acquirer's answer. A decline is
// a Result with its response code and a nil error. Errors: ErrInvalidRequest
// and ErrUnreachable (nothing sent); ErrNoResponse, ErrBadMAC and
// ErrBadResponse (the caller must reverse).
//
// With p.Kind set it sends a refund (KindRefund; p.Orig, when not zero,
// names the sale or completion refunded), a pre-authorization
// (KindPreauth) or a balance inquiry (KindBalance: Amount must be 0; the
// answer's available balance is in Result.Balance, BalanceCurrency and
// HasBalance). Each is card present like a sale: the same card fields, a
// MAC, and an answer that must echo the STAN, the terminal id and (but
// for a balance inquiry) the amount. Any other kind, or an Orig on
// anything but a refund, is ErrInvalidRequest.
func (c *Client) Purchase(ctx context.Context, p Purchase, s *wiresec.Session) (Result, error) {
	if s == nil {
		return Result{}, fmt.Errorf("%w: no wire security session", ErrInvalidRequest)
	}
	kind := orKind(p.Kind)
	if !cardPresent(kind) {
		return Result{}, fmt.Errorf("%w: %q is not a card-present request", ErrInvalidRequest, p.Kind)
	}
	var origKind Kind
	if !p.Orig.IsZero() {
		if kind != KindRefund {
			return Result{}, fmt.Errorf("%w: only a refund names an original", ErrInvalidRequest)
		}
		var err error
		if origKind, err = refundOrig(p.Orig.Kind); err != nil {
			return Result{}, err
		}
	}
	if len(p.PINBlock) != 0 && len(p.PINBlock) != s.Mode().PINBlockLen() {
		return Result{}, fmt.Errorf("%w: PIN block of %d bytes", ErrInvalidRequest, len(p.PINBlock))
	}
	t := p.Time
	if t.IsZero() {
		t = c.clock.Now()
	}
	return c.sendWithTrack(ctx, Request{
		Kind: kind, STAN: p.STAN, Time: t, TerminalID: c.tid, MerchantID: c.mid,
		Amount: p.Amount, Currency: p.Currency, EntryMode: p.EntryMode, Batch: p.Batch,
		Mode: s.Mode(), KSN: s.KSN(), PINBlock: p.PINBlock, ICC: p.ICC,
		OrigKind: origKind, OrigSTAN: p.Orig.STAN, OrigTime: p.Orig.Time, OrigRRN: p.Orig.RRN,
		OrigAuthCode: p.Orig.AuthCode, OrigBatch: p.Orig.Batch,
	}, p.Track2, s)
}

// sendWithTrack checks the card data of a financial request (a purchase or
// an advice), encrypts track2 into it under the session's data key, and
// exchanges it.
func (c *Client) sendWithTrack(ctx context.Context, req Request, track2 []byte, s *wiresec.Session) (Result, error) {
	if len(track2) == 0 || len(track2) > 40 {
		return Result{}, fmt.Errorf("%w: track 2 of %d bytes", ErrInvalidRequest, len(track2))
	}
	if len(req.ICC) > MaxICC {
		return Result{}, fmt.Errorf("%w: ICC data of %d bytes", ErrInvalidRequest, len(req.ICC))
	}
	// Check the request encodes before the track is encrypted into it.
	if _, err := c.d.EncodeRequest(req); err != nil {
		return Result{}, err
	}
	enc, err := s.EncryptRequestData(track2)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrInvalidRequest, safe(err, "encrypting track"))
	}
	req.Track2Enc = enc
	m, err := c.d.EncodeRequest(req)
	if err != nil {
		return Result{}, err
	}
	res, _, err := c.exchange(ctx, m, &req, s)
	return res, err
}

// Reverse sends a reversal of an earlier purchase and returns the answer. A
// nil error means the acquirer answered with a MAC-verified 0410; response
// code "00" (or "25", original not found) acknowledges the reversal. Errors
// are those of Purchase; after any of them the reversal must be sent again
// later (same STAN, Repeat set).
func (c *Client) Reverse(ctx context.Context, r Reversal, s *wiresec.Session) (Result, error) {
	if s == nil {
		return Result{}, fmt.Errorf("%w: no wire security session", ErrInvalidRequest)
	}
	if len(r.OrigKSN) > MaxTrack2Enc {
		return Result{}, fmt.Errorf("%w: original KSN of %d bytes", ErrInvalidRequest, len(r.OrigKSN))
	}
	orig, err := reversalOrig(r.OrigKind)
	if err != nil {
		return Result{}, err
	}
	voided, err := reversalVoided(orig, r.VoidedKind)
	if err != nil {
		return Result{}, err
	}
	req := Request{
		Kind: KindReversal, Repeat: r.Repeat, STAN: r.STAN, Time: c.clock.Now(), OrigKind: orig, VoidedKind: voided,
		TerminalID: c.tid, MerchantID: c.mid, Amount: r.Amount, Currency: r.Currency,
		EntryMode: r.OrigEntryMode, Batch: r.Batch, Mode: s.Mode(), KSN: s.KSN(),
		OrigSTAN: r.OrigSTAN, OrigTime: r.OrigTime, OrigKSN: r.OrigKSN, Reason: r.Reason,
	}
	m, err := c.d.EncodeRequest(req)
	if err != nil {
		return Result{}, err
	}
	res, _, err := c.exchange(ctx, m, &req, s)
	return res, err
}

// exchange seals m (when s is given), sends it and checks the response
// against the request. It returns the result and the request's MTI.
func (c *Client) exchange(ctx context.Context, m *iso8583.Message, req *Request, s *wiresec.Session) (Result, string, error) {
	mti, _ := m.GetMTI()
	stan, _ := m.GetString(DESTAN)
	if s != nil {
		if _, err := c.d.Seal(m, s.MACRequest); err != nil {
			return Result{}, mti, err
		}
	}
	want := expect{mti: ResponseMTI(mti), stan: stan, tid: c.tid, kind: req.Kind}
	if hasAmount(req.Kind) {
		want.amount, want.hasAmount = req.Amount, true
	}
	if req.Kind == KindAdvice || req.Kind == KindBatchUpload {
		want.ref = req.Ref
	}
	resp, err := c.link.RoundTrip(ctx, m)
	if err != nil {
		c.log.Warn("acquirer exchange failed", "mti", mti, "stan", stan, "err", err)
		if !errors.Is(ctx.Err(), context.Canceled) { // the caller gave up: says nothing of the link
			c.record(err)
		}
		return Result{}, mti, err
	}
	res, err := c.d.checkResponse(resp, want, s)
	c.record(err)
	if err != nil {
		c.log.Warn("acquirer response rejected", "mti", mti, "stan", stan, "err", err)
		return Result{}, mti, err
	}
	c.log.Info("acquirer response", "mti", want.mti, "stan", stan, "response_code", res.ResponseCode)
	c.hintMu.Lock()
	onTime := c.onHostTime
	c.hintMu.Unlock()
	if onTime != nil {
		if t := c.d.answerTime(resp, c.clock.Now()); !t.IsZero() {
			onTime(t)
		}
	}
	if res.UpdateWaiting {
		c.hintMu.Lock()
		fn := c.onHint
		c.hintMu.Unlock()
		c.log.Debug("the acquirer says an update waits", "mti", want.mti, "stan", stan)
		if fn != nil {
			fn()
		}
	}
	return res, mti, nil
}

// expect is what a response must echo.
type expect struct {
	mti, stan, tid string
	amount         int64
	hasAmount      bool // amount is checked when the response carries one
	// ref is the Ref of an advice (or upload), checked when the answer
	// carries it.
	ref string
	// kind is the request's kind, checked when the answer tells its own
	// (empty: not checked).
	kind Kind
}

// checkResponse verifies the MAC of a response (when s is given) before it
// reads anything else, then checks it echoes the request and extracts the
// result. m packs back to the bytes received (Decode accepts only
// canonical encodings).
func (d *Dialect) checkResponse(m *iso8583.Message, want expect, s *wiresec.Session) (Result, error) {
	if s != nil {
		raw, err := m.Pack()
		if err != nil {
			return Result{}, fmt.Errorf("%w: %w", ErrBadResponse, safe(err, "cannot re-encode response"))
		}
		input, mac, err := d.SplitMAC(m, raw)
		if err != nil {
			return Result{}, fmt.Errorf("%w: %w", ErrBadMAC, err)
		}
		if err := s.VerifyResponseMAC(input, mac); err != nil {
			return Result{}, fmt.Errorf("%w: %w", ErrBadMAC, err)
		}
	}
	if mti, _ := m.GetMTI(); mti != want.mti {
		return Result{}, fmt.Errorf("%w: MTI %q, want %s", ErrBadResponse, mti, want.mti)
	}
	resp, err := d.DecodeResponse(m)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	if fmtSTAN(resp.STAN) != want.stan {
		return Result{}, fmt.Errorf("%w: STAN does not match", ErrBadResponse)
	}
	if resp.TerminalID != want.tid {
		return Result{}, fmt.Errorf("%w: terminal id does not match", ErrBadResponse)
	}
	if want.hasAmount && resp.HasAmount && resp.Amount != want.amount {
		return Result{}, fmt.Errorf("%w: amount does not match", ErrBadResponse)
	}
	if want.ref != "" && resp.Ref != "" && resp.Ref != want.ref {
		return Result{}, fmt.Errorf("%w: ref does not match", ErrBadResponse)
	}
	if want.kind != "" && resp.Kind != "" && resp.Kind != want.kind {
		return Result{}, fmt.Errorf("%w: a %s answered with a %s", ErrBadResponse, want.kind, resp.Kind)
	}
	res := Result{
		ResponseCode: resp.ResponseCode, AuthCode: resp.AuthCode, RRN: resp.RRN,
		Balance: resp.Balance, BalanceCurrency: resp.BalanceCurrency, HasBalance: resp.HasBalance,
		UpdateWaiting: resp.UpdateWaiting,
	}
	if len(resp.ICC) > 0 {
		if res.Issuer, err = ParseIssuerData(resp.ICC); err != nil {
			return Result{}, fmt.Errorf("%w: %w", ErrBadResponse, err)
		}
		res.ICC = resp.ICC
	}
	return res, nil
}

// parseResponse runs raw bytes of a response through the whole receive
// path: decode with the dialect's spec, MAC check, result extraction.
func (d *Dialect) parseResponse(raw []byte, want expect, s *wiresec.Session) (Result, error) {
	m, err := d.Decode(raw)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return d.checkResponse(m, want, s)
}

func fmtSTAN(stan uint32) string { return fmt.Sprintf("%06d", stan) }

func padText(s string, n int) (string, error) {
	if len(s) == 0 || len(s) > n || !isPrintable(s) {
		return "", fmt.Errorf("must be 1 to %d printable ASCII characters", n)
	}
	for len(s) < n {
		s += " "
	}
	return s, nil
}
