//go:build !nocv

package face

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"os"
	"testing"

	"posd/conn/video"
)

// drawnClip is n frames of a drawn face of height fh (blinking at frames
// 12-15 when blink), with a second face when second.
func drawnClip(n int, fh float64, blink, second bool) []*video.BytesFrame {
	var out []*video.BytesFrame
	for i := 0; i < n; i++ {
		p := newPicture(640, 480, uint64(i))
		p.face(300, 240, fh, !blink || i < 12 || i > 15)
		if second {
			p.face(560, 150, 130, true)
		}
		out = append(out, p.frame())
	}
	return out
}

type sliceSource struct {
	frames []*video.BytesFrame
	next   int
}

func (s *sliceSource) Next(ctx context.Context) (video.Frame, error) {
	if s.next >= len(s.frames) {
		return nil, video.ErrEndOfStream
	}
	s.next++
	return s.frames[s.next-1], nil
}

func (s *sliceSource) Close() error { return nil }

// TestMain checks that every test closed what it opened: no native
// matrix of the package is left.
func TestMain(m *testing.M) {
	code := m.Run()
	if n := OpenMats(); n != 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "%d native matrices left open\n", n)
		code = 1
	}
	os.Exit(code)
}

func newChecker(t *testing.T) *Checker {
	t.Helper()
	c, err := New(Opts{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestNewMissingCascades(t *testing.T) {
	_, err := New(Opts{CascadeDir: t.TempDir()})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("New without cascades: %v", err)
	}
}

func TestBlinkLiveCropAndMats(t *testing.T) {
	t.Parallel()
	c := newChecker(t)
	a := c.Begin(Blink, false)
	if c.OpenMats() == 0 {
		t.Error("an attempt holds no counted matrices")
	}
	if _, err := a.BestCrop(); !errors.Is(err, ErrNotLive) {
		t.Errorf("crop before a decision: %v", err)
	}
	var p Progress
	for _, f := range drawnClip(45, 200, true, false) {
		var err error
		p, err = a.Add(f, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The frame stays the caller's.
		if _, err := f.BGR(); err != nil {
			t.Fatal("Add closed the caller's frame")
		}
		f.Close()
		if p.Done {
			break
		}
	}
	r := a.Result()
	if !p.Done || r.Decision != Live {
		t.Fatalf("blinking drawn face: %+v", r)
	}
	if r.Video <= 0 || r.VideoMS != r.Video.Milliseconds() || r.Frames == 0 {
		t.Errorf("video %v / %d ms, %d frames", r.Video, r.VideoMS, r.Frames)
	}
	crop, err := a.BestCrop()
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(crop))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 160 || b.Dy() != 160 {
		t.Errorf("crop %v", b)
	}
	clear(crop)
	if p, err := a.Add(drawnClip(1, 200, false, false)[0], nil); err != nil || !p.Done {
		t.Errorf("Add after Done: %+v %v", p, err)
	}
	a.Close()
	a.Close()
	if _, err := a.Add(drawnClip(1, 200, false, false)[0], nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close: %v", err)
	}
	if _, err := a.BestCrop(); !errors.Is(err, ErrClosed) {
		t.Errorf("crop after Close: %v", err)
	}
	if n := c.OpenMats(); n != 0 {
		t.Errorf("checker holds %d matrices after its attempt closed", n)
	}
}

func TestTwoFaces(t *testing.T) {
	t.Parallel()
	c := newChecker(t)
	r, err := c.CheckClip(context.Background(), &sliceSource{frames: drawnClip(30, 200, true, true)}, nil, Blink)
	if err != nil {
		t.Fatal(err)
	}
	if r.Decision != Retry || len(r.Reasons) != 1 || r.Reasons[0] != ReasonTwoFaces {
		t.Fatalf("%+v", r)
	}
	if r.Frames > 10 {
		t.Errorf("refused after %d frames", r.Frames)
	}
}

func TestNoFaceAndHints(t *testing.T) {
	c := newChecker(t)
	a := c.Begin(Blink, false)
	defer a.Close()
	p := newPicture(640, 480, 7)
	f := p.frame()
	pr, err := a.Add(f, nil)
	if err != nil || pr.Faces != 0 || pr.Hint != HintNoFace {
		t.Errorf("empty picture: %+v %v", pr, err)
	}
	p = newPicture(640, 480, 8)
	p.face(320, 240, 78, true)
	pr, err = a.Add(p.frame(), nil)
	if err != nil || pr.Faces != 1 || pr.Hint != HintCloser {
		t.Errorf("small face: %+v %v", pr, err)
	}
	if r := a.Result(); r.Decision != Retry {
		t.Errorf("early result %+v", r)
	}
}

func TestBadFrames(t *testing.T) {
	c := newChecker(t)
	a := c.Begin(Blink, false)
	defer a.Close()
	if _, err := a.Add(nil, nil); !errors.Is(err, ErrFrame) {
		t.Errorf("nil frame: %v", err)
	}
	f := newPicture(640, 480, 1).frame()
	f.Close()
	if _, err := a.Add(f, nil); !errors.Is(err, ErrFrame) {
		t.Errorf("closed frame: %v", err)
	}
	if _, err := a.Add(newPicture(640, 480, 1).frame(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Add(newPicture(320, 240, 1).frame(), nil); !errors.Is(err, ErrFrame) {
		t.Errorf("size change: %v", err)
	}
	tiny, _ := video.NewBytesFrame(8, 8, make([]byte, 8*8*3))
	b := c.Begin(None, false)
	defer b.Close()
	if _, err := b.Add(tiny, nil); !errors.Is(err, ErrFrame) {
		t.Errorf("tiny frame: %v", err)
	}
}

func TestCheckerClosed(t *testing.T) {
	base := OpenMats()
	c, err := New(Opts{})
	if err != nil {
		t.Fatal(err)
	}
	a := c.Begin(Blink, false)
	c.Close()
	if _, err := a.Add(newPicture(640, 480, 1).frame(), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after the checker closed: %v", err)
	}
	a.Close()
	if n := OpenMats() - base; n != 0 {
		t.Errorf("%d matrices left open", n)
	}
}

func TestCheckClipEndsOnItsOwn(t *testing.T) {
	t.Parallel()
	c := newChecker(t)
	// A still face that never blinks: the clip ends, the attempt decides.
	r, err := c.CheckClip(context.Background(), &sliceSource{frames: drawnClip(20, 200, false, false)}, nil, Blink)
	if err != nil {
		t.Fatal(err)
	}
	if r.Decision != Retry || r.Frames != 20 {
		t.Errorf("%+v", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.CheckClip(ctx, &sliceSource{frames: drawnClip(2, 200, false, false)}, nil, Blink); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// FuzzAdd feeds arbitrary pixels (and sizes) to an attempt: whatever a
// camera delivers, Add returns a progress or ErrFrame, never panics, and
// the matrices are freed.
func FuzzAdd(f *testing.F) {
	f.Add(uint16(64), uint16(48), []byte{0, 255, 128})
	f.Add(uint16(160), uint16(120), []byte("face"))
	f.Add(uint16(0), uint16(0), []byte{})
	c, err := New(Opts{})
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	f.Fuzz(func(t *testing.T, w, h uint16, seed []byte) {
		w, h = w%400, h%300
		px := make([]byte, int(w)*int(h)*3)
		for i := range px {
			if len(seed) > 0 {
				px[i] = seed[i%len(seed)] + byte(i/len(seed))
			}
		}
		fr := &video.BytesFrame{W: int(w), H: int(h), Pixels: px}
		a := c.Begin(Blink, true)
		defer a.Close()
		for i := 0; i < 3; i++ {
			if _, err := a.Add(fr, fr); err != nil && !errors.Is(err, ErrFrame) {
				t.Fatal(err)
			}
		}
		_ = a.Result()
	})
}
