package msr

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"posd/conn/clock"

	"periph.io/x/conn/v3"
)

// Opts configures a reader.
type Opts struct {
	// Format is how the reader delimits swipes; FormatAuto (the zero
	// value) accepts them all.
	Format Format
	// Sentinels; zero means DefaultSentinels.
	Sentinels Sentinels
	// LRC: the reader forwards the LRC character after each track.
	LRC bool
	// ErrorMark is what the reader sends between a track's sentinels for
	// a track it could not decode; zero means DefaultErrorMark ('E').
	ErrorMark byte
	// MaxLine bounds a swipe (all its tracks); longer input is discarded
	// up to the end of the swipe and reported as ErrTooLong.
	MaxLine int
	// SwipeGap is how long the line stays quiet before a swipe of the
	// per-track formats (FormatAuto, FormatIDTech) is complete.
	SwipeGap time.Duration
	// IdleSleep is how long to wait after a read that returned nothing
	// (a port's read timeout), so a non-tty reader never spins.
	IdleSleep time.Duration
	// Clock times SwipeGap and IdleSleep; nil is the wall clock.
	Clock clock.Clock
	// Logger receives events without track content; nil discards.
	Logger *slog.Logger
}

// DefaultOpts accept every supported output format: ISO sentinels, no
// LRC, 'E' for an undecodable track.
var DefaultOpts = Opts{
	Format:    FormatAuto,
	Sentinels: DefaultSentinels,
	ErrorMark: DefaultErrorMark,
	MaxLine:   512,
	SwipeGap:  300 * time.Millisecond,
	IdleSleep: 20 * time.Millisecond,
}

// Result is one swipe, or why it could not be read.
type Result struct {
	Swipe *Swipe
	Err   error
}

// Dev is a magnetic stripe reader whose output is a byte stream: a serial
// module, or a keyboard-wedge reader through drivers/kbdwedge. A goroutine
// reads the stream and delivers one Result per swipe on Swipes; Read
// waits for the next one.
type Dev struct {
	port io.Reader
	opts Opts
	clk  clock.Clock
	log  *slog.Logger
	out  chan Result

	mu     sync.Mutex
	ctx    context.Context    // the running reader's; done when halted
	cancel context.CancelFunc // stops the running reader
	done   chan struct{}      // closed when the running reader returned
}

var _ conn.Resource = (*Dev)(nil)

// New starts reading port. The port stays open after Halt: board/ owns it.
func New(port io.Reader, opts *Opts) (*Dev, error) {
	if port == nil {
		return nil, errors.New("msr: nil port")
	}
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.Format < FormatAuto || o.Format > FormatMagTek {
		return nil, errors.New("msr: unknown reader format " + o.Format.String())
	}
	if o.Sentinels == (Sentinels{}) {
		o.Sentinels = DefaultSentinels
	}
	if o.ErrorMark == 0 {
		o.ErrorMark = DefaultErrorMark
	}
	if o.MaxLine <= 0 {
		o.MaxLine = DefaultOpts.MaxLine
	}
	if o.SwipeGap <= 0 {
		o.SwipeGap = DefaultOpts.SwipeGap
	}
	if o.IdleSleep <= 0 {
		o.IdleSleep = DefaultOpts.IdleSleep
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	d := &Dev{
		port: port,
		opts: o,
		clk:  clock.Or(o.Clock),
		log:  lg,
		out:  make(chan Result, 1),
	}
	d.Start()
	return d, nil
}

// Start (re)starts reading the port after Halt; New starts it. Calling it
// while the reader runs does nothing.
func (d *Dev) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx != nil && d.ctx.Err() == nil {
		return
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.done = make(chan struct{})
	go d.run(d.ctx, d.done)
}

func (d *Dev) String() string { return "msr(" + d.opts.Format.String() + ")" }

// Swipes delivers a Result per swipe: a usable swipe (Swipe set, Err nil;
// Swipe.Errs says which tracks were bad), an unreadable swipe (Err matches
// ErrUnreadable: ask for a re-swipe), or a transient *PortError. Only the
// newest unread result is kept. The channel stays open across Halt.
func (d *Dev) Swipes() <-chan Result { return d.out }

// Read waits for the next swipe. It returns the swipe when track 2 or
// track 1 is usable; an error matching ErrUnreadable when neither is (the
// reader keeps reading: prompt for a re-swipe and call Read again); a
// *PortError for a transient I/O error; ErrHalted after Halt; ctx.Err()
// when ctx ends first.
func (d *Dev) Read(ctx context.Context) (*Swipe, error) {
	d.mu.Lock()
	running := d.ctx
	d.mu.Unlock()
	// An ended context wins over a waiting swipe (select would pick
	// either): the swipe stays for the next Read.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-running.Done():
		return nil, ErrHalted
	case r := <-d.out:
		return r.Swipe, r.Err
	}
}

// Halt stops reading the port and waits for the reader goroutine: a swipe
// in progress is discarded and wiped. The device stays usable: Start reads
// again. It returns once the port's pending Read returns (the port's read
// timeout bounds that). Halting a halted device does nothing.
func (d *Dev) Halt() error {
	d.mu.Lock()
	cancel, done := d.cancel, d.done
	d.mu.Unlock()
	cancel()
	<-done
	return nil
}

func (d *Dev) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	buf := make([]byte, 256)
	fr := newFramer(d.opts.Format, d.opts.Sentinels, d.opts.MaxLine, d.opts.SwipeGap)
	defer clear(buf)
	// A swipe cut short by Halt must not stay behind in memory either.
	defer fr.wipe()
	for ctx.Err() == nil {
		n, err := d.port.Read(buf)
		now := d.clk.Now()
		fr.feed(buf[:n], now, d.deliver)
		clear(buf[:n])
		switch {
		case err == nil && n > 0:
		case err == nil || errors.Is(err, io.EOF):
			// A port read timeout: nothing arrived.
			fr.tick(now, d.deliver)
			clock.Sleep(ctx, d.clk, d.opts.IdleSleep)
		default:
			d.log.Warn("msr port error", "err", err)
			d.send(Result{Err: &PortError{Err: err}})
			fr.tick(now, d.deliver)
			clock.Sleep(ctx, d.clk, 10*d.opts.IdleSleep)
		}
	}
}

// deliver parses a swipe cut by the framer (or reports why the framer
// discarded it).
func (d *Dev) deliver(text []byte, ferr error) {
	if ferr != nil {
		err := &SwipeError{Errs: []error{ferr}}
		d.log.Info("msr swipe unreadable", "err", err)
		d.send(Result{Err: err})
		return
	}
	sw, err := Parse(text, ParseOpts{Sentinels: d.opts.Sentinels, LRC: d.opts.LRC, ErrorMark: d.opts.ErrorMark})
	if err != nil {
		d.log.Info("msr swipe unreadable", "err", err)
		d.send(Result{Err: err})
		return
	}
	d.log.Info("msr swipe", "swipe", sw)
	d.send(Result{Swipe: sw})
}

// send hands r to the consumer, dropping (and wiping) an older unread
// result: only the newest swipe matters.
func (d *Dev) send(r Result) {
	d.mu.Lock()
	ctx := d.ctx
	d.mu.Unlock()
	for {
		select {
		case d.out <- r:
			return
		case <-ctx.Done():
			r.Swipe.Wipe()
			return
		default:
		}
		select {
		case old := <-d.out:
			old.Swipe.Wipe()
		default:
		}
	}
}
