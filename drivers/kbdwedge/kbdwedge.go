package kbdwedge

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"sync"

	"periph.io/x/conn/v3"
)

// Opts configure the decoder.
type Opts struct {
	// Layout of the event records; LayoutAuto matches this program.
	Layout Layout
	// ByteOrder of the records; nil is the machine's (the kernel writes
	// native order).
	ByteOrder binary.ByteOrder
	// Keymap of the layout the device types in; nil is US.
	Keymap Keymap
	// Logger receives events without typed content; nil discards.
	Logger *slog.Logger
}

// DefaultOpts: this program's event layout, native byte order, US keys.
var DefaultOpts = Opts{Layout: LayoutAuto, Keymap: US}

// CAN is the character Read returns where events were lost.
const CAN = 0x18

// eventsPerRead bounds one read of the device.
const eventsPerRead = 64

var _ conn.Resource = (*Dev)(nil)

// Dev decodes the events of one keyboard-wedge device into the characters
// it typed. Read is for one goroutine (the text driver's); Halt may be
// called from any.
type Dev struct {
	r    io.Reader
	size int
	bo   binary.ByteOrder
	log  *slog.Logger

	readMu sync.Mutex // serialises Read
	raw    []byte     // event bytes read, owned by Read
	have   int

	mu   sync.Mutex // guards the fields below
	kd   keyDecoder
	out  []byte // typed characters not yet returned
	drop bool   // Halt: forget partial records
}

// New returns a decoder of the events read from events. The reader stays
// open after Halt: board/ owns it.
func New(events io.Reader, opts *Opts) (*Dev, error) {
	if events == nil {
		return nil, errors.New("kbdwedge: nil event reader")
	}
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	size := o.Layout.Size()
	if size == 0 {
		return nil, ErrLayout
	}
	if o.ByteOrder == nil {
		o.ByteOrder = binary.NativeEndian
	}
	if o.Keymap == nil {
		o.Keymap = US
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Dev{
		r:    events,
		size: size,
		bo:   o.ByteOrder,
		log:  lg,
		raw:  make([]byte, size*eventsPerRead),
		kd:   keyDecoder{keys: o.Keymap},
	}, nil
}

func (d *Dev) String() string { return "kbdwedge" }

// Read returns characters typed by the device. It reads the device until
// a key press types something or the device's read returns an error (a
// read timeout as io.EOF: then Read returns 0, io.EOF), which is passed
// through with the characters decoded before it.
func (d *Dev) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	d.readMu.Lock()
	defer d.readMu.Unlock()
	for {
		if n := d.take(p); n > 0 {
			return n, nil
		}
		n, err := d.r.Read(d.raw[d.have:])
		if n < 0 || n > len(d.raw)-d.have {
			return 0, errors.New("kbdwedge: event reader returned a bad count")
		}
		d.decode(n)
		if err != nil {
			return d.take(p), err
		}
		if n == 0 {
			return 0, nil
		}
	}
}

// take moves typed characters to p and wipes them.
func (d *Dev) take(p []byte) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := copy(p, d.out)
	clear(d.out[:n])
	d.out = d.out[n:]
	if len(d.out) == 0 {
		d.out = d.out[:0:0]
	}
	return n
}

// decode turns the n bytes just read (after the partial record kept from
// the last read) into characters.
func (d *Dev) decode(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.drop {
		// Halt came while the read was pending: its bytes may belong to a
		// record split before Halt.
		clear(d.raw)
		d.have, d.drop = 0, false
		return
	}
	d.have += n
	whole := d.have - d.have%d.size
	for off := 0; off < whole; off += d.size {
		e, _ := ParseEvent(d.raw[off:off+d.size], layoutOfSize(d.size), d.bo)
		c, dropped := d.kd.event(e)
		if dropped {
			d.log.Warn("kbdwedge: the kernel dropped input events; the swipe is lost")
		}
		if c != 0 {
			d.out = append(d.out, c)
		}
	}
	rest := copy(d.raw, d.raw[whole:d.have])
	clear(d.raw[rest:])
	d.have = rest
}

func layoutOfSize(n int) Layout {
	if n == 24 {
		return Layout64
	}
	return Layout32
}

// Halt forgets the modifier state, any partial record and the characters
// not yet read (wiping them). The device stays usable.
func (d *Dev) Halt() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.out)
	d.out = nil
	d.kd.reset()
	d.drop = true
	return nil
}

// keyDecoder follows modifiers and turns key presses into characters.
type keyDecoder struct {
	keys     Keymap
	shiftL   bool
	shiftR   bool
	altGr    bool
	ctrlAlt  uint8 // left Ctrl, right Ctrl, left Alt held (bits)
	caps     bool
	skipping bool // after SYN_DROPPED, until SYN_REPORT
}

func (k *keyDecoder) reset() {
	keys := k.keys
	*k = keyDecoder{keys: keys}
}

// event returns the character e types (0 for none) and whether e reports
// dropped events (then the character is CAN).
func (k *keyDecoder) event(e Event) (byte, bool) {
	if e.Type == EvSyn {
		switch e.Code {
		case SynDropped:
			// The state of the keys is unknown: assume all released.
			k.reset()
			k.skipping = true
			return CAN, true
		case SynReport:
			k.skipping = false
		}
		return 0, false
	}
	if k.skipping || e.Type != EvKey {
		return 0, false
	}
	down := e.Value != 0
	switch e.Code {
	case KeyLeftShift:
		k.shiftL = down
		return 0, false
	case KeyRightShift:
		k.shiftR = down
		return 0, false
	case KeyRightAlt:
		k.altGr = down
		return 0, false
	case KeyLeftCtrl, KeyRightCtrl, KeyLeftAlt:
		bit := uint8(1)
		if e.Code == KeyRightCtrl {
			bit = 2
		} else if e.Code == KeyLeftAlt {
			bit = 4
		}
		if down {
			k.ctrlAlt |= bit
		} else {
			k.ctrlAlt &^= bit
		}
		return 0, false
	case KeyCapsLock:
		if e.Value == 1 {
			k.caps = !k.caps
		}
		return 0, false
	}
	if e.Value != 1 || k.ctrlAlt != 0 {
		return 0, false
	}
	key, ok := k.keys[e.Code]
	if !ok {
		return 0, false
	}
	if k.altGr {
		return key.AltGr, false
	}
	shift := k.shiftL || k.shiftR
	if key.Caps && k.caps {
		shift = !shift
	}
	if shift {
		return key.Shift, false
	}
	return key.Plain, false
}
