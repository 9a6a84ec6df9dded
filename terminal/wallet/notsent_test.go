package wallet

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const testCode = "134567890123456789"

// closedURL is the address of a port nothing listens on any more: a
// connection to it is refused.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// every calls each request of the client once.
func every(c *HTTPClient) map[string]func() (Result, error) {
	ctx := context.Background()
	return map[string]func() (Result, error){
		OpPay: func() (Result, error) {
			return c.Pay(ctx, WeChat, Order{ID: "O1", Amount: 900, Currency: "CNY", Code: testCode})
		},
		OpPrecreate: func() (Result, error) { return c.Precreate(ctx, WeChat, Order{ID: "O2", Amount: 900, Currency: "CNY"}) },
		OpQuery:     func() (Result, error) { return c.Query(ctx, WeChat, "O1") },
		OpCancel:    func() (Result, error) { return c.Cancel(ctx, WeChat, "O1") },
		OpRefund:    func() (Result, error) { return c.Refund(ctx, WeChat, "O1", "R1", 900) },
	}
}

// A request that never left (the platform's port refuses the connection,
// no DNS answer, the TLS handshake fails) reached nothing: its outcome is
// known (ErrNotSent, no unknown outcome to resolve or ask again), and
// the error does not quote the code.
func TestNotSentIsNoUnknownOutcome(t *testing.T) {
	key := bytes.Repeat([]byte{5}, 32)
	var served atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served.Add(1) }))
	t.Cleanup(plain.Close)
	noDNS := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			return nil, &net.DNSError{Err: "no such host", Name: "wallet.example", IsNotFound: true}
		}}}
	for name, o := range map[string]Opts{
		"refused": {BaseURL: closedURL(t)},
		"dns":     {BaseURL: "http://wallet.example", HTTP: noDNS},
		"tls":     {BaseURL: "https://" + strings.TrimPrefix(plain.URL, "http://")},
	} {
		o.TerminalID, o.Key = "T1", key
		c, err := NewHTTPClient(o)
		if err != nil {
			t.Fatal(err)
		}
		for op, call := range every(c) {
			res, err := call()
			if !errors.Is(err, ErrNotSent) || OutcomeUnknown(err) || res.Status == StatusUnknown {
				t.Errorf("%s %s: %+v %v; want ErrNotSent, a known outcome", name, op, res, err)
			}
			if err != nil && strings.Contains(err.Error(), testCode) {
				t.Errorf("%s %s: the error quotes the code: %v", name, op, err)
			}
		}
	}
	if n := served.Load(); n != 0 {
		t.Errorf("the plain server served %d requests over a failed TLS handshake", n)
	}
}

// A request that may have left (the connection cut after the request was
// written, no answer before the timeout) stays an unknown outcome.
func TestCutAfterSendIsUnknown(t *testing.T) {
	key := bytes.Repeat([]byte{5}, 32)
	release := make(chan struct{})
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.(*net.TCPConn).SetLinger(0) // a reset, not a clean close
			conn.Close()
		}
	}))
	t.Cleanup(cut.Close)
	silent := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(silent.Close)
	t.Cleanup(func() { close(release) })
	for name, o := range map[string]Opts{
		"reset":   {BaseURL: cut.URL},
		"timeout": {BaseURL: silent.URL, HTTP: &http.Client{Timeout: 50 * time.Millisecond}},
	} {
		o.TerminalID, o.Key = "T1", key
		c, err := NewHTTPClient(o)
		if err != nil {
			t.Fatal(err)
		}
		for op, call := range every(c) {
			res, err := call()
			if errors.Is(err, ErrNotSent) || !errors.Is(err, ErrUnreachable) || !OutcomeUnknown(err) || res.Status != StatusUnknown {
				t.Errorf("%s %s: %+v %v; want an unknown outcome", name, op, res, err)
			}
		}
	}
}

// A transport that reports nothing of its connections (a test double)
// leaves its errors unknown outcomes, as before.
func TestUntracedTransportErrorIsUnknown(t *testing.T) {
	c, err := NewHTTPClient(Opts{BaseURL: "http://wallet.example", TerminalID: "T1", Key: bytes.Repeat([]byte{5}, 32),
		HTTP: &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			return nil, errors.New("connection refused")
		})}})
	if err != nil {
		t.Fatal(err)
	}
	for op, call := range every(c) {
		if _, err := call(); errors.Is(err, ErrNotSent) || !OutcomeUnknown(err) {
			t.Errorf("%s: %v; want an unknown outcome", op, err)
		}
	}
}

// An unknown outcome stays one when a resolver's cancel was not sent:
// the pay before it was.
func TestUnresolvedOverNotSentIsUnknown(t *testing.T) {
	err := errors.Join(ErrUnresolved, ErrNotSent)
	if !OutcomeUnknown(err) {
		t.Error("an unresolved payment whose cancel was not sent is taken for known")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
