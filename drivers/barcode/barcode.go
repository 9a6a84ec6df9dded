package barcode

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

// Opts configures a scanner.
type Opts struct {
	// Suffix the scanner ends each symbol with; SuffixAuto (the zero
	// value) accepts CR, LF and CR LF.
	Suffix Suffix
	// StripAIM removes a leading AIM symbology identifier ("]Q1") from
	// each symbol and reports it in Scan.Symbology.
	StripAIM bool
	// MaxLen bounds a message (prefix and data, without the suffix), in
	// bytes; longer ones are discarded and reported as ErrTooLong. Zero
	// means DefaultOpts.MaxLen.
	MaxLen int
	// IdleSleep is how long to wait after a read that returned nothing
	// (the port's read timeout), so a reader never spins.
	IdleSleep time.Duration
	// Clock times IdleSleep; nil is the wall clock.
	Clock clock.Clock
	// Logger receives events with the length and symbology of each
	// symbol, never its text; nil discards.
	Logger *slog.Logger
}

// DefaultOpts read any suffix and strip AIM identifiers: a scanner that
// sends none loses nothing, as payment codes never start with ']'.
var DefaultOpts = Opts{
	Suffix:    SuffixAuto,
	StripAIM:  true,
	MaxLen:    512,
	IdleSleep: 20 * time.Millisecond,
}

// queueLen is how many unread results are kept; older ones are dropped.
const queueLen = 8

// Result is one symbol, or why a message could not be read.
type Result struct {
	Scan Scan
	Err  error
}

// Dev is a serial barcode scanner. A goroutine reads the port and queues
// one Result per message; Read takes the next one.
type Dev struct {
	port io.ReadWriter
	opts Opts
	clk  clock.Clock
	log  *slog.Logger
	out  chan Result

	frMu sync.Mutex // guards fr: the reader feeds it, Flush empties it
	fr   *framer

	mu        sync.Mutex
	ctx       context.Context    // the running reader's; done when halted
	cancel    context.CancelFunc // stops the running reader
	done      chan struct{}      // closed when the running reader returned
	intercept chan Result        // Intercept's, while it waits
}

var _ conn.Resource = (*Dev)(nil)

// New starts reading port. The port stays open after Halt: board/ owns it.
func New(port io.ReadWriter, opts *Opts) (*Dev, error) {
	if port == nil {
		return nil, errors.New("barcode: nil port")
	}
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.Suffix < SuffixAuto || o.Suffix > SuffixCRLF {
		return nil, errors.New("barcode: unknown suffix " + o.Suffix.String())
	}
	if o.MaxLen <= 0 {
		o.MaxLen = DefaultOpts.MaxLen
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
		out:  make(chan Result, queueLen),
		fr:   newFramer(o.Suffix, o.MaxLen),
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

func (d *Dev) String() string {
	s := "barcode(suffix " + d.opts.Suffix.String()
	if d.opts.StripAIM {
		s += ", AIM id stripped"
	}
	return s + ")"
}

// Read waits for the next symbol. It returns a Scan; an error matching
// ErrGarbled or ErrTooLong for a message that could not be used (the
// reader keeps reading: ask for another scan and call Read again); a
// *PortError for a transient I/O error; ErrHalted after Halt; ctx.Err()
// when ctx ends first. Up to 8 unread results are kept, the oldest
// dropped first; call Flush before a sale so that only codes shown for it
// are read.
func (d *Dev) Read(ctx context.Context) (Scan, error) {
	d.mu.Lock()
	running := d.ctx
	d.mu.Unlock()
	// An ended context wins over a waiting scan (select would pick
	// either): the scan stays for the next Read.
	if err := ctx.Err(); err != nil {
		return Scan{}, err
	}
	select {
	case <-ctx.Done():
		return Scan{}, ctx.Err()
	case <-running.Done():
		return Scan{}, ErrHalted
	case r := <-d.out:
		return r.Scan, r.Err
	}
}

// Flush discards every unread result and the part of a message received
// so far (the rest of that message is discarded when it arrives). Bytes
// still in the port's own buffers are not reached: they are read, and
// delivered, afterwards.
func (d *Dev) Flush() {
	d.frMu.Lock()
	defer d.frMu.Unlock()
	d.fr.discard()
	n := 0
	for {
		select {
		case <-d.out:
			n++
			continue
		default:
		}
		break
	}
	if n > 0 {
		d.log.Info("barcode results flushed", "count", n)
	}
}

// ErrBusy: another Intercept is waiting.
var ErrBusy = errors.New("barcode: an intercept is already waiting")

// Intercept calls trigger (which makes the scanner read a symbol: a
// self-test) and returns the next result, which no Read caller sees. A
// result that arrives after Intercept returned goes to Read as usual:
// Flush after a failed Intercept.
func (d *Dev) Intercept(ctx context.Context, trigger func() error) (Scan, error) {
	ch := make(chan Result, 1)
	d.mu.Lock()
	if d.intercept != nil {
		d.mu.Unlock()
		return Scan{}, ErrBusy
	}
	d.intercept = ch
	running := d.ctx
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.intercept = nil
		d.mu.Unlock()
	}()
	if trigger != nil {
		if err := trigger(); err != nil {
			return Scan{}, err
		}
	}
	select {
	case <-ctx.Done():
		return Scan{}, ctx.Err()
	case <-running.Done():
		return Scan{}, ErrHalted
	case r := <-ch:
		return r.Scan, r.Err
	}
}

// Halt stops reading the port and waits for the reader goroutine; a
// message in progress is discarded. The device stays usable: Start reads
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
	defer clear(buf)
	defer func() {
		d.frMu.Lock()
		d.fr.discard()
		d.frMu.Unlock()
	}()
	for ctx.Err() == nil {
		n, err := d.port.Read(buf)
		if n > 0 {
			d.frMu.Lock()
			d.fr.feed(buf[:n], d.deliver)
			d.frMu.Unlock()
			clear(buf[:n])
		}
		switch {
		case err == nil && n > 0:
		case err == nil || errors.Is(err, io.EOF):
			// A port read timeout: nothing arrived.
			clock.Sleep(ctx, d.clk, d.opts.IdleSleep)
		default:
			d.log.Warn("barcode port error", "err", err)
			d.send(Result{Err: &PortError{Err: err}})
			clock.Sleep(ctx, d.clk, 10*d.opts.IdleSleep)
		}
	}
}

// deliver parses a message cut by the framer (or reports why the framer
// discarded it).
func (d *Dev) deliver(msg []byte, ferr error) {
	if ferr != nil {
		d.log.Info("barcode message discarded", "err", ferr)
		d.send(Result{Err: ferr})
		return
	}
	sc, err := Parse(msg, d.opts.StripAIM)
	if err != nil {
		d.log.Info("barcode message discarded", "err", err, "len", len(msg))
		d.send(Result{Err: err})
		return
	}
	d.log.Info("barcode scan", "scan", sc)
	d.send(Result{Scan: sc})
}

// send hands r to a waiting Intercept, or queues it for Read, dropping
// the oldest unread result when the queue is full.
func (d *Dev) send(r Result) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.intercept != nil {
		select {
		case d.intercept <- r:
		default: // Intercept has its result; later ones are dropped, not read
		}
		return
	}
	for {
		select {
		case d.out <- r:
			return
		default:
		}
		select {
		case <-d.out:
			d.log.Warn("barcode result dropped unread")
		default:
		}
	}
}
