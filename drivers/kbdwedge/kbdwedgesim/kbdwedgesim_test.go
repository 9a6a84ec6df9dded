package kbdwedgesim

import (
	"testing"
	"time"

	"posd/drivers/kbdwedge"
)

// 'A' is Shift + KEY_A in one report, both released in the next, each key
// preceded by its HID usage (left Shift 0xE1, 'a' 0x04) as hid-input
// reports it.
func TestEventsOfOneCharacter(t *testing.T) {
	s := New(nil, &Opts{KeyTime: 8 * time.Millisecond})
	ev, err := s.Events("A", time.Unix(100, 5000))
	if err != nil {
		t.Fatal(err)
	}
	type e = kbdwedge.Event
	want := []e{
		{Sec: 100, Usec: 5, Type: 4, Code: 4, Value: 0x700E1},
		{Sec: 100, Usec: 5, Type: 1, Code: 42, Value: 1},
		{Sec: 100, Usec: 5, Type: 4, Code: 4, Value: 0x70004},
		{Sec: 100, Usec: 5, Type: 1, Code: 30, Value: 1},
		{Sec: 100, Usec: 5, Type: 0, Code: 0, Value: 0},
		{Sec: 100, Usec: 8005, Type: 4, Code: 4, Value: 0x700E1},
		{Sec: 100, Usec: 8005, Type: 1, Code: 42, Value: 0},
		{Sec: 100, Usec: 8005, Type: 4, Code: 4, Value: 0x70004},
		{Sec: 100, Usec: 8005, Type: 1, Code: 30, Value: 0},
		{Sec: 100, Usec: 8005, Type: 0, Code: 0, Value: 0},
	}
	if len(ev) != len(want) {
		t.Fatalf("%d events: %+v", len(ev), ev)
	}
	for i := range want {
		if ev[i] != want[i] {
			t.Errorf("event %d: %+v, want %+v", i, ev[i], want[i])
		}
	}
}
