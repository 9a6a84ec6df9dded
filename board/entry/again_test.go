package entry_test

import (
	"context"
	"testing"
	"time"

	"posd/board/entry"
)

// TestReadAgainTakesTheCardStillInTheField: a card read once is not read
// again until it leaves the field, unless the sale asks for that same card
// again (a phone that said "see phone" and stays in place, a card that
// left too early and came back before the next poll): after ReadAgain the
// card still in the field is read at once.
func TestReadAgainTakesTheCardStillInTheField(t *testing.T) {
	s, r, clk := nfcOnly(t)
	phone := &icc{}
	s.Present(phone, cardA)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := r.Read(ctx, entry.Tap)
	if err != nil {
		t.Fatal(err)
	}
	p.Release(ctx)

	type res struct {
		p   *entry.Presented
		err error
	}
	// readAgain reports whether Read returned before it slept: whether it
	// took the card of the first poll.
	readAgain := func() (res, bool) {
		readCtx, stop := context.WithCancel(ctx)
		defer stop()
		done := make(chan res, 1)
		go func() {
			p, err := r.Read(readCtx, entry.Tap)
			done <- res{p, err}
		}()
		waited := make(chan error, 1)
		go func() { waited <- clk.BlockUntil(readCtx, 1) }()
		select {
		case got := <-done:
			return got, true
		case <-waited:
			stop()
			<-done
			// Fire the timer the stopped Read left behind.
			clk.Advance(time.Second)
			return res{}, false
		}
	}
	// Without ReadAgain the card in place is the used one: Read waits.
	if got, read := readAgain(); read {
		t.Fatalf("the used card was read again: %+v %v", got.p, got.err)
	}
	r.ReadAgain()
	got, read := readAgain()
	if !read || got.err != nil || got.p.Mode != entry.Tap {
		t.Fatalf("the card asked for again was not read: read %v, %+v %v", read, got.p, got.err)
	}
	got.p.Release(ctx)
}
