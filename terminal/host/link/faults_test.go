package link_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moov-io/iso8583"

	"posd/terminal/host"
	"posd/terminal/host/link"
)

// scriptHost accepts connections and runs serve on each: a host that
// misbehaves on the wire in the way a test scripts. serve reads requests
// with next (nil at the end of the stream).
func scriptHost(t testing.TB, serve func(nc net.Conn, next func() *iso8583.Message)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fr, _ := dialect.NewFramer(nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				r := bufio.NewReader(nc)
				serve(nc, func() *iso8583.Message {
					m, err := fr.ReadMessage(r)
					if err != nil {
						return nil
					}
					return m
				})
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// frame is raw with its 2-byte length header.
func frame(raw []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(raw)))
	return append(b, raw...)
}

// settle waits until the process has no more goroutines than base (the
// test's own helpers excepted) and fails the test with the count if it
// never gets there.
func settle(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	n := runtime.NumGoroutine()
	for n > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > base {
		buf := make([]byte, 1<<16)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%d goroutines left after Close, %d before the link:\n%s", n, base, buf)
	}
}

// TestSilentHostEndsInTime: a host that accepts and never answers; the
// call ends with ErrNoResponse at the response timeout, not later.
func TestSilentHostEndsInTime(t *testing.T) {
	addr := scriptHost(t, func(_ net.Conn, next func() *iso8583.Message) {
		for next() != nil {
		}
	})
	base := runtime.NumGoroutine()
	l := newLink(t, addr, 300*time.Millisecond, nil)
	start := time.Now()
	_, err := l.RoundTrip(context.Background(), echoMessage(t, 31))
	if !errors.Is(err, link.ErrNoResponse) {
		t.Fatalf("silent host: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("silent host: verdict after %v", d)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	settle(t, base)
}

// TestAnswerTwiceInOneSegment: the host sends its answer twice in one TCP
// segment (a duplicate). The first is the reply; the second is an unasked
// message, logged and dropped, and leaves nothing running behind.
func TestAnswerTwiceInOneSegment(t *testing.T) {
	addr := scriptHost(t, func(nc net.Conn, next func() *iso8583.Message) {
		for m := next(); m != nil; m = next() {
			f := frame(answer(t, m))
			_, _ = nc.Write(append(f, f...))
		}
	})
	base := runtime.NumGoroutine()
	l := newLink(t, addr, 2*time.Second, nil)
	for i := range uint32(20) {
		if _, err := l.RoundTrip(context.Background(), echoMessage(t, 40+i)); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	settle(t, base)
}

// TestAnswerByteByByte: an answer that arrives one byte per segment is
// read whole.
func TestAnswerByteByByte(t *testing.T) {
	addr := scriptHost(t, func(nc net.Conn, next func() *iso8583.Message) {
		for m := next(); m != nil; m = next() {
			for _, b := range frame(answer(t, m)) {
				if _, err := nc.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}
	})
	base := runtime.NumGoroutine()
	l := newLink(t, addr, 5*time.Second, nil)
	if _, err := l.RoundTrip(context.Background(), echoMessage(t, 61)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	settle(t, base)
}

// TestLyingLengthHeader: a length header that promises more than comes
// ends in ErrNoResponse at the timeout (the frame is at most 64 KiB: no
// big allocation), and the next request goes over a fresh connection; a
// zero-length frame (keep-alive) before an answer is skipped.
func TestLyingLengthHeader(t *testing.T) {
	addr := scriptHost(t, func(nc net.Conn, next func() *iso8583.Message) {
		for m := next(); m != nil; m = next() {
			stan, _ := m.GetString(11)
			a := answer(t, m)
			switch stan {
			case "000071": // says 65535 bytes, sends the answer only
				_, _ = nc.Write(append([]byte{0xFF, 0xFF}, a...))
			case "000072": // keep-alive first
				_, _ = nc.Write(append([]byte{0, 0}, frame(a)...))
			}
		}
	})
	base := runtime.NumGoroutine()
	l := newLink(t, addr, 300*time.Millisecond, nil)
	if _, err := l.RoundTrip(context.Background(), echoMessage(t, 71)); !errors.Is(err, link.ErrNoResponse) {
		t.Fatalf("long length header: %v", err)
	}
	if _, err := l.RoundTrip(context.Background(), echoMessage(t, 72)); err != nil {
		t.Fatalf("after a lying header, keep-alive then answer: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	settle(t, base)
}

// TestResetMidAnswer: the host sends half an answer and resets the
// connection; the call ends at once with ErrNoResponse (it may have been
// taken), not at the timeout.
func TestResetMidAnswer(t *testing.T) {
	addr := scriptHost(t, func(nc net.Conn, next func() *iso8583.Message) {
		m := next()
		if m == nil {
			return
		}
		f := frame(answer(t, m))
		_, _ = nc.Write(f[:len(f)/2])
		time.Sleep(20 * time.Millisecond)
		_ = nc.(*net.TCPConn).SetLinger(0) // RST, not FIN
	})
	base := runtime.NumGoroutine()
	l := newLink(t, addr, 10*time.Second, nil)
	start := time.Now()
	_, err := l.RoundTrip(context.Background(), echoMessage(t, 81))
	if !errors.Is(err, link.ErrNoResponse) {
		t.Fatalf("reset mid-answer: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("reset mid-answer: verdict after %v", d)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	settle(t, base)
}

// TestHostClosesAfterEachAnswer: a host that closes the connection right
// after every answer (short connections). Each answer reaches its request
// although the end of the stream follows it at once, and the next request
// goes over a new connection.
//
// The requests come at a cashier's pace: once the link has read the end
// of the stream. One written in the instant between the host's close and
// the link reading it goes over the closed connection and is "maybe sent"
// (ErrNoResponse); nothing on the terminal's side can tell it apart from a
// host that read the request and then failed.
func TestHostClosesAfterEachAnswer(t *testing.T) {
	addr := scriptHost(t, func(nc net.Conn, next func() *iso8583.Message) {
		if m := next(); m != nil {
			_, _ = nc.Write(frame(answer(t, m)))
		}
	})
	base := runtime.NumGoroutine()
	l := newLink(t, addr, 2*time.Second, nil)
	for i := range uint32(50) {
		if _, err := l.RoundTrip(context.Background(), echoMessage(t, 100+i)); err != nil {
			t.Fatalf("request %d, the host closing after its answer: %v", i, err)
		}
		for deadline := time.Now().Add(time.Second); l.Connected() && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	settle(t, base)
}

// TestCloseLetsTheRequestInFlightEnd: Close waits for the answer of the
// request in flight (it may be an authorization the host approves), and
// calls after it fail with ErrClosed.
func TestCloseLetsTheRequestInFlightEnd(t *testing.T) {
	addr := scriptHost(t, func(nc net.Conn, next func() *iso8583.Message) {
		for m := next(); m != nil; m = next() {
			time.Sleep(300 * time.Millisecond)
			_, _ = nc.Write(frame(answer(t, m)))
		}
	})
	base := runtime.NumGoroutine()
	l := newLink(t, addr, 5*time.Second, nil)
	errs := make(chan error, 1)
	go func() {
		_, err := l.RoundTrip(context.Background(), echoMessage(t, 91))
		errs <- err
	}()
	for deadline := time.Now().Add(time.Second); !l.Connected() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("request in flight at Close: %v", err)
	}
	if _, err := l.RoundTrip(context.Background(), echoMessage(t, 92)); !errors.Is(err, link.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	settle(t, base)
}

// TestStatusDuringADial: while the link dials a host that does not
// answer the connect (a blackholed address), what the engineer's status
// reads of the link (Addr, Connected) comes at once.
func TestStatusDuringADial(t *testing.T) {
	dialing := make(chan struct{})
	l := newLink(t, "192.0.2.1:8583", time.Second, func(ctx context.Context, _ string) (net.Conn, error) {
		close(dialing)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	errs := make(chan error, 1)
	go func() {
		_, err := l.RoundTrip(ctx, echoMessage(t, 93))
		errs <- err
	}()
	<-dialing
	start := time.Now()
	if a := l.Addr(); a != "192.0.2.1:8583" || l.Connected() {
		t.Fatalf("during a dial: addr %q, connected %v", a, l.Connected())
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("status waited %v for the dial", d)
	}
	if err := <-errs; !errors.Is(err, link.ErrUnreachable) {
		t.Fatalf("dial that never connects: %v", err)
	}
}

// TestNameThatDoesNotResolve: a host name the shop's DNS cannot resolve
// (or no DNS at all) is ErrUnreachable, nothing sent, within the connect
// timeout.
func TestNameThatDoesNotResolve(t *testing.T) {
	fr, _ := dialect.NewFramer(nil)
	l, err := link.New(link.Opts{
		Addr: "acquirer.invalid:8583", Spec: dialect.Spec, Framer: fr, MatchKey: dialect.MatchKey,
		ConnectTimeout: 500 * time.Millisecond, ResponseTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	if _, err := l.RoundTrip(context.Background(), echoMessage(t, 94)); !errors.Is(err, link.ErrUnreachable) {
		t.Fatalf("unresolvable host: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("unresolvable host: verdict after %v", d)
	}
}

// syncBuffer is a log sink safe for the link's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

// TestIdleConnectionEndIsLogged: when the host closes or resets the idle
// connection, the log says so at once (the engineer need not wait for
// the next sale to learn it); a connection the link gives up itself (a
// timeout) is not reported as the host's doing.
func TestIdleConnectionEndIsLogged(t *testing.T) {
	for _, c := range []struct {
		name, stan, want string
		reset            bool
	}{
		{"close", "000095", "the acquirer closed the connection", false},
		{"reset", "000096", "acquirer connection lost", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := scriptHost(t, func(nc net.Conn, next func() *iso8583.Message) {
				m := next()
				if m == nil {
					return
				}
				_, _ = nc.Write(frame(answer(t, m)))
				time.Sleep(50 * time.Millisecond)
				if c.reset {
					_ = nc.(*net.TCPConn).SetLinger(0)
				}
			})
			var logs syncBuffer
			fr, _ := dialect.NewFramer(nil)
			l, err := link.New(link.Opts{
				Addr: addr, Spec: dialect.Spec, Framer: fr, MatchKey: dialect.MatchKey,
				ResponseTimeout: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if _, err := l.RoundTrip(context.Background(), echoMessage(t, 95)); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(2 * time.Second); !strings.Contains(logs.String(), c.want) && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			if !strings.Contains(logs.String(), c.want) {
				t.Fatalf("the host's %s of the idle connection is not in the log:\n%s", c.name, logs.String())
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		addr := scriptHost(t, func(_ net.Conn, next func() *iso8583.Message) {
			for next() != nil {
			}
		})
		var logs syncBuffer
		fr, _ := dialect.NewFramer(nil)
		l, err := link.New(link.Opts{
			Addr: addr, Spec: dialect.Spec, Framer: fr, MatchKey: dialect.MatchKey,
			ResponseTimeout: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.RoundTrip(context.Background(), echoMessage(t, 97)); !errors.Is(err, link.ErrNoResponse) {
			t.Fatalf("silent host: %v", err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if s := logs.String(); strings.Contains(s, "closed the connection") || strings.Contains(s, "connection lost") {
			t.Fatalf("the link's own close is logged as the host's:\n%s", s)
		}
	})
}

// TestReplyForAnotherTerminal: an answer with the request's MTI class and
// STAN but another terminal's id is not the request's (a host or a
// concentrator that misroutes): it is logged and dropped, and the
// request's own answer, when it follows, is taken. (One that never
// follows ends at the response timeout, an unknown outcome either way.)
func TestReplyForAnotherTerminal(t *testing.T) {
	addr := scriptHost(t, func(nc net.Conn, next func() *iso8583.Message) {
		for m := next(); m != nil; m = next() {
			r, err := dialect.DecodeRequest(m)
			if err != nil {
				return
			}
			r.TerminalID = "T0000002"
			wrong, err := dialect.EncodeResponse(r, host.Response{ResponseCode: "05"})
			if err != nil {
				return
			}
			raw, _ := wrong.Pack()
			_, _ = nc.Write(append(frame(raw), frame(answer(t, m))...))
		}
	})
	l := newLink(t, addr, 5*time.Second, nil)
	defer l.Close()
	resp, err := l.RoundTrip(context.Background(), echoMessage(t, 401))
	if err != nil {
		t.Fatal(err)
	}
	if tid, _ := resp.GetString(41); tid != "T0000001" {
		t.Fatalf("the answer for terminal %q was taken", tid)
	}
}
