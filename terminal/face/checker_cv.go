//go:build !nocv

package face

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"

	"posd/conn/video"
)

// Checker holds the cascades (loaded once) and runs attempts, one at a
// time: Add of two attempts of one Checker take turns.
type Checker struct {
	o    Opts
	mu   sync.Mutex // the cascades, closed
	face gocv.CascadeClassifier
	eye  gocv.CascadeClassifier
	// loaded: the cascades to close.
	loaded []*gocv.CascadeClassifier
	// closed: Close was called; attempts fail with ErrClosed.
	closed bool
	mats   matCount
}

// New loads the cascades from o.CascadeDir. It fails with ErrUnavailable
// when a cascade file is missing or unreadable.
func New(o Opts) (*Checker, error) {
	o = o.withDefaults()
	c := &Checker{o: o}
	load := func(cc *gocv.CascadeClassifier, name string) error {
		path := filepath.Join(o.CascadeDir, name)
		// OpenCV prints to stderr and returns false on a missing file:
		// look first, so the error says why.
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("%w: cascade: %w", ErrUnavailable, err)
		}
		*cc = gocv.NewCascadeClassifier()
		c.loaded = append(c.loaded, cc)
		if !cc.Load(path) {
			return fmt.Errorf("%w: cascade %s: OpenCV cannot load it", ErrUnavailable, path)
		}
		return nil
	}
	if err := load(&c.face, FaceCascade); err != nil {
		c.closeCascades()
		return nil, err
	}
	if err := load(&c.eye, EyeCascade); err != nil {
		c.closeCascades()
		return nil, err
	}
	return c, nil
}

func (c *Checker) closeCascades() {
	for _, cc := range c.loaded {
		_ = cc.Close()
	}
	c.loaded = nil
}

// Close frees the cascades. Attempts still open fail with ErrClosed from
// then on (their Close still frees their matrices). Only the first call
// does anything.
func (c *Checker) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.closeCascades()
	return nil
}

// OpenMats returns how many native matrices this Checker's attempts hold
// open now.
func (c *Checker) OpenMats() int { return int(c.mats.n.Load()) }

// newMat, closeMat and wipeClose keep the counts in step with native
// matrices.
func (c *Checker) newMat() gocv.Mat { c.mats.inc(); return gocv.NewMat() }

func (c *Checker) adopt(m gocv.Mat) gocv.Mat { c.mats.inc(); return m }

func (c *Checker) closeMat(m *gocv.Mat) {
	if m.Ptr() == nil {
		return
	}
	_ = m.Close()
	*m = gocv.Mat{}
	c.mats.dec()
}

// wipeClose zeroes a matrix that held face pixels, then closes it.
func (c *Checker) wipeClose(m *gocv.Mat) {
	if m.Ptr() == nil {
		return
	}
	if !m.Empty() {
		m.SetTo(gocv.NewScalar(0, 0, 0, 0))
	}
	c.closeMat(m)
}

// CheckClip runs one attempt over a finite clip with challenge ch: rgb's
// frames, with ir's frame of the same moment when ir is not nil. It stops
// at the decision, at MaxFrames or at the clip's end (then it decides on
// what it saw). The caller closes the sources; CheckClip closes the
// frames it reads.
func (c *Checker) CheckClip(ctx context.Context, rgb, ir video.Source, ch Challenge) (Result, error) {
	if rgb == nil {
		return Result{}, fmt.Errorf("%w: no video source", ErrFrame)
	}
	a := c.Begin(ch, ir != nil)
	defer a.Close()
	for !a.done {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		f, err := rgb.Next(ctx)
		if errors.Is(err, video.ErrEndOfStream) {
			break
		}
		if err != nil {
			return Result{}, fmt.Errorf("video: %w", err)
		}
		var irf video.Frame
		if ir != nil {
			irf, err = ir.Next(ctx)
			if err != nil {
				f.Close()
				if errors.Is(err, video.ErrEndOfStream) {
					break
				}
				return Result{}, fmt.Errorf("IR video: %w", err)
			}
		}
		_, err = a.Add(f, irf)
		f.Close()
		if irf != nil {
			irf.Close()
		}
		if err != nil && !errors.Is(err, ErrFrame) {
			return Result{}, err
		}
	}
	a.finish()
	return a.Result(), nil
}

// matCount counts the native matrices of one Checker (its Attempts'
// included).
type matCount struct{ n atomic.Int64 }

func (c *matCount) inc() { c.n.Add(1); openMats.Add(1) }
func (c *matCount) dec() { c.n.Add(-1); openMats.Add(-1) }

// videoTime is the video time of n frames at fps.
func videoTime(n int, fps float64) time.Duration {
	return time.Duration(float64(n) / fps * float64(time.Second))
}
