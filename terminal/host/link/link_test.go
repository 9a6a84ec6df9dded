package link_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/moov-io/iso8583"

	"posd/terminal/host"
	"posd/terminal/host/link"
)

var dialect = host.ASCII87

// echoMessage is a 0800 echo with STAN stan of terminal T0000001.
func echoMessage(t testing.TB, stan uint32) *iso8583.Message {
	t.Helper()
	m, err := dialect.EncodeRequest(host.Request{Kind: host.KindEcho, STAN: stan, TerminalID: "T0000001"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// answer is the 0810 "00" to req.
func answer(t testing.TB, req *iso8583.Message) []byte {
	r, err := dialect.DecodeRequest(req)
	if err != nil {
		t.Error(err)
		return nil
	}
	m, err := dialect.EncodeResponse(r, host.Response{ResponseCode: "00"})
	if err != nil {
		t.Error(err)
		return nil
	}
	raw, _ := m.Pack()
	return raw
}

// fakeHost answers requests with reply's bytes (nil: no answer).
func fakeHost(t *testing.T, reply func(m *iso8583.Message) []byte) string {
	t.Helper()
	fr, _ := dialect.NewFramer(nil)
	return scriptHost(t, func(nc net.Conn, next func() *iso8583.Message) {
		for m := next(); m != nil; m = next() {
			if out := reply(m); out != nil {
				_ = fr.WriteFrame(nc, out)
			}
		}
	})
}

func newLink(t *testing.T, addr string, timeout time.Duration, dial func(context.Context, string) (net.Conn, error)) *link.Link {
	t.Helper()
	fr, _ := dialect.NewFramer(nil)
	l, err := link.New(link.Opts{
		Addr: addr, Spec: dialect.Spec, Framer: fr, MatchKey: dialect.MatchKey,
		ResponseTimeout: timeout, Dial: dial,
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestNewNeedsTheMessageSide(t *testing.T) {
	if _, err := link.New(link.Opts{Addr: "127.0.0.1:1"}); !errors.Is(err, link.ErrInvalidRequest) {
		t.Fatalf("link without spec, framer and match key: %v", err)
	}
}

func TestRoundTripAndClose(t *testing.T) {
	addr := fakeHost(t, func(m *iso8583.Message) []byte { return answer(t, m) })
	l := newLink(t, addr, 2*time.Second, nil)
	resp, err := l.RoundTrip(context.Background(), echoMessage(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	if mti, _ := resp.GetMTI(); mti != "0810" || !l.Connected() {
		t.Fatalf("reply %s, connected %v", mti, l.Connected())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.RoundTrip(context.Background(), echoMessage(t, 2)); !errors.Is(err, link.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestTimeoutStartsAFreshConnection: after a request times out, the next one
// goes over a new connection, so a late reply or a wedged link cannot
// swallow it.
func TestTimeoutStartsAFreshConnection(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	dials := 0
	addr := fakeHost(t, func(m *iso8583.Message) []byte {
		if stan, _ := m.GetString(host.DESTAN); stan == "000011" {
			<-release // answers only after the link gave up
		}
		return answer(t, m)
	})
	t.Cleanup(func() { close(release) }) // runs before the host's cleanup
	l := newLink(t, addr, 10*time.Second, func(ctx context.Context, addr string) (net.Conn, error) {
		mu.Lock()
		dials++
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	})
	defer l.Close()
	ctx := context.Background()
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := l.RoundTrip(sctx, echoMessage(t, 11)); !errors.Is(err, link.ErrNoResponse) {
		t.Fatalf("slow host: %v", err)
	}
	if l.Connected() {
		t.Fatal("the timed-out connection is still in use")
	}
	if _, err := l.RoundTrip(ctx, echoMessage(t, 12)); err != nil {
		t.Fatalf("after a timeout: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if dials != 2 {
		t.Fatalf("%d connections, want 2", dials)
	}
}

// stuckConn is a TCP connection whose writes block until it is closed, as
// with a peer that stopped reading.
type stuckConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (s *stuckConn) Write(p []byte) (int, error) {
	<-s.closed
	return 0, net.ErrClosed
}

func (s *stuckConn) Close() error {
	s.once.Do(func() { close(s.closed) })
	return s.Conn.Close()
}

// TestBlockedWriteEndsEveryCall: with the socket's writes blocked, a second
// request must not queue behind the blocked write inside the connection
// module (nothing would end it); every call ends, and Close returns.
func TestBlockedWriteEndsEveryCall(t *testing.T) {
	addr := fakeHost(t, func(*iso8583.Message) []byte { return nil })
	l := newLink(t, addr, 200*time.Millisecond, func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return &stuckConn{Conn: nc, closed: make(chan struct{})}, nil
	})
	ctx := context.Background()
	errs := make(chan error, 2)
	for stan := range uint32(2) {
		go func() {
			_, err := l.RoundTrip(ctx, echoMessage(t, 21+stan))
			errs <- err
		}()
	}
	// The call that wrote gets ErrNoResponse; the other either waited its
	// turn and did the same or gave up before sending (ErrUnreachable).
	sent := 0
	for range 2 {
		select {
		case err := <-errs:
			switch {
			case errors.Is(err, link.ErrNoResponse):
				sent++
			case !errors.Is(err, link.ErrUnreachable):
				t.Errorf("call over a blocked socket: %v", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("a call over a blocked socket does not end")
		}
	}
	if sent == 0 {
		t.Error("no call reports that it may have sent")
	}
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close does not return")
	}
}
