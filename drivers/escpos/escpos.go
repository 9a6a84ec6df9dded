package escpos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"periph.io/x/conn/v3"

	"posd/conn/clock"
	"posd/conn/printer"
)

// Opts configures a printer.
type Opts struct {
	// Columns is how many normal-size characters (Font A, 12 dots) a
	// line holds: 32 on 58 mm paper (384 dots), 48 on 80 mm (576 dots).
	// Zero means DefaultOpts.Columns.
	Columns int
	// Chinese: the printer has a Chinese font; characters with a two-
	// byte GB18030 code are sent in Chinese (Kanji) mode. Without it,
	// every character outside printable ASCII prints as '?'.
	Chinese bool
	// GB2312: the Chinese font holds GB2312 only (older Sprt models):
	// the GBK extension characters print as '?' too.
	GB2312 bool
	// StatusTimeout bounds the wait for each DLE EOT answer.
	StatusTimeout time.Duration
	// PrintTimeout bounds the wait for the printer to take and print a
	// document: XOFF pauses and the confirmation after the cut.
	PrintTimeout time.Duration
	// PollInterval is how often the status is asked while the driver
	// waits on the printer (XOFF, the confirmation), so that a printer
	// stopped by its paper or cover is reported without waiting out
	// PrintTimeout.
	PollInterval time.Duration
	// LineTime is how long the printer takes to print and feed one line
	// of normal size. It matters only for a printer that does not answer
	// GS r: the driver then waits this long a line (and the feed to the
	// cutter) before it takes the status as the document's outcome. It
	// should be the slowest the printer prints.
	LineTime time.Duration
	// Clock times the waits; nil is the wall clock.
	Clock clock.Clock
	// Logger receives events (never the receipt's text); nil discards.
	Logger *slog.Logger
}

// DefaultOpts are for a 58 mm printer without a Chinese font. 32 columns
// is the safe default: on 80 mm paper it only leaves a margin, whereas 48
// columns on a 58 mm printer would make it wrap every long line where it
// likes and push right-aligned amounts onto the next line.
var DefaultOpts = Opts{
	Columns:       32,
	StatusTimeout: 500 * time.Millisecond,
	PrintTimeout:  30 * time.Second,
	PollInterval:  500 * time.Millisecond,
	// 50 mm/s, the slow end of the panel printers (most print 70 to
	// 250 mm/s), at 3.75 mm a line (24-dot Font A and 6 dots of spacing
	// at 8 dots/mm).
	LineTime: 75 * time.Millisecond,
}

// Dev is an ESC/POS receipt printer on a serial port. A goroutine reads
// the port: it follows XON/XOFF and hands the status answers to the
// caller waiting for them.
type Dev struct {
	port io.ReadWriter
	opts Opts
	clk  clock.Clock
	log  *slog.Logger
	cs   *charset

	ctx    context.Context // the reader's; done once halted
	cancel context.CancelFunc
	done   chan struct{} // closed when the reader returned

	answers chan byte     // DLE EOT answers
	syncs   chan byte     // GS r answers
	cleared chan struct{} // DLE DC4 fn=8 answers

	mu sync.Mutex // one exchange with the printer at a time
	// owed counts the GS r sent and not yet answered: a document the
	// printer kept when it went off-line (it could not clear it) answers
	// its GS r when it is back, and that answer is not the next
	// document's.
	owed int
	gsr  gsrSupport // whether the printer answers GS r

	fcMu   sync.Mutex
	resume chan struct{} // closed while writing is allowed (XON)

	rdMu  sync.Mutex // the reader's parsing state
	asb   int        // ASB bytes still to skip
	blk   int        // bytes of the clear answer (37 25 00) seen
	noise int        // bytes that were nothing the printer sends
}

// gsrSupport is what the driver knows of the printer's GS r.
type gsrSupport uint8

const (
	gsrUnknown gsrSupport = iota // not asked yet
	gsrYes                       // answers GS r: it confirms documents
	gsrNo                        // ignores it: the status does
)

var (
	_ conn.Resource   = (*Dev)(nil)
	_ printer.Printer = (*Dev)(nil)
)

// New starts reading port. The port stays open after Halt: board/ owns
// it, with a read timeout (a read that times out returns nothing or
// io.EOF), which bounds how long Halt waits.
func New(port io.ReadWriter, opts *Opts) (*Dev, error) {
	if port == nil {
		return nil, errors.New("escpos: nil port")
	}
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.Columns == 0 {
		o.Columns = DefaultOpts.Columns
	}
	if o.Columns < 4 || o.Columns > 255 {
		return nil, errors.New("escpos: columns out of range: " + strconv.Itoa(o.Columns))
	}
	if o.StatusTimeout <= 0 {
		o.StatusTimeout = DefaultOpts.StatusTimeout
	}
	if o.PrintTimeout <= 0 {
		o.PrintTimeout = DefaultOpts.PrintTimeout
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultOpts.PollInterval
	}
	if o.LineTime <= 0 {
		o.LineTime = DefaultOpts.LineTime
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	d := &Dev{
		port:    port,
		opts:    o,
		clk:     clock.Or(o.Clock),
		log:     lg,
		cs:      newCharset(o.Chinese, o.GB2312),
		done:    make(chan struct{}),
		answers: make(chan byte, 16),
		syncs:   make(chan byte, 16),
		cleared: make(chan struct{}, 1),
		resume:  make(chan struct{}),
	}
	close(d.resume)
	d.ctx, d.cancel = context.WithCancel(context.Background())
	go d.run()
	return d, nil
}

func (d *Dev) String() string {
	s := "escpos(" + strconv.Itoa(d.opts.Columns) + " columns"
	switch {
	case d.opts.Chinese && d.opts.GB2312:
		s += ", GB2312"
	case d.opts.Chinese:
		s += ", GBK"
	}
	return s + ")"
}

// Columns implements printer.Printer.
func (d *Dev) Columns() int { return d.opts.Columns }

// Halt stops the reader and waits for it (the port's read timeout bounds
// that). Print and Status return ErrHalted afterwards, and a Print in
// progress stops at its next wait.
func (d *Dev) Halt() error {
	d.cancel()
	<-d.done
	return nil
}

// Status implements printer.Printer: DLE EOT 1 to 4.
func (d *Dev) Status(ctx context.Context) (printer.Status, error) {
	det, err := d.Detail(ctx)
	if err != nil {
		return printer.Status{}, err
	}
	return det.Status(), nil
}

// Detail asks DLE EOT 1 to 4 and returns every bit the answers carry.
func (d *Dev) Detail(ctx context.Context) (Detail, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.detail(ctx)
}

func (d *Dev) detail(ctx context.Context) (Detail, error) {
	if d.ctx.Err() != nil {
		return Detail{}, ErrHalted
	}
	// Answers that came too late for an earlier query are not this
	// one's.
	for len(d.answers) > 0 {
		<-d.answers
	}
	var raw [4]byte
	for i := range raw {
		n := byte(i + 1)
		// Real-time commands are taken even while the printer is
		// off-line or its buffer full (DLE EOT, "executed even when"):
		// no wait for XON here.
		if err := d.write([]byte{0x10, 0x04, n}); err != nil {
			return Detail{}, err
		}
		select {
		case raw[i] = <-d.answers:
		case <-d.clk.After(d.opts.StatusTimeout):
			d.log.Warn("printer did not answer", "query", n)
			// Off or unplugged: what it held is likely gone, and the
			// printer may come back another one.
			d.owed, d.gsr = 0, gsrUnknown
			return Detail{}, fmt.Errorf("escpos: DLE EOT %d: %w", n, printer.ErrNoAnswer)
		case <-ctx.Done():
			return Detail{}, ctx.Err()
		case <-d.ctx.Done():
			return Detail{}, ErrHalted
		}
	}
	det, err := ParseStatus(raw)
	if err != nil { // cannot happen: the reader checked the fixed bits
		return Detail{}, err
	}
	if det.Offline || det.NearEnd {
		d.log.Info("printer status", "detail", fmt.Sprintf("%+v", det))
	}
	return det, nil
}

// Print implements printer.Printer. It asks the status first and sends
// nothing to a printer that cannot print. It then sends the document
// (ESC @, each line with its alignment, emphasis and size, wrapped to
// Columns, the cut) a line at a time, pausing while the printer says
// XOFF, and GS r 1, which the printer answers only once everything
// before it is printed; then it asks the status again. Paper that ran
// out, a cover opened or a fault on the way is the state's error: the
// receipt is incomplete.
//
// Before its first document Print finds out whether the printer answers
// GS r at all: it sends GS r 1 alone, which a ready printer with nothing
// to print answers at once, and waits StatusTimeout. One that does not
// (many low-cost models answer DLE EOT only) gets documents without
// GS r; Print then waits the document's printing time (LineTime a line)
// asking the status every PollInterval, and takes the status after it:
// on line, paper present, cover closed, no error and no stop at a paper
// end. That shows the printer did not stop on the way, and a roll that
// ran out is reported, its sensor staying tripped until a roll is
// loaded. It cannot show that every byte arrived and printed (a byte
// lost on the line, a buffer overrun without flow control), nor cover a
// printer slower than LineTime says that runs out after the wait.
//
// A printer keeps what it has not printed when
// it stops, and prints it once put right; so that a document reported
// incomplete does not print its rest after all, before the reprint,
// Print then clears the printer's buffers (DLE DC4 fn=8).
func (d *Dev) Print(ctx context.Context, doc printer.Doc) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	det, err := d.detail(ctx)
	if err != nil {
		return err
	}
	if err := det.Status().Err(); err != nil {
		return fmt.Errorf("escpos: not printed: %w", err)
	}
	sent, err := d.send(ctx, doc)
	if err != nil && sent && !errors.Is(err, ErrHalted) && !d.clearBuffers() {
		return fmt.Errorf("%w; %w", err, ErrNotCleared)
	}
	return err
}

// send sends doc and waits for the printer to print it. sent reports
// that bytes of doc may wait in the printer, unprinted.
func (d *Dev) send(ctx context.Context, doc printer.Doc) (sent bool, err error) {
	chunks, rows := render(doc, d.opts.Columns, d.cs)
	deadline := d.clk.After(d.opts.PrintTimeout)
	d.dropSyncs()
	if d.gsr == gsrUnknown {
		if err := d.waitXON(ctx, deadline); err != nil {
			return false, err
		}
		if err := d.probe(ctx); err != nil {
			return false, err
		}
	}
	sync := d.gsr == gsrYes
	if sync {
		chunks[len(chunks)-1] = append(chunks[len(chunks)-1], cmdSync...)
	}
	n := 0
	for i, c := range chunks {
		if err := d.waitXON(ctx, deadline); err != nil {
			return n > 0, err
		}
		if sync && i == len(chunks)-1 {
			d.owed++
		}
		n += len(c)
		if err := d.write(c); err != nil {
			return true, err
		}
	}
	d.log.Info("document sent", "lines", len(chunks)-2, "bytes", n)
	var printTime <-chan time.Time
	if !sync {
		printTime = d.clk.After(time.Duration(rows+cutRows) * d.opts.LineTime)
	}
	err = d.waitPrinted(ctx, deadline, printTime)
	if err != nil {
		return true, err
	}
	det, err := d.detail(ctx)
	if err != nil {
		return !sync, err
	}
	if err := det.Status().Err(); err != nil {
		// Answered GS r: everything is processed, nothing is left in
		// the printer. Without it, the rest may be.
		return !sync, fmt.Errorf("escpos: incomplete: %w", err)
	}
	return false, nil
}

// probe finds out whether the printer answers GS r: sent alone to a
// ready printer with nothing to print, it is answered as soon as it is
// in.
func (d *Dev) probe(ctx context.Context) error {
	d.dropSyncs()
	if err := d.write(cmdSync); err != nil {
		return err
	}
	select {
	case <-d.syncs:
		d.gsr = gsrYes
	case <-d.clk.After(d.opts.StatusTimeout):
		d.gsr = gsrNo
		d.log.Info("printer does not answer GS r: documents are confirmed by its status after their printing time")
	case <-ctx.Done():
		return ctx.Err()
	case <-d.ctx.Done():
		return ErrHalted
	}
	return nil
}

// dropSyncs takes the GS r answers that came in while nobody waited:
// late ones, of a document the printer kept while it was off-line.
func (d *Dev) dropSyncs() {
	for len(d.syncs) > 0 {
		<-d.syncs
		d.owed = max(d.owed-1, 0)
	}
}

// clearBuffers asks the printer to discard what it has received and not
// printed (DLE DC4 fn=8, real-time: executed even off-line, receive
// buffer full or in error), and reports whether it confirmed. Printers
// without the command (many low-cost models) ignore it: they print the
// rest of the document once they are back on line. ESC @ would not do:
// it is processed in its turn, after the data before it, and clears
// only the line being formed.
func (d *Dev) clearBuffers() bool {
	for len(d.cleared) > 0 {
		<-d.cleared
	}
	if err := d.write(cmdClear); err != nil {
		return false
	}
	select {
	case <-d.cleared:
		d.owed = 0 // the GS r went with the rest
		for len(d.syncs) > 0 {
			<-d.syncs
		}
		d.log.Info("printer buffers cleared")
		return true
	case <-d.clk.After(d.opts.StatusTimeout):
	case <-d.ctx.Done():
	}
	d.log.Warn("printer did not confirm clearing its buffers: it may print the rest of the document when it is back on line")
	return false
}

// waitXON returns once writing is allowed. While it waits it asks the
// status every PollInterval: a printer that went off-line (paper out,
// cover open, an error) sends XOFF and stays so until someone acts.
func (d *Dev) waitXON(ctx context.Context, deadline <-chan time.Time) error {
	for {
		d.fcMu.Lock()
		resume := d.resume
		d.fcMu.Unlock()
		select {
		case <-resume:
			return nil
		default:
		}
		select {
		case <-resume:
			return nil
		case <-d.clk.After(d.opts.PollInterval):
			if err := d.stopped(ctx, "paused by XOFF"); err != nil {
				return err
			}
		case <-deadline:
			return d.timedOut(ctx, "paused by XOFF")
		case <-ctx.Done():
			return ctx.Err()
		case <-d.ctx.Done():
			return ErrHalted
		}
	}
}

// waitPrinted waits for the document to be printed, asking the status
// every PollInterval meanwhile: on a printer that answers GS r, for the
// answer to GS r 1 (a printer that stopped on the way does not answer
// until it is put right); on one that does not (printTime not nil), until
// printTime, the time the printer takes to print it, standing in for it.
func (d *Dev) waitPrinted(ctx context.Context, deadline, printTime <-chan time.Time) error {
	syncs, what := d.syncs, "print not confirmed"
	if printTime != nil {
		syncs, what = nil, "printing"
	}
	for {
		select {
		case <-syncs:
			// The first answers can be those of a document kept while
			// the printer was off-line: it prints before this one.
			d.owed = max(d.owed-1, 0)
			if d.owed == 0 {
				return nil
			}
		case <-printTime:
			return nil
		case <-d.clk.After(d.opts.PollInterval):
			if err := d.stopped(ctx, "printing"); err != nil {
				return err
			}
		case <-deadline:
			d.owed = 0 // an answer lost for good must not hold up the next documents
			return d.timedOut(ctx, what)
		case <-ctx.Done():
			return ctx.Err()
		case <-d.ctx.Done():
			return ErrHalted
		}
	}
}

// stopped returns the error of a printer that cannot go on, nil for one
// that can.
func (d *Dev) stopped(ctx context.Context, what string) error {
	det, err := d.detail(ctx)
	if err != nil {
		return err
	}
	if err := det.Status().Err(); err != nil {
		d.log.Warn("printer stopped in a document", "while", what, "err", err)
		return fmt.Errorf("escpos: incomplete: %w", err)
	}
	return nil
}

// timedOut is PrintTimeout's error: the state's if the printer stopped,
// ErrNoAnswer for a printer that says it is ready but never finished.
func (d *Dev) timedOut(ctx context.Context, what string) error {
	if err := d.stopped(ctx, what); err != nil {
		return err
	}
	return fmt.Errorf("escpos: %s for %v: %w", what, d.opts.PrintTimeout, printer.ErrNoAnswer)
}

func (d *Dev) write(b []byte) error {
	if _, err := d.port.Write(b); err != nil {
		d.log.Warn("printer port write failed", "err", err)
		return &PortError{Err: err}
	}
	return nil
}

// run reads the port until Halt and sorts what the printer sends.
func (d *Dev) run() {
	defer close(d.done)
	buf := make([]byte, 64)
	for d.ctx.Err() == nil {
		n, err := d.port.Read(buf)
		for _, b := range buf[:n] {
			d.take(b)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			d.log.Warn("printer port read failed", "err", err)
			clock.Sleep(d.ctx, d.clk, d.opts.PollInterval)
		}
		// (0, nil) and (0, io.EOF) are the port's read timeout: it
		// blocked for a while, read again.
	}
}

// take sorts one byte from the printer by its fixed bits (see status.go).
func (d *Dev) take(b byte) {
	d.rdMu.Lock()
	defer d.rdMu.Unlock()
	switch b {
	case xon:
		d.flow(true)
		return
	case xoff: // may come inside the clear answer too
		d.flow(false)
		return
	}
	switch d.blk {
	case 1:
		d.blk = 0
		if b == clearID {
			d.blk = 2
			return
		}
		d.noisy()
	case 2:
		d.blk = 0
		if b == 0 {
			select {
			case d.cleared <- struct{}{}:
			default:
			}
			return
		}
		d.noisy()
	}
	switch {
	case d.asb > 0:
		// Automatic status back (GS a, enabled by some printers' memory
		// switches): its three further bytes, XON/XOFF excepted.
		d.asb--
	case b == blockHeader:
		// The answer to DLE DC4 fn=8 is 37 25 00; 37 is nothing else
		// the printer sends.
		d.blk = 1
	case b&statusMask == statusFixed:
		offer(d.answers, b)
	case b&statusMask == asbFixed:
		d.asb = 3
	case b&gsrMask == 0:
		offer(d.syncs, b)
	default:
		d.noisy()
	}
}

// noisy counts a byte that is nothing the printer sends.
func (d *Dev) noisy() {
	d.noise++
	if d.noise&(d.noise-1) == 0 { // 1, 2, 4, 8...: a bad link is not a log flood
		d.log.Warn("printer sent bytes that mean nothing", "count", d.noise)
	}
}

// offer queues b, dropping the oldest byte when ch is full.
func offer(ch chan byte, b byte) {
	for {
		select {
		case ch <- b:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// flow records XON (on) or XOFF.
func (d *Dev) flow(on bool) {
	d.fcMu.Lock()
	defer d.fcMu.Unlock()
	select {
	case <-d.resume: // writing allowed
		if !on {
			d.resume = make(chan struct{})
			d.log.Debug("printer sent XOFF")
		}
	default:
		if on {
			close(d.resume)
			d.log.Debug("printer sent XON")
		}
	}
}
