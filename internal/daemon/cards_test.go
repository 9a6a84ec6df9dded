package daemon

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"posd/board/entry"
	"posd/drivers/msr"
	"posd/terminal/txn"
)

// chanPort is a reader port with a read timeout (io.EOF when idle).
type chanPort chan []byte

func (p chanPort) Read(b []byte) (int, error) {
	select {
	case x := <-p:
		return copy(b, x), nil
	case <-time.After(5 * time.Millisecond):
		return 0, io.EOF
	}
}

// The adapter gives the engine a card for a swipe with a good track 2 (a
// bad track 1 does not matter), an error matching msr.ErrUnreadable for a
// swipe it cannot use, and reads on after it.
func TestMSRReaderUnreadable(t *testing.T) {
	port := make(chanPort, 4)
	o := msr.DefaultOpts
	o.Format = msr.FormatLine
	d, err := msr.New(port, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Halt()
	r := cardReader{r: entry.New(entry.Devices{MSR: d}, nil)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const t2 = "4761739001010010=29121010000000000000"
	for _, c := range []struct {
		line string
		ok   bool
	}{
		{"%E?;" + t2 + "?\r", true},
		{"%E?;E?\r", false},
		{"%B4761739001010010^TEST/CARD A^2912101000?;E?\r", false}, // track 1 only
		{";41111111111111113012101?\r", false},
		{";" + t2 + "?\r", true},
	} {
		port <- []byte(c.line)
		card, err := r.ReadCard(ctx)
		if c.ok {
			if err != nil || string(card.Track2) != t2 || card.PAN != "4761739001010010" {
				t.Fatalf("%q: %v", c.line, err)
			}
			card.Wipe()
			continue
		}
		if card != nil || !errors.Is(err, txn.ErrUnreadable) {
			t.Fatalf("%q: got %v, %v", c.line, card, err)
		}
	}
}
