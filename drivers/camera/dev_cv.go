//go:build !nocv

package camera

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"periph.io/x/conn/v3"

	"posd/conn/clock"
)

// Dev is an opened camera. Its methods are safe for concurrent use.
type Dev struct {
	src   source
	opts  Opts
	open  openFunc
	log   *slog.Logger
	clock clock.Clock
	mats  matCount

	// ch holds frames and per-frame errors, capacity 1. Readers use it
	// one after the other: Start launches a reader only once the
	// previous one has ended and drained it.
	ch  chan result
	ctl sync.Mutex // serializes Start, Halt, Shutdown and Close
	// abandoned is closed once an opening that Start gave up waiting for
	// has returned from OpenCV and been released; nil if none (d.ctl).
	abandoned chan struct{}

	mu     sync.Mutex
	cur    *reader // the running reader, or the last one; set by New
	halted bool    // Halt, Shutdown or Close was called, Start not since
	closed bool    // Close was called: for good
	info   Info
	stats  Stats
	// since is when the camera was last opened by New or Start or, once it has
	// delivered, its last frame: the start of the current silence.
	since time.Time
	// frameSig is closed at the next frame read; nil while nobody waits.
	frameSig chan struct{}

	seq    uint64 // reader goroutine only
	streak int    // reader only: reconnect attempts since the last frame
}

// reader is one run of the reader goroutine, from New or Start until it
// ends by itself or is halted.
type reader struct {
	ctx    context.Context // cancelled by Halt, Shutdown and Close
	cancel context.CancelFunc
	done   chan struct{} // closed once the capture is released
	final  error         // why it ended (Dev.mu); set before done is closed
}

// live reports whether a kind is a camera (frames come at the camera's
// pace, the newest wins, failures are reconnected) rather than a file.
func live(kind string) bool { return kind == KindV4L2 || kind == KindGStreamer }

type result struct {
	f   *Frame
	err error
	r   *reader // the reader that queued it
}

var (
	_ Source        = (*Dev)(nil)
	_ conn.Resource = (*Dev)(nil)
)

// New opens src and starts reading it. src is a V4L2 device index ("0") or
// path ("/dev/video0", or a symlink to one, optionally with the "v4l2:"
// scheme), a GStreamer pipeline with the "gst:" scheme (see
// LibcameraPipeline), a video file, a directory of images, an image
// pattern ("f%03d.png" or "*.png"), or a single image.
// opts nil means DefaultOpts. The first open is not retried: an error here
// (*DeviceError, *UnsupportedError, ErrBadSource, ErrBadOpts, ErrDecode)
// is for the board to report. A GStreamer pipeline that has not started
// within Opts.NoFrameTimeout fails with ErrOpen and ErrNoFrame. New does
// not wait for a camera's first frame: Check does. Halt pauses the Dev
// (Start resumes it); call Close when done with it.
func New(src string, opts *Opts) (*Dev, error) {
	return newDev(src, opts, openCapture)
}

func newDev(src string, opts *Opts, open openFunc) (*Dev, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	o, err := o.normalize()
	if err != nil {
		return nil, err
	}
	s, err := parseSource(src)
	if err != nil {
		return nil, err
	}
	d := &Dev{
		src:   s,
		opts:  o,
		open:  open,
		log:   o.Logger.With("camera", src),
		clock: o.Clock,
		ch:    make(chan result, 1),
	}
	c, err := d.openFirst()
	if err != nil {
		return nil, err
	}
	d.launch(c)
	d.log.Info("camera opened", "info", d.Info().String())
	return d, nil
}

// launch starts a reader on the freshly opened capture c. The previous
// reader, if any, has ended.
func (d *Dev) launch(c capture) {
	d.setInfo(c.info())
	ctx, cancel := context.WithCancel(context.Background())
	r := &reader{ctx: ctx, cancel: cancel, done: make(chan struct{})}
	d.streak = 0 // an opening like New's, not a reconnection
	now := d.clock.Now()
	d.mu.Lock()
	d.cur, d.halted = r, false
	d.stats.Connected = true
	d.since = now
	d.mu.Unlock()
	go d.run(r, c)
}

// openFirst opens the source for New and Start. OpenCV's GStreamer backend
// starts a pipeline and waits, without a timeout, until a first frame has
// reached its appsink (gst_element_get_state with GST_CLOCK_TIME_NONE): a
// camera that never produces would block New, and the daemon's start,
// forever. So a pipeline gets NoFrameTimeout; after that the opening fails
// and is left to finish (and be released) on its own; d.abandoned says
// when it has. The caller holds d.ctl or is New.
func (d *Dev) openFirst() (capture, error) {
	if d.src.kind != KindGStreamer {
		return d.open(d.src, d.opts, &d.mats)
	}
	type opened struct {
		c   capture
		err error
	}
	var (
		mu        sync.Mutex
		abandoned bool
		res       = make(chan opened, 1)
		ended     = make(chan struct{})
	)
	go func() {
		defer close(ended)
		c, err := d.open(d.src, d.opts, &d.mats)
		mu.Lock()
		defer mu.Unlock()
		if abandoned {
			if c != nil {
				_ = c.close()
			}
			return
		}
		res <- opened{c, err}
	}()
	select {
	case r := <-res:
		return r.c, r.err
	case <-d.clock.After(d.opts.NoFrameTimeout):
	}
	mu.Lock()
	defer mu.Unlock()
	select {
	case r := <-res: // it finished meanwhile
		return r.c, r.err
	default:
	}
	abandoned = true
	d.abandoned = ended
	d.log.Warn("camera pipeline did not start", "timeout", d.opts.NoFrameTimeout)
	return nil, &DeviceError{Src: d.src.raw, Op: "open", Err: fmt.Errorf(
		"%w: %w: the pipeline delivered no frame within %v (OpenCV waits for one before it returns)",
		ErrOpen, ErrNoFrame, d.opts.NoFrameTimeout)}
}

// setInfo derives what the Dev delivers from what the capture reports.
func (d *Dev) setInfo(native Info) {
	inf := native
	inf.Device, inf.Kind = d.src.raw, d.src.kind
	if !live(d.src.kind) {
		if d.opts.Width > 0 {
			inf.Width, inf.Height = d.opts.Width, d.opts.Height
		}
		switch {
		case d.opts.Unpaced:
			inf.FPS = 0
		case d.opts.FPS > 0:
			inf.FPS = d.opts.FPS
		}
	} else if inf.FPS <= 0 {
		inf.FPS = d.opts.FPS
	}
	if d.src.kind == KindV4L2 && d.opts.Width > 0 && (inf.Width != d.opts.Width || inf.Height != d.opts.Height) {
		d.log.Warn("camera negotiated another size", "want", fmt.Sprintf("%dx%d", d.opts.Width, d.opts.Height),
			"got", fmt.Sprintf("%dx%d", inf.Width, inf.Height))
	}
	d.mu.Lock()
	d.info = inf
	d.mu.Unlock()
}

// Info describes the frames Next delivers. For a device it is what the
// driver negotiated, which may differ from the requested Opts.
func (d *Dev) Info() Info {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.info
}

// Stats returns counters since New (Halt and Start do not reset them), and
// whether a running camera has stalled. A halted Dev is not Connected and
// not Stalled.
func (d *Dev) Stats() Stats {
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.stats
	_, st.Stalled = d.silenceLocked(now)
	return st
}

// silenceLocked returns how long a camera has gone without a frame and
// whether that exceeds NoFrameTimeout. Files and images never stall: they
// are read when the consumer asks; nor does a halted camera: it is not
// asked to deliver. Caller holds d.mu.
func (d *Dev) silenceLocked(now time.Time) (time.Duration, bool) {
	if !live(d.src.kind) || d.halted {
		return 0, false
	}
	idle := now.Sub(d.since)
	return idle, idle >= d.opts.NoFrameTimeout
}

// noFrameError describes a camera silent for idle.
func (d *Dev) noFrameError(idle time.Duration, lastErr string) error {
	err := fmt.Errorf("%w for %v", ErrNoFrame, idle.Round(time.Millisecond))
	if lastErr != "" {
		err = fmt.Errorf("%w (last error: %s)", err, lastErr)
	}
	return &DeviceError{Src: d.src.raw, Op: "read", Err: err}
}

// Check reports whether the source delivers. For a camera it returns nil
// once a frame has been read within the last Opts.NoFrameTimeout (waiting
// for one if the camera was opened less than that ago), and a *DeviceError
// wrapping ErrNoFrame once the camera has gone that long without one, open
// or not. For a file or image source it waits for the first frame read.
// It returns the Dev's final error if the reader has ended by itself,
// ErrHalted after Halt (until Start), ErrClosed after Close, and ctx's
// error if ctx ends first. Time is the Dev's clock.
func (d *Dev) Check(ctx context.Context) error {
	for {
		r, err := d.current()
		if err != nil {
			return err
		}
		select {
		case <-r.done:
			if r.ctx.Err() != nil {
				return d.haltedErr()
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			return r.final
		default:
		}
		now := d.clock.Now()
		d.mu.Lock()
		idle, stalled := d.silenceLocked(now)
		got := !d.stats.LastFrame.IsZero()
		lastErr := d.stats.LastError
		if d.frameSig == nil {
			d.frameSig = make(chan struct{})
		}
		sig := d.frameSig
		d.mu.Unlock()
		var timeout <-chan time.Time
		switch {
		case stalled:
			return d.noFrameError(idle, lastErr)
		case got:
			return nil
		case live(d.src.kind):
			timeout = d.clock.After(d.opts.NoFrameTimeout - idle)
		}
		select {
		case <-sig:
		case <-timeout:
		case <-r.done:
		case <-r.ctx.Done():
		case <-ctx.Done():
			return fmt.Errorf("camera %s: check: %w", d.src.raw, ctx.Err())
		}
	}
}

// OpenMats returns how many native matrices of this Dev are open: frames
// handed out and not yet closed, plus the one being read.
func (d *Dev) OpenMats() int { return int(d.mats.n.Load()) }

func (d *Dev) String() string { return "camera(" + d.Info().String() + ")" }

// current returns the reader Next and Check wait on, or ErrHalted or
// ErrClosed.
func (d *Dev) current() (*reader, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed:
		return nil, ErrClosed
	case d.halted:
		return nil, ErrHalted
	}
	return d.cur, nil
}

// haltedErr is what a Next or Check interrupted by Halt or Close returns.
func (d *Dev) haltedErr() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	return ErrHalted
}

// take hands a queued result over, unless its reader has been halted:
// Halt closes what was queued, including a frame it races Next for.
func (d *Dev) take(res result) (*Frame, error) {
	if res.r.ctx.Err() != nil {
		_ = res.f.Close()
		return nil, d.haltedErr()
	}
	return res.f, res.err
}

// Next returns the next frame. Errors: ErrDecode for one bad image (call
// again); ErrEndOfStream or ErrGaveUp when no frame will come until Start;
// ErrHalted after Halt and until Start, also to a Next waiting when Halt
// begins; ErrClosed after Close; the error of ctx when it ends first,
// mentioning the device error if the device is down meanwhile. Next never
// restarts a halted Dev: only Start does.
func (d *Dev) Next(ctx context.Context) (*Frame, error) {
	r, err := d.current()
	if err != nil {
		return nil, err
	}
	// An ended context wins over a queued frame (select would pick
	// either): a caller that has given up gets no more frames.
	if ctx.Err() != nil {
		return nil, d.ended(ctx)
	}
	select {
	case res := <-d.ch:
		return d.take(res)
	case <-r.done:
		select {
		case res := <-d.ch:
			return d.take(res)
		default:
		}
		if r.ctx.Err() != nil {
			return nil, d.haltedErr()
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		return nil, r.final
	case <-r.ctx.Done():
		return nil, d.haltedErr()
	case <-ctx.Done():
		return nil, d.ended(ctx)
	}
}

// ended is Next's error when ctx ended first: the context's error, and
// what the device was doing meanwhile.
func (d *Dev) ended(ctx context.Context) error {
	st := d.Stats()
	switch {
	case st.Stalled:
		var since string
		if !st.LastFrame.IsZero() {
			since = " since " + st.LastFrame.Format(time.RFC3339)
		}
		return fmt.Errorf("camera %s: next: %w (%w%s)", d.src.raw, ctx.Err(), ErrNoFrame, since)
	case !st.Connected && st.LastError != "":
		return fmt.Errorf("camera %s: next: %w (device down: %s)", d.src.raw, ctx.Err(), st.LastError)
	}
	return fmt.Errorf("camera %s: next: %w", d.src.raw, ctx.Err())
}

// Halt stops the Dev's activity; the Dev stays usable. It stops the reader,
// waits for it, releases the capture (a camera is closed: its LED goes
// off and another process may open it) and closes every frame still
// queued. Frames already returned by Next stay the caller's to close.
// Afterwards Next and Check return ErrHalted, Info, Stats and OpenMats
// keep working, and Start opens the source again. Halt on a halted Dev
// returns nil. An OpenCV open or read in progress is waited for, however
// long it takes (OpenCV cannot interrupt it); Shutdown bounds that wait.
func (d *Dev) Halt() error { return d.Shutdown(context.Background()) }

// Shutdown is Halt, but gives up waiting when ctx ends: it then returns
// ErrStuck (with ctx's error) and leaves the reader to release the capture
// and end by itself once the native call returns. The Dev is halted all
// the same: Next returns ErrHalted, and Start fails with ErrStuck until
// that reader has ended. Calling Shutdown or Halt again waits again.
func (d *Dev) Shutdown(ctx context.Context) error {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	return d.stop(ctx, false)
}

// Close stops the Dev for good, as Source and io.Closer mean: it halts it
// (waiting, like Halt, for an OpenCV call in progress) and makes Next,
// Check and Start return ErrClosed from then on. Closing again, or after
// Halt, is fine.
func (d *Dev) Close() error {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	return d.stop(context.Background(), true)
}

// stop halts the current reader, and closes the Dev if closing. The
// caller holds d.ctl.
func (d *Dev) stop(ctx context.Context, closing bool) error {
	d.mu.Lock()
	r := d.cur
	was := d.halted && (d.closed || !closing)
	d.halted = true
	if closing {
		d.closed = true
	}
	// Cancelled under d.mu: whoever sees the Dev halted sees the reader
	// told to stop.
	r.cancel()
	d.mu.Unlock()
	select {
	case <-r.done:
	case <-ctx.Done():
		err := fmt.Errorf("camera %s: halt: %w: %w", d.src.raw, ErrStuck, ctx.Err())
		d.log.Warn("camera reader left behind", "err", err)
		return err
	}
	// The reader drained the queue if it saw the cancellation; not if it
	// had ended by itself before.
	d.drain()
	if !was {
		if closing {
			d.log.Info("camera closed")
		} else {
			d.log.Info("camera halted")
		}
	}
	return nil
}

// Start opens the source again after Halt or Shutdown and delivers frames
// again: a camera is reopened, a file or image sequence starts over from
// its first frame. It also restarts a Dev whose reader has ended by
// itself (ErrEndOfStream, ErrGaveUp); frames that reader left queued are
// closed. Start on a running Dev does nothing. Errors: those of New's
// opening (*DeviceError, ErrDecode, *UnsupportedError; the Dev stays as it
// was and Start may be called again); ErrStuck while a reader left behind
// by Shutdown, or a pipeline opening an earlier Start gave up on after
// Opts.NoFrameTimeout, is still inside OpenCV (the source is not opened
// twice); ErrClosed after Close. Counters, frame numbers and OpenMats
// carry on from before.
func (d *Dev) Start() error {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	d.mu.Lock()
	r, halted, closed := d.cur, d.halted, d.closed
	d.mu.Unlock()
	if closed {
		return fmt.Errorf("camera %s: start: %w", d.src.raw, ErrClosed)
	}
	select {
	case <-r.done:
	default:
		if !halted {
			return nil // running
		}
		return fmt.Errorf("camera %s: start: %w: the halted reader has not returned from OpenCV yet", d.src.raw, ErrStuck)
	}
	if d.abandoned != nil {
		select {
		case <-d.abandoned:
			d.abandoned = nil
		default:
			return fmt.Errorf("camera %s: start: %w: the pipeline an earlier Start gave up on has not returned from OpenCV yet", d.src.raw, ErrStuck)
		}
	}
	d.drain()
	c, err := d.openFirst()
	if err != nil {
		d.log.Warn("camera start failed", "err", err)
		return err
	}
	d.launch(c)
	d.log.Info("camera started", "info", d.Info().String())
	return nil
}

// drain closes every frame still queued.
func (d *Dev) drain() {
	for {
		select {
		case r := <-d.ch:
			_ = r.f.Close()
		default:
			return
		}
	}
}

// SelfTest first runs Check (so a camera that has gone NoFrameTimeout
// without a frame fails at once with ErrNoFrame, and one just opened gets
// that long to deliver), then reads n fresh frames (10 when n <= 0; frames
// queued before the call are dropped), closes them and reports their size
// and the rate measured by the Dev's clock between the first and the last
// one. A single undecodable image is skipped.
func (d *Dev) SelfTest(ctx context.Context, n int) (SelfTestResult, error) {
	if n <= 0 {
		n = 10
	}
	res := SelfTestResult{Info: d.Info()}
	if err := d.Check(ctx); err != nil {
		return res, fmt.Errorf("camera %s: self test: %w", d.src.raw, err)
	}
	var first, last time.Time
	start := d.clock.Now()
	for res.Frames < n {
		f, err := d.Next(ctx)
		if errors.Is(err, ErrDecode) {
			continue
		}
		if err != nil {
			return res, fmt.Errorf("camera %s: self test after %d frames: %w", d.src.raw, res.Frames, err)
		}
		if f.Time.Before(start) {
			// Queued before the test began: it says nothing about the
			// rate the source delivers now.
			_ = f.Close()
			continue
		}
		if res.Frames == 0 {
			first = f.Time
		}
		last = f.Time
		res.Width, res.Height = f.Width, f.Height
		res.Frames++
		_ = f.Close()
	}
	res.Elapsed = last.Sub(first)
	if res.Frames > 1 && res.Elapsed > 0 {
		res.FPS = float64(res.Frames-1) / res.Elapsed.Seconds()
	}
	return res, nil
}

// run is the reader goroutine r; it owns the capture c.
func (d *Dev) run(r *reader, c capture) {
	defer close(r.done)
	defer func() {
		if c != nil {
			_ = c.close()
		}
		d.mu.Lock()
		d.stats.Connected = false
		d.mu.Unlock()
		if r.ctx.Err() != nil {
			// Halted: nobody may take what this reader queued (a
			// Shutdown that stopped waiting for it has drained the
			// queue already; drain what came after).
			d.drain()
		}
	}()
	ctx := r.ctx
	var due time.Time
	fresh := 0 // frames read since open or rewind
	for {
		if ctx.Err() != nil {
			d.finish(r, ErrHalted)
			return
		}
		m, err := c.read()
		if err == nil {
			fresh++
			d.streak = 0
			d.noteFrame()
			f, err := d.frame(m)
			if !d.pace(ctx, &due) {
				_ = f.Close()
				d.finish(r, ErrHalted)
				return
			}
			if f != nil {
				f.Time = d.clock.Now()
			}
			if !d.deliver(ctx, result{f: f, err: err, r: r}) {
				d.finish(r, ErrHalted)
				return
			}
			continue
		}
		d.noteError(err)
		switch {
		case errors.Is(err, io.EOF):
			if !d.opts.Loop || fresh == 0 {
				d.finish(r, ErrEndOfStream)
				return
			}
			if err := c.rewind(); err != nil {
				d.noteError(err)
				d.finish(r, err)
				return
			}
			fresh = 0
			d.mu.Lock()
			d.stats.Loops++
			d.mu.Unlock()
		case errors.Is(err, ErrDecode):
			d.log.Warn("camera image skipped", "err", err)
			if !d.deliver(ctx, result{err: err, r: r}) {
				d.finish(r, ErrHalted)
				return
			}
		case live(d.src.kind):
			d.log.Warn("camera device failed, reconnecting", "err", err)
			_ = c.close()
			c = d.reconnect(r, err)
			if c == nil {
				return // reconnect called finish
			}
		default:
			d.finish(r, err)
			return
		}
	}
}

// pace waits until a decoded frame of a paced file source is due. It
// restarts the schedule when the consumer made it fall more than a frame
// behind. It returns false if ctx ended.
func (d *Dev) pace(ctx context.Context, due *time.Time) bool {
	if live(d.src.kind) {
		return true
	}
	fps := d.Info().FPS
	if fps <= 0 {
		return true
	}
	period := time.Duration(float64(time.Second) / fps)
	now := d.clock.Now()
	if due.IsZero() || now.Sub(*due) > period {
		*due = now
	}
	if wait := due.Sub(now); wait > 0 {
		select {
		case <-d.clock.After(wait):
		case <-ctx.Done():
			return false
		}
	}
	*due = due.Add(period)
	return true
}

// frame turns a freshly read matrix into a Frame, converting it to 3-channel
// BGR and, for file sources, resizing it to the requested size. m is
// consumed in every case.
func (d *Dev) frame(m gocv.Mat) (*Frame, error) {
	if ch := m.Channels(); ch == 1 || ch == 4 {
		conv := gocv.ColorGrayToBGR
		if ch == 4 {
			conv = gocv.ColorBGRAToBGR
		}
		dst := d.mats.newMat()
		gocv.CvtColor(m, &dst, conv)
		d.mats.wipeCloseMat(&m)
		m = dst
	}
	if m.Type() != gocv.MatTypeCV8UC3 {
		err := fmt.Errorf("%w: %d channels, type %v", ErrFrameFormat, m.Channels(), m.Type())
		d.mats.wipeCloseMat(&m)
		return nil, err
	}
	if w, h := d.opts.Width, d.opts.Height; !live(d.src.kind) && w > 0 && (m.Cols() != w || m.Rows() != h) {
		interp := gocv.InterpolationLinear
		if w < m.Cols() {
			interp = gocv.InterpolationArea
		}
		dst := d.mats.newMat()
		gocv.Resize(m, &dst, image.Pt(w, h), 0, 0, interp)
		d.mats.wipeCloseMat(&m)
		m = dst
	}
	d.seq++
	return &Frame{
		Seq:    d.seq,
		Time:   d.clock.Now(), // restamped after pacing
		Width:  m.Cols(),
		Height: m.Rows(),
		px:     pixels{mat: m},
		count:  &d.mats,
	}, nil
}

// deliver queues r. Devices keep only the newest frame; files wait for the
// consumer. It returns false (and closes r's frame) if ctx ended, or may
// queue r all the same: the reader drains the queue when it ends halted.
func (d *Dev) deliver(ctx context.Context, r result) bool {
	if r.f != nil {
		d.mu.Lock()
		d.stats.Frames++
		d.mu.Unlock()
	}
	if live(d.src.kind) {
		select {
		case d.ch <- r:
			return true
		default:
		}
		select {
		case old := <-d.ch:
			_ = old.f.Close()
			d.mu.Lock()
			d.stats.Dropped++
			d.mu.Unlock()
		default:
		}
	}
	select {
	case d.ch <- r:
		return true
	case <-ctx.Done():
		_ = r.f.Close()
		return false
	}
}

// reconnect reopens a failed camera with exponential backoff. It returns
// nil after calling finish when r is halted or MaxReconnects is exhausted.
// Attempts are counted from the last frame (d.streak), not from this
// failure: a camera that reopens fine but fails its first read each time
// (a CSI camera behind OpenCV's V4L2 backend) backs off further and is
// given up like one that does not reopen at all.
func (d *Dev) reconnect(r *reader, cause error) capture {
	ctx := r.ctx
	d.mu.Lock()
	d.stats.Connected = false
	d.mu.Unlock()
	last := cause
	for {
		if limit := d.opts.MaxReconnects; limit > 0 && d.streak >= limit {
			err := fmt.Errorf("%w after %d reconnects without a frame: %w", ErrGaveUp, d.streak, last)
			d.log.Error("camera unavailable", "err", err)
			d.finish(r, err)
			return nil
		}
		wait := backoff(d.streak, d.opts.ReconnectMin, d.opts.ReconnectMax)
		select {
		case <-d.clock.After(wait):
		case <-ctx.Done():
			d.finish(r, ErrHalted)
			return nil
		}
		d.streak++
		c, err := d.open(d.src, d.opts, &d.mats)
		if err != nil {
			last = err
			d.noteError(err)
			d.log.Warn("camera reopen failed", "attempt", d.streak, "err", err)
			continue
		}
		d.setInfo(c.info())
		d.mu.Lock()
		d.stats.Reconnects++
		d.stats.Connected = true
		d.mu.Unlock()
		d.log.Info("camera reconnected", "attempt", d.streak, "info", d.Info().String())
		return c
	}
}

// noteFrame records that the capture delivered a frame now.
func (d *Dev) noteFrame() {
	now := d.clock.Now()
	d.mu.Lock()
	d.stats.LastFrame, d.since = now, now
	if d.frameSig != nil {
		close(d.frameSig)
		d.frameSig = nil
	}
	d.mu.Unlock()
}

func (d *Dev) noteError(err error) {
	if errors.Is(err, io.EOF) {
		return
	}
	d.mu.Lock()
	d.stats.Errors++
	d.stats.LastError = err.Error()
	d.mu.Unlock()
}

// finish records why reader r ends.
func (d *Dev) finish(r *reader, err error) {
	d.mu.Lock()
	r.final = err
	d.mu.Unlock()
}
