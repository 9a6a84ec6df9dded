// Package kbdwedgesim simulates a USB keyboard-wedge reader as Linux
// presents it: it types text as the struct input_event records a HID
// keyboard produces through the kernel's hid-input driver, one report per
// key stroke:
//
//	EV_MSC MSC_SCAN <usage of Shift>, EV_KEY KEY_LEFTSHIFT 1   (when shifted)
//	EV_MSC MSC_SCAN <usage of the key>, EV_KEY <key> 1, EV_SYN SYN_REPORT
//	EV_MSC MSC_SCAN <usage of Shift>, EV_KEY KEY_LEFTSHIFT 0   (when shifted)
//	EV_MSC MSC_SCAN <usage of the key>, EV_KEY <key> 0, EV_SYN SYN_REPORT
//
// MSC_SCAN carries the HID usage (page 0x07, Keyboard/Keypad, of the USB
// HID Usage Tables) as 0x70000 + usage. Records are written in the layout
// and byte order the driver expects, time-stamped from a clock.
package kbdwedgesim

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"

	"posd/conn/clock"
	"posd/drivers/kbdwedge"
)

// Opts configure the simulated device.
type Opts struct {
	Layout    kbdwedge.Layout
	ByteOrder binary.ByteOrder // nil: the machine's
	Keymap    kbdwedge.Keymap  // nil: US
	// Clock stamps the events; nil is the wall clock.
	Clock clock.Clock
	// KeyTime is the time between two reports (press, release).
	KeyTime time.Duration
}

// Sim is a simulated keyboard-wedge device writing events to w.
type Sim struct {
	mu   sync.Mutex
	w    io.Writer
	opts Opts
	clk  clock.Clock
}

// New returns a simulator writing to w.
func New(w io.Writer, opts *Opts) *Sim {
	var o Opts
	if opts != nil {
		o = *opts
	}
	if o.ByteOrder == nil {
		o.ByteOrder = binary.NativeEndian
	}
	if o.Keymap == nil {
		o.Keymap = kbdwedge.US
	}
	if o.KeyTime == 0 {
		o.KeyTime = 4 * time.Millisecond
	}
	return &Sim{w: w, opts: o, clk: clock.Or(o.Clock)}
}

// usage is the HID usage ID (Keyboard/Keypad page) of a key code.
func usage(code uint16) int32 {
	switch {
	case code >= kbdwedge.Key1 && code <= kbdwedge.Key0:
		return 0x1E + int32(code-kbdwedge.Key1)
	case code >= kbdwedge.KeyKP1 && code <= kbdwedge.KeyKP3:
		return 0x59 + int32(code-kbdwedge.KeyKP1)
	}
	u := map[uint16]int32{
		kbdwedge.KeyA: 0x04, kbdwedge.KeyB: 0x05, kbdwedge.KeyC: 0x06, kbdwedge.KeyD: 0x07, kbdwedge.KeyE: 0x08,
		kbdwedge.KeyF: 0x09, kbdwedge.KeyG: 0x0A, kbdwedge.KeyH: 0x0B, kbdwedge.KeyI: 0x0C, kbdwedge.KeyJ: 0x0D,
		kbdwedge.KeyK: 0x0E, kbdwedge.KeyL: 0x0F, kbdwedge.KeyM: 0x10, kbdwedge.KeyN: 0x11, kbdwedge.KeyO: 0x12,
		kbdwedge.KeyP: 0x13, kbdwedge.KeyQ: 0x14, kbdwedge.KeyR: 0x15, kbdwedge.KeyS: 0x16, kbdwedge.KeyT: 0x17,
		kbdwedge.KeyU: 0x18, kbdwedge.KeyV: 0x19, kbdwedge.KeyW: 0x1A, kbdwedge.KeyX: 0x1B, kbdwedge.KeyY: 0x1C,
		kbdwedge.KeyZ: 0x1D, kbdwedge.KeyEnter: 0x28, kbdwedge.KeyTab: 0x2B, kbdwedge.KeySpace: 0x2C,
		kbdwedge.KeyMinus: 0x2D, kbdwedge.KeyEqual: 0x2E, kbdwedge.KeyLeftBrace: 0x2F, kbdwedge.KeyRightBrace: 0x30,
		kbdwedge.KeyBackslash: 0x31, kbdwedge.KeySemicolon: 0x33, kbdwedge.KeyApostrophe: 0x34,
		kbdwedge.KeyGrave: 0x35, kbdwedge.KeyComma: 0x36, kbdwedge.KeyDot: 0x37, kbdwedge.KeySlash: 0x38,
		kbdwedge.KeyLeftShift: 0xE1, kbdwedge.KeyRightShift: 0xE5, kbdwedge.KeyRightAlt: 0xE6,
	}[code]
	return u
}

// Events returns the events that type text, starting at time t.
func (s *Sim) Events(text string, t time.Time) ([]kbdwedge.Event, error) {
	var ev []kbdwedge.Event
	at := func(typ, code uint16, v int32) {
		ev = append(ev, kbdwedge.Event{Sec: uint64(t.Unix()), Usec: uint64(t.Nanosecond() / 1000), Type: typ, Code: code, Value: v})
	}
	key := func(code uint16, v int32) {
		if u := usage(code); u != 0 {
			at(kbdwedge.EvMsc, kbdwedge.MscScan, 0x70000+u)
		}
		at(kbdwedge.EvKey, code, v)
	}
	for i := 0; i < len(text); i++ {
		st, ok := s.opts.Keymap.Stroke(text[i])
		if !ok {
			return nil, fmt.Errorf("kbdwedgesim: character %#02x cannot be typed on this keymap", text[i])
		}
		for _, v := range []int32{1, 0} {
			if st.Shift {
				key(kbdwedge.KeyLeftShift, v)
			}
			if st.AltGr {
				key(kbdwedge.KeyRightAlt, v)
			}
			key(st.Code, v)
			at(kbdwedge.EvSyn, kbdwedge.SynReport, 0)
			t = t.Add(s.opts.KeyTime)
		}
	}
	return ev, nil
}

// Encode returns the records of events.
func (s *Sim) Encode(events []kbdwedge.Event) ([]byte, error) {
	var out []byte
	for _, e := range events {
		var err error
		if out, err = kbdwedge.AppendEvent(out, e, s.opts.Layout, s.opts.ByteOrder); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Type writes the records that type text, in one write.
func (s *Sim) Type(text string) error {
	ev, err := s.Events(text, s.clk.Now())
	if err != nil {
		return err
	}
	b, err := s.Encode(ev)
	if err != nil {
		return err
	}
	defer clear(b) // keystrokes of card data
	return s.WriteRaw(b)
}

// Dropped writes what the kernel reports when the device's event buffer
// overflowed: EV_SYN SYN_DROPPED.
func (s *Sim) Dropped() error {
	b, err := s.Encode([]kbdwedge.Event{{Type: kbdwedge.EvSyn, Code: kbdwedge.SynDropped}})
	if err != nil {
		return err
	}
	return s.WriteRaw(b)
}

// WriteRaw writes bytes as they are.
func (s *Sim) WriteRaw(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.w.Write(b)
	return err
}
