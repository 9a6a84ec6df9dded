//go:build !nocv

package camera

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// fakeClock advances only when the Dev waits on it, and records each wait.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func (c *fakeClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// colour of test frame i, as R,G,B.
func colour(i int) color.RGBA {
	return color.RGBA{R: uint8(20 + 50*i), G: uint8(230 - 40*i), B: uint8(60 + 25*i), A: 255}
}

// writePNGs writes n flat-coloured w x h frames named f001.png... into dir.
func writePNGs(t testing.TB, dir string, n, w, h int) []string {
	t.Helper()
	var names []string
	for i := 0; i < n; i++ {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		c := colour(i)
		for p := 0; p < len(img.Pix); p += 4 {
			img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = c.R, c.G, c.B, c.A
		}
		name := filepath.Join(dir, fmt.Sprintf("f%03d.png", i+1))
		writePNG(t, name, img)
		names = append(names, name)
	}
	return names
}

func writePNG(t testing.TB, name string, img image.Image) {
	t.Helper()
	fh, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(fh, img); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
}

// centre returns the frame's centre pixel as R,G,B.
func centre(t *testing.T, f *Frame) (r, g, b int) {
	t.Helper()
	bgr, err := f.BGR()
	if err != nil {
		t.Fatal(err)
	}
	i := ((f.Height/2)*f.Width + f.Width/2) * 3
	return int(bgr[i+2]), int(bgr[i+1]), int(bgr[i])
}

func near(a, b, tol int) bool { return a-b <= tol && b-a <= tol }

// checkColour asserts that f shows test colour i (within tol per channel).
func checkColour(t *testing.T, f *Frame, i, tol int) {
	t.Helper()
	r, g, b := centre(t, f)
	c := colour(i)
	if !near(r, int(c.R), tol) || !near(g, int(c.G), tol) || !near(b, int(c.B), tol) {
		t.Fatalf("frame %d shows %d,%d,%d; want colour %d = %d,%d,%d", f.Seq, r, g, b, i, c.R, c.G, c.B)
	}
}

// readerDone returns the channel closed when d's current reader ends.
func readerDone(d *Dev) <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cur.done
}

// halt halts d, checks that it is halted and not closed, closes it and
// checks that nothing of it is left behind.
func halt(t *testing.T, d *Dev, goroutinesBefore int) {
	t.Helper()
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := d.Halt(); err != nil { // idempotent
		t.Fatal(err)
	}
	select {
	case <-readerDone(d):
	default:
		t.Fatal("reader still running after Halt")
	}
	if n := d.OpenMats(); n != 0 {
		t.Fatalf("%d native matrices still open after Halt", n)
	}
	if _, err := d.Next(context.Background()); !errors.Is(err, ErrHalted) || errors.Is(err, ErrClosed) || !IsFatal(err) {
		t.Fatalf("Next after Halt: %v, want ErrHalted", err)
	}
	if err := d.Check(context.Background()); !errors.Is(err, ErrHalted) {
		t.Fatalf("Check after Halt: %v, want ErrHalted", err)
	}
	if st := d.Stats(); st.Connected || st.Stalled {
		t.Fatalf("stats after Halt = %+v, want neither connected nor stalled", st)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := d.Halt(); err != nil { // Halt after Close does nothing
		t.Fatal(err)
	}
	if n := d.OpenMats(); n != 0 {
		t.Fatalf("%d native matrices still open after Close", n)
	}
	if _, err := d.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v, want ErrClosed", err)
	}
	if err := d.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v, want ErrClosed", err)
	}
	// The reader has returned (done is closed); give the runtime a chance
	// to retire it before counting.
	n := runtime.NumGoroutine()
	for i := 0; i < 1000 && n > goroutinesBefore; i++ {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > goroutinesBefore {
		t.Fatalf("goroutines: %d after Halt, %d before New", n, goroutinesBefore)
	}
}

func TestImagesPlayback(t *testing.T) {
	dir := t.TempDir()
	const n = 4
	writePNGs(t, dir, n, 64, 48)
	clk := newFakeClock()
	g0 := runtime.NumGoroutine()
	opts := DefaultOpts
	opts.Clock = clk
	d, err := New(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	want := Info{Width: 640, Height: 480, FPS: 15, Device: dir, Kind: KindImages}
	if got := d.Info(); got != want {
		t.Fatalf("Info = %+v, want %+v", got, want)
	}
	if s := d.String(); s != "camera(images:"+dir+" 640x480@15)" {
		t.Fatalf("String = %q", s)
	}
	ctx := context.Background()
	var last time.Time
	for i := 0; i < n; i++ {
		f, err := d.Next(ctx)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Width != 640 || f.Height != 480 || f.Seq != uint64(i+1) {
			t.Fatalf("frame %d: %v", i, f)
		}
		if i > 0 && f.Time.Sub(last) != time.Second/15 {
			t.Fatalf("frame %d came %v after the previous one, want %v", i, f.Time.Sub(last), time.Second/15)
		}
		last = f.Time
		checkColour(t, f, i, 2)
		f.Close()
	}
	_, err = d.Next(ctx)
	if !errors.Is(err, ErrEndOfStream) || !IsFatal(err) {
		t.Fatalf("after the last frame: %v, want ErrEndOfStream", err)
	}
	if _, err := d.Next(ctx); !errors.Is(err, ErrEndOfStream) {
		t.Fatalf("end is not sticky: %v", err)
	}
	period := time.Second / 15
	waits := clk.Waits()
	if len(waits) != n-1 {
		t.Fatalf("waits = %v, want %d of %v", waits, n-1, period)
	}
	for _, w := range waits {
		if w != period {
			t.Fatalf("waits = %v, want %v each", waits, period)
		}
	}
	if st := d.Stats(); st.Frames != n || st.Errors != 0 {
		t.Fatalf("stats = %+v", st)
	}
	halt(t, d, g0)
}

func TestImagePatternsAndNativeSize(t *testing.T) {
	dir := t.TempDir()
	writePNGs(t, dir, 3, 32, 24)
	for _, src := range []string{
		filepath.Join(dir, "f%03d.png"),
		filepath.Join(dir, "f*.png"),
	} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			d, err := New(src, &Opts{Unpaced: true})
			if err != nil {
				t.Fatal(err)
			}
			if inf := d.Info(); inf.Width != 32 || inf.Height != 24 || inf.FPS != 0 {
				t.Fatalf("Info = %+v, want native 32x24 unpaced", inf)
			}
			for i := 0; i < 3; i++ {
				f, err := d.Next(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if f.Width != 32 || f.Height != 24 {
					t.Fatalf("frame size %dx%d", f.Width, f.Height)
				}
				checkColour(t, f, i, 0)
				f.Close()
			}
			halt(t, d, 0x7fffffff)
		})
	}
}

func TestImagesLoop(t *testing.T) {
	dir := t.TempDir()
	writePNGs(t, dir, 3, 16, 16)
	d, err := New(dir, &Opts{Loop: true, Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		f, err := d.Next(context.Background())
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		checkColour(t, f, i%3, 0)
		f.Close()
	}
	if st := d.Stats(); st.Loops < 2 {
		t.Fatalf("loops = %d, want >= 2", st.Loops)
	}
	halt(t, d, 0x7fffffff)
}

func TestSingleImageLoops(t *testing.T) {
	dir := t.TempDir()
	name := writePNGs(t, dir, 1, 20, 10)[0]
	d, err := New(name, &Opts{Loop: true, Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		f, err := d.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		checkColour(t, f, 0, 0)
		f.Close()
	}
	halt(t, d, 0x7fffffff)
}

func TestGrayImageBecomesBGR(t *testing.T) {
	dir := t.TempDir()
	img := image.NewGray(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = 77
	}
	writePNG(t, filepath.Join(dir, "g.png"), img)
	d, err := New(filepath.Join(dir, "g.png"), &Opts{Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	f, err := d.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r, g, b := centre(t, f); r != 77 || g != 77 || b != 77 {
		t.Fatalf("gray pixel became %d,%d,%d", r, g, b)
	}
	f.Close()
	halt(t, d, 0x7fffffff)
}

func TestCorruptImageIsSkipped(t *testing.T) {
	dir := t.TempDir()
	writePNGs(t, dir, 3, 16, 16)
	// f002.png becomes garbage: frames 1 and 3 stay.
	if err := os.WriteFile(filepath.Join(dir, "f002.png"), []byte("not a png"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := New(dir, &Opts{Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f, err := d.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkColour(t, f, 0, 0)
	f.Close()
	if _, err := d.Next(ctx); !errors.Is(err, ErrDecode) || IsFatal(err) {
		t.Fatalf("bad image: %v, want ErrDecode", err)
	}
	f, err = d.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkColour(t, f, 2, 0)
	f.Close()
	if _, err := d.Next(ctx); !errors.Is(err, ErrEndOfStream) {
		t.Fatalf("end: %v", err)
	}
	if st := d.Stats(); st.Errors != 1 || st.LastError == "" {
		t.Fatalf("stats = %+v", st)
	}
	halt(t, d, 0x7fffffff)
}

func TestUndecodableFirstImageFailsNew(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "x.png")
	if err := os.WriteFile(name, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := OpenMats()
	if _, err := New(name, nil); !errors.Is(err, ErrDecode) {
		t.Fatalf("New = %v, want ErrDecode", err)
	}
	if OpenMats() != before {
		t.Fatal("failed New leaked a matrix")
	}
}

func TestSelfTestMeasuresPacedRate(t *testing.T) {
	dir := t.TempDir()
	writePNGs(t, dir, 2, 40, 30)
	d, err := New(dir, &Opts{FPS: 12.5, Loop: true, Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.SelfTest(context.Background(), 6)
	if err != nil {
		t.Fatal(err)
	}
	if res.Frames != 6 || res.Width != 40 || res.Height != 30 || res.Info.Kind != KindImages {
		t.Fatalf("self test = %+v", res)
	}
	if math.Abs(res.FPS-12.5) > 1e-6 || res.Elapsed != 5*80*time.Millisecond {
		t.Fatalf("measured %g fps over %v, want 12.5 over 400ms", res.FPS, res.Elapsed)
	}
	halt(t, d, 0x7fffffff)
}

func TestHaltWithQueuedFrameAndLeakDetection(t *testing.T) {
	dir := t.TempDir()
	writePNGs(t, dir, 3, 16, 16)
	g0 := runtime.NumGoroutine()
	d, err := New(dir, &Opts{Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := d.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The reader now holds frame 2 in the queue and is blocked on frame 3.
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	// The frame we did not close is the only open matrix: the counter
	// catches a forgotten Close.
	if n := d.OpenMats(); n != 1 {
		t.Fatalf("open matrices = %d, want 1 (the kept frame)", n)
	}
	if _, err := kept.BGR(); err != nil {
		t.Fatalf("a frame outlives Halt: %v", err)
	}
	kept.Close()
	kept.Close()
	halt(t, d, g0)
}

func TestNextHonoursContext(t *testing.T) {
	op := newFakeOpener(0)
	d, err := newDev("0", &Opts{Clock: newFakeClock()}, op.open)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Next(ctx); !errors.Is(err, context.Canceled) || IsFatal(err) {
		t.Fatalf("Next with a cancelled context: %v", err)
	}
	close(op.quit)
	halt(t, d, 0x7fffffff)
}

// TestNextCancelledWithFrameQueued: a frame waiting in the queue does
// not win over a context that has ended (select would pick either): a
// caller whose context ended gets no more frames.
func TestNextCancelledWithFrameQueued(t *testing.T) {
	dir := t.TempDir()
	writePNGs(t, dir, 3, 16, 16)
	d, err := New(dir, &Opts{Loop: true, Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := 0; i < 50; i++ {
		// A frame taken with a live context: the reader queues the next.
		f, err := d.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if f, err := d.Next(ctx); err == nil {
			f.Close()
			t.Fatalf("try %d: a frame for a cancelled context", i)
		} else if !errors.Is(err, context.Canceled) {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	halt(t, d, 0x7fffffff)
}

func TestBadSources(t *testing.T) {
	dir := t.TempDir()
	bogus := filepath.Join(dir, "bogus.avi")
	if err := os.WriteFile(bogus, []byte("this is not a video"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := OpenMats()
	_, err := New(bogus, nil)
	var de *DeviceError
	if !errors.As(err, &de) || de.Op != "open" || !errors.Is(err, ErrOpen) {
		t.Fatalf("New(bogus video) = %v, want *DeviceError(open)", err)
	}
	if _, err := New(filepath.Join(dir, "none.avi"), nil); !errors.Is(err, ErrBadSource) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := New(dir, &Opts{FPS: -1}); !errors.Is(err, ErrBadOpts) {
		t.Fatalf("bad opts: %v", err)
	}
	if OpenMats() != before {
		t.Fatal("failed New leaked a matrix")
	}
}

// writeAVI writes n frames of test colours as an MJPG AVI, or skips the
// test when this OpenCV cannot write one.
func writeAVI(t *testing.T, name string, n, w, h int, fps float64) {
	t.Helper()
	vw, err := gocv.VideoWriterFile(name, "MJPG", fps, w, h, true)
	if err != nil {
		t.Skipf("no video writer: %v", err)
	}
	if !vw.IsOpened() {
		vw.Close()
		t.Skip("MJPG AVI writer not available in this OpenCV")
	}
	for i := 0; i < n; i++ {
		c := colour(i)
		m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(float64(c.B), float64(c.G), float64(c.R), 0), h, w, gocv.MatTypeCV8UC3)
		err := vw.Write(m)
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := vw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestVideoPlayback(t *testing.T) {
	name := filepath.Join(t.TempDir(), "clip.avi")
	const n = 5
	writeAVI(t, name, n, 64, 48, 10)
	g0 := runtime.NumGoroutine()
	clk := newFakeClock()
	d, err := New(name, &Opts{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	want := Info{Width: 64, Height: 48, FPS: 10, Device: name, Kind: KindVideo}
	if got := d.Info(); got != want {
		t.Fatalf("Info = %+v, want %+v", got, want)
	}
	for i := 0; i < n; i++ {
		f, err := d.Next(context.Background())
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		checkColour(t, f, i, 8) // MJPG is lossy
		f.Close()
	}
	if _, err := d.Next(context.Background()); !errors.Is(err, ErrEndOfStream) {
		t.Fatalf("after %d frames: %v", n, err)
	}
	if w := clk.Waits(); len(w) != n-1 || w[0] != 100*time.Millisecond {
		t.Fatalf("pacing waits = %v, want %d of 100ms", w, n-1)
	}
	halt(t, d, g0)
}

func TestVideoLoopAndResize(t *testing.T) {
	name := filepath.Join(t.TempDir(), "clip.avi")
	writeAVI(t, name, 3, 64, 48, 10)
	d, err := New(name, &Opts{Width: 32, Height: 24, Loop: true, Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 7; i++ {
		f, err := d.Next(context.Background())
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Width != 32 || f.Height != 24 {
			t.Fatalf("frame %d is %dx%d, want 32x24", i, f.Width, f.Height)
		}
		checkColour(t, f, i%3, 8)
		f.Close()
	}
	if st := d.Stats(); st.Loops < 2 {
		t.Fatalf("stats = %+v, want 2 loops", st)
	}
	halt(t, d, 0x7fffffff)
}

// fakeOpener stands in for a V4L2 device. Each read waits for a token on
// tok (or returns a read error once the quit of its opening is closed);
// the first capture fails after failAfter frames; opens listed in
// failOpens fail.
type fakeOpener struct {
	mu        sync.Mutex
	opens     int          // open attempts so far
	live      int          // captures opened and not released
	failOpens map[int]bool // 1-based attempt numbers that fail
	failAll   bool         // every open after the first fails
	deadReads bool         // every capture fails its first read
	openLimit int          // opens beyond this many fail (0: no limit)
	failAfter int          // frames the first capture gives before failing
	open      openFunc
	tok       chan struct{}
	quit      chan struct{} // for captures opened from now on (see renew)
	reading   chan struct{} // a read has begun waiting (capacity 1, lossy)
}

func newFakeOpener(failAfter int, failOpens ...int) *fakeOpener {
	op := &fakeOpener{failOpens: map[int]bool{}, failAfter: failAfter, tok: make(chan struct{}), quit: make(chan struct{}), reading: make(chan struct{}, 1)}
	for _, n := range failOpens {
		op.failOpens[n] = true
	}
	op.open = func(s source, o Opts, mc *matCount) (capture, error) {
		op.mu.Lock()
		defer op.mu.Unlock()
		op.opens++
		if op.failOpens[op.opens] || (op.failAll && op.opens > 1) || (op.openLimit > 0 && op.opens > op.openLimit) {
			return nil, &DeviceError{Src: s.raw, Op: "open", Err: fmt.Errorf("%w: fake device busy", ErrOpen)}
		}
		left := -1
		if op.opens == 1 && failAfter > 0 {
			left = failAfter
		}
		if op.deadReads {
			left = 0
		}
		op.live++
		return &fakeCapture{op: op, quit: op.quit, mc: mc, left: left, w: 32, h: 24}, nil
	}
	return op
}

// release ends the read d's halted reader is blocked in, as a native read
// that returns at last. The reader may have seen the halt before it began
// another read: then there is nothing to release.
func (op *fakeOpener) release(d *Dev) {
	select {
	case op.tok <- struct{}{}:
	case <-readerDone(d):
	}
}

// renew gives the captures opened from now on a new quit channel: after
// close(op.quit), the device works again for the next opening.
func (op *fakeOpener) renew() {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.quit = make(chan struct{})
}

func (op *fakeOpener) Opens() int {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.opens
}

// Live returns how many captures are open (opened, not yet released).
func (op *fakeOpener) Live() int {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.live
}

type fakeCapture struct {
	op   *fakeOpener
	quit chan struct{} // the opener's quit when this capture was opened
	mc   *matCount
	left int // frames before a read error; -1 = unlimited
	w, h int
	n    int
	typ  gocv.MatType // 0 means 8-bit BGR
}

func (c *fakeCapture) read() (gocv.Mat, error) {
	if c.left == 0 {
		return gocv.Mat{}, &DeviceError{Src: "0", Op: "read", Err: ErrRead}
	}
	select {
	case c.op.reading <- struct{}{}:
	default:
	}
	select {
	case <-c.op.tok:
	case <-c.quit:
		return gocv.Mat{}, &DeviceError{Src: "0", Op: "read", Err: ErrRead}
	}
	if c.left > 0 {
		c.left--
	}
	col := colour(c.n % 4)
	c.n++
	typ := c.typ
	if typ == 0 {
		typ = gocv.MatTypeCV8UC3
	}
	return c.mc.adopt(gocv.NewMatWithSizeFromScalar(gocv.NewScalar(float64(col.B), float64(col.G), float64(col.R), 0), c.h, c.w, typ)), nil
}

func (c *fakeCapture) rewind() error { return nil }
func (c *fakeCapture) info() Info    { return Info{Width: c.w, Height: c.h, FPS: 30} }
func (c *fakeCapture) close() error {
	c.op.mu.Lock()
	defer c.op.mu.Unlock()
	c.op.live--
	return nil
}

func TestDeviceReconnectsWithBackoff(t *testing.T) {
	g0 := runtime.NumGoroutine()
	op := newFakeOpener(2, 2, 3) // two frames, then opens #2 and #3 fail
	clk := newFakeClock()
	d, err := newDev("0", &Opts{Width: 640, Height: 480, FPS: 15, ReconnectMin: 100 * time.Millisecond, ReconnectMax: 300 * time.Millisecond, Clock: clk}, op.open)
	if err != nil {
		t.Fatal(err)
	}
	// A device reports what it negotiated, not what was asked.
	if inf := d.Info(); inf.Width != 32 || inf.Height != 24 || inf.FPS != 30 || inf.Kind != KindV4L2 {
		t.Fatalf("Info = %+v", inf)
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		op.tok <- struct{}{}
		f, err := d.Next(ctx)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Seq != uint64(i+1) || f.Width != 32 {
			t.Fatalf("frame %d: %v", i, f)
		}
		f.Close()
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}
	if got := clk.Waits(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("backoff waits = %v, want %v", got, want)
	}
	st := d.Stats()
	if op.Opens() != 4 || st.Reconnects != 1 || st.Errors != 3 || !st.Connected {
		t.Fatalf("opens = %d, stats = %+v; want 4 opens, 1 reconnect, 3 errors, connected", op.Opens(), st)
	}
	close(op.quit)
	halt(t, d, g0)
}

func TestDeviceGivesUp(t *testing.T) {
	op := newFakeOpener(1)
	op.failAll = true
	clk := newFakeClock()
	d, err := newDev("/dev/video0", &Opts{MaxReconnects: 3, Clock: clk}, op.open)
	if err != nil {
		t.Fatal(err)
	}
	op.tok <- struct{}{}
	f, err := d.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Next(context.Background())
	if !errors.Is(err, ErrGaveUp) || !errors.Is(err, ErrOpen) || !IsFatal(err) {
		t.Fatalf("Next = %v, want ErrGaveUp wrapping ErrOpen", err)
	}
	if _, err2 := d.Next(context.Background()); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("the end is not sticky: %v", err2)
	}
	if op.Opens() != 4 || len(clk.Waits()) != 3 {
		t.Fatalf("opens = %d, waits = %v; want 4 opens, 3 waits", op.Opens(), clk.Waits())
	}
	if d.OpenMats() != 1 {
		t.Fatalf("open matrices = %d, want 1 (the frame we hold)", d.OpenMats())
	}
	f.Close()
	halt(t, d, 0x7fffffff)
}

// A Raspberry Pi CSI camera driven by libcamera exposes /dev/video0 (the
// unicam node): OpenCV's V4L2 backend opens it, but every read fails
// (opencv/opencv#22820: isOpened() true, read() false; emgucv/emgucv#931:
// select() timeouts on the camera module). Every reopen "succeeds", so
// reopenings that are followed by a failed read must count towards
// MaxReconnects, and the backoff must keep growing across such cycles
// instead of starting again at ReconnectMin.
func TestDeviceThatOpensButNeverReadsGivesUp(t *testing.T) {
	op := newFakeOpener(0)
	op.deadReads = true
	// Past 20 opens the fake device also stops opening, so that a driver
	// that never gives up on open-then-fail cycles still ends the test.
	op.openLimit = 20
	clk := newFakeClock()
	d, err := newDev("/dev/video0", &Opts{MaxReconnects: 3, ReconnectMin: 100 * time.Millisecond, ReconnectMax: time.Second, Clock: clk}, op.open)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Next(context.Background())
	if !errors.Is(err, ErrGaveUp) || !errors.Is(err, ErrRead) || !IsFatal(err) {
		t.Fatalf("Next = %v, want ErrGaveUp wrapping the read failure", err)
	}
	if op.Opens() != 4 {
		t.Fatalf("opens = %d, want 4 (the first and 3 reconnects)", op.Opens())
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
	if got := clk.Waits(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("backoff waits = %v, want %v", got, want)
	}
	if st := d.Stats(); st.Reconnects != 3 || st.Frames != 0 || st.Connected {
		t.Fatalf("stats = %+v, want 3 reconnects, no frame, disconnected", st)
	}
	halt(t, d, 0x7fffffff)
}

func TestDeviceKeepsNewestFrame(t *testing.T) {
	op := newFakeOpener(0)
	d, err := newDev("0", &Opts{Clock: newFakeClock()}, op.open)
	if err != nil {
		t.Fatal(err)
	}
	// Six reads have started once the sixth token is taken, so frames
	// 1..5 have all been queued; only the newest may be left.
	for i := 0; i < 6; i++ {
		op.tok <- struct{}{}
	}
	f, err := d.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f.Seq < 5 {
		t.Fatalf("got frame %d, want the newest (>= 5)", f.Seq)
	}
	f.Close()
	if st := d.Stats(); st.Dropped < 4 {
		t.Fatalf("stats = %+v, want >= 4 dropped", st)
	}
	close(op.quit)
	halt(t, d, 0x7fffffff)
}

func TestDeviceHaltDuringBackoffWait(t *testing.T) {
	g0 := runtime.NumGoroutine()
	op := newFakeOpener(0)
	op.failAll = true
	blocking := &blockingClock{fakeClock: newFakeClock(), waiting: make(chan struct{}, 1)}
	d, err := newDev("0", &Opts{Clock: blocking}, op.open)
	if err != nil {
		t.Fatal(err)
	}
	close(op.quit) // the device fails; the reader waits for a backoff that never ends
	<-blocking.waiting
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = d.Next(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "device down") {
		t.Fatalf("Next while the device is down: %v", err)
	}
	if st := d.Stats(); st.Connected || st.Errors != 1 {
		t.Fatalf("stats = %+v, want disconnected after 1 error", st)
	}
	halt(t, d, g0) // must not wait for the backoff
}

// blockingClock never fires its timers; it reports each wait on waiting.
type blockingClock struct {
	*fakeClock
	waiting chan struct{}
}

func (c *blockingClock) After(time.Duration) <-chan time.Time {
	select {
	case c.waiting <- struct{}{}:
	default:
	}
	return make(chan time.Time)
}

func TestUnexpectedPixelFormatIsReportedAndReleased(t *testing.T) {
	op := newFakeOpener(0)
	inner := op.open
	op.open = func(s source, o Opts, mc *matCount) (capture, error) {
		c, err := inner(s, o, mc)
		if err == nil {
			c.(*fakeCapture).typ = gocv.MatTypeCV16SC2
		}
		return c, err
	}
	d, err := newDev("0", &Opts{Clock: newFakeClock()}, op.open)
	if err != nil {
		t.Fatal(err)
	}
	op.tok <- struct{}{}
	if _, err := d.Next(context.Background()); !errors.Is(err, ErrFrameFormat) {
		t.Fatalf("Next = %v, want ErrFrameFormat", err)
	}
	close(op.quit)
	halt(t, d, 0x7fffffff)
}

func TestFrameMatIsBorrowed(t *testing.T) {
	dir := t.TempDir()
	writePNGs(t, dir, 1, 12, 10)
	d, err := New(dir, &Opts{Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	f, err := d.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.Mat()
	if err != nil {
		t.Fatal(err)
	}
	if m.Cols() != 12 || m.Rows() != 10 || m.Type() != gocv.MatTypeCV8UC3 {
		t.Fatalf("mat %dx%d type %v", m.Cols(), m.Rows(), m.Type())
	}
	v := m.GetVecbAt(5, 6) // B, G, R
	c := colour(0)
	if v[0] != c.B || v[1] != c.G || v[2] != c.R {
		t.Fatalf("mat pixel %v, want B%d G%d R%d", v, c.B, c.G, c.R)
	}
	f.Close()
	if _, err := f.Mat(); !errors.Is(err, ErrFrameClosed) {
		t.Fatalf("Mat after Close: %v", err)
	}
	halt(t, d, 0x7fffffff)
}

func TestMissingDeviceFailsNew(t *testing.T) {
	const dev = "/dev/video63"
	if _, err := os.Stat(dev); err == nil {
		t.Skip(dev + " exists here")
	}
	before := OpenMats()
	_, err := New(dev, nil)
	var de *DeviceError
	if !errors.As(err, &de) || de.Op != "open" || !errors.Is(err, ErrOpen) {
		t.Fatalf("New(%s) = %v, want *DeviceError(open)", dev, err)
	}
	if OpenMats() != before {
		t.Fatal("failed New leaked a matrix")
	}
}

// wipeMat, which releasing a frame runs before freeing its native
// matrix, leaves no pixel of the picture.
func TestWipeMatZeroesThePicture(t *testing.T) {
	bgr := make([]byte, 4*3*3)
	for i := range bgr {
		bgr[i] = byte(i + 1)
	}
	f, err := NewFrameBGR(4, 3, bgr)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := f.Mat()
	if err != nil {
		t.Fatal(err)
	}
	wipeMat(&m)
	got, err := f.BGR()
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range got {
		if b != 0 {
			t.Fatalf("byte %d is %d after the wipe", i, b)
		}
	}
	var empty gocv.Mat
	wipeMat(&empty) // a matrix never allocated: nothing to do, no crash
}
