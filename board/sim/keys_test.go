package sim

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"posd/drivers/keypad"
)

func TestParseKeys(t *testing.T) {
	got, err := ParseKeys("0123456789EeCcXx")
	want := []keypad.Key{'0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
		keypad.KeyEnter, keypad.KeyEnter, keypad.KeyClear, keypad.KeyClear, keypad.KeyCancel, keypad.KeyCancel}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %q, %v", got, err)
	}
	for _, s := range []string{"", "1234 E", "1234\n", "12a4E", "#", "*", "1234é", strings.Repeat("1", MaxKeys+1)} {
		_, err := ParseKeys(s)
		if !errors.Is(err, ErrKeyString) {
			t.Errorf("%q: %v", s, err)
			continue
		}
		if strings.Contains(err.Error(), "1234") || strings.Contains(err.Error(), "12a4") {
			t.Errorf("%q: the error repeats the keys: %v", s, err)
		}
	}
	if _, err := ParseKeys(strings.Repeat("1", MaxKeys)); err != nil {
		t.Errorf("%d keys: %v", MaxKeys, err)
	}
}

// FuzzParseKeys: any key string either fails with ErrKeyString or gives
// one key of the simulated PIN pad per character, which the PIN pad has.
func FuzzParseKeys(f *testing.F) {
	for _, s := range []string{"1234E", "12C34X", "e", "", "1234 E", "\xff", strings.Repeat("9", MaxKeys)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		keys, err := ParseKeys(s)
		if err != nil {
			if !errors.Is(err, ErrKeyString) || keys != nil {
				t.Fatalf("%q: %v, %v", s, keys, err)
			}
			return
		}
		if len(keys) != len(s) || len(keys) == 0 || len(keys) > MaxKeys {
			t.Fatalf("%q: %d keys", s, len(keys))
		}
		for i, k := range keys {
			if _, _, ok := keypad.LayoutPINPad.Find(k); !ok {
				t.Fatalf("%q: key %d not on the PIN pad", s, i)
			}
			if k.IsDigit() != (s[i] >= '0' && s[i] <= '9') || (k.IsDigit() && byte(k) != s[i]) {
				t.Fatalf("%q: key %d", s, i)
			}
		}
	})
}

// Keys typed on the simulated board reach the real keypad driver as one
// press and one release each, in order.
func TestKeysReachTheKeypad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := Open(ctx, Opts{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Halt()
	d := b.Devices.Keypad
	if d == nil {
		t.Fatal("no keypad")
	}
	const typed = "1E9cx"
	want := []keypad.Event{{Key: '1', Down: true}, {Key: '1'}, {Key: keypad.KeyEnter, Down: true}, {Key: keypad.KeyEnter},
		{Key: '9', Down: true}, {Key: '9'}, {Key: keypad.KeyClear, Down: true}, {Key: keypad.KeyClear},
		{Key: keypad.KeyCancel, Down: true}, {Key: keypad.KeyCancel}}
	got := make(chan []keypad.Event, 1)
	go func() {
		var evs []keypad.Event
		for len(evs) < len(want) {
			ev, err := d.Next(ctx)
			if err != nil {
				break
			}
			evs = append(evs, ev)
		}
		got <- evs
	}()
	if err := b.Keys(ctx, typed); err != nil {
		t.Fatal(err)
	}
	evs := <-got
	// A scan straddling a release and the next press may report the two
	// in either order (see the keypad's tests): compare the presses in
	// order and the events as a set.
	presses := func(evs []keypad.Event) (p []keypad.Key) {
		for _, ev := range evs {
			if ev.Down {
				p = append(p, ev.Key)
			}
		}
		return p
	}
	if !slices.Equal(presses(evs), presses(want)) || len(evs) != len(want) {
		t.Fatalf("events %v, want %v", evs, want)
	}
	if s := d.Stats(); s.Dropped != 0 {
		t.Fatalf("%d events dropped", s.Dropped)
	}

	if err := b.Keys(ctx, "12a"); !errors.Is(err, ErrKeyString) {
		t.Fatalf("bad key string: %v", err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := b.Keys(ctx, "1"); !errors.Is(err, ErrKeypad) {
		t.Fatalf("halted keypad: %v", err)
	}
}
