package pin

import (
	"context"
	"errors"
	"testing"
)

// FuzzEntry feeds any sequence of key events (the PIN pad is outside
// input) to an entry with the rules of the package documentation, and
// compares with a model of them: the entry never panics, the Builder gets
// exactly the digits the model expects, every Progress is within 0..Max,
// and nothing is left in the Entry afterwards. Each input byte is one
// event: the low nibble picks the key (0-9 digits, 10 Enter, 11 Clear,
// 12 Cancel, 13-15 other), bit 4 makes it a release, bit 5 sets bypass.
func FuzzEntry(f *testing.F) {
	f.Add([]byte{1, 0x11, 2, 0x12, 3, 0x13, 4, 0x14, 10})
	f.Add([]byte{10, 0x1a, 0x20})
	f.Add([]byte{1, 1, 1, 0x11, 11, 5, 5, 12})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 10})
	f.Fuzz(func(t *testing.T, in []byte) {
		bypass := len(in) > 0 && in[0]&0x20 != 0
		e, err := New(&Opts{AllowBypass: bypass, Min: 4, Max: 6})
		if err != nil {
			t.Fatal(err)
		}
		evs := make([]Event, len(in))
		for i, b := range in {
			var k Key
			switch n := b & 0x0f; {
			case n <= 9:
				k = Key('0' + n)
			case n == 10:
				k = KeyEnter
			case n == 11:
				k = KeyClear
			case n == 12:
				k = KeyCancel
			default:
				k = KeyOther
			}
			evs[i] = Event{Key: k, Down: b&0x10 == 0}
		}
		wantPIN, wantErr := model(evs, 4, 6, bypass)

		keys := &fakeKeys{ch: make(chan Event, len(evs)), err: make(chan error, 1)}
		var got []byte
		var built []byte
		out, err := e.Read(context.Background(), keys, func(p Progress) {
			if p.Digits < 0 || p.Digits > 6 {
				t.Fatalf("progress %+v", p)
			}
			if p.State == StateStart {
				for _, ev := range evs {
					keys.ch <- ev
				}
				close(keys.ch)
			}
		}, func(d []byte) ([]byte, error) {
			built = d
			got = append([]byte(nil), d...)
			return []byte{1}, nil
		})
		switch {
		case wantErr != nil:
			if !errors.Is(err, wantErr) || out != nil || got != nil {
				t.Fatalf("got %v, want %v", err, wantErr)
			}
		case err != nil || string(got) != wantPIN:
			t.Fatalf("got %v (PIN as modelled: %v)", err, string(got) == wantPIN)
		}
		if e.buf != [len(e.buf)]byte{} || e.held != [256]bool{} || e.ev != (Event{}) {
			t.Fatal("digits left in the Entry")
		}
		for _, b := range built {
			if b != 0 {
				t.Fatal("digits left in the Builder's slice")
			}
		}
	})
}

// model is the rules of PIN entry written plainly: the PIN Enter accepts,
// or the error that ends the entry (ErrKeypad: the events ran out).
func model(evs []Event, min, max int, bypass bool) (string, error) {
	down := map[Key]bool{}
	pin := ""
	for _, ev := range evs {
		if !ev.Down {
			delete(down, ev.Key)
			continue
		}
		if down[ev.Key] {
			continue
		}
		down[ev.Key] = true
		switch k := ev.Key; {
		case k.IsDigit():
			if len(pin) < max {
				pin += string(rune(k))
			}
		case k == KeyClear:
			pin = ""
		case k == KeyCancel:
			return "", ErrCancelled
		case k == KeyEnter:
			if pin == "" && bypass {
				return "", ErrBypassed
			}
			if len(pin) >= min {
				return pin, nil
			}
		}
	}
	return "", ErrKeypad
}
