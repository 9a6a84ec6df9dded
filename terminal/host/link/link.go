// Package link is the terminal's connection to the acquirer: it dials, keeps
// one connection, sends one request at a time, matches the reply and ends
// every call within its timeout. It knows nothing of what the messages say:
// the message spec, the framing and the key responses are matched on come
// from the caller (package host and its dialects).
//
// The connection module is github.com/moov-io/iso8583-connection v0.9.0;
// the comments on roundTrip say which of its behaviours the link works
// around and how.
package link

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/moov-io/iso8583"
	connection "github.com/moov-io/iso8583-connection"
	isoerrors "github.com/moov-io/iso8583/errors"

	"posd/conn/clock"
)

// Framer reads and writes one framed message; host.Framer is one.
type Framer interface {
	ReadMessage(r io.Reader) (*iso8583.Message, error)
	WriteMessage(w io.Writer, m *iso8583.Message) error
}

// Opts configures a Link. Addr, Spec, Framer and MatchKey are required.
type Opts struct {
	// Addr is the acquirer's host:port.
	Addr string
	// Spec is the message spec of the dialect spoken.
	Spec *iso8583.MessageSpec
	// Framer frames messages on the socket.
	Framer Framer
	// MatchKey returns the key that pairs a reply with its request: the
	// same key for a request and its response, different keys for
	// different requests.
	MatchKey func(*iso8583.Message) (string, error)
	// Describe returns log attributes of a message that arrives unasked
	// (MTI and STAN, never card data); nil logs none.
	Describe func(*iso8583.Message) []any
	// ConnectTimeout bounds a TCP connect (default 5s).
	ConnectTimeout time.Duration
	// ResponseTimeout bounds the wait for a reply once the request had its
	// turn on the link (default 30s).
	ResponseTimeout time.Duration
	// Logger receives link events; nil discards them.
	Logger *slog.Logger
	// Clock times the waits; nil is the wall clock.
	Clock clock.Clock
	// Dial opens the TCP connection; nil uses a net.Dialer with
	// ConnectTimeout.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
}

// Link is the acquirer connection of one terminal. Its methods are safe for
// concurrent use; requests take turns.
type Link struct {
	o     Opts
	log   *slog.Logger
	clock clock.Clock

	// turn lets one request at a time onto the link (see RoundTrip).
	turn chan struct{}

	mu   sync.Mutex
	conn *connection.Connection
	addr string // where the next connection goes (SetAddr)
	// connAddr is where conn goes.
	connAddr string
	closed   bool
	wg       sync.WaitGroup
}

// New checks opts and returns a link. It does not connect yet.
func New(o Opts) (*Link, error) {
	if o.Addr == "" || o.Spec == nil || o.Framer == nil || o.MatchKey == nil {
		return nil, fmt.Errorf("%w: link needs an address, a spec, a framer and a match key", ErrInvalidRequest)
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = 30 * time.Second
	}
	l := &Link{o: o, log: o.Logger, clock: clock.Or(o.Clock), turn: make(chan struct{}, 1), addr: o.Addr}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.o.Dial == nil {
		l.o.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: l.o.ConnectTimeout}
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	return l, nil
}

// Close closes the connection, waiting for requests in flight (at most
// ResponseTimeout) and the link's goroutines. Later calls fail with
// ErrClosed.
func (l *Link) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	conn := l.conn
	l.conn = nil
	l.mu.Unlock()
	var err error
	if conn != nil {
		err = conn.Close()
	}
	l.wg.Wait()
	return err
}

// Addr is the address the next connection goes to.
func (l *Link) Addr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addr
}

// SetAddr makes the next connection go to addr. The connection to the old
// address, if any, is closed when the next request has its turn (never
// under a request in flight: requests take turns), and that request
// dials addr.
func (l *Link) SetAddr(addr string) error {
	if addr == "" {
		return fmt.Errorf("%w: no address", ErrInvalidRequest)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if addr != l.addr {
		l.log.Info("acquirer address changed; the next connection goes there", "addr", addr)
		l.addr = addr
	}
	return nil
}

// Connected reports whether the link holds a connection that has not
// failed (tests and diagnostics).
func (l *Link) Connected() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return false
	}
	select {
	case <-l.conn.Done():
		return false
	default:
		return true
	}
}

// acquire returns a live connection, dialing when there is none. On success
// the caller holds one count of l.wg and must call l.wg.Done.
func (l *Link) acquire(ctx context.Context) (*connection.Connection, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if l.conn != nil && l.connAddr != l.addr {
		// The address changed since this connection was made. acquire
		// runs in a request's turn, so nothing else is on it: close it
		// (in the background, counted) and dial the new address.
		old := l.conn
		l.conn = nil
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			_ = old.Close()
		}()
	}
	if l.conn != nil {
		select {
		case <-l.conn.Done():
			l.conn = nil
		default:
			l.wg.Add(1)
			return l.conn, nil
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	addr := l.addr
	nc, err := l.o.Dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	conn, err := connection.NewFrom(nc, l.o.Spec, nil, nil,
		connection.SetMessageReader(l.o.Framer),
		connection.SetMessageWriter(l.o.Framer),
		connection.SetRequestIDGenerator(matcher(l.o.MatchKey)),
		connection.SendTimeout(l.o.ResponseTimeout),
		connection.InboundMessageHandler(l.unmatched),
		connection.ErrorHandler(func(err error) { l.log.Debug("acquirer link error", "err", err) }),
	)
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, connErr(err))
	}
	l.log.Info("connected to acquirer", "addr", addr)
	l.conn, l.connAddr = conn, addr
	l.wg.Add(1)
	return conn, nil
}

// drop forgets conn (if still current) and closes it in the background.
// The caller holds a count of l.wg, so adding one here cannot race Close.
func (l *Link) drop(conn *connection.Connection) {
	l.wg.Add(1)
	l.mu.Lock()
	if l.conn == conn {
		l.conn = nil
	}
	l.mu.Unlock()
	// Close waits for the connection's other requests; do not block the
	// caller on them. Counted so Link.Close waits for it.
	go func() {
		defer l.wg.Done()
		_ = conn.Close()
	}()
}

func (l *Link) unmatched(_ *connection.Connection, m *iso8583.Message) {
	var attrs []any
	if l.o.Describe != nil {
		attrs = l.o.Describe(m)
	}
	l.log.Warn("unmatched message from acquirer", attrs...)
}

// remaining is the part of timeout still left before ctx's deadline.
func (l *Link) remaining(ctx context.Context, timeout time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if left := dl.Sub(l.clock.Now()); left < timeout {
			return left
		}
	}
	return timeout
}

// RoundTrip sends m and waits for its reply. m must pack (callers seal it
// first).
//
// Requests take turns: in iso8583-connection v0.9.0 a Send queued behind a
// write that blocks (peer not reading) has no timer running, and the
// connection's Close waits for it, so neither would ever end. One request
// at a time, and a fresh connection after any request that did not end
// with a reply, means a Send never queues behind another write.
func (l *Link) RoundTrip(ctx context.Context, m *iso8583.Message) (*iso8583.Message, error) {
	timeout := l.remaining(ctx, l.o.ResponseTimeout)
	if timeout <= 0 {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, context.DeadlineExceeded)
	}
	select {
	case l.turn <- struct{}{}:
		defer func() { <-l.turn }()
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: link busy: %w", ErrUnreachable, ctx.Err())
	case <-l.clock.After(timeout):
		return nil, fmt.Errorf("%w: link busy for %v", ErrUnreachable, timeout)
	}
	conn, err := l.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer l.wg.Done()
	if timeout = l.remaining(ctx, timeout); timeout <= 0 {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, context.DeadlineExceeded)
	}
	type reply struct {
		m   *iso8583.Message
		err error
	}
	ch := make(chan reply, 1)
	l.wg.Add(1) // the counter is above zero here (acquire), so Close cannot be past Wait
	go func() {
		defer l.wg.Done()
		r, err := conn.Send(m, connection.SendTimeout(timeout))
		ch <- reply{r, err}
	}()
	// Send's own timer starts only once the request is queued for writing;
	// this one also covers the rare case of a Send that never returns
	// (v0.9.0 can deadlock when a reply or a timeout meets a connection
	// failure).
	var r reply
	select {
	case r = <-ch:
	case <-ctx.Done():
		l.drop(conn)
		return nil, fmt.Errorf("%w: %w", ErrNoResponse, ctx.Err())
	case <-l.clock.After(timeout):
		l.drop(conn)
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
		l.drop(conn)
		return nil, fmt.Errorf("%w: no reply within %v", ErrNoResponse, timeout)
	case errors.As(r.err, &pe):
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, &quiet{msg: "not encodable", cause: r.err})
	default:
		// The connection failed; the request may have gone out.
		l.drop(conn)
		return nil, fmt.Errorf("%w: %w", ErrNoResponse, connErr(r.err))
	}
}

// matcher adapts a match key function to the connection module.
type matcher func(*iso8583.Message) (string, error)

func (f matcher) GenerateRequestID(m *iso8583.Message) (string, error) {
	if m == nil {
		return "", errors.New("no message")
	}
	return f(m)
}
