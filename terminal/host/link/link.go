// Package link is the terminal's connection to the acquirer: it dials, keeps
// one connection, sends one request at a time, matches the reply and ends
// every call within its timeout, or sooner when the answer arrives garbled
// (ErrUnreadable); a request the host sends on it is answered with what
// the caller's Opts.Answer says. It knows nothing of what the messages say
// beyond whether an MTI is a response: the message spec, the framing and
// the key responses are matched on come from the caller (package host and
// its dialects).
//
// The connection module is github.com/moov-io/iso8583-connection v0.9.0;
// the comments on RoundTrip say which of its behaviours the link works
// around and how.
package link

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
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
	// Answer returns the terminal's answer to a request the host sends
	// on the link (an MTI whose third digit is even: a network
	// management echo, say), or nil to send none (the request is then
	// logged as unmatched and dropped); nil answers nothing. It runs on
	// the connection's reader: it must not block. The answer goes out
	// on the connection the request came on, between the frames of the
	// terminal's own requests, and a request of the terminal's in
	// flight keeps waiting for its reply.
	Answer func(*iso8583.Message) *iso8583.Message
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
	// ConnectTimeout (the name's lookup included) and Go's TCP
	// keep-alive: probes after 15 s idle, every 15 s, the connection
	// ended after 9 unanswered. A host that vanished without a FIN (power
	// cut, a dead line) is so noticed within about 2.5 minutes of an idle
	// link, and the next request dials anew instead of going into the
	// void.
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
	wire *wire    // conn's reader
	pend *pending // the request waiting for its reply
	addr string   // where the next connection goes (SetAddr)
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

// Close closes the connection, waiting for the request in flight (at
// most its ResponseTimeout) and the link's goroutines. Later calls fail
// with ErrClosed.
func (l *Link) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	// The request in flight holds the turn until it ends; the ones
	// waiting for it find the link closed.
	l.turn <- struct{}{}
	defer func() { <-l.turn }()
	l.mu.Lock()
	conn, w := l.conn, l.wire
	l.conn, l.wire = nil, nil
	l.mu.Unlock()
	var err error
	if conn != nil {
		w.leaving.Store(true)
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

// wire is the link's side of one connection: it reads the connection's
// frames and hands the reply the link waits for to it (see route).
type wire struct {
	l *Link
	// leaving is set when the link itself closes the connection: the end
	// of its stream is then no news.
	leaving atomic.Bool
	// partial is set while the reader holds part of a frame: some of its
	// bytes read, not all.
	partial atomic.Bool
	// conn is the connection read, set before ready is closed (the
	// reader may run before NewFrom has returned it).
	conn  *connection.Connection
	ready chan struct{}
}

// ReadMessage reads one message and routes it; the connection module
// only ever sees keep-alives (nil messages) and errors. Routing here, in
// the module's read loop and in the order the bytes came, means a reply
// is handed over before the end of the stream behind it is read, and no
// message is left to the module's own matching (see RoundTrip).
func (w *wire) ReadMessage(r io.Reader) (*iso8583.Message, error) {
	m, err := w.l.o.Framer.ReadMessage(frameReader{r: r, w: w})
	w.partial.Store(false)
	var unpack *isoerrors.UnpackError
	if errors.As(err, &unpack) {
		// A whole frame that does not read as a message: the stream is
		// still in step, the module reads on.
		w.l.unreadable(w, err)
		return nil, err
	}
	if err != nil && !w.leaving.Load() {
		// The host closed the connection, reset it, or it was found dead
		// (TCP keep-alive): the engineer learns it now, not at the next
		// sale.
		if errors.Is(err, io.EOF) {
			w.l.log.Info("the acquirer closed the connection")
		} else {
			w.l.log.Warn("acquirer connection lost", "err", connErr(err))
		}
	}
	if err != nil || m == nil {
		return nil, err
	}
	w.l.route(w, m)
	return nil, nil
}

// frameReader notes on its wire that a frame has begun once any byte of
// it is read.
type frameReader struct {
	r io.Reader
	w *wire
}

func (f frameReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if n > 0 {
		f.w.partial.Store(true)
	}
	return n, err
}

// WriteMessage frames m (the module does not write through it: requests
// go out framed by RoundTrip).
func (w *wire) WriteMessage(wr io.Writer, m *iso8583.Message) error {
	return w.l.o.Framer.WriteMessage(wr, m)
}

// pending is the request waiting for its reply on a wire.
type pending struct {
	wire  *wire
	key   string
	reply chan result // capacity 1; receives at most one result
	// writing is set once the request is handed to the connection: a
	// frame read before cannot be its answer.
	writing atomic.Bool
}

// result is what ends a pending request's wait: its reply, or the error
// of an answer that arrived unreadable.
type result struct {
	m   *iso8583.Message
	err error
}

// route hands m to the request waiting on w when it is its reply: a
// response MTI (third digit odd) with the request's match key, the first
// one only. A request from the host is answered (see answer). A message
// without a usable match key that is not a request (a garbled MTI, no
// STAN) is an unreadable answer (see unreadable). Anything else (a late
// reply, a repeated one) is logged and dropped.
func (l *Link) route(w *wire, m *iso8583.Message) {
	if isRequest(m) {
		l.answer(w, m)
		return
	}
	key, err := l.o.MatchKey(m)
	if err != nil {
		l.unreadable(w, err)
		return
	}
	if err == nil && isResponse(m) {
		l.mu.Lock()
		p := l.pend
		if p != nil && p.wire == w && p.key == key {
			l.pend = nil
			p.reply <- result{m: m}
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
	}
	l.unmatched(m)
}

// answer sends Opts.Answer's answer to the host's request m on w's
// connection. It writes from the connection's reader, so what the host
// sends next is read once the answer is out (or the connection failed):
// the answers go in the order of the requests and a host that floods
// the link is not read faster than it reads.
func (l *Link) answer(w *wire, m *iso8583.Message) {
	var a *iso8583.Message
	if l.o.Answer != nil {
		a = l.o.Answer(m)
	}
	if a == nil {
		l.unmatched(m)
		return
	}
	var framed bytes.Buffer
	if err := l.o.Framer.WriteMessage(&framed, a); err != nil {
		l.log.Warn("answer to the acquirer's request not encodable", "err", &quiet{msg: "not encodable", cause: err})
		return
	}
	<-w.ready
	if w.leaving.Load() {
		return
	}
	if _, err := w.conn.Write(framed.Bytes()); err != nil {
		l.log.Warn("answer to the acquirer's request not sent", "err", connErr(err))
	}
}

// unreadable handles a frame read whole from w that is no usable
// message (cause says why). With a request waiting on w and handed to
// the connection, the frame is taken for its answer, garbled: one request at a time is on the link,
// so an answer can only be its. The request ends at once with
// ErrBadResponse and ErrUnreadable (it may have been taken: the caller
// treats it as an unknown outcome) and its connection is dropped (send).
// Without one, the frame is logged and dropped.
func (l *Link) unreadable(w *wire, cause error) {
	if w.leaving.Load() {
		return
	}
	l.mu.Lock()
	p := l.pend
	if p != nil && p.wire == w && p.writing.Load() {
		l.pend = nil
		p.reply <- result{err: fmt.Errorf("%w: %w: %w", ErrBadResponse, ErrUnreadable, &quiet{msg: "frame does not decode", cause: cause})}
		l.mu.Unlock()
		l.log.Warn("unreadable answer from acquirer: the request in flight fails, the connection is dropped")
		return
	}
	l.mu.Unlock()
	l.log.Warn("unreadable frame from acquirer dropped")
}

// isResponse reports whether m's MTI is a response or an acknowledgement
// (third digit 1, 3, 5 or 7).
func isResponse(m *iso8583.Message) bool {
	mti, err := m.GetMTI()
	return err == nil && isDigits(mti) && (mti[2]-'0')%2 == 1
}

// isRequest reports whether m's MTI is four digits, the third even: a
// request, an advice, a notification or an instruction.
func isRequest(m *iso8583.Message) bool {
	mti, err := m.GetMTI()
	return err == nil && isDigits(mti) && (mti[2]-'0')%2 == 0
}

func isDigits(mti string) bool {
	if len(mti) != 4 {
		return false
	}
	for i := range 4 {
		if mti[i] < '0' || mti[i] > '9' {
			return false
		}
	}
	return true
}

// acquire returns a live connection and its wire, dialing when there is
// none; fresh says it was dialled for this call. On success the caller
// holds one count of l.wg and must call l.wg.Done.
func (l *Link) acquire(ctx context.Context) (conn *connection.Connection, w *wire, fresh bool, err error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, nil, false, ErrClosed
	}
	stale := l.conn != nil && l.connAddr != l.addr
	if l.conn != nil && !stale && l.wire.partial.Load() {
		// The host began a frame on the idle connection and left it
		// half written: an answer to the next request would be read as
		// its rest. Nothing is sent yet: replace the connection. (A
		// request of the host's arriving at this very moment is lost
		// with it; the host asks again.)
		l.log.Warn("the acquirer left a frame half written on the idle connection; it is replaced")
		stale = true
	}
	if stale {
		// The address changed since this connection was made, or its
		// stream is out of step. acquire runs in a request's turn, so
		// nothing else is on it: close it (in the background, counted)
		// and dial anew.
		old := l.conn
		l.wire.leaving.Store(true)
		l.conn, l.wire = nil, nil
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			_ = old.Close()
		}()
	}
	if l.conn != nil {
		select {
		case <-l.conn.Done():
			l.conn, l.wire = nil, nil
		default:
			l.wg.Add(1)
			conn, w = l.conn, l.wire
			l.mu.Unlock()
			return conn, w, false, nil
		}
	}
	addr := l.addr
	l.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, nil, false, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	// Dial without the lock: a connect may take ConnectTimeout, and
	// Addr, Connected and SetAddr (the engineer's status) must not wait
	// for it. Requests take turns, so no other dial runs meanwhile, and
	// Close waits for the turn.
	nc, err := l.o.Dial(ctx, addr)
	if err != nil {
		return nil, nil, false, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	w = &wire{l: l, ready: make(chan struct{})}
	conn, err = connection.NewFrom(nc, l.o.Spec, nil, nil,
		connection.SetMessageReader(w),
		connection.SetMessageWriter(w),
		connection.ErrorHandler(func(err error) { l.log.Debug("acquirer link error", "err", err) }),
	)
	if err != nil {
		_ = nc.Close()
		return nil, nil, false, fmt.Errorf("%w: %w", ErrUnreachable, connErr(err))
	}
	w.conn = conn
	close(w.ready)
	l.log.Info("connected to acquirer", "addr", addr)
	l.mu.Lock()
	l.conn, l.wire, l.connAddr = conn, w, addr
	l.wg.Add(1)
	l.mu.Unlock()
	return conn, w, true, nil
}

// drop forgets conn (if still current; w is its wire) and closes it in the
// background. The caller holds a count of l.wg, so adding one here cannot
// race Close.
func (l *Link) drop(conn *connection.Connection, w *wire) {
	w.leaving.Store(true)
	l.wg.Add(1)
	l.mu.Lock()
	if l.conn == conn {
		l.conn, l.wire = nil, nil
	}
	l.mu.Unlock()
	// Do not block the caller on the close. Counted so Link.Close waits
	// for it.
	go func() {
		defer l.wg.Done()
		_ = conn.Close()
	}()
}

// wait makes p the request waiting for its reply; done ends the wait.
func (l *Link) wait(p *pending) (done func()) {
	l.mu.Lock()
	l.pend = p
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		if l.pend == p {
			l.pend = nil
		}
		l.mu.Unlock()
	}
}

func (l *Link) unmatched(m *iso8583.Message) {
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
// Requests take turns, and a request that did not end with its reply
// leaves the connection to be replaced: a late or repeated reply then
// arrives on a closed connection, or is dropped as unmatched, and is never
// taken for a later request's.
//
// The link uses iso8583-connection v0.9.0 for its read and write loops
// only. Its Send is not used: a Send queued behind a write that blocks
// (peer not reading) has no timer running and the connection's Close
// waits for it; a reply repeated or arriving as the connection closes
// leaves a goroutine blocked for good; and a reply followed at once by
// the end of the stream (a host that closes after answering) can be
// reported as "connection closed", or deadlock Send until its timer. The
// link frames the request itself, writes it with the connection's Write
// (which ends when the connection closes) and takes the reply from its
// own reader (wire), which routes it before reading on.
func (l *Link) RoundTrip(ctx context.Context, m *iso8583.Message) (*iso8583.Message, error) {
	timeout := l.remaining(ctx, l.o.ResponseTimeout)
	if timeout <= 0 {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, context.DeadlineExceeded)
	}
	key, err := l.o.MatchKey(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, &quiet{msg: "no match key", cause: err})
	}
	var framed bytes.Buffer
	if err := l.o.Framer.WriteMessage(&framed, m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, &quiet{msg: "not encodable", cause: err})
	}
	select {
	case l.turn <- struct{}{}:
		defer func() { <-l.turn }()
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: link busy: %w", ErrUnreachable, ctx.Err())
	case <-l.clock.After(timeout):
		return nil, fmt.Errorf("%w: link busy for %v", ErrUnreachable, timeout)
	}
	for {
		resp, retry, err := l.send(ctx, key, framed.Bytes(), timeout)
		if !retry {
			return resp, err
		}
	}
}

// send makes one attempt at an exchange. retry says nothing was sent over
// a connection kept from an earlier exchange that had ended meanwhile
// (the host closed it): the request may go again over a new one.
func (l *Link) send(ctx context.Context, key string, framed []byte, timeout time.Duration) (resp *iso8583.Message, retry bool, err error) {
	conn, w, fresh, err := l.acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	defer l.wg.Done()
	if timeout = l.remaining(ctx, timeout); timeout <= 0 {
		return nil, false, fmt.Errorf("%w: %w", ErrUnreachable, context.DeadlineExceeded)
	}
	p := &pending{wire: w, key: key, reply: make(chan result, 1)}
	done := l.wait(p)
	defer done()
	wrote := make(chan error, 1)
	l.wg.Add(1) // the counter is above zero here (acquire), so Close cannot be past Wait
	go func() {
		defer l.wg.Done()
		// Write returns once the connection's write loop has written
		// (or failed to), or at once with ErrConnectionClosed, nothing
		// written, when the connection has ended.
		p.writing.Store(true)
		_, err := conn.Write(framed)
		wrote <- err
	}()
	timer := l.clock.After(timeout)
	// written ends the call on the write's outcome, if it failed.
	written := func(err error) (*iso8583.Message, bool, error) {
		l.drop(conn, w)
		if errors.Is(err, connection.ErrConnectionClosed) {
			// Nothing went out: the connection had ended. One kept from
			// an earlier exchange is tried again on a new one.
			if !fresh {
				return nil, true, nil
			}
			return nil, false, fmt.Errorf("%w: %w", ErrUnreachable, err)
		}
		return nil, false, fmt.Errorf("%w: %w", ErrNoResponse, connErr(err))
	}
	// replied ends the call on what ended its wait: a reply, or an
	// unreadable answer (the connection is then dropped).
	replied := func(r result) (*iso8583.Message, bool, error) {
		if r.err != nil {
			l.drop(conn, w)
			return nil, false, r.err
		}
		return r.m, false, nil
	}
	for {
		select {
		case r := <-p.reply:
			return replied(r)
		case err := <-wrote:
			if err == nil {
				wrote = nil // sent; wait for the reply
				continue
			}
			return written(err)
		case <-conn.Done():
			// The reply, if any, was routed before the end of the stream
			// was read.
			select {
			case r := <-p.reply:
				return replied(r)
			default:
			}
			if wrote != nil {
				// The write ends now that the connection has.
				if err := <-wrote; err != nil {
					return written(err)
				}
			}
			l.drop(conn, w)
			return nil, false, fmt.Errorf("%w: %w", ErrNoResponse, connection.ErrConnectionClosed)
		case <-ctx.Done():
			l.drop(conn, w)
			return nil, false, fmt.Errorf("%w: %w", ErrNoResponse, ctx.Err())
		case <-timer:
			l.drop(conn, w)
			return nil, false, fmt.Errorf("%w: no reply within %v", ErrNoResponse, timeout)
		}
	}
}
