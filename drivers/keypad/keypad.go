package keypad

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"

	"posd/conn/clock"
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
	// debounced, and between polls without edge detection.
	ScanInterval time.Duration
	// Settle is the pause between driving a row and reading the columns.
	Settle time.Duration
	// IdleWait bounds one wait for a key while no key is down: the
	// matrix is scanned again after each wait, so it is also the longest
	// gap between two scans. It also bounds each WaitForEdge call of the
	// column watchers, which nothing can cut short, so it is the longest
	// Halt waits for them.
	IdleWait time.Duration
	// NoEdge forces polling even when the column pins detect edges.
	NoEdge bool
	// QueueLen is the capacity of the event queue read with Next. When it
	// is full the oldest event is dropped (Stats.Dropped counts them):
	// scanning never waits for the reader. Keep it small: the events of a
	// PIN entry carry digits.
	QueueLen int
	// Clock gives the time for debouncing, the pauses between scans and
	// the wait for a key; nil means clock.Real. The column watchers'
	// WaitForEdge calls run on the pins' own timer.
	Clock clock.Clock
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
	QueueLen:     8,
}

// Event is a key going down or up.
type Event struct {
	Key  Key
	Down bool
}

// Stats describe the scanner. They carry no key values.
type Stats struct {
	// Running is false after Halt (until Start).
	Running bool
	// Scans counts complete scans of the matrix since New.
	Scans uint64
	// ScanErrors counts scans that failed on a pin error; LastErr is the
	// latest such error (nil once a scan succeeds again).
	ScanErrors uint64
	LastErr    error
	// LastScan is when the latest complete scan ended, on Opts.Clock; zero
	// before the first.
	LastScan time.Time
	// Events counts key events queued since New.
	Events uint64
	// Dropped counts events pushed out of the full queue (oldest first)
	// because nobody read them in time.
	Dropped uint64
	// Flushed counts events discarded by Flush and Halt.
	Flushed uint64
	// Queued is the number of events waiting to be read.
	Queued int
}

type keyState struct {
	stable  bool // debounced: closed
	pending bool // raw differs from stable since `since`
	since   time.Time
}

// Dev scans one keypad matrix.
type Dev struct {
	pins  Pins
	opts  Opts
	clk   clock.Clock
	log   *slog.Logger
	edges bool
	nrows int
	ncols int

	// Owned by the scan goroutine.
	raw     [][]bool
	state   [][]keyState
	failing bool

	ctl sync.Mutex     // serialises Start and Halt
	wg  sync.WaitGroup // the scan goroutine and the column watchers

	mu       sync.Mutex // guards the fields below
	running  bool
	stop     <-chan struct{} // closed by Halt; nil before the first Start
	cancel   context.CancelFunc
	q        []Event // ring buffer of queued events
	head, n  int
	st       Stats
	scanWait chan struct{} // closed at the end of the next scan

	avail chan struct{} // an event was queued
}

var _ conn.Resource = (*Dev)(nil)

// New configures the pins and starts scanning.
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
	if o.Debounce < 0 || o.ScanInterval < 0 || o.Settle < 0 || o.QueueLen < 0 {
		return nil, fmt.Errorf("keypad: negative duration or queue length: %w", ErrConfig)
	}
	if o.ScanInterval == 0 {
		o.ScanInterval = DefaultOpts.ScanInterval
	}
	if o.IdleWait <= 0 {
		o.IdleWait = DefaultOpts.IdleWait
	}
	if o.QueueLen == 0 {
		o.QueueLen = DefaultOpts.QueueLen
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dev{
		pins:  pins,
		opts:  o,
		clk:   clock.Or(o.Clock),
		log:   log,
		nrows: rows,
		ncols: cols,
		q:     make([]Event, o.QueueLen),
		avail: make(chan struct{}, 1),
	}
	d.raw = make([][]bool, rows)
	d.state = make([][]keyState, rows)
	for r := range rows {
		d.raw[r] = make([]bool, cols)
		d.state[r] = make([]keyState, cols)
	}
	if err := d.Start(); err != nil {
		return nil, err
	}
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
	d.ctl.Lock()
	defer d.ctl.Unlock()
	mode := "polling"
	if d.edges {
		mode = "edge"
	}
	return fmt.Sprintf("keypad(%dx%d, %s)", d.nrows, d.ncols, mode)
}

// Start (re)starts scanning after Halt; New calls it. It configures the
// pins again and forgets the keys seen before: a key still held is
// reported down anew. Start on a running Dev does nothing.
func (d *Dev) Start() error {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	d.mu.Lock()
	running := d.running
	d.mu.Unlock()
	if running {
		return nil
	}
	if err := d.setupPins(); err != nil {
		return err
	}
	for r := range d.nrows {
		clear(d.raw[r])
		clear(d.state[r])
	}
	d.failing = false
	ctx, cancel := context.WithCancel(context.Background())
	d.mu.Lock()
	d.running, d.stop, d.cancel = true, ctx.Done(), cancel
	d.mu.Unlock()
	var w *watchers
	if d.edges {
		w = &watchers{edge: make(chan struct{}, 1)}
		for _, col := range d.pins.Cols {
			arm := make(chan struct{}, 1)
			w.arm = append(w.arm, arm)
			d.wg.Go(func() { d.watch(ctx, col, arm, w.edge) })
		}
	}
	d.wg.Go(func() { d.run(ctx, w) })
	return nil
}

// Halt stops scanning: it waits for the scan goroutine and the column
// watchers (at most about IdleWait), releases the rows, wipes and discards
// the queued events (they may be PIN digits) and makes a waiting Next fail
// with ErrHalted. The Dev stays usable: Stats and Flush work, Next returns
// ErrHalted until Start resumes scanning. Halt on a halted Dev returns nil
// at once. The pins are never closed (nor halted: a column watcher's
// WaitForEdge is left to time out).
func (d *Dev) Halt() error {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	d.mu.Lock()
	if !d.running {
		d.mu.Unlock()
		return nil
	}
	d.running = false
	d.flushLocked()
	cancel := d.cancel
	d.mu.Unlock()
	cancel()
	d.wg.Wait()
	return nil
}

// Next returns the oldest queued key event, waiting for one until ctx
// ends (an ended ctx returns its error even with keys queued). It fails
// with ErrHalted once the Dev is halted; events queued before Halt are
// gone by then.
func (d *Dev) Next(ctx context.Context) (Event, error) {
	for {
		// An ended context wins over a queued key: the keys stay for the
		// next reader (a cancelled prompt does not swallow them).
		if err := ctx.Err(); err != nil {
			return Event{}, err
		}
		d.mu.Lock()
		if d.n > 0 {
			ev := d.q[d.head]
			d.q[d.head] = Event{}
			d.head = (d.head + 1) % len(d.q)
			d.n--
			more := d.n > 0
			d.mu.Unlock()
			if more {
				d.signal() // another reader may be waiting
			}
			return ev, nil
		}
		if !d.running {
			d.mu.Unlock()
			return Event{}, ErrHalted
		}
		stop := d.stop
		d.mu.Unlock()
		select {
		case <-d.avail:
		case <-stop:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Flush wipes and discards the queued events and returns how many there
// were. A PIN entry starts with it, so that no key pressed before the
// prompt becomes a digit.
func (d *Dev) Flush() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.flushLocked()
}

func (d *Dev) flushLocked() int {
	n := d.n
	clear(d.q)
	d.head, d.n = 0, 0
	d.st.Flushed += uint64(n)
	return n
}

// Stats returns the scanner's counters.
func (d *Dev) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.st
	s.Running = d.running
	s.Queued = d.n
	return s
}

// CheckScanning waits for a scan of the matrix that begins after the call
// to complete. It returns nil when one does, ErrHalted when the Dev is
// halted, and an error wrapping ErrStalled (and the last pin error, if
// any) when ctx ends first. A working scanner completes a scan at least
// every IdleWait plus ScanInterval, whoever reads the events.
func (d *Dev) CheckScanning(ctx context.Context) error {
	d.mu.Lock()
	if !d.running {
		d.mu.Unlock()
		return ErrHalted
	}
	stop := d.stop
	// The scan under way may have begun before the call: wait for the one
	// after it.
	target := d.st.Scans + 2
	for d.st.Scans < target {
		if d.scanWait == nil {
			d.scanWait = make(chan struct{})
		}
		ch := d.scanWait
		d.mu.Unlock()
		select {
		case <-ch:
		case <-stop:
			return ErrHalted
		case <-ctx.Done():
			st := d.Stats()
			if st.LastErr != nil {
				return fmt.Errorf("keypad: no scan completed (%d scans, %d failed): %w: %w", st.Scans, st.ScanErrors, ErrStalled, st.LastErr)
			}
			return fmt.Errorf("keypad: no scan completed (%d scans): %w", st.Scans, ErrStalled)
		}
		d.mu.Lock()
	}
	d.mu.Unlock()
	return nil
}

func (d *Dev) signal() {
	select {
	case d.avail <- struct{}{}:
	default:
	}
}

// push queues ev, dropping the oldest event when the queue is full.
func (d *Dev) push(ev Event) {
	d.mu.Lock()
	if !d.running {
		d.mu.Unlock()
		return // Halt under way: the queue stays empty
	}
	if d.n == len(d.q) {
		d.q[d.head] = Event{}
		d.head = (d.head + 1) % len(d.q)
		d.n--
		d.st.Dropped++
		d.log.Debug("key event dropped, queue full")
	}
	d.q[(d.head+d.n)%len(d.q)] = ev
	d.n++
	d.st.Events++
	d.mu.Unlock()
	d.log.Debug("key event")
	d.signal()
}

func (d *Dev) scanned(now time.Time) {
	d.mu.Lock()
	d.st.Scans++
	d.st.LastScan = now
	d.st.LastErr = nil
	if d.scanWait != nil {
		close(d.scanWait)
		d.scanWait = nil
	}
	d.mu.Unlock()
	if d.failing {
		d.failing = false
		d.log.Info("scanning again")
	}
}

func (d *Dev) scanFailed(err error) {
	d.mu.Lock()
	d.st.ScanErrors++
	d.st.LastErr = err
	d.mu.Unlock()
	if !d.failing {
		d.failing = true
		d.log.Warn("scan failed", "err", err)
	}
}

// watchers is what the scan goroutine shares with the column watchers.
type watchers struct {
	// edge wakes the scan goroutine waiting for a key: a column fell. It
	// holds one wake-up; more coalesce.
	edge chan struct{}
	// arm holds, for each column, the scan goroutine's call to watch it
	// again; one at most is pending.
	arm []chan struct{}
}

// watch waits for the edges of one column and passes them on to edge. It
// keeps waiting while edges come; after a wait that ends without one (the
// timeout, or a pin that cannot wait) it waits until the scan goroutine
// arms it as it goes idle, so that a pin whose WaitForEdge returns at once
// costs a call per wait for a key, not a busy loop. Each call is bounded
// by IdleWait: a blocked WaitForEdge cannot be interrupted through
// gpio.PinIn, so that is the longest Halt waits for a watcher. (IdleWait is
// never 0 or negative, which some pin drivers take as "forever" and others
// as "already expired".)
func (d *Dev) watch(ctx context.Context, col gpio.PinIn, arm <-chan struct{}, edge chan<- struct{}) {
	for {
		select {
		case <-arm:
		case <-ctx.Done():
			return
		}
		for ctx.Err() == nil && col.WaitForEdge(d.opts.IdleWait) {
			select {
			case edge <- struct{}{}:
			default: // a wake-up is already pending
			}
		}
	}
}

// run is the scan goroutine; w is nil when polling.
func (d *Dev) run(ctx context.Context, w *watchers) {
	defer d.releaseRows()
	for ctx.Err() == nil {
		if err := d.scan(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			d.scanFailed(err)
			_ = clock.Sleep(ctx, d.clk, d.opts.ScanInterval)
			continue
		}
		now := d.clk.Now()
		busy := d.update(now)
		d.scanned(now)
		if busy || w == nil {
			_ = clock.Sleep(ctx, d.clk, d.opts.ScanInterval)
			continue
		}
		d.idle(ctx, w)
	}
}

// scan reads the whole matrix into d.raw: true where a column reads Low
// while its row is driven Low.
func (d *Dev) scan(ctx context.Context) error {
	for r, row := range d.pins.Rows {
		if err := row.Out(gpio.Low); err != nil {
			d.releaseRows()
			return fmt.Errorf("keypad: drive row %d: %w: %w", r, ErrPin, err)
		}
		if d.opts.Settle > 0 {
			if err := clock.Sleep(ctx, d.clk, d.opts.Settle); err != nil {
				d.releaseRows()
				return err
			}
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

// update debounces the last scan and queues the changes. busy means a key
// is down or a change is being debounced.
func (d *Dev) update(now time.Time) (busy bool) {
	if ghosted(d.raw) {
		d.log.Debug("ambiguous key pattern ignored")
		return true
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
						d.push(Event{Key: k, Down: raw})
					}
				}
			}
			if st.stable || st.pending {
				busy = true
			}
		}
	}
	return busy
}

// idle drives every row Low and waits until a column falls, any column
// (the watchers wait on all of them at once), IdleWait passes or ctx
// ends; the caller scans again either way.
func (d *Dev) idle(ctx context.Context, w *watchers) {
	for r, row := range d.pins.Rows {
		if err := row.Out(gpio.Low); err != nil {
			d.log.Warn("idle drive failed", "row", r, "err", err)
			d.releaseRows()
			_ = clock.Sleep(ctx, d.clk, d.opts.ScanInterval)
			return
		}
	}
	defer d.releaseRows()
	// A wake-up pending now comes from the scans (driving rows one by one
	// makes a closed key's column fall) or from a key the reads below
	// see: drop it, then read. A key that closes after the reads wakes
	// the wait below.
	select {
	case <-w.edge:
	default:
	}
	for _, col := range d.pins.Cols {
		if col.Read() == gpio.Low {
			return // pressed before the wait began
		}
	}
	for _, a := range w.arm {
		select {
		case a <- struct{}{}:
		default: // armed already
		}
	}
	d.waitKey(ctx, w.edge)
}

// waitKey waits for a wake-up on edge, at most IdleWait, or until ctx ends.
func (d *Dev) waitKey(ctx context.Context, edge <-chan struct{}) {
	var after <-chan time.Time
	if d.clk == clock.Real {
		t := time.NewTimer(d.opts.IdleWait)
		defer t.Stop()
		after = t.C
	} else {
		after = d.clk.After(d.opts.IdleWait)
	}
	select {
	case <-edge:
	case <-after:
	case <-ctx.Done():
	}
}
