package kbdwedge

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// Layout is the size of the time fields of struct input_event.
type Layout int

const (
	// LayoutAuto is the layout the kernel uses for this program: Layout64
	// when it is a 64-bit program, Layout32 otherwise.
	LayoutAuto Layout = iota
	// Layout64: 24-byte events, 64-bit seconds and microseconds (arm64,
	// amd64).
	Layout64
	// Layout32: 16-byte events, 32-bit seconds and microseconds (32-bit
	// ARM, also with a 64-bit time_t, and 32-bit programs on a 64-bit
	// kernel).
	Layout32
)

// Resolve returns the concrete layout of l.
func (l Layout) Resolve() Layout {
	if l == LayoutAuto {
		if bits.UintSize == 64 {
			return Layout64
		}
		return Layout32
	}
	return l
}

// Size is the size of one event record in bytes.
func (l Layout) Size() int {
	switch l.Resolve() {
	case Layout64:
		return 24
	case Layout32:
		return 16
	}
	return 0
}

func (l Layout) String() string {
	switch l {
	case LayoutAuto:
		return "auto"
	case Layout64:
		return "64"
	case Layout32:
		return "32"
	}
	return fmt.Sprintf("kbdwedge.Layout(%d)", int(l))
}

// ParseLayout returns the layout named s: "auto" (or ""), "64", "32".
func ParseLayout(s string) (Layout, error) {
	switch s {
	case "", "auto":
		return LayoutAuto, nil
	case "64":
		return Layout64, nil
	case "32":
		return Layout32, nil
	}
	return 0, fmt.Errorf("%w %q (auto, 64 or 32)", ErrLayout, s)
}

// Event types and codes used by the decoder
// (include/uapi/linux/input-event-codes.h).
const (
	EvSyn = 0x00
	EvKey = 0x01
	EvMsc = 0x04

	SynReport  = 0
	SynDropped = 3
	MscScan    = 0x04
)

// Event is one struct input_event.
type Event struct {
	Sec, Usec uint64
	Type      uint16
	Code      uint16
	Value     int32
}

// ParseEvent decodes one event record of layout l in byte order bo.
func ParseEvent(b []byte, l Layout, bo binary.ByteOrder) (Event, error) {
	n := l.Size()
	if n == 0 {
		return Event{}, ErrLayout
	}
	if len(b) != n {
		return Event{}, fmt.Errorf("%w: %d bytes, want %d", ErrEventSize, len(b), n)
	}
	var e Event
	if n == 24 {
		e.Sec, e.Usec = bo.Uint64(b[0:]), bo.Uint64(b[8:])
	} else {
		e.Sec, e.Usec = uint64(bo.Uint32(b[0:])), uint64(bo.Uint32(b[4:]))
	}
	t := b[n-8:]
	e.Type, e.Code, e.Value = bo.Uint16(t[0:]), bo.Uint16(t[2:]), int32(bo.Uint32(t[4:]))
	return e, nil
}

// AppendEvent appends the record of e in layout l and byte order bo (the
// simulator writes events with it). The time fields are truncated to 32
// bits in Layout32.
func AppendEvent(b []byte, e Event, l Layout, bo binary.ByteOrder) ([]byte, error) {
	var r [24]byte
	n := l.Size()
	switch n {
	case 24:
		bo.PutUint64(r[0:], e.Sec)
		bo.PutUint64(r[8:], e.Usec)
	case 16:
		bo.PutUint32(r[0:], uint32(e.Sec))
		bo.PutUint32(r[4:], uint32(e.Usec))
	default:
		return b, ErrLayout
	}
	bo.PutUint16(r[n-8:], e.Type)
	bo.PutUint16(r[n-6:], e.Code)
	bo.PutUint32(r[n-4:], uint32(e.Value))
	return append(b, r[:n]...), nil
}
