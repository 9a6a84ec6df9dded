//go:build !nocv

package camera

import (
	"fmt"

	"gocv.io/x/gocv"
)

// pixels of an OpenCV build: one 8-bit 3-channel BGR matrix.
type pixels struct{ mat gocv.Mat }

func pixelsFromBGR(width, height int, bgr []byte) (pixels, error) {
	// NewMatFromBytes borrows the Go slice; clone so the frame owns
	// native memory and the caller's slice is free again.
	tmp, err := gocv.NewMatFromBytes(height, width, gocv.MatTypeCV8UC3, bgr)
	if err != nil {
		return pixels{}, fmt.Errorf("%w: %w", ErrFrameFormat, err)
	}
	defer tmp.Close()
	return pixels{mat: tmp.Clone()}, nil
}

// release wipes the pixels (a face is personal data: freed native memory
// is not cleared by the allocator) and frees them.
func (p *pixels) release() {
	wipeMat(&p.mat)
	_ = p.mat.Close()
}

// wipeMat overwrites a matrix's pixels with zeros.
func wipeMat(m *gocv.Mat) {
	if m.Ptr() != nil && !m.Empty() {
		m.SetTo(gocv.NewScalar(0, 0, 0, 0))
	}
}

func (p *pixels) copyBGR(dst []byte) error {
	if p.mat.Type() != gocv.MatTypeCV8UC3 || p.mat.Cols()*p.mat.Rows()*3 != len(dst) {
		return fmt.Errorf("%w: native matrix %dx%d type %v", ErrFrameFormat, p.mat.Cols(), p.mat.Rows(), p.mat.Type())
	}
	src := p.mat
	if !src.IsContinuous() {
		src = p.mat.Clone()
		defer func() { wipeMat(&src); _ = src.Close() }()
	}
	data, err := src.DataPtrUint8()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrFrameFormat, err)
	}
	copy(dst, data)
	return nil
}

func (p *pixels) copyRGBA(dst []byte) error {
	if p.mat.Type() != gocv.MatTypeCV8UC3 || p.mat.Cols()*p.mat.Rows()*4 != len(dst) {
		return fmt.Errorf("%w: native matrix %dx%d type %v", ErrFrameFormat, p.mat.Cols(), p.mat.Rows(), p.mat.Type())
	}
	rgba := gocv.NewMat()
	defer func() { wipeMat(&rgba); _ = rgba.Close() }()
	gocv.CvtColor(p.mat, &rgba, gocv.ColorBGRToRGBA)
	data, err := rgba.DataPtrUint8()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrFrameFormat, err)
	}
	copy(dst, data)
	return nil
}

func (p *pixels) clone() (pixels, error) { return pixels{mat: p.mat.Clone()}, nil }

// Mat lends the frame's 8-bit BGR matrix to OpenCV code. The matrix stays
// owned by the frame: do not Close it, and do not use it after the frame's
// Close. Clone the frame to keep pixels longer.
func (f *Frame) Mat() (gocv.Mat, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return gocv.Mat{}, ErrFrameClosed
	}
	return f.px.mat, nil
}

// newMat, adopt and closeMat keep c's count in step with native matrices.
func (c *matCount) newMat() gocv.Mat { c.inc(); return gocv.NewMat() }

func (c *matCount) adopt(m gocv.Mat) gocv.Mat { c.inc(); return m }

func (c *matCount) closeMat(m *gocv.Mat) { _ = m.Close(); c.dec() }

// wipeCloseMat wipes a matrix that held a picture, then closes it.
func (c *matCount) wipeCloseMat(m *gocv.Mat) { wipeMat(m); c.closeMat(m) }
