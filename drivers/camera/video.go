package camera

import (
	"context"
	"errors"
	"fmt"

	"posd/conn/video"
)

// Video adapts a camera Source to the neutral posd/conn/video contract,
// which is how the application (terminal/) sees the camera: frames are
// video.Frame values (Size, BGR, Close) and the end of a finite source is
// video.ErrEndOfStream. Errors keep their camera meaning too (errors.Is
// with ErrNoFrame, ErrGaveUp, ...). Close closes s.
func Video(s Source) video.Source { return videoSource{s} }

type videoSource struct{ s Source }

func (v videoSource) Next(ctx context.Context) (video.Frame, error) {
	f, err := v.s.Next(ctx)
	if err != nil {
		if errors.Is(err, ErrEndOfStream) {
			err = fmt.Errorf("%w: %w", video.ErrEndOfStream, err)
		}
		return nil, err
	}
	if f == nil {
		return nil, fmt.Errorf("%w: source returned no frame and no error", ErrFrameFormat)
	}
	return videoFrame{f}, nil
}

func (v videoSource) Close() error { return v.s.Close() }

// videoFrame gives a Frame the contract's closed-frame errors.
type videoFrame struct{ f *Frame }

func (v videoFrame) Size() (int, int) { return v.f.Size() }

func (v videoFrame) BGR() ([]byte, error) {
	b, err := v.f.BGR()
	if errors.Is(err, ErrFrameClosed) {
		err = fmt.Errorf("%w: %w", video.ErrClosed, err)
	}
	return b, err
}

// Close releases the pixels; a second Close fails with video.ErrClosed,
// as the contract says.
func (v videoFrame) Close() error {
	if !v.f.release() {
		return fmt.Errorf("%w: %w", video.ErrClosed, ErrFrameClosed)
	}
	return nil
}
