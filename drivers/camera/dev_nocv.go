//go:build nocv

package camera

import (
	"context"
	"fmt"

	"periph.io/x/conn/v3"
)

// Dev is a camera. This build has no OpenCV: New always fails with
// ErrUnsupported and a Dev is never returned; the methods exist so that
// callers compile under every build tag.
type Dev struct {
	src string
}

var (
	_ Source        = (*Dev)(nil)
	_ conn.Resource = (*Dev)(nil)
)

// New reports ErrUnsupported: this build has no camera support.
func New(src string, opts *Opts) (*Dev, error) {
	return nil, &UnsupportedError{Src: src, Reason: "built with the nocv tag (no OpenCV)"}
}

func (d *Dev) unsupported() error {
	src := ""
	if d != nil {
		src = d.src
	}
	return &UnsupportedError{Src: src, Reason: "built with the nocv tag (no OpenCV)"}
}

// Next reports ErrUnsupported.
func (d *Dev) Next(ctx context.Context) (*Frame, error) { return nil, d.unsupported() }

// Info returns an empty Info.
func (d *Dev) Info() Info { return Info{} }

// Stats returns empty Stats.
func (d *Dev) Stats() Stats { return Stats{} }

// OpenMats returns 0.
func (d *Dev) OpenMats() int { return 0 }

// SelfTest reports ErrUnsupported.
func (d *Dev) SelfTest(ctx context.Context, n int) (SelfTestResult, error) {
	return SelfTestResult{}, d.unsupported()
}

// Check reports ErrUnsupported.
func (d *Dev) Check(ctx context.Context) error { return d.unsupported() }

// Halt does nothing.
func (d *Dev) Halt() error { return nil }

// Start reports ErrUnsupported.
func (d *Dev) Start() error { return d.unsupported() }

// Shutdown does nothing.
func (d *Dev) Shutdown(ctx context.Context) error { return nil }

// HasGStreamer reports false: this build has no OpenCV.
func HasGStreamer() bool { return false }

// Close does nothing.
func (d *Dev) Close() error { return nil }

func (d *Dev) String() string {
	if d == nil {
		return "camera(unsupported)"
	}
	return fmt.Sprintf("camera(%s, unsupported)", d.src)
}
