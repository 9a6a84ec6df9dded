//go:build nocv

package face

import (
	"context"
	"fmt"

	"posd/conn/video"
)

// Checker of a pure Go build: New always fails with ErrUnavailable.
type Checker struct{}

// New fails: this build has no OpenCV.
func New(o Opts) (*Checker, error) {
	return nil, fmt.Errorf("%w: this build has no OpenCV", ErrUnavailable)
}

// Close does nothing.
func (c *Checker) Close() error { return nil }

// OpenMats is 0: no native matrices in this build.
func (c *Checker) OpenMats() int { return 0 }

// Begin returns an attempt that decides Retry.
func (c *Checker) Begin(ch Challenge, withIR bool) *Attempt {
	return &Attempt{ch: ch, withIR: withIR}
}

// CheckClip fails: this build has no OpenCV.
func (c *Checker) CheckClip(ctx context.Context, rgb, ir video.Source, ch Challenge) (Result, error) {
	return Result{}, fmt.Errorf("%w: this build has no OpenCV", ErrUnavailable)
}

// Attempt of a pure Go build: it cannot look at frames.
type Attempt struct {
	ch     Challenge
	withIR bool
}

// Add fails: this build has no OpenCV.
func (a *Attempt) Add(rgb, ir video.Frame) (Progress, error) {
	return Progress{}, fmt.Errorf("%w: this build has no OpenCV", ErrUnavailable)
}

// Result is Retry: nothing was looked at.
func (a *Attempt) Result() Result {
	return Result{Decision: Retry, Challenge: a.ch, Scores: map[string]float64{}, Reasons: []string{ReasonTooShort}, IR: a.withIR}
}

// BestCrop fails: there is no live decision in this build.
func (a *Attempt) BestCrop() ([]byte, error) { return nil, ErrNotLive }

// Close does nothing.
func (a *Attempt) Close() {}
