package camera

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"posd/conn/video"
)

// listSource is a Source that plays frames and then ends, in every build.
type listSource struct {
	frames []*Frame
	closed bool
}

func (l *listSource) Next(context.Context) (*Frame, error) {
	if len(l.frames) == 0 {
		return nil, ErrEndOfStream
	}
	f := l.frames[0]
	l.frames = l.frames[1:]
	return f, nil
}

func (l *listSource) Info() Info { return Info{Width: 4, Height: 2, Kind: KindImages} }

func (l *listSource) Close() error { l.closed = true; return nil }

func TestVideoAdapter(t *testing.T) {
	px := bgrPattern(4, 2)
	f, err := NewFrameBGR(4, 2, px)
	if err != nil {
		t.Fatal(err)
	}
	src := &listSource{frames: []*Frame{f}}
	var v video.Source = Video(src)
	ctx := context.Background()

	vf, err := v.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w, h := vf.Size(); w != 4 || h != 2 {
		t.Fatalf("Size = %dx%d", w, h)
	}
	got, err := vf.BGR()
	if err != nil || !bytes.Equal(got, px) {
		t.Fatalf("BGR = %v, %v", got, err)
	}
	if err := vf.Close(); err != nil {
		t.Fatal(err)
	}
	// The contract: a closed frame fails, and so does a second Close.
	if _, err := vf.BGR(); !errors.Is(err, video.ErrClosed) || !errors.Is(err, ErrFrameClosed) {
		t.Fatalf("BGR after Close = %v, want video.ErrClosed", err)
	}
	if err := vf.Close(); !errors.Is(err, video.ErrClosed) {
		t.Fatalf("second Close = %v, want video.ErrClosed", err)
	}

	_, err = v.Next(ctx)
	if !errors.Is(err, video.ErrEndOfStream) || !errors.Is(err, ErrEndOfStream) || !errors.Is(err, io.EOF) {
		t.Fatalf("Next at the end = %v, want video.ErrEndOfStream and ErrEndOfStream", err)
	}
	if err := v.Close(); err != nil || !src.closed {
		t.Fatalf("Close = %v, source closed %v", err, src.closed)
	}
}
