package msr

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Opts configures a reader.
type Opts struct {
	Sentinels Sentinels
	// LRC: the module forwards the LRC character after each track.
	LRC bool
	// MaxLine bounds a line (all tracks of one swipe); longer input is
	// discarded up to the next terminator.
	MaxLine int
	// IdleSleep is how long to wait after a read that returned nothing
	// (a port's read timeout), so a non-tty reader never spins.
	IdleSleep time.Duration
	// Logger receives events without track content; nil discards.
	Logger *slog.Logger
	// Sleep is time.Sleep unless a test replaces it.
	Sleep func(time.Duration)
}

// DefaultOpts suit the usual serial MSR module: ISO sentinels, no LRC
// forwarded, CR or LF after the last track.
var DefaultOpts = Opts{
	Sentinels: DefaultSentinels,
	MaxLine:   512,
	IdleSleep: 20 * time.Millisecond,
}

// Result is one swipe, or why it could not be read.
type Result struct {
	Swipe *Swipe
	Err   error
}

// Dev is a serial magnetic stripe reader. A goroutine reads the port and
// delivers one Result per swipe on Swipes.
type Dev struct {
	port   io.ReadWriter
	opts   Opts
	log    *slog.Logger
	out    chan Result
	stop   chan struct{}
	done   chan struct{}
	halted sync.Once
}

// New starts reading port. The port stays open after Halt: board/ owns it.
func New(port io.ReadWriter, opts *Opts) (*Dev, error) {
	if port == nil {
		return nil, errors.New("msr: nil port")
	}
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.Sentinels == (Sentinels{}) {
		o.Sentinels = DefaultSentinels
	}
	if o.MaxLine <= 0 {
		o.MaxLine = DefaultOpts.MaxLine
	}
	if o.IdleSleep <= 0 {
		o.IdleSleep = DefaultOpts.IdleSleep
	}
	if o.Sleep == nil {
		o.Sleep = time.Sleep
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	d := &Dev{
		port: port,
		opts: o,
		log:  lg,
		out:  make(chan Result, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go d.run()
	return d, nil
}

func (d *Dev) String() string { return "msr" }

// Swipes delivers a Result per swipe. It is closed by Halt.
func (d *Dev) Swipes() <-chan Result { return d.out }

// Read waits for the next swipe.
func (d *Dev) Read(ctx context.Context) (*Swipe, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r, ok := <-d.out:
		if !ok {
			return nil, ErrHalted
		}
		return r.Swipe, r.Err
	}
}

// Halt stops the reader goroutine and waits for it. It returns once the
// port's pending Read returns (the port's read timeout bounds that).
func (d *Dev) Halt() error {
	d.halted.Do(func() { close(d.stop) })
	<-d.done
	return nil
}

func (d *Dev) stopped() bool {
	select {
	case <-d.stop:
		return true
	default:
		return false
	}
}

func (d *Dev) run() {
	defer close(d.done)
	defer close(d.out)
	buf := make([]byte, 256)
	line := make([]byte, 0, d.opts.MaxLine)
	defer clear(buf)
	// A swipe cut short by Halt must not stay behind in memory either.
	defer func() { clear(line[:cap(line)]) }()
	discarding := false
	for !d.stopped() {
		n, err := d.port.Read(buf)
		for _, c := range buf[:n] {
			if c == '\r' || c == '\n' {
				if !discarding && len(line) > 0 {
					d.deliver(line)
				}
				clear(line)
				line = line[:0]
				discarding = false
				continue
			}
			if discarding {
				continue
			}
			if len(line) == d.opts.MaxLine {
				clear(line)
				line = line[:0]
				discarding = true
				d.send(Result{Err: ErrTooLong})
				continue
			}
			line = append(line, c)
		}
		clear(buf[:n])
		switch {
		case err == nil && n > 0:
		case err == nil || errors.Is(err, io.EOF):
			// A port read timeout: nothing arrived.
			d.opts.Sleep(d.opts.IdleSleep)
		default:
			d.log.Warn("msr port error", "err", err)
			d.send(Result{Err: &PortError{Err: err}})
			d.opts.Sleep(10 * d.opts.IdleSleep)
		}
	}
}

func (d *Dev) deliver(line []byte) {
	sw, err := Parse(line, ParseOpts{Sentinels: d.opts.Sentinels, LRC: d.opts.LRC})
	if err != nil {
		d.log.Info("msr swipe rejected", "err", err)
		d.send(Result{Err: err})
		return
	}
	d.log.Info("msr swipe", "swipe", sw)
	d.send(Result{Swipe: sw})
}

// send hands r to the consumer, dropping (and wiping) an older unread
// result: only the newest swipe matters.
func (d *Dev) send(r Result) {
	for {
		select {
		case d.out <- r:
			return
		case <-d.stop:
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
