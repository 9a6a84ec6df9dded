package camera

import (
	"fmt"
	"image"
	"sync"
	"time"
)

// Frame is one captured picture, 8-bit BGR, owned by whoever received it.
// Close releases its pixels; a Frame that is never closed leaks native
// memory. A Frame is safe for concurrent readers; Close must come last.
type Frame struct {
	Seq           uint64    // 1-based position in the Dev's output
	Time          time.Time // capture time by the Dev's clock
	Width, Height int

	mu     sync.RWMutex
	closed bool
	px     pixels
	count  *matCount
}

// NewFrameBGR makes a frame from a copy of packed BGR bytes (3 bytes per
// pixel, rows top to bottom, no padding). Consumers' tests use it to feed
// synthetic pictures; it works in every build.
func NewFrameBGR(width, height int, bgr []byte) (*Frame, error) {
	if width <= 0 || height <= 0 || len(bgr) != width*height*3 {
		return nil, fmt.Errorf("%w: %d bytes for %dx%d BGR", ErrFrameFormat, len(bgr), width, height)
	}
	px, err := pixelsFromBGR(width, height, bgr)
	if err != nil {
		return nil, err
	}
	looseMats.inc()
	return &Frame{Width: width, Height: height, px: px, count: looseMats}, nil
}

// Size returns the frame's width and height in pixels.
func (f *Frame) Size() (width, height int) { return f.Width, f.Height }

// Close releases the frame's pixels. Only the first call does anything.
func (f *Frame) Close() error {
	f.release()
	return nil
}

// release releases the pixels and reports whether this call did.
func (f *Frame) release() bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.closed = true
	f.px.release()
	f.count.dec()
	return true
}

// BGR returns a copy of the pixels: Width*Height*3 bytes, B,G,R per pixel,
// rows top to bottom without padding.
func (f *Frame) BGR() ([]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil, ErrFrameClosed
	}
	buf := make([]byte, f.Width*f.Height*3)
	if err := f.px.copyBGR(buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// Image returns a copy of the pixels as an RGBA image (alpha 255).
func (f *Frame) Image() (*image.RGBA, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil, ErrFrameClosed
	}
	img := image.NewRGBA(image.Rect(0, 0, f.Width, f.Height))
	if err := f.px.copyRGBA(img.Pix); err != nil {
		return nil, err
	}
	return img, nil
}

// Clone returns an independent copy, to be closed separately.
func (f *Frame) Clone() (*Frame, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil, ErrFrameClosed
	}
	px, err := f.px.clone()
	if err != nil {
		return nil, err
	}
	f.count.inc()
	return &Frame{Seq: f.Seq, Time: f.Time, Width: f.Width, Height: f.Height, px: px, count: f.count}, nil
}

func (f *Frame) String() string {
	return fmt.Sprintf("frame#%d %dx%d", f.Seq, f.Width, f.Height)
}
