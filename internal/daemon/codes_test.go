//go:build !nocv

package daemon

import (
	"context"
	"errors"
	"image"
	"image/draw"
	"log/slog"
	"testing"
	"time"

	"posd/drivers/camera"

	qrcode "github.com/skip2/go-qrcode"
)

// frames is a camera that plays pictures, then blocks until ctx ends.
type frames struct{ imgs []image.Image }

func (f *frames) Next(ctx context.Context) (*camera.Frame, error) {
	if len(f.imgs) == 0 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	img := f.imgs[0]
	f.imgs = f.imgs[1:]
	r := img.Bounds()
	rgba := image.NewRGBA(r)
	draw.Draw(rgba, r, img, r.Min, draw.Src)
	bgr := make([]byte, 0, r.Dx()*r.Dy()*3)
	for i := 0; i < len(rgba.Pix); i += 4 {
		bgr = append(bgr, rgba.Pix[i+2], rgba.Pix[i+1], rgba.Pix[i])
	}
	return camera.NewFrameBGR(r.Dx(), r.Dy(), bgr)
}
func (f *frames) Info() camera.Info { return camera.Info{} }
func (f *frames) Close() error      { return nil }

// codeRig is a QR detector (closed with the test) and text as a code.
func codeRig(t *testing.T, text string) (*camera.QRDetector, *qrcode.QRCode) {
	t.Helper()
	det, err := camera.NewQRDetector()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { det.Close() })
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	return det, q
}

// whiteFrame is a 200×200 frame with nothing on it.
func whiteFrame() *image.Gray {
	blank := image.NewGray(image.Rect(0, 0, 200, 200))
	for i := range blank.Pix {
		blank.Pix[i] = 0xff
	}
	return blank
}

// readCodeWithin is c's next code, "" when none came within d.
func readCodeWithin(t *testing.T, c *cameraCodes, d time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	s, err := c.ReadCode(ctx)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	return s
}

func TestCameraCodesOnceWhileInView(t *testing.T) {
	det, q := codeRig(t, "134567890123456789")
	code := q.Image(200)
	blank := whiteFrame()
	src := &frames{}
	c := &cameraCodes{src: src, det: det, log: slog.New(slog.DiscardHandler)}
	// A read that must find the code waits as long as decoding the
	// frames takes (seconds on a loaded machine: CI once saw "shown
	// again" empty after 2 s); one that must not ends when the frames
	// run out and the wait is over.
	within := 30 * time.Second
	read := func() string { return readCodeWithin(t, c, within) }
	src.imgs = []image.Image{blank, code}
	if got := read(); got != "134567890123456789" {
		t.Fatalf("first read %q", got)
	}
	// Still in view, with a few frames that miss it: not read again.
	src.imgs = []image.Image{code, blank, blank, code, code}
	within = 2 * time.Second
	if got := read(); got != "" {
		t.Fatalf("read again while in view: %q", got)
	}
	within = 30 * time.Second
	// Gone for goneFrames frames, then shown again: a new presentation.
	src.imgs = nil
	for range goneFrames {
		src.imgs = append(src.imgs, blank)
	}
	src.imgs = append(src.imgs, code)
	if got := read(); got != "134567890123456789" {
		t.Fatalf("shown again: %q", got)
	}
}

// TestCameraCodesCancelledReaderTakesNothing: a reader whose sale has
// ended (anyCodes cancels the losers and does not wait for them) must
// not claim a code from a frame it still got: the camera can hand out a
// queued frame after the context ended. It did, once in CI: the
// previous sale's camera reader, still running, took the next sale's
// EMV code and marked it read, so the next sale's reader never took it
// ("no payment code shown").
func TestCameraCodesCancelledReaderTakesNothing(t *testing.T) {
	det, q := codeRig(t, "hQVDUFYwMWEWTwegAAAAAwEBUAhVTklPTlBBWQ")
	src := &frames{}
	c := &cameraCodes{src: src, det: det, log: slog.New(slog.DiscardHandler)}
	// Ended before it asked for a frame, and ended while it waited for
	// one (the frame still came).
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	src.imgs = []image.Image{q.Image(200)}
	if got, err := c.ReadCode(ended); got != "" || !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled reader read %q (%v)", got, err)
	}
	ending, cancel := context.WithCancel(context.Background())
	c.src = endingSource{src, cancel}
	if got, err := c.ReadCode(ending); got != "" || !errors.Is(err, context.Canceled) {
		t.Fatalf("a reader cancelled during Next read %q (%v)", got, err)
	}
	c.src = src
	src.imgs = []image.Image{q.Image(200)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if got, err := c.ReadCode(ctx); got != "hQVDUFYwMWEWTwegAAAAAwEBUAhVTklPTlBBWQ" || err != nil {
		t.Fatalf("the live reader: %q %v", got, err)
	}
}

// endingSource ends the reader's context while it hands out a frame.
type endingSource struct {
	*frames
	cancel context.CancelFunc
}

func (e endingSource) Next(ctx context.Context) (*camera.Frame, error) {
	e.cancel()
	return e.frames.Next(ctx)
}

type fixedCodes struct {
	text  string
	err   error
	delay time.Duration
}

func (f fixedCodes) FlushCodes() {}
func (f fixedCodes) ReadCode(ctx context.Context) (string, error) {
	select {
	case <-time.After(f.delay):
		return f.text, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func TestAnyCodes(t *testing.T) {
	ctx := context.Background()
	a := anyCodes{fixedCodes{text: "slow", delay: time.Hour}, fixedCodes{text: "fast", delay: time.Millisecond}}
	if got, err := a.ReadCode(ctx); got != "fast" || err != nil {
		t.Fatalf("first code: %q %v", got, err)
	}
	broken := errors.New("camera gone")
	a = anyCodes{fixedCodes{err: broken}, fixedCodes{text: "scan", delay: 20 * time.Millisecond}}
	if got, err := a.ReadCode(ctx); got != "scan" || err != nil {
		t.Fatalf("one reader failed: %q %v", got, err)
	}
	a = anyCodes{fixedCodes{err: broken}, fixedCodes{err: errors.New("scanner gone")}}
	if _, err := a.ReadCode(ctx); !errors.Is(err, broken) {
		t.Fatalf("all failed: %v", err)
	}
}

// A new sale reads the code in front of the camera, even one held
// steady since the sale before: held back for heldFrames frames first
// (the next customer's code shown meanwhile is read instead), then read
// (the customer tops up and tries the same code again). A code the sale
// before paid with is read that way once (the platform answers that it
// is used), then not again while it stays in view; taken away and shown
// again it is read again.
func TestCameraCodesNextSale(t *testing.T) {
	const text, other = "134567890123450077", "134567890123450088"
	det, q := codeRig(t, text)
	q2, err := qrcode.New(other, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	code, code2 := q.Image(200), q2.Image(200)
	blank := whiteFrame()
	src := &frames{}
	paid := map[string]bool{}
	c := &cameraCodes{src: src, det: det, log: slog.New(slog.DiscardHandler),
		paid: func(s string) bool { return paid[s] }}
	within := 30 * time.Second
	// sale is a new sale shown imgs: the code it read ("" none).
	sale := func(imgs ...image.Image) string {
		t.Helper()
		c.FlushCodes()
		src.imgs = imgs
		return readCodeWithin(t, c, within)
	}
	steady := func(img image.Image, n int) []image.Image {
		var s []image.Image
		for range n {
			s = append(s, img)
		}
		return s
	}
	if got := sale(code); got != text {
		t.Fatalf("first sale: %q", got)
	}
	// Not paid (insufficient balance), still in view as the next sale
	// starts: held back, the next customer's code is read.
	if got := sale(append(steady(code, heldFrames-1), code2)...); got != other {
		t.Fatalf("a sale after an unpaid code lingering in view: %q", got)
	}
	if got := sale(code); got != text {
		t.Fatalf("the code shown again: %q", got)
	}
	// Held there: read (the customer retries after topping up), and
	// again at the sale after.
	if got := sale(steady(code, heldFrames)...); got != text {
		t.Fatalf("the next sale, the unpaid code held in view: %q", got)
	}
	if got := sale(steady(code, heldFrames)...); got != text {
		t.Fatalf("the sale after, the unpaid code held in view: %q", got)
	}
	// Paid; still in view as the next sale starts: held back.
	paid[text] = true
	within = 2 * time.Second
	if got := sale(steady(code, heldFrames-1)...); got != "" {
		t.Fatalf("a paid code lingering in view sent again: %q", got)
	}
	within = 30 * time.Second
	// Held there: read once (the platform refuses it as used).
	if got := sale(steady(code, heldFrames)...); got != text {
		t.Fatalf("a paid code held in view: %q", got)
	}
	// Refused (not paid by this sale), still in view: not sent again.
	paid[text] = false
	within = 2 * time.Second
	if got := sale(steady(code, 3*heldFrames)...); got != "" {
		t.Fatalf("a used code sent again while it stayed in view: %q", got)
	}
	// Taken away and shown again: read.
	within = 30 * time.Second
	if got := sale(append(steady(blank, goneFrames), code)...); got != text {
		t.Fatalf("a used code shown again: %q", got)
	}
}
