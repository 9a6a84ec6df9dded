// Package video is the contract between a camera and the parts of the
// application that look at frames (face liveness, QR codes): a Source that
// delivers Frames. drivers/camera satisfies it through board/; tests build
// frames from bytes.
package video

import (
	"context"
	"errors"
)

// Frame is one picture in 8-bit BGR order (OpenCV's default). The consumer
// that received it owns it and must Close it.
type Frame interface {
	// Size is the frame's width and height in pixels.
	Size() (width, height int)
	// BGR returns a copy of the pixels, row by row, 3 bytes per pixel.
	BGR() ([]byte, error)
	// Close releases the frame; further calls fail.
	Close() error
}

// Source delivers frames.
type Source interface {
	// Next blocks until the next frame, an error, or the end of ctx.
	Next(ctx context.Context) (Frame, error)
	// Close stops the source.
	Close() error
}

// ErrEndOfStream: a finite source (a file, a test sequence) has no more
// frames.
var ErrEndOfStream = errors.New("video: end of stream")

// BytesFrame is a Frame over a BGR buffer, for tests and simple sources.
type BytesFrame struct {
	W, H   int
	Pixels []byte
	closed bool
}

// ErrClosed: the frame was closed.
var ErrClosed = errors.New("video: frame closed")

// ErrSize: the buffer does not hold width*height*3 bytes.
var ErrSize = errors.New("video: buffer size does not match the frame size")

// NewBytesFrame checks the buffer's size and returns a frame over a copy.
func NewBytesFrame(w, h int, bgr []byte) (*BytesFrame, error) {
	if w <= 0 || h <= 0 || len(bgr) != w*h*3 {
		return nil, ErrSize
	}
	return &BytesFrame{W: w, H: h, Pixels: append([]byte(nil), bgr...)}, nil
}

// Size implements Frame.
func (f *BytesFrame) Size() (int, int) { return f.W, f.H }

// BGR implements Frame.
func (f *BytesFrame) BGR() ([]byte, error) {
	if f.closed {
		return nil, ErrClosed
	}
	return append([]byte(nil), f.Pixels...), nil
}

// Close implements Frame; it wipes the pixels (a face is personal data).
func (f *BytesFrame) Close() error {
	if f.closed {
		return ErrClosed
	}
	clear(f.Pixels)
	f.closed = true
	return nil
}
