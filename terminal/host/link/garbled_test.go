package link_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moov-io/iso8583"

	"posd/conn/clock"
	"posd/terminal/host/link"
)

// garbledReplies are answers that arrive whole (a right length header)
// but do not read as a message, made from the good answer to a request.
var garbledReplies = []struct {
	name string
	body func(good []byte) []byte
}{
	{"random bytes", func([]byte) []byte { return []byte("\x13\x37 not an ISO 8583 message at all") }},
	{"bad MTI", func(good []byte) []byte { return append([]byte("08x0"), good[4:]...) }},
	{"truncated fields", func(good []byte) []byte { return good[:len(good)-2] }},
	{"MTI only", func(good []byte) []byte { return good[:4] }},
}

// garbledHost answers the first request it gets with body(good answer),
// framed, and later ones correctly.
func garbledHost(t *testing.T, body func(good []byte) []byte) string {
	var garbled atomic.Bool
	return scriptHost(t, func(nc net.Conn, next func() *iso8583.Message) {
		for m := next(); m != nil; m = next() {
			a := answer(t, m)
			if !garbled.Swap(true) {
				a = body(a)
			}
			if _, err := nc.Write(frame(a)); err != nil {
				return
			}
		}
	})
}

// TestGarbledReplyFailsAtOnce: with one request in flight, a frame that
// does not read as a message is taken for its answer: the call ends at
// once (the clock never moves) with ErrBadResponse and ErrUnreadable (the
// outcome is unknown: a sale is reversed), and the connection is dropped,
// so the next request goes over a fresh one.
func TestGarbledReplyFailsAtOnce(t *testing.T) {
	for _, c := range garbledReplies {
		t.Run(c.name, func(t *testing.T) {
			addr := garbledHost(t, c.body)
			fc := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
			fr, _ := dialect.NewFramer(nil)
			l, err := link.New(link.Opts{
				Addr: addr, Spec: dialect.Spec, Framer: fr, MatchKey: dialect.MatchKey,
				ResponseTimeout: 30 * time.Second, Clock: fc,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			errs := make(chan error, 1)
			go func() {
				_, err := l.RoundTrip(context.Background(), echoMessage(t, 501))
				errs <- err
			}()
			select {
			case err = <-errs:
			case <-time.After(10 * time.Second):
				// The fake clock stands at 0 of the 30 s response
				// timeout: only the garbled frame can end the call.
				fc.Advance(30 * time.Second)
				err = <-errs
				t.Fatalf("the call waited for its response timeout (30 s) after a garbled answer, then: %v", err)
			}
			if !errors.Is(err, link.ErrBadResponse) || !errors.Is(err, link.ErrUnreadable) {
				t.Fatalf("garbled answer: %v, want ErrBadResponse and ErrUnreadable", err)
			}
			if l.Connected() {
				t.Fatal("the connection that carried a garbled answer is kept")
			}
			if _, err := l.RoundTrip(context.Background(), echoMessage(t, 502)); err != nil {
				t.Fatalf("after a garbled answer: %v", err)
			}
		})
	}
}

// BenchmarkGarbledReply: the time a call takes to fail on a garbled
// answer, with the default response timeout (30 s).
func BenchmarkGarbledReply(b *testing.B) {
	addr := scriptHost(b, func(nc net.Conn, next func() *iso8583.Message) {
		for m := next(); m != nil; m = next() {
			if _, err := nc.Write(frame([]byte("\x13\x37 garbage"))); err != nil {
				return
			}
		}
	})
	fr, _ := dialect.NewFramer(nil)
	l, err := link.New(link.Opts{Addr: addr, Spec: dialect.Spec, Framer: fr, MatchKey: dialect.MatchKey})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for i := 0; b.Loop(); i++ {
		if _, err := l.RoundTrip(context.Background(), echoMessage(b, uint32(600+i%1000))); err == nil {
			b.Fatal("a garbled answer passed")
		}
	}
}
