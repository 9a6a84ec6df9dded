package pin

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"posd/conn/clock"
	"posd/crypto/pinblock"
)

// Opts configure an Entry.
type Opts struct {
	// Min and Max bound the number of digits Enter accepts; ISO 9564
	// allows 4 to 12. Zero means 4 and 12.
	Min, Max int
	// Timeout bounds the whole entry, from the prompt to Enter; zero means
	// 30 s.
	Timeout time.Duration
	// InterKeyTimeout bounds the time between two key presses, counted
	// from the first press (before it only Timeout runs); zero means 15 s,
	// a negative value none.
	InterKeyTimeout time.Duration
	// AllowBypass lets Enter without a digit bypass PIN entry
	// (ErrBypassed). EMV terminals may support PIN bypass; off, Enter
	// without a digit is refused like any short PIN.
	AllowBypass bool
	// Clock times the entry; nil means clock.Real.
	Clock clock.Clock
	// Limiter bounds the PINs accepted in a sliding window; share one
	// between the Entries of one PIN pad. nil means a Limiter of the
	// Entry's own, DefaultMaxPerWindow per DefaultWindow on Clock.
	Limiter *Limiter
	// Logger receives how entries end (never a digit or a PIN length);
	// nil discards.
	Logger *slog.Logger
}

// DefaultOpts are used when New gets nil.
var DefaultOpts = Opts{
	Min:             pinblock.MinPINLength,
	Max:             pinblock.MaxPINLength,
	Timeout:         30 * time.Second,
	InterKeyTimeout: 15 * time.Second,
}

// State says where an entry is, for the customer display.
type State string

// The states a Progress reports.
const (
	// StateStart: the prompt is up and the keypad flushed; no digit yet.
	StateStart State = "start"
	// StateDigit: a digit was added.
	StateDigit State = "digit"
	// StateCleared: Clear erased every digit.
	StateCleared State = "cleared"
	// StateTooShort: Enter with fewer than Min digits was refused; the
	// entry goes on.
	StateTooShort State = "too_short"
	// StateFull: a digit past Max was refused; the entry goes on.
	StateFull State = "full"
	// StateDone: Enter accepted the PIN; the Builder has run and the
	// digits are wiped. Digits still says how many there were.
	StateDone State = "done"
	// StateBypassed: Enter without a digit, bypass allowed.
	StateBypassed State = "bypassed"
	// StateCancelled: the customer pressed Cancel.
	StateCancelled State = "cancelled"
	// StateTimeout: the entry or the wait for a key took too long.
	StateTimeout State = "timeout"
	// StateFailed: the PIN pad or the Builder failed.
	StateFailed State = "failed"
	// StateStopped: the caller's context ended the entry.
	StateStopped State = "stopped"
)

// Final reports whether the entry is over in state s.
func (s State) Final() bool {
	switch s {
	case StateDone, StateBypassed, StateCancelled, StateTimeout, StateFailed, StateStopped:
		return true
	}
	return false
}

// Progress is what the customer display learns of an entry: how many
// digits are in (one '*' each) and the state. It never holds a digit.
type Progress struct {
	Digits int   `json:"digits"`
	State  State `json:"state"`
}

// Entry reads PINs from a PIN pad, one at a time.
type Entry struct {
	opts Opts
	clk  clock.Clock
	log  *slog.Logger

	mu sync.Mutex // held by Read: one entry at a time
	// buf holds the digits of the entry under way and nothing otherwise.
	buf [pinblock.MaxPINLength]byte
	// ev is the key event being handled and held marks the keys pressed
	// and not yet released: both may show digits, both are wiped with buf.
	ev   Event
	held [256]bool
}

// New checks opts (nil means DefaultOpts; zero fields take their
// defaults) and returns an Entry.
func New(opts *Opts) (*Entry, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.Min == 0 {
		o.Min = DefaultOpts.Min
	}
	if o.Max == 0 {
		o.Max = DefaultOpts.Max
	}
	if o.Min < pinblock.MinPINLength || o.Max > pinblock.MaxPINLength || o.Min > o.Max {
		return nil, fmt.Errorf("%w: PIN length %d..%d, ISO 9564 allows %d..%d", ErrConfig,
			o.Min, o.Max, pinblock.MinPINLength, pinblock.MaxPINLength)
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("%w: negative timeout", ErrConfig)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultOpts.Timeout
	}
	if o.InterKeyTimeout == 0 {
		o.InterKeyTimeout = DefaultOpts.InterKeyTimeout
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Limiter == nil {
		o.Limiter = DefaultLimiter(o.Clock)
	}
	return &Entry{opts: o, clk: clock.Or(o.Clock), log: log}, nil
}

// Opts returns the Entry's options with their defaults filled in.
func (e *Entry) Opts() Opts { return e.opts }

func (e *Entry) wipe() {
	clear(e.buf[:])
	clear(e.held[:])
	e.ev = Event{}
}

// wipeEvent clears an event that may hold a digit.
func wipeEvent(ev *Event) { *ev = Event{} }

// Read runs one PIN entry on keys (see the package documentation for the
// keys and the rules). prompt, when not nil, gets a Progress after each
// key press and once more at the end; it runs on Read's goroutine and
// should return quickly. When Enter accepts the PIN, Read hands the digits
// to build, wipes them, and returns what build returned. Otherwise it
// returns an error matching ErrCancelled, ErrTimeout, ErrBypassed,
// ErrKeypad, ErrBuild or ErrStopped. Either way the digits are wiped
// before Read returns, and Read has stopped calling keys.Next.
func (e *Entry) Read(ctx context.Context, keys Keys, prompt func(Progress), build Builder) ([]byte, error) {
	if keys == nil || build == nil {
		return nil, fmt.Errorf("%w: Read needs keys and a Builder", ErrConfig)
	}
	if !e.mu.TryLock() {
		return nil, ErrBusy
	}
	defer e.mu.Unlock()
	defer e.wipe()
	e.wipe()
	if prompt == nil {
		prompt = func(Progress) {}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStopped, context.Cause(ctx))
	}
	if err := e.opts.Limiter.check(); err != nil {
		prompt(Progress{State: StateFailed})
		e.log.Warn("PIN entry refused", "why", "rate limit")
		return nil, err
	}

	flushed := keys.Flush()
	total := e.clk.After(e.opts.Timeout)
	var interKey <-chan time.Time // armed by the first key press

	rctx, stop := context.WithCancel(ctx)
	evs := make(chan Event)
	failed := make(chan error, 1)
	done := make(chan struct{})
	go pump(rctx, keys, evs, failed, done)
	defer func() {
		stop()
		<-done
	}()

	n := 0
	show := func(st State) { prompt(Progress{Digits: n, State: st}) }
	end := func(st State, err error) ([]byte, error) {
		e.wipe()
		n = 0
		show(st)
		e.log.Info("PIN entry ended", "state", string(st))
		return nil, err
	}
	e.log.Debug("PIN entry started", "discarded_before_prompt", flushed)
	show(StateStart)
	for {
		select {
		case e.ev = <-evs:
		case err := <-failed:
			if ctx.Err() != nil {
				return end(StateStopped, fmt.Errorf("%w: %w", ErrStopped, context.Cause(ctx)))
			}
			return end(StateFailed, fmt.Errorf("%w: %w", ErrKeypad, err))
		case <-total:
			return end(StateTimeout, fmt.Errorf("%w: not finished within %s", ErrTimeout, e.opts.Timeout))
		case <-interKey:
			return end(StateTimeout, fmt.Errorf("%w: no key pressed for %s", ErrTimeout, e.opts.InterKeyTimeout))
		case <-ctx.Done():
			return end(StateStopped, fmt.Errorf("%w: %w", ErrStopped, context.Cause(ctx)))
		}
		if !e.ev.Down {
			e.held[e.ev.Key] = false
			e.ev = Event{}
			continue
		}
		if e.held[e.ev.Key] {
			e.ev = Event{} // still down: a repeat, or its release was lost
			continue
		}
		e.held[e.ev.Key] = true
		if e.opts.InterKeyTimeout > 0 {
			interKey = e.clk.After(e.opts.InterKeyTimeout)
		}
		switch k := e.ev.Key; {
		case k.IsDigit():
			if n == e.opts.Max {
				show(StateFull)
				break
			}
			e.buf[n] = byte(k)
			n++
			show(StateDigit)
		case k == KeyClear:
			clear(e.buf[:])
			n = 0
			show(StateCleared)
		case k == KeyCancel:
			return end(StateCancelled, ErrCancelled)
		case k == KeyEnter:
			switch {
			case n == 0 && e.opts.AllowBypass:
				return end(StateBypassed, ErrBypassed)
			case n < e.opts.Min:
				show(StateTooShort)
			default:
				if err := e.opts.Limiter.take(); err != nil {
					return end(StateFailed, err)
				}
				out, err := build(e.buf[:n:n])
				e.wipe()
				if err != nil {
					return end(StateFailed, fmt.Errorf("%w: %w", ErrBuild, err))
				}
				show(StateDone)
				e.log.Info("PIN entry ended", "state", string(StateDone))
				return out, nil
			}
		}
		e.ev = Event{}
	}
}

// pump reads keys until ctx ends or Next fails, handing each event to
// Read. It closes done when it no longer calls Next.
func pump(ctx context.Context, keys Keys, evs chan<- Event, failed chan<- error, done chan<- struct{}) {
	defer close(done)
	for {
		ev, err := keys.Next(ctx)
		if err != nil {
			failed <- err
			return
		}
		select {
		case evs <- ev:
		case <-ctx.Done():
		}
		wipeEvent(&ev)
		if ctx.Err() != nil {
			return
		}
	}
}
