// Package keypadsim simulates a passive key matrix (no diodes) behind GPIO
// pins, for tests and for the simulated board.
//
// Pins returns gpio pins to hand to keypad.New. A closed key joins its row
// to its column; a column reads Low when it is joined, through any chain of
// closed keys, to a row driven Low, and High through its pull-up otherwise.
// That chain is what makes a third key produce a ghost at the fourth corner
// of a rectangle, as on a real matrix.
//
// Columns report falling (and rising) edges to WaitForEdge. Each column
// records its edges on its own, all at once, whether or not anyone waits,
// as a kernel GPIO line keeps an event queue per line: WaitForEdge returns
// at once for an edge recorded since the last call (edges coalesce into
// one), and any number of columns can be waited on at the same time from
// different goroutines. Watching tells how many are.
//
// Press, Release and Type change the keys; PressBouncy and ReleaseBouncy
// make the contact chatter for a number of reads first.
package keypadsim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"posd/conn/clock"
	"posd/drivers/keypad"
)

// ErrNoKey means the key is not on the simulated layout.
var ErrNoKey = errors.New("keypadsim: key not on layout")

// Opts configures a Sim.
type Opts struct {
	// HoldScans is how many scans of the matrix Type keeps a key down and
	// then up. It must exceed the driver's debounce in scans.
	HoldScans int
	// Clock times the columns' WaitForEdge timeouts; nil means
	// clock.Real. Give it the driver's clock so that a test controls both;
	// the driver's column watchers then wait on it too, and its Halt
	// returns only once that clock has moved on by the driver's IdleWait.
	Clock clock.Clock
}

// DefaultOpts are used when New gets nil: enough for the driver's default
// 20 ms debounce at a 5 ms scan interval.
var DefaultOpts = Opts{HoldScans: 12}

// Sim is a simulated key matrix. It is safe for concurrent use.
type Sim struct {
	layout keypad.Layout
	opts   Opts

	mu      sync.Mutex
	cond    *sync.Cond
	rows    []*RowPin
	cols    []*ColPin
	closed  [][]bool // contact state
	target  [][]bool // state a bouncing contact settles to
	bounce  [][]int  // chatter reads left
	scans   int      // times row 0 was driven alone
	idles   int      // times every row was driven together
	lastAll bool
	waiting int // columns with a WaitForEdge under way
}

// New builds a matrix for layout with every key open.
func New(layout keypad.Layout, opts *Opts) *Sim {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.HoldScans <= 0 {
		o.HoldScans = DefaultOpts.HoldScans
	}
	o.Clock = clock.Or(o.Clock)
	s := &Sim{layout: layout, opts: o}
	s.cond = sync.NewCond(&s.mu)
	nr := len(layout)
	nc := 0
	if nr > 0 {
		nc = len(layout[0])
	}
	for r := range nr {
		s.rows = append(s.rows, &RowPin{sim: s, n: r})
		s.closed = append(s.closed, make([]bool, nc))
		s.target = append(s.target, make([]bool, nc))
		s.bounce = append(s.bounce, make([]int, nc))
	}
	for c := range nc {
		s.cols = append(s.cols, &ColPin{sim: s, n: c, level: gpio.High, edge: make(chan struct{}, 1)})
	}
	return s
}

// Pins returns the pins to give to keypad.New.
func (s *Sim) Pins() keypad.Pins {
	var p keypad.Pins
	for _, r := range s.rows {
		p.Rows = append(p.Rows, r)
	}
	for _, c := range s.cols {
		p.Cols = append(p.Cols, c)
	}
	return p
}

// Driven reports whether any row is driven (the scanner holds the matrix).
func (s *Sim) Driven() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.rows {
		if p.driven {
			return true
		}
	}
	return false
}

// Watching returns how many WaitForEdge calls on the columns are under
// way: one per column watched.
func (s *Sim) Watching() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

// WaitIdle blocks until the driver waits for a key: every row driven
// together and at least cols columns watched (see Watching).
func (s *Sim) WaitIdle(ctx context.Context, cols int) error {
	return s.waitUntil(ctx, func() func() bool {
		return func() bool { return s.lastAll && s.waiting >= cols }
	})
}

// waitUntil blocks until the condition made by start (with s.mu held, at
// the start of the wait) holds, or ctx ends; the condition runs with s.mu
// held after each change of the matrix.
func (s *Sim) waitUntil(ctx context.Context, start func() func() bool) error {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for done := start(); !done(); {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.cond.Wait()
	}
	return nil
}

// Scans returns how many full scans the driver has started.
func (s *Sim) Scans() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scans
}

func (s *Sim) set(k keypad.Key, closed bool, chatter int) error {
	r, c, ok := s.layout.Find(k)
	if !ok {
		return fmt.Errorf("keypadsim: key %q: %w", rune(k), ErrNoKey)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The contact touches at once, then chatters on the scanner's reads.
	s.target[r][c] = closed
	s.bounce[r][c] = chatter
	s.closed[r][c] = closed
	s.updateLocked()
	s.cond.Broadcast()
	return nil
}

// Press closes k.
func (s *Sim) Press(k keypad.Key) error { return s.set(k, true, 0) }

// Release opens k.
func (s *Sim) Release(k keypad.Key) error { return s.set(k, false, 0) }

// PressBouncy closes k, then makes its contact flip on each of the next
// `chatter` reads by the scanner (row driven alone) before it settles
// closed.
func (s *Sim) PressBouncy(k keypad.Key, chatter int) error { return s.set(k, true, chatter) }

// ReleaseBouncy opens k, then flips the contact on `chatter` reads before
// it settles open.
func (s *Sim) ReleaseBouncy(k keypad.Key, chatter int) error { return s.set(k, false, chatter) }

// WaitScans blocks until the driver has started n more scans or is idle
// (every row driven, waiting for a key).
func (s *Sim) WaitScans(ctx context.Context, n int) error {
	return s.waitScans(ctx, n, true)
}

// waitScans blocks until the driver has started n more scans, or until the
// matrix has gone idle when idleOK is set.
func (s *Sim) waitScans(ctx context.Context, n int, idleOK bool) error {
	return s.waitUntil(ctx, func() func() bool {
		from, idles := s.scans, s.idles
		return func() bool {
			return s.scans-from >= n || idleOK && (s.idles != idles || s.lastAll)
		}
	})
}

// Type presses and releases each key of keys in turn, holding each state
// for Opts.HoldScans scans of the driver. A release also ends when the
// driver goes idle (it has reported the key up). It needs a running driver.
//
// Type does not wait for the driver's events to be read. Its holds are
// counted in scans, so under a clock that moves only when the scanner
// waits it types in next to no real time, where a person takes a tenth
// of a second or more per key: a reader the scheduler runs late then
// finds the oldest events dropped from the driver's queue. Give the
// driver a queue (keypad.Opts.QueueLen) that holds every event typed, or
// read each key's events before typing the next.
func (s *Sim) Type(ctx context.Context, keys string) error {
	for _, k := range keys {
		if _, _, ok := s.layout.Find(keypad.Key(k)); !ok {
			return fmt.Errorf("keypadsim: key %q: %w", k, ErrNoKey)
		}
	}
	for _, k := range keys {
		if err := s.Press(keypad.Key(k)); err != nil {
			return err
		}
		if err := s.waitScans(ctx, s.opts.HoldScans, false); err != nil {
			_ = s.Release(keypad.Key(k))
			return err
		}
		if err := s.Release(keypad.Key(k)); err != nil {
			return err
		}
		if err := s.waitScans(ctx, s.opts.HoldScans, true); err != nil {
			return err
		}
	}
	return nil
}

// levelsLocked computes each column's level from the driven rows and the
// closed contacts (connected components of the row/column graph).
func (s *Sim) levelsLocked() []gpio.Level {
	nr, nc := len(s.rows), len(s.cols)
	low := make([]bool, nr+nc) // node reached from a row driven Low
	queue := make([]int, 0, nr+nc)
	for r, p := range s.rows {
		if p.driven && p.level == gpio.Low {
			low[r] = true
			queue = append(queue, r)
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if n < nr {
			for c := range nc {
				if s.closed[n][c] && !low[nr+c] {
					low[nr+c] = true
					queue = append(queue, nr+c)
				}
			}
		} else {
			c := n - nr
			for r := range nr {
				if s.closed[r][c] && !low[r] {
					low[r] = true
					queue = append(queue, r)
				}
			}
		}
	}
	out := make([]gpio.Level, nc)
	for c := range nc {
		out[c] = gpio.Level(!low[nr+c])
	}
	return out
}

// updateLocked recomputes the columns and records their edges.
func (s *Sim) updateLocked() {
	lv := s.levelsLocked()
	for c, p := range s.cols {
		old := p.level
		p.level = lv[c]
		if old == p.level {
			continue
		}
		want := (p.mode == gpio.BothEdges) ||
			(p.mode == gpio.FallingEdge && p.level == gpio.Low) ||
			(p.mode == gpio.RisingEdge && p.level == gpio.High)
		if want {
			select {
			case p.edge <- struct{}{}:
			default: // edges accumulate into one
			}
		}
	}
}

// rowsChangedLocked counts scans and idle periods from the row drive
// pattern.
func (s *Sim) rowsChangedLocked() {
	all, alone := true, len(s.rows) > 0
	for r, p := range s.rows {
		on := p.driven && p.level == gpio.Low
		if !on {
			all = false
		}
		if r > 0 && on {
			alone = false
		}
	}
	if alone && s.rows[0].driven && s.rows[0].level == gpio.Low && !all {
		s.scans++
		s.cond.Broadcast()
	}
	if all && !s.lastAll {
		s.idles++
		s.cond.Broadcast()
	}
	s.lastAll = all
	s.updateLocked()
}

// RowPin is a row line: an output when driven, high impedance as input.
type RowPin struct {
	sim    *Sim
	n      int
	driven bool
	level  gpio.Level
}

func (p *RowPin) String() string   { return fmt.Sprintf("ROW%d", p.n) }
func (p *RowPin) Halt() error      { return nil }
func (p *RowPin) Name() string     { return p.String() }
func (p *RowPin) Number() int      { return p.n }
func (p *RowPin) Function() string { return "" }

// In releases the row (high impedance).
func (p *RowPin) In(pull gpio.Pull, edge gpio.Edge) error {
	p.sim.mu.Lock()
	defer p.sim.mu.Unlock()
	p.driven = false
	p.sim.rowsChangedLocked()
	return nil
}

// Read returns the driven level, or High when released.
func (p *RowPin) Read() gpio.Level {
	p.sim.mu.Lock()
	defer p.sim.mu.Unlock()
	if p.driven {
		return p.level
	}
	return gpio.High
}

// WaitForEdge is not supported on rows.
func (p *RowPin) WaitForEdge(timeout time.Duration) bool { return false }

// Pull reports no pull on rows.
func (p *RowPin) Pull() gpio.Pull { return gpio.Float }

// DefaultPull reports no pull on rows.
func (p *RowPin) DefaultPull() gpio.Pull { return gpio.Float }

// Out drives the row.
func (p *RowPin) Out(l gpio.Level) error {
	p.sim.mu.Lock()
	defer p.sim.mu.Unlock()
	p.driven = true
	p.level = l
	p.sim.rowsChangedLocked()
	return nil
}

// PWM is not supported.
func (p *RowPin) PWM(gpio.Duty, physic.Frequency) error {
	return errors.New("keypadsim: no PWM")
}

// ColPin is a column line with a pull-up.
type ColPin struct {
	sim   *Sim
	n     int
	level gpio.Level
	mode  gpio.Edge
	pull  gpio.Pull
	edge  chan struct{}
}

func (p *ColPin) String() string   { return fmt.Sprintf("COL%d", p.n) }
func (p *ColPin) Halt() error      { return nil }
func (p *ColPin) Name() string     { return p.String() }
func (p *ColPin) Number() int      { return p.n }
func (p *ColPin) Function() string { return "" }

// In sets the edge mode and flushes pending edges. Only PullUp (or
// PullNoChange) fits a matrix whose columns idle High.
func (p *ColPin) In(pull gpio.Pull, edge gpio.Edge) error {
	if pull != gpio.PullUp && pull != gpio.PullNoChange {
		return fmt.Errorf("keypadsim: column %d needs a pull-up, got %s", p.n, pull)
	}
	p.sim.mu.Lock()
	defer p.sim.mu.Unlock()
	p.mode = edge
	p.pull = gpio.PullUp
	select {
	case <-p.edge:
	default:
	}
	return nil
}

// Read returns the column level. When the scanner reads a bouncing key
// (its row driven alone), the contact flips after the read.
func (p *ColPin) Read() gpio.Level {
	s := p.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	active := -1
	for r, rp := range s.rows {
		if rp.driven && rp.level == gpio.Low {
			if active >= 0 {
				active = -2
				break
			}
			active = r
		}
	}
	lv := p.level
	if active >= 0 && s.bounce[active][p.n] > 0 {
		s.bounce[active][p.n]--
		if s.bounce[active][p.n] == 0 {
			s.closed[active][p.n] = s.target[active][p.n]
		} else {
			s.closed[active][p.n] = !s.closed[active][p.n]
		}
		s.updateLocked()
	}
	return lv
}

// WaitForEdge waits for an edge of the kind chosen with In, at most
// timeout on the simulator's clock (forever when negative). An edge
// recorded since the last call is returned at once, even when the timeout
// has already passed.
func (p *ColPin) WaitForEdge(timeout time.Duration) bool {
	select {
	case <-p.edge:
		return true
	default:
	}
	s := p.sim
	s.mu.Lock()
	s.waiting++
	s.cond.Broadcast()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.waiting--
		s.cond.Broadcast()
		s.mu.Unlock()
	}()
	if timeout < 0 {
		<-p.edge
		return true
	}
	select {
	case <-p.edge:
		return true
	case <-s.opts.Clock.After(timeout):
		return false
	}
}

// Pull returns the pull set by In.
func (p *ColPin) Pull() gpio.Pull { return p.pull }

// DefaultPull is the board pull-up.
func (p *ColPin) DefaultPull() gpio.Pull { return gpio.PullUp }

// Out is refused: columns are inputs.
func (p *ColPin) Out(gpio.Level) error {
	return errors.New("keypadsim: column is an input")
}

// PWM is not supported.
func (p *ColPin) PWM(gpio.Duty, physic.Frequency) error {
	return errors.New("keypadsim: no PWM")
}

var (
	_ gpio.PinIO = (*RowPin)(nil)
	_ gpio.PinIO = (*ColPin)(nil)
)
