package pin

import (
	"context"
	"errors"
	"testing"
	"time"

	"posd/conn/clock"
)

// readOnce runs one entry on e and types pin as soon as the prompt is up.
func readOnce(e *Entry, pin string) ([]byte, error) {
	keys := newFakeKeys()
	prompted := false
	return e.Read(context.Background(), keys, func(p Progress) {
		if p.State == StateStart {
			prompted = true
			keys.typ(pin + "E")
		}
	}, func(d []byte) ([]byte, error) {
		if !prompted {
			return nil, errors.New("built without a prompt")
		}
		return []byte("block"), nil
	})
}

// A PIN pad must not serve as an oracle for exhaustive PIN determination
// (PCI PTS POI B10): an entry enciphers a PIN at most DefaultMaxPerWindow
// times in DefaultWindow (120 an hour, one every 30 s on average). The
// entry past it is refused before any prompt; an hour later the pad takes
// PINs again.
func TestPINEntriesRateLimited(t *testing.T) {
	clk := clock.NewFake(epoch)
	e, err := New(&Opts{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 120; i++ {
		if _, err := readOnce(e, "1234"); err != nil {
			t.Fatalf("PIN entry %d of the hour: %v", i, err)
		}
		clk.Advance(10 * time.Second)
	}
	out, err := readOnce(e, "1234")
	if err == nil {
		t.Fatalf("PIN entry 121 within %s built a PIN block (%q); want it refused", 1200*time.Second, out)
	}
	if !errors.Is(err, ErrRateLimited) || out != nil {
		t.Fatalf("PIN entry 121: %q, %v; want ErrRateLimited", out, err)
	}
	// The window slides: once the oldest entries are an hour old, as many
	// new ones are taken.
	clk.Advance(time.Hour - 1200*time.Second) // the first was at epoch
	if _, err := readOnce(e, "1234"); err != nil {
		t.Fatalf("after the oldest entry left the window: %v", err)
	}
	if _, err := readOnce(e, "1234"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("second entry as only one left the window: %v", err)
	}
}

// Entries sharing a Limiter (the card PIN and the face-pay password on one
// PIN pad) count together.
func TestSharedLimiter(t *testing.T) {
	clk := clock.NewFake(epoch)
	l, err := NewLimiter(2, time.Minute, clk)
	if err != nil {
		t.Fatal(err)
	}
	card, err := New(&Opts{Clock: clk, Limiter: l})
	if err != nil {
		t.Fatal(err)
	}
	password, err := New(&Opts{Min: 6, Max: 6, Clock: clk, Limiter: l})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readOnce(card, "1234"); err != nil {
		t.Fatal(err)
	}
	if _, err := readOnce(password, "135790"); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*Entry{card, password} {
		if _, err := readOnce(e, "123456"); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("third PIN of the minute on a shared limiter: %v", err)
		}
	}
	// A refused, cancelled or timed-out entry accepts no PIN and takes no
	// place: only PINs handed to a Builder count.
	clk.Advance(time.Minute)
	keys := newFakeKeys()
	if _, err := card.Read(context.Background(), keys, func(p Progress) {
		if p.State == StateStart {
			keys.typ("12X")
		}
	}, func([]byte) ([]byte, error) { return nil, nil }); !errors.Is(err, ErrCancelled) {
		t.Fatalf("cancelled entry: %v", err)
	}
	for i := 0; i < 2; i++ {
		if _, err := readOnce(password, "246802"); err != nil {
			t.Fatalf("entry %d of the next minute: %v", i+1, err)
		}
	}
	if _, err := NewLimiter(0, time.Hour, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("a limit of 0: %v", err)
	}
}
