//go:build !nocv

package camera

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/conn/clock"
)

// A camera that opens and then delivers nothing: OpenCV's V4L2 backend on
// a camera whose reads block (it waits up to 10 s in select() per read,
// OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT; emgucv/emgucv#931 shows those
// timeouts on a Raspberry Pi camera module), or a GStreamer pipeline whose
// source stalls (OpenCV 4.6 pulls samples with gst_app_sink_pull_sample,
// which blocks until a sample or the end of the stream). It must be
// reported failed once Opts.NoFrameTimeout has passed by the Dev's clock,
// by Check, SelfTest, Stats and an expiring Next.
func TestCameraThatNeverDeliversIsReportedFailed(t *testing.T) {
	op := newFakeOpener(0) // every read waits for a token that never comes
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	d, err := newDev("/dev/video0", &Opts{NoFrameTimeout: 5 * time.Second, Clock: clk}, op.open)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	checked := make(chan error, 1)
	go func() { checked <- d.Check(ctx) }()
	// Check waits for the rest of the 5 s on the clock.
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats(); st.Stalled || !st.Connected {
		t.Fatalf("stats before the timeout = %+v, want connected, not stalled", st)
	}
	clk.Advance(5 * time.Second)
	err = <-checked
	var de *DeviceError
	if !errors.Is(err, ErrNoFrame) || !errors.As(err, &de) || de.Op != "read" || IsFatal(err) {
		t.Fatalf("Check = %v, want a read *DeviceError wrapping ErrNoFrame", err)
	}
	if st := d.Stats(); !st.Stalled || !st.Connected || !st.LastFrame.IsZero() {
		t.Fatalf("stats = %+v, want open, stalled, no frame ever", st)
	}
	// The board's self test fails at once, without waiting again.
	if _, err := d.SelfTest(ctx, 3); !errors.Is(err, ErrNoFrame) {
		t.Fatalf("SelfTest = %v, want ErrNoFrame", err)
	}
	expired, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := d.Next(expired); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrNoFrame) {
		t.Fatalf("Next = %v, want the context's error and ErrNoFrame", err)
	}

	// The camera comes to life: one frame makes it healthy again.
	op.tok <- struct{}{}
	f, err := d.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := d.Check(ctx); err != nil {
		t.Fatalf("Check after a frame = %v", err)
	}
	if st := d.Stats(); st.Stalled || st.LastFrame != clk.Now() {
		t.Fatalf("stats after a frame = %+v", st)
	}
	close(op.quit)
	halt(t, d, 0x7fffffff)
}

// Check waits for the first frame of a camera opened less than
// NoFrameTimeout ago, and returns as soon as it comes.
func TestCheckWaitsForTheFirstFrame(t *testing.T) {
	op := newFakeOpener(0)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	d, err := newDev("0", &Opts{NoFrameTimeout: time.Second, Clock: clk}, op.open)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	checked := make(chan error, 1)
	go func() { checked <- d.Check(ctx) }()
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	op.tok <- struct{}{} // a frame, before any time has passed
	if err := <-checked; err != nil {
		t.Fatalf("Check = %v, want nil", err)
	}
	close(op.quit)
	halt(t, d, 0x7fffffff)
}

// A camera that keeps failing is stalled too, open or not, and the
// report carries the device's last error.
func TestStallWhileReconnecting(t *testing.T) {
	op := newFakeOpener(1)
	op.failAll = true
	blocking := &blockingClock{fakeClock: newFakeClock(), waiting: make(chan struct{}, 1)}
	d, err := newDev("0", &Opts{NoFrameTimeout: time.Second, Clock: blocking}, op.open)
	if err != nil {
		t.Fatal(err)
	}
	op.tok <- struct{}{}
	f, err := d.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	close(op.quit) // the next read fails; the reader waits in its backoff
	<-blocking.waiting
	blocking.mu.Lock()
	blocking.now = blocking.now.Add(time.Second)
	blocking.mu.Unlock()
	err = d.Check(context.Background())
	if !errors.Is(err, ErrNoFrame) || !strings.Contains(err.Error(), "last error") {
		t.Fatalf("Check = %v, want ErrNoFrame with the last device error", err)
	}
	if st := d.Stats(); !st.Stalled || st.Connected {
		t.Fatalf("stats = %+v, want stalled and disconnected", st)
	}
	halt(t, d, 0x7fffffff)
}

// gateOpener opens GStreamer sources only when released, as OpenCV's
// GStreamer backend does when a pipeline's first frame never comes.
type gateOpener struct {
	release chan struct{}
	closed  chan struct{}
	once    sync.Once
}

func (g *gateOpener) open(s source, o Opts, mc *matCount) (capture, error) {
	<-g.release
	op := newFakeOpener(0)
	return &closeNotifier{fakeCapture: &fakeCapture{op: op, quit: op.quit, mc: mc, left: -1, w: 8, h: 8}, g: g}, nil
}

type closeNotifier struct {
	*fakeCapture
	g *gateOpener
}

func (c *closeNotifier) close() error {
	c.g.once.Do(func() { close(c.g.closed) })
	return nil
}

func TestPipelineThatDoesNotStartFailsNew(t *testing.T) {
	g := &gateOpener{release: make(chan struct{}), closed: make(chan struct{})}
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	type result struct {
		d   *Dev
		err error
	}
	res := make(chan result, 1)
	go func() {
		d, err := newDev("gst:libcamerasrc ! appsink", &Opts{NoFrameTimeout: 2 * time.Second, Clock: clk}, g.open)
		res <- result{d, err}
	}()
	if err := clk.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	r := <-res
	var de *DeviceError
	if r.d != nil || !errors.As(r.err, &de) || de.Op != "open" || !errors.Is(r.err, ErrOpen) || !errors.Is(r.err, ErrNoFrame) {
		t.Fatalf("newDev = %v, %v; want an open *DeviceError wrapping ErrOpen and ErrNoFrame", r.d, r.err)
	}
	// When the abandoned open finally returns, its capture is released.
	close(g.release)
	<-g.closed
}

// Halt waits for a native read however long it takes; Shutdown gives up
// when its context ends and leaves the reader to finish by itself.
func TestShutdownLeavesAStuckReaderBehind(t *testing.T) {
	op := newFakeOpener(0)
	d, err := newDev("gst:libcamerasrc ! appsink", &Opts{Clock: clock.NewFake(time.Unix(0, 0))}, op.open)
	if err != nil {
		t.Fatal(err)
	}
	if d.Info().Kind != KindGStreamer {
		t.Fatalf("Info = %+v", d.Info())
	}
	<-op.reading // the reader is inside a read that nothing ends
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the board's shutdown deadline has passed
	if err := d.Shutdown(ctx); !errors.Is(err, ErrStuck) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want ErrStuck", err)
	}
	// Halted, not closed; not started again while the old reader is
	// still inside the native call.
	if _, err := d.Next(context.Background()); !errors.Is(err, ErrHalted) {
		t.Fatalf("Next after Shutdown = %v, want ErrHalted", err)
	}
	if err := d.Start(); !errors.Is(err, ErrStuck) {
		t.Fatalf("Start with the reader stuck = %v, want ErrStuck", err)
	}
	if n := op.Opens(); n != 1 {
		t.Fatalf("opens = %d: Start opened the source beside the stuck reader", n)
	}
	again, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := d.Shutdown(again); !errors.Is(err, ErrStuck) {
		t.Fatalf("second Shutdown = %v, want ErrStuck again", err)
	}
	close(op.quit) // the native read returns at last
	<-readerDone(d)
	if n := d.OpenMats(); n != 0 {
		t.Fatalf("%d native matrices open once the stuck reader ended", n)
	}
	halt(t, d, 0x7fffffff)
}

// A pipeline that does not start again within NoFrameTimeout fails Start
// as it fails New, and is not opened a second time while that opening is
// still inside OpenCV.
func TestStartGivesUpOnAPipelineAndDoesNotOpenItTwice(t *testing.T) {
	op := newFakeOpener(0)
	gate := make(chan struct{})
	inside := make(chan struct{}) // the hanging opening has begun
	var (
		mu    sync.Mutex
		calls int
	)
	open := func(s source, o Opts, mc *matCount) (capture, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 2 { // the first Start: the pipeline hangs in OpenCV
			close(inside)
			<-gate
		}
		return op.open(s, o, mc)
	}
	opens := func() int {
		mu.Lock()
		defer mu.Unlock()
		return calls
	}
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	d, err := newDev("gst:libcamerasrc ! appsink", &Opts{NoFrameTimeout: 2 * time.Second, Clock: clk}, open)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	halted := make(chan error, 1)
	go func() { halted <- d.Halt() }()
	if _, err := d.Next(ctx); !errors.Is(err, ErrHalted) {
		t.Fatalf("Next during Halt = %v, want ErrHalted", err)
	}
	op.release(d) // the read in progress returns
	if err := <-halted; err != nil {
		t.Fatal(err)
	}

	// New's NoFrameTimeout timer, never fired, is still pending.
	pending := clk.Waiters()
	started := make(chan error, 1)
	go func() { started <- d.Start() }()
	<-inside
	if err := clk.BlockUntil(ctx, pending+1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	err = <-started
	if !errors.Is(err, ErrOpen) || !errors.Is(err, ErrNoFrame) {
		t.Fatalf("Start = %v, want ErrOpen and ErrNoFrame", err)
	}
	if err := d.Start(); !errors.Is(err, ErrStuck) {
		t.Fatalf("Start with the opening still in OpenCV = %v, want ErrStuck", err)
	}
	if n := opens(); n != 2 {
		t.Fatalf("%d openings, want 2: the pipeline was opened beside the hung one", n)
	}
	if _, err := d.Next(ctx); !errors.Is(err, ErrHalted) {
		t.Fatalf("Next = %v, want ErrHalted", err)
	}
	close(gate) // OpenCV returns at last; the late capture is released
	<-d.abandoned
	if n := op.Live(); n != 0 {
		t.Fatalf("%d captures open: the abandoned one was not released", n)
	}
	if err := d.Start(); err != nil {
		t.Fatalf("Start once the opening has returned = %v", err)
	}
	op.tok <- struct{}{}
	f, err := d.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	close(op.quit)
	halt(t, d, 0x7fffffff)
}
