// Package host is the terminal's ISO 8583 link to the acquirer: the message
// spec shared with the acquirer simulator (spec.go), framing (frame.go) and
// the client posd uses for sign-on, echo, purchase and reversal.
//
// The client connects lazily on the first request, keeps one connection and
// reconnects after the connection fails. Requests are matched to responses on
// MTI (request class), DE11 and DE41 (the connection reads only those three
// to route a reply); the MAC of a 0210/0410 is verified before anything else
// in it is read. Logs carry MTI, STAN and response code only.
package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/moov-io/iso8583"
	connection "github.com/moov-io/iso8583-connection"
	isoerrors "github.com/moov-io/iso8583/errors"

	"posd/terminal/wiresec"
)

// Opts configures a Client.
type Opts struct {
	// Addr is the acquirer's host:port.
	Addr string
	// TPDU is the 5-byte TPDU sent before every message (0x60, destination,
	// source); nil turns it off.
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
	// Now is the clock for DE7/DE12/DE13 when a request carries no time;
	// nil means time.Now.
	Now func() time.Time
}

// DefaultOpts are the defaults New starts from for unset fields.
var DefaultOpts = Opts{
	Addr:            "127.0.0.1:8583",
	ConnectTimeout:  5 * time.Second,
	ResponseTimeout: 30 * time.Second,
	TerminalID:      "00000001",
	MerchantID:      "000000000000001",
}

// Client is the acquirer link of one terminal. Its methods are safe for
// concurrent use, but a terminal normally runs one request at a time.
type Client struct {
	opts   Opts
	framer *Framer
	log    *slog.Logger
	now    func() time.Time
	tid    string
	mid    string

	// dial opens the TCP connection (a net.Dialer with ConnectTimeout;
	// tests replace it).
	dial func(ctx context.Context, addr string) (net.Conn, error)

	// turn lets one request at a time onto the link (see roundTrip).
	turn chan struct{}

	mu     sync.Mutex
	conn   *connection.Connection
	closed bool
	wg     sync.WaitGroup
}

// Result is what the acquirer answered to a purchase or reversal.
type Result struct {
	ResponseCode string // DE39
	AuthCode     string // DE38, empty when absent
	RRN          string // DE37, empty when absent
}

// Approved reports whether the response code is "00".
func (r Result) Approved() bool { return r.ResponseCode == "00" }

// Purchase is a 0200 financial request.
type Purchase struct {
	STAN      uint32
	Amount    int64  // minor units
	Currency  string // ISO 4217 numeric, e.g. "156"
	EntryMode string // DE22, 3 digits; empty sends "000"
	Track2    []byte // clear track 2 as ASCII, "PAN=YYMM..." ('D' separator and start sentinel ';' accepted; for EMV tag 57 send its hex digits); encrypted into DE62, at most 40 bytes
	PINBlock  []byte // encrypted PIN block (wiresec.Session.EncryptPIN), optional
	ICC       []byte // DE55, optional
	Time      time.Time
}

// Reversal is a 0400 reversal of an earlier purchase.
type Reversal struct {
	STAN     uint32    // STAN of the reversal itself
	OrigSTAN uint32    // STAN of the purchase being reversed
	OrigTime time.Time // Purchase.Time of the original (its DE7)
	Amount   int64
	Currency string
	Reason   string // short printable text into DE60, optional
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
	tid, err := padText(o.TerminalID, 8)
	if err != nil {
		return nil, fmt.Errorf("%w: terminal id: %w", ErrInvalidRequest, err)
	}
	mid, err := padText(o.MerchantID, 15)
	if err != nil {
		return nil, fmt.Errorf("%w: merchant id: %w", ErrInvalidRequest, err)
	}
	fr, err := NewFramer(o.TPDU)
	if err != nil {
		return nil, err
	}
	c := &Client{opts: o, framer: fr, tid: tid, mid: mid, log: o.Logger, now: o.Now, turn: make(chan struct{}, 1)}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.dial = func(ctx context.Context, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: c.opts.ConnectTimeout}
		return d.DialContext(ctx, "tcp", addr)
	}
	return c, nil
}

// TerminalID returns DE41 as sent.
func (c *Client) TerminalID() string { return c.tid }

// Close closes the connection, waiting for requests in flight (at most
// ResponseTimeout), and the client's goroutines. Later calls fail with
// ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	conn := c.conn
	c.conn = nil
	c.mu.Unlock()
	var err error
	if conn != nil {
		err = conn.Close()
	}
	c.wg.Wait()
	return err
}

// SignOn sends a 0800 sign-on (DE70 001) and expects a 0810 "00".
func (c *Client) SignOn(ctx context.Context, stan uint32) error {
	return c.network(ctx, stan, NetSignOn)
}

// Echo sends a 0800 echo test (DE70 301) and expects a 0810 "00".
func (c *Client) Echo(ctx context.Context, stan uint32) error {
	return c.network(ctx, stan, NetEcho)
}

func (c *Client) network(ctx context.Context, stan uint32, code string) error {
	now := c.now()
	m, err := c.base(MTINetwork, stan, now)
	if err != nil {
		return err
	}
	if err := setText(m, DENetworkCode, code); err != nil {
		return err
	}
	if _, err := m.Pack(); err != nil {
		return fmt.Errorf("%w: packing: %w", ErrInvalidRequest, safeErr(err))
	}
	res, err := c.exchange(ctx, m, expect{mti: MTINetworkResponse, stan: fmtSTAN(stan), tid: c.tid}, nil)
	if err != nil {
		return err
	}
	if res.ResponseCode != "00" {
		return &RejectedError{MTI: MTINetwork, ResponseCode: res.ResponseCode}
	}
	return nil
}

// Purchase sends a 0200 and returns the acquirer's answer. A decline is a
// Result with its response code and a nil error. Errors: ErrInvalidRequest
// and ErrUnreachable (nothing sent); ErrNoResponse, ErrBadMAC and
// ErrBadResponse (the caller must reverse).
func (c *Client) Purchase(ctx context.Context, p Purchase, s *wiresec.Session) (Result, error) {
	if s == nil {
		return Result{}, fmt.Errorf("%w: no wire security session", ErrInvalidRequest)
	}
	amount, err := fmtAmount(p.Amount)
	if err != nil {
		return Result{}, err
	}
	if !isDigits(p.Currency, 3) {
		return Result{}, fmt.Errorf("%w: currency must be 3 digits", ErrInvalidRequest)
	}
	entry := p.EntryMode
	if entry == "" {
		entry = "000"
	}
	if !isDigits(entry, 3) {
		return Result{}, fmt.Errorf("%w: entry mode must be 3 digits", ErrInvalidRequest)
	}
	if len(p.Track2) == 0 || len(p.Track2) > 40 {
		return Result{}, fmt.Errorf("%w: track 2 of %d bytes", ErrInvalidRequest, len(p.Track2))
	}
	if len(p.PINBlock) != 0 && len(p.PINBlock) != s.Mode().PINBlockLen() {
		return Result{}, fmt.Errorf("%w: PIN block of %d bytes", ErrInvalidRequest, len(p.PINBlock))
	}
	if len(p.ICC) > MaxICC {
		return Result{}, fmt.Errorf("%w: ICC data of %d bytes", ErrInvalidRequest, len(p.ICC))
	}
	t := p.Time
	if t.IsZero() {
		t = c.now()
	}
	m, err := c.base(MTIPurchase, p.STAN, t)
	if err != nil {
		return Result{}, err
	}
	enc, err := s.EncryptRequestData(p.Track2)
	if err != nil {
		return Result{}, fmt.Errorf("%w: encrypting track: %w", ErrInvalidRequest, err)
	}
	for _, f := range []struct {
		id int
		v  string
	}{
		{DEProcessingCode, "000000"}, {DEAmount, amount}, {DEEntryMode, entry},
		{DECondition, "00"}, {DEMerchantID, c.mid}, {DECurrency, p.Currency},
	} {
		if err := setText(m, f.id, f.v); err != nil {
			return Result{}, err
		}
	}
	bins := []struct {
		id int
		v  []byte
	}{{DEKSN, s.KSN()}, {DETrack2Enc, enc}}
	if len(p.PINBlock) > 0 {
		bins = append(bins, struct {
			id int
			v  []byte
		}{DEPINBlock, p.PINBlock})
	}
	if len(p.ICC) > 0 {
		bins = append(bins, struct {
			id int
			v  []byte
		}{DEICC, p.ICC})
	}
	for _, f := range bins {
		if err := m.BinaryField(f.id, f.v); err != nil {
			return Result{}, fmt.Errorf("%w: field %d", ErrInvalidRequest, f.id)
		}
	}
	if _, err := Seal(m, s.MACRequest); err != nil {
		return Result{}, err
	}
	return c.exchange(ctx, m, expect{mti: MTIPurchaseResponse, stan: fmtSTAN(p.STAN), tid: c.tid, amount: amount}, s)
}

// Reverse sends a 0400 for an earlier purchase and returns the 0410's
// result. A nil error means the acquirer answered with a MAC-verified 0410;
// response code "00" (or "25", original not found) acknowledges the
// reversal. Errors are those of Purchase; after any of them the reversal
// must be sent again later.
func (c *Client) Reverse(ctx context.Context, r Reversal, s *wiresec.Session) (Result, error) {
	if s == nil {
		return Result{}, fmt.Errorf("%w: no wire security session", ErrInvalidRequest)
	}
	amount, err := fmtAmount(r.Amount)
	if err != nil {
		return Result{}, err
	}
	if !isDigits(r.Currency, 3) {
		return Result{}, fmt.Errorf("%w: currency must be 3 digits", ErrInvalidRequest)
	}
	if r.OrigSTAN > 999999 {
		return Result{}, fmt.Errorf("%w: original STAN out of range", ErrInvalidRequest)
	}
	if len(r.Reason) > MaxReason || !isPrintable(r.Reason) {
		return Result{}, fmt.Errorf("%w: reason must be printable ASCII up to %d characters", ErrInvalidRequest, MaxReason)
	}
	m, err := c.base(MTIReversal, r.STAN, c.now())
	if err != nil {
		return Result{}, err
	}
	origDE7 := "0000000000"
	if !r.OrigTime.IsZero() {
		origDE7 = r.OrigTime.UTC().Format("0102150405")
	}
	de90 := MTIPurchase + fmtSTAN(r.OrigSTAN) + origDE7 + "00000000000" + "00000000000"
	texts := []struct {
		id int
		v  string
	}{
		{DEProcessingCode, "000000"}, {DEAmount, amount}, {DECondition, "00"},
		{DEMerchantID, c.mid}, {DECurrency, r.Currency}, {DEOriginalData, de90},
	}
	if r.Reason != "" {
		texts = append(texts, struct {
			id int
			v  string
		}{DEReversalReason, r.Reason})
	}
	for _, f := range texts {
		if err := setText(m, f.id, f.v); err != nil {
			return Result{}, err
		}
	}
	if err := m.BinaryField(DEKSN, s.KSN()); err != nil {
		return Result{}, fmt.Errorf("%w: KSN", ErrInvalidRequest)
	}
	if _, err := Seal(m, s.MACRequest); err != nil {
		return Result{}, err
	}
	return c.exchange(ctx, m, expect{mti: MTIReversalResponse, stan: fmtSTAN(r.STAN), tid: c.tid, amount: amount}, s)
}

// base starts a request with MTI, DE7 (t in UTC), DE11, DE12/DE13 (t local)
// and DE41.
func (c *Client) base(mti string, stan uint32, t time.Time) (*iso8583.Message, error) {
	if stan > 999999 {
		return nil, fmt.Errorf("%w: STAN out of range", ErrInvalidRequest)
	}
	m := iso8583.NewMessage(Spec)
	m.MTI(mti)
	for _, f := range []struct {
		id int
		v  string
	}{
		{DETransmission, t.UTC().Format("0102150405")},
		{DESTAN, fmtSTAN(stan)},
		{DELocalTime, t.Format("150405")},
		{DELocalDate, t.Format("0102")},
		{DETerminalID, c.tid},
	} {
		if err := setText(m, f.id, f.v); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// expect is what a response must echo.
type expect struct {
	mti, stan, tid string
	amount         string // "" = not checked
}

// exchange sends m and checks the response.
func (c *Client) exchange(ctx context.Context, m *iso8583.Message, want expect, s *wiresec.Session) (Result, error) {
	mti, _ := m.GetMTI()
	resp, err := c.roundTrip(ctx, m)
	if err != nil {
		c.log.Warn("acquirer exchange failed", "mti", mti, "stan", want.stan, "err", err)
		return Result{}, err
	}
	respRaw, err := resp.Pack()
	if err != nil {
		return Result{}, fmt.Errorf("%w: cannot re-encode response", ErrBadResponse)
	}
	res, err := checkResponse(resp, respRaw, want, s)
	if err != nil {
		c.log.Warn("acquirer response rejected", "mti", mti, "stan", want.stan, "err", err)
		return Result{}, err
	}
	c.log.Info("acquirer response", "mti", want.mti, "stan", want.stan, "response_code", res.ResponseCode)
	return res, nil
}

// acquire returns a live connection, dialing when there is none. On success
// the caller holds one count of c.wg and must call c.wg.Done.
func (c *Client) acquire(ctx context.Context) (*connection.Connection, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.conn != nil {
		select {
		case <-c.conn.Done():
			c.conn = nil
		default:
			c.wg.Add(1)
			return c.conn, nil
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	nc, err := c.dial(ctx, c.opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	conn, err := connection.NewFrom(nc, Spec, nil, nil,
		connection.SetMessageReader(c.framer),
		connection.SetMessageWriter(c.framer),
		connection.SetRequestIDGenerator(matchKey{}),
		connection.SendTimeout(c.opts.ResponseTimeout),
		connection.InboundMessageHandler(c.unmatched),
		connection.ErrorHandler(func(err error) { c.log.Debug("acquirer link error", "err", err) }),
	)
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	c.log.Info("connected to acquirer", "addr", c.opts.Addr)
	c.conn = conn
	c.wg.Add(1)
	return conn, nil
}

// drop forgets conn (if still current) and closes it in the background.
// The caller holds a count of c.wg, so adding one here cannot race Close.
func (c *Client) drop(conn *connection.Connection) {
	c.wg.Add(1)
	c.mu.Lock()
	if c.conn == conn {
		c.conn = nil
	}
	c.mu.Unlock()
	// Close waits for the connection's other requests; do not block the
	// caller on them. Counted so Client.Close waits for it.
	go func() {
		defer c.wg.Done()
		_ = conn.Close()
	}()
}

func (c *Client) unmatched(_ *connection.Connection, m *iso8583.Message) {
	mti, _ := m.GetMTI()
	stan, _ := m.GetString(DESTAN)
	c.log.Warn("unmatched message from acquirer", "mti", mti, "stan", stan)
}

// roundTrip sends m and waits for its reply. Requests take turns: in
// iso8583-connection v0.9.0 a Send queued behind a write that blocks (peer
// not reading) has no timer running, and the connection's Close waits for
// it, so neither would ever end. One request at a time, and a fresh
// connection after any request that did not end with a reply, means a Send
// never queues behind another write.
func (c *Client) roundTrip(ctx context.Context, m *iso8583.Message) (*iso8583.Message, error) {
	timeout := c.opts.ResponseTimeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < timeout {
			timeout = left
		}
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, context.DeadlineExceeded)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case c.turn <- struct{}{}:
		defer func() { <-c.turn }()
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: link busy: %w", ErrUnreachable, ctx.Err())
	case <-timer.C:
		return nil, fmt.Errorf("%w: link busy for %v", ErrUnreachable, timeout)
	}
	conn, err := c.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer c.wg.Done()
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < timeout {
			timeout = left
		}
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, context.DeadlineExceeded)
	}
	type reply struct {
		m   *iso8583.Message
		err error
	}
	ch := make(chan reply, 1)
	c.wg.Add(1) // the counter is above zero here (acquire), so Close cannot be past Wait
	go func() {
		defer c.wg.Done()
		r, err := conn.Send(m, connection.SendTimeout(timeout))
		ch <- reply{r, err}
	}()
	// Send's own timer starts only once the request is queued for writing;
	// this one also covers the rare case of a Send that never returns
	// (v0.9.0 can deadlock when a reply or a timeout meets a connection
	// failure).
	timer.Reset(timeout)
	var r reply
	select {
	case r = <-ch:
	case <-ctx.Done():
		c.drop(conn)
		return nil, fmt.Errorf("%w: %w", ErrNoResponse, ctx.Err())
	case <-timer.C:
		c.drop(conn)
		return nil, fmt.Errorf("%w: no reply within %v", ErrNoResponse, timeout)
	}
	if r.err == nil {
		return r.m, nil
	}
	var pe *isoerrors.PackError
	switch {
	case errors.Is(r.err, connection.ErrSendTimeout):
		// After a timeout the link's state is unknown, and a reply landing
		// just as the request is given up can wedge the connection's read
		// loop (iso8583-connection v0.9.0 hands it to an abandoned channel).
		// Start the next request on a fresh connection.
		c.drop(conn)
		return nil, fmt.Errorf("%w: no reply within %v", ErrNoResponse, timeout)
	case errors.As(r.err, &pe):
		return nil, fmt.Errorf("%w: not encodable", ErrInvalidRequest)
	default:
		// The connection failed; the request may have gone out.
		c.drop(conn)
		return nil, fmt.Errorf("%w: %w", ErrNoResponse, r.err)
	}
}

// checkResponse verifies the MAC of a response (when s is given) before it
// reads anything else, then checks it echoes the request and extracts the
// result. raw is the response exactly as received (m packs back to it).
func checkResponse(m *iso8583.Message, raw []byte, want expect, s *wiresec.Session) (Result, error) {
	if s != nil {
		input, mac, err := SplitMAC(m, raw)
		if err != nil {
			return Result{}, fmt.Errorf("%w: %w", ErrBadMAC, err)
		}
		if err := s.VerifyResponseMAC(input, mac); err != nil {
			return Result{}, fmt.Errorf("%w: %w", ErrBadMAC, err)
		}
	}
	get := func(id int) string {
		v, err := m.GetString(id)
		if err != nil {
			return ""
		}
		return v
	}
	if mti, _ := m.GetMTI(); mti != want.mti {
		return Result{}, fmt.Errorf("%w: MTI %q, want %s", ErrBadResponse, mti, want.mti)
	}
	if get(DESTAN) != want.stan {
		return Result{}, fmt.Errorf("%w: STAN does not match", ErrBadResponse)
	}
	if get(DETerminalID) != want.tid {
		return Result{}, fmt.Errorf("%w: terminal id does not match", ErrBadResponse)
	}
	if want.amount != "" {
		if a := get(DEAmount); a != "" && a != want.amount {
			return Result{}, fmt.Errorf("%w: amount does not match", ErrBadResponse)
		}
	}
	res := Result{ResponseCode: get(DEResponseCode), AuthCode: get(DEAuthCode), RRN: get(DERRN)}
	if len(res.ResponseCode) != 2 || !isAlnum(res.ResponseCode) {
		return Result{}, fmt.Errorf("%w: response code missing or invalid", ErrBadResponse)
	}
	if !isPrintable(res.AuthCode) || !isPrintable(res.RRN) {
		return Result{}, fmt.Errorf("%w: auth code or RRN not printable", ErrBadResponse)
	}
	return res, nil
}

// parseResponse runs raw bytes of a response through the whole receive
// path: decode with Spec, MAC check, result extraction.
func parseResponse(raw []byte, want expect, s *wiresec.Session) (Result, error) {
	m, err := Decode(raw)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return checkResponse(m, raw, want, s)
}

// matchKey matches responses to requests on request-class MTI, DE11, DE41.
type matchKey struct{}

func (matchKey) GenerateRequestID(m *iso8583.Message) (string, error) {
	if m == nil {
		return "", fmt.Errorf("%w: no message", ErrMalformed)
	}
	mti, err := m.GetMTI()
	if err != nil || !isDigits(mti, 4) {
		return "", fmt.Errorf("%w: MTI", ErrMalformed)
	}
	stan, _ := m.GetString(DESTAN)
	if stan == "" {
		return "", fmt.Errorf("%w: no STAN", ErrMalformed)
	}
	tid, _ := m.GetString(DETerminalID)
	b := []byte(mti)
	b[2] &^= 1 // 0210 -> 0200, 0410 -> 0400, 0810 -> 0800
	return string(b) + "/" + stan + "/" + tid, nil
}

// ResponseMTI returns the response MTI of a request MTI (0200 -> 0210), or
// "" when mti is not a 4-digit request MTI.
func ResponseMTI(mti string) string {
	if !isDigits(mti, 4) || (mti[2]-'0')%2 != 0 {
		return ""
	}
	b := []byte(mti)
	b[2]++
	return string(b)
}

func setText(m *iso8583.Message, id int, v string) error {
	if err := m.Field(id, v); err != nil {
		return fmt.Errorf("%w: field %d", ErrInvalidRequest, id)
	}
	return nil
}

func fmtSTAN(stan uint32) string { return fmt.Sprintf("%06d", stan) }

func fmtAmount(a int64) (string, error) {
	if a < 0 || a > 999999999999 {
		return "", fmt.Errorf("%w: amount out of range", ErrInvalidRequest)
	}
	return fmt.Sprintf("%012d", a), nil
}

// ParseAmount reads a DE4 value.
func ParseAmount(s string) (int64, error) {
	if !isDigits(s, 12) {
		return 0, fmt.Errorf("%w: amount", ErrMalformed)
	}
	return strconv.ParseInt(s, 10, 64)
}

func padText(s string, n int) (string, error) {
	if len(s) == 0 || len(s) > n || !isPrintable(s) {
		return "", fmt.Errorf("must be 1 to %d printable ASCII characters", n)
	}
	for len(s) < n {
		s += " "
	}
	return s, nil
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if (ch < '0' || ch > '9') && (ch < 'A' || ch > 'Z') && (ch < 'a' || ch > 'z') {
			return false
		}
	}
	return true
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return false
		}
	}
	return true
}
