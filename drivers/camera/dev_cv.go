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

	ch     chan result   // frames and per-frame errors, capacity 1
	done   chan struct{} // closed when the reader has ended
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	halt   sync.Once

	mu    sync.Mutex
	info  Info
	stats Stats
	final error // why the reader ended; set before done is closed
	// since is when the camera was first opened or, once it has
	// delivered, its last frame: the start of the current silence.
	since time.Time
	// frameSig is closed at the next frame read; nil while nobody waits.
	frameSig chan struct{}

	seq    uint64 // reader goroutine only
	streak int    // reader only: reconnect attempts since the last frame
}

// live reports whether a kind is a camera (frames come at the camera's
// pace, the newest wins, failures are reconnected) rather than a file.
func live(kind string) bool { return kind == KindV4L2 || kind == KindGStreamer }

type result struct {
	f   *Frame
	err error
}

var _ Source = (*Dev)(nil)

// New opens src and starts reading it. src is a V4L2 device index ("0") or
// path ("/dev/video0", or a symlink to one, optionally with the "v4l2:"
// scheme), a GStreamer pipeline with the "gst:" scheme (see
// LibcameraPipeline), a video file, a directory of images, an image
// pattern ("f%03d.png" or "*.png"), or a single image.
// opts nil means DefaultOpts. The first open is not retried: an error here
// (*DeviceError, *UnsupportedError, ErrBadSource, ErrBadOpts, ErrDecode)
// is for the board to report. A GStreamer pipeline that has not started
// within Opts.NoFrameTimeout fails with ErrOpen and ErrNoFrame. New does
// not wait for a camera's first frame: Check does. Call Halt when done.
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
		done:  make(chan struct{}),
	}
	c, err := d.openFirst()
	if err != nil {
		return nil, err
	}
	d.setInfo(c.info())
	d.stats.Connected = true
	d.since = d.clock.Now()
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.log.Info("camera opened", "info", d.info.String())
	d.wg.Add(1)
	go d.run(c)
	return d, nil
}

// openFirst opens the source for New. OpenCV's GStreamer backend starts
// a pipeline and waits, without a timeout, until a first frame has reached
// its appsink (gst_element_get_state with GST_CLOCK_TIME_NONE): a camera
// that never produces would block New, and the daemon's start, forever.
// So a pipeline gets NoFrameTimeout; after that New fails and the opening
// is left to finish (and be released) on its own.
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
	)
	go func() {
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

// Stats returns counters since New, and whether a camera has stalled.
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
// are read when the consumer asks. Caller holds d.mu.
func (d *Dev) silenceLocked(now time.Time) (time.Duration, bool) {
	if !live(d.src.kind) {
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
// It returns the Dev's final error if the reader has ended, ErrClosed after
// Halt, and ctx's error if ctx ends first. Time is the Dev's clock.
func (d *Dev) Check(ctx context.Context) error {
	for {
		if d.ctx.Err() != nil {
			return ErrClosed
		}
		select {
		case <-d.done:
			d.mu.Lock()
			defer d.mu.Unlock()
			return d.final
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
		case <-d.done:
		case <-d.ctx.Done():
		case <-ctx.Done():
			return fmt.Errorf("camera %s: check: %w", d.src.raw, ctx.Err())
		}
	}
}

// OpenMats returns how many native matrices of this Dev are open: frames
// handed out and not yet closed, plus the one being read.
func (d *Dev) OpenMats() int { return int(d.mats.n.Load()) }

func (d *Dev) String() string { return "camera(" + d.Info().String() + ")" }

// Next returns the next frame. Errors: ErrDecode for one bad image (call
// again); ErrEndOfStream, ErrGaveUp or ErrClosed when no frame will come;
// the error of ctx when it ends first, mentioning the device error if the
// device is down meanwhile.
func (d *Dev) Next(ctx context.Context) (*Frame, error) {
	if d.ctx.Err() != nil {
		return nil, ErrClosed
	}
	select {
	case r := <-d.ch:
		return r.f, r.err
	case <-d.done:
		select {
		case r := <-d.ch:
			return r.f, r.err
		default:
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		return nil, d.final
	case <-d.ctx.Done():
		return nil, ErrClosed
	case <-ctx.Done():
		st := d.Stats()
		switch {
		case st.Stalled:
			var since string
			if !st.LastFrame.IsZero() {
				since = " since " + st.LastFrame.Format(time.RFC3339)
			}
			return nil, fmt.Errorf("camera %s: next: %w (%w%s)", d.src.raw, ctx.Err(), ErrNoFrame, since)
		case !st.Connected && st.LastError != "":
			return nil, fmt.Errorf("camera %s: next: %w (device down: %s)", d.src.raw, ctx.Err(), st.LastError)
		}
		return nil, fmt.Errorf("camera %s: next: %w", d.src.raw, ctx.Err())
	}
}

// Halt stops the reader, waits for it, closes the capture and every frame
// still queued. Frames already returned by Next stay the caller's to close.
// An OpenCV open or read in progress is waited for, however long it takes
// (OpenCV cannot interrupt it); Shutdown bounds that wait.
func (d *Dev) Halt() error { return d.Shutdown(context.Background()) }

// Shutdown is Halt, but gives up waiting when ctx ends: it then returns
// ErrStuck (with ctx's error) and leaves the reader to release the capture
// and end by itself once the native call returns. Calling it again waits
// again.
func (d *Dev) Shutdown(ctx context.Context) error {
	d.cancel()
	select {
	case <-d.done:
	case <-ctx.Done():
		err := fmt.Errorf("camera %s: halt: %w: %w", d.src.raw, ErrStuck, ctx.Err())
		d.log.Warn("camera reader left behind", "err", err)
		return err
	}
	d.wg.Wait()
	d.halt.Do(func() {
		d.drain()
		d.log.Info("camera halted")
	})
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

// Close is Halt, to satisfy Source and io.Closer.
func (d *Dev) Close() error { return d.Halt() }

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

// run is the reader goroutine; it owns the capture c.
func (d *Dev) run(c capture) {
	defer d.wg.Done()
	defer close(d.done)
	defer func() {
		if c != nil {
			_ = c.close()
		}
		d.mu.Lock()
		d.stats.Connected = false
		d.mu.Unlock()
		if d.ctx.Err() != nil {
			// Halted: a Shutdown that stopped waiting for this reader
			// has drained the queue already; drain what came after.
			d.drain()
		}
	}()
	ctx := d.ctx
	var due time.Time
	fresh := 0 // frames read since open or rewind
	for {
		if ctx.Err() != nil {
			d.finish(ErrClosed)
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
				d.finish(ErrClosed)
				return
			}
			if f != nil {
				f.Time = d.clock.Now()
			}
			if !d.deliver(ctx, result{f: f, err: err}) {
				d.finish(ErrClosed)
				return
			}
			continue
		}
		d.noteError(err)
		switch {
		case errors.Is(err, io.EOF):
			if !d.opts.Loop || fresh == 0 {
				d.finish(ErrEndOfStream)
				return
			}
			if err := c.rewind(); err != nil {
				d.noteError(err)
				d.finish(err)
				return
			}
			fresh = 0
			d.mu.Lock()
			d.stats.Loops++
			d.mu.Unlock()
		case errors.Is(err, ErrDecode):
			d.log.Warn("camera image skipped", "err", err)
			if !d.deliver(ctx, result{err: err}) {
				d.finish(ErrClosed)
				return
			}
		case live(d.src.kind):
			d.log.Warn("camera device failed, reconnecting", "err", err)
			_ = c.close()
			c = d.reconnect(ctx, err)
			if c == nil {
				return // reconnect called finish
			}
		default:
			d.finish(err)
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
		d.mats.closeMat(&m)
		m = dst
	}
	if m.Type() != gocv.MatTypeCV8UC3 {
		err := fmt.Errorf("%w: %d channels, type %v", ErrFrameFormat, m.Channels(), m.Type())
		d.mats.closeMat(&m)
		return nil, err
	}
	if w, h := d.opts.Width, d.opts.Height; !live(d.src.kind) && w > 0 && (m.Cols() != w || m.Rows() != h) {
		interp := gocv.InterpolationLinear
		if w < m.Cols() {
			interp = gocv.InterpolationArea
		}
		dst := d.mats.newMat()
		gocv.Resize(m, &dst, image.Pt(w, h), 0, 0, interp)
		d.mats.closeMat(&m)
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
// consumer. It returns false (and closes r's frame) if ctx ended.
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
// nil after calling finish when ctx ends or MaxReconnects is exhausted.
// Attempts are counted from the last frame (d.streak), not from this
// failure: a camera that reopens fine but fails its first read each time
// (a CSI camera behind OpenCV's V4L2 backend) backs off further and is
// given up like one that does not reopen at all.
func (d *Dev) reconnect(ctx context.Context, cause error) capture {
	d.mu.Lock()
	d.stats.Connected = false
	d.mu.Unlock()
	last := cause
	for {
		if limit := d.opts.MaxReconnects; limit > 0 && d.streak >= limit {
			err := fmt.Errorf("%w after %d reconnects without a frame: %w", ErrGaveUp, d.streak, last)
			d.log.Error("camera unavailable", "err", err)
			d.finish(err)
			return nil
		}
		wait := backoff(d.streak, d.opts.ReconnectMin, d.opts.ReconnectMax)
		select {
		case <-d.clock.After(wait):
		case <-ctx.Done():
			d.finish(ErrClosed)
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

func (d *Dev) finish(err error) {
	d.mu.Lock()
	d.final = err
	d.mu.Unlock()
}
