package keypad

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Pins are the GPIO lines of the matrix. Rows must be able to drive Low
// and to be released as inputs; columns need pull-ups (internal or on the
// board).
type Pins struct {
	Rows []gpio.PinIO
	Cols []gpio.PinIn
}

// Opts configures a Dev.
type Opts struct {
	// Layout maps [row][column] to keys; its size must match the pins.
	Layout Layout
	// Debounce is how long a key must read the same way before a change is
	// reported.
	Debounce time.Duration
	// ScanInterval is the pause between scans while a key is down or being
	// debounced, and between idle polls without edge detection.
	ScanInterval time.Duration
	// Settle is the pause between driving a row and reading the columns.
	Settle time.Duration
	// IdleWait bounds one WaitForEdge call while idle; it is also the
	// longest Halt waits for the scan goroutine.
	IdleWait time.Duration
	// NoEdge forces polling even when the column pins detect edges.
	NoEdge bool
	// EventBuffer is the capacity of the Events channel. When it is full
	// scanning pauses until the reader catches up; no key is lost.
	EventBuffer int
	// Now and Sleep give the time; nil means the time package.
	Now   func() time.Time
	Sleep func(time.Duration)
	// Logger receives diagnostics; nil discards them. Keys are never
	// logged.
	Logger *slog.Logger
}

// DefaultOpts are used when New gets nil.
var DefaultOpts = Opts{
	Layout:       Layout4x4,
	Debounce:     20 * time.Millisecond,
	ScanInterval: 5 * time.Millisecond,
	Settle:       10 * time.Microsecond,
	IdleWait:     50 * time.Millisecond,
	EventBuffer:  16,
}

// Event is a key going down or up.
type Event struct {
	Key  Key
	Down bool
}

type keyState struct {
	stable  bool // debounced: closed
	pending bool // raw differs from stable since `since`
	since   time.Time
}

// Dev scans one keypad matrix.
type Dev struct {
	pins   Pins
	opts   Opts
	log    *slog.Logger
	edges  bool
	nrows  int
	ncols  int
	raw    [][]bool
	state  [][]keyState
	events chan Event
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// New configures the pins and starts the scan goroutine.
func New(pins Pins, opts *Opts) (*Dev, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.Layout == nil {
		o.Layout = DefaultOpts.Layout
	}
	rows, cols, ok := o.Layout.size()
	if !ok {
		return nil, fmt.Errorf("keypad: layout is not a rectangle: %w", ErrConfig)
	}
	if len(pins.Rows) != rows || len(pins.Cols) != cols {
		return nil, fmt.Errorf("keypad: %dx%d pins for a %dx%d layout: %w", len(pins.Rows), len(pins.Cols), rows, cols, ErrConfig)
	}
	for _, p := range pins.Rows {
		if p == nil {
			return nil, fmt.Errorf("keypad: nil row pin: %w", ErrConfig)
		}
	}
	for _, p := range pins.Cols {
		if p == nil {
			return nil, fmt.Errorf("keypad: nil column pin: %w", ErrConfig)
		}
	}
	if o.Debounce < 0 || o.ScanInterval < 0 || o.Settle < 0 {
		return nil, fmt.Errorf("keypad: negative duration: %w", ErrConfig)
	}
	if o.ScanInterval == 0 {
		o.ScanInterval = DefaultOpts.ScanInterval
	}
	if o.IdleWait <= 0 {
		o.IdleWait = DefaultOpts.IdleWait
	}
	if o.EventBuffer <= 0 {
		o.EventBuffer = DefaultOpts.EventBuffer
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = time.Sleep
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dev{
		pins:   pins,
		opts:   o,
		log:    log,
		nrows:  rows,
		ncols:  cols,
		events: make(chan Event, o.EventBuffer),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	d.raw = make([][]bool, rows)
	d.state = make([][]keyState, rows)
	for r := range rows {
		d.raw[r] = make([]bool, cols)
		d.state[r] = make([]keyState, cols)
	}
	if err := d.setupPins(); err != nil {
		return nil, err
	}
	go d.run()
	return d, nil
}

func (d *Dev) setupPins() error {
	for _, p := range d.pins.Rows {
		if err := p.In(gpio.Float, gpio.NoEdge); err != nil {
			return fmt.Errorf("keypad: release row %s: %w: %w", p, ErrPin, err)
		}
	}
	d.edges = !d.opts.NoEdge
	if d.edges {
		for _, p := range d.pins.Cols {
			if err := p.In(gpio.PullUp, gpio.FallingEdge); err != nil {
				d.log.Info("no edge detection on columns, polling", "pin", p.String())
				d.edges = false
				break
			}
		}
	}
	if !d.edges {
		for _, p := range d.pins.Cols {
			if err := p.In(gpio.PullUp, gpio.NoEdge); err != nil {
				return fmt.Errorf("keypad: column %s: %w: %w", p, ErrPin, err)
			}
		}
	}
	return nil
}

// String describes the device.
func (d *Dev) String() string {
	mode := "polling"
	if d.edges {
		mode = "edge"
	}
	return fmt.Sprintf("keypad(%dx%d, %s)", d.nrows, d.ncols, mode)
}

// Events delivers debounced key changes. It is closed when Halt returns.
func (d *Dev) Events() <-chan Event {
	return d.events
}

// Halt stops the scan goroutine, waits for it and releases the rows.
func (d *Dev) Halt() error {
	d.once.Do(func() { close(d.stop) })
	<-d.done
	return nil
}

func (d *Dev) stopping() bool {
	select {
	case <-d.stop:
		return true
	default:
		return false
	}
}

func (d *Dev) run() {
	defer close(d.done)
	defer close(d.events)
	defer d.releaseRows()
	for !d.stopping() {
		if err := d.scan(); err != nil {
			d.log.Warn("scan failed", "err", err)
			d.opts.Sleep(d.opts.ScanInterval)
			continue
		}
		busy, ok := d.update(d.opts.Now())
		if !ok {
			return
		}
		if busy || !d.edges {
			d.opts.Sleep(d.opts.ScanInterval)
			continue
		}
		d.idle()
	}
}

// scan reads the whole matrix into d.raw: true where a column reads Low
// while its row is driven Low.
func (d *Dev) scan() error {
	for r, row := range d.pins.Rows {
		if err := row.Out(gpio.Low); err != nil {
			d.releaseRows()
			return fmt.Errorf("keypad: drive row %d: %w: %w", r, ErrPin, err)
		}
		if d.opts.Settle > 0 {
			d.opts.Sleep(d.opts.Settle)
		}
		for c, col := range d.pins.Cols {
			d.raw[r][c] = col.Read() == gpio.Low
		}
		if err := row.In(gpio.Float, gpio.NoEdge); err != nil {
			d.releaseRows()
			return fmt.Errorf("keypad: release row %d: %w: %w", r, ErrPin, err)
		}
	}
	return nil
}

func (d *Dev) releaseRows() {
	for _, row := range d.pins.Rows {
		_ = row.In(gpio.Float, gpio.NoEdge)
	}
}

// ghosted reports whether the raw matrix is ambiguous: two rows sharing
// two closed columns form a rectangle whose fourth corner may be a ghost.
func ghosted(raw [][]bool) bool {
	for r1 := range raw {
		for r2 := r1 + 1; r2 < len(raw); r2++ {
			shared := 0
			for c := range raw[r1] {
				if raw[r1][c] && raw[r2][c] {
					shared++
				}
			}
			if shared >= 2 {
				return true
			}
		}
	}
	return false
}

// update debounces the last scan. busy means a key is down or a change is
// being debounced; ok is false when Halt interrupted an event send.
func (d *Dev) update(now time.Time) (busy, ok bool) {
	if ghosted(d.raw) {
		d.log.Debug("ambiguous key pattern ignored")
		return true, true
	}
	for r := range d.nrows {
		for c := range d.ncols {
			st := &d.state[r][c]
			raw := d.raw[r][c]
			if raw == st.stable {
				st.pending = false
			} else {
				if !st.pending {
					st.pending = true
					st.since = now
				}
				if now.Sub(st.since) >= d.opts.Debounce {
					st.stable = raw
					st.pending = false
					if k := d.opts.Layout[r][c]; k != KeyNone {
						d.log.Debug("key event")
						select {
						case d.events <- Event{Key: k, Down: raw}:
						case <-d.stop:
							return false, false
						}
					}
				}
			}
			if st.stable || st.pending {
				busy = true
			}
		}
	}
	return busy, true
}

// idle drives every row Low and waits for a column to fall.
func (d *Dev) idle() {
	for r, row := range d.pins.Rows {
		if err := row.Out(gpio.Low); err != nil {
			d.log.Warn("idle drive failed", "row", r, "err", err)
			d.releaseRows()
			d.opts.Sleep(d.opts.ScanInterval)
			return
		}
	}
	defer d.releaseRows()
	for _, col := range d.pins.Cols {
		if col.Read() == gpio.Low {
			return // pressed before the wait began
		}
	}
	for i := 0; !d.stopping(); i = (i + 1) % len(d.pins.Cols) {
		if d.pins.Cols[i].WaitForEdge(d.opts.IdleWait) {
			return
		}
	}
}
