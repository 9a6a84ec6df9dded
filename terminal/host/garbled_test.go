package host

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/moov-io/iso8583"

	"posd/conn/clock"
)

// TestGarbledAnswerIsAnUnknownOutcome: a purchase whose answer arrives
// as a frame that does not decode ends when the frame arrives (the fake
// clock never moves), with an error the sale engine reverses on
// (ErrBadResponse, not ErrUnreachable), and the link state says "bad
// response".
func TestGarbledAnswerIsAnUnknownOutcome(t *testing.T) {
	for _, d := range testDialects {
		t.Run(d.Name, func(t *testing.T) {
			addr := fakeHost(t, d, func(*iso8583.Message) []byte {
				return []byte("\x02\x10 not a message of any dialect")
			})
			fc := clock.NewFake(testTime)
			c, err := New(&Opts{Addr: addr, Dialect: d.Name, TerminalID: "T0000001", Clock: fc})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			term, _ := sessions(t, 1)
			errs := make(chan error, 1)
			go func() {
				_, err := c.Purchase(context.Background(), Purchase{STAN: 7, Amount: 1000, Currency: "156", Track2: []byte(testTrack2)}, term)
				errs <- err
			}()
			select {
			case err = <-errs:
			case <-time.After(10 * time.Second):
				fc.Advance(DefaultOpts.ResponseTimeout)
				t.Fatalf("the purchase waited for its response timeout after a garbled answer, then: %v", <-errs)
			}
			if !errors.Is(err, ErrBadResponse) || !errors.Is(err, ErrUnreadable) || errors.Is(err, ErrUnreachable) {
				t.Fatalf("garbled answer: %v", err)
			}
			if s := c.LinkState(); s.Failure != "bad response" || s.Failures != 1 {
				t.Fatalf("link state after a garbled answer: %+v", s)
			}
		})
	}
}
