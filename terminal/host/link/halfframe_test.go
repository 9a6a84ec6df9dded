package link_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moov-io/iso8583"

	"posd/terminal/host/link"
)

// TestHalfFrameLeftOnIdleConnection: the host answers, then starts
// another frame and stops half way (a crash mid-write, say) on the idle
// connection. The next request must not go over it (its answer would be
// read as the rest of the stale frame, garbled): it goes over a fresh
// connection and gets its answer; nothing of it had been sent.
func TestHalfFrameLeftOnIdleConnection(t *testing.T) {
	var dials atomic.Int32
	addr := scriptHost(t, func(nc net.Conn, next func() *iso8583.Message) {
		for m := next(); m != nil; m = next() {
			f := frame(answer(t, m))
			if stan, _ := m.GetString(11); stan == "000201" {
				// A frame of 50 bytes announced, one sent.
				f = append(f, 0x00, 0x32, '0')
			}
			if _, err := nc.Write(f); err != nil {
				return
			}
		}
	})
	l := newLink(t, addr, 30*time.Second, func(ctx context.Context, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	})
	defer l.Close()
	ctx := context.Background()
	if _, err := l.RoundTrip(ctx, echoMessage(t, 201)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !link.HalfFrame(l); {
		if time.Now().After(deadline) {
			t.Fatal("the link never read the half frame")
		}
		time.Sleep(time.Millisecond)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := l.RoundTrip(rctx, echoMessage(t, 202)); err != nil {
		t.Fatalf("request after a half frame on the idle connection: %v", err)
	}
	if n := dials.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (the half-read one replaced)", n)
	}
}
