//go:build !nocv

package camera

import (
	"fmt"
	"io"

	"gocv.io/x/gocv"
)

// capture is one opened source, used only by the Dev's reader goroutine.
type capture interface {
	// read returns the next picture as a matrix counted in the Dev's
	// matCount and owned by the caller. At the end of a file it returns
	// io.EOF; a device failure is a *DeviceError; an undecodable image
	// wraps ErrDecode. On error no matrix is left open.
	read() (gocv.Mat, error)
	// rewind restarts a file source at its first frame.
	rewind() error
	// info is the native (files) or negotiated (devices) format.
	info() Info
	// close releases the capture; the Dev calls it exactly once.
	close() error
}

// openFunc opens a parsed source; tests inject their own.
type openFunc func(s source, o Opts, mc *matCount) (capture, error)

// openCapture is the real opener.
func openCapture(s source, o Opts, mc *matCount) (capture, error) {
	switch s.kind {
	case KindV4L2, KindGStreamer, KindVideo:
		return openVC(s, o, mc)
	case KindImages:
		return openImages(s, o, mc)
	}
	return nil, &UnsupportedError{Src: s.raw, Reason: "unknown source kind " + s.kind}
}

// vcCapture reads a device, a GStreamer pipeline or a video file through
// cv::VideoCapture.
type vcCapture struct {
	vc  *gocv.VideoCapture
	s   source
	o   Opts
	mc  *matCount
	inf Info
}

func openVC(s source, o Opts, mc *matCount) (*vcCapture, error) {
	var (
		vc  *gocv.VideoCapture
		err error
	)
	switch s.kind {
	case KindV4L2:
		vc, err = gocv.VideoCaptureDeviceWithAPI(s.index, gocv.VideoCaptureV4L2)
	case KindGStreamer:
		if !HasGStreamer() {
			return nil, &UnsupportedError{Src: s.raw, Reason: "this OpenCV has no GStreamer backend (cv::videoio_registry::hasBackend(CAP_GSTREAMER) is false)"}
		}
		// The pipeline decides size, rate and format: OpenCV's GStreamer
		// backend would restart it to apply CAP_PROP_FRAME_WIDTH and the
		// like, so they are not set.
		vc, err = gocv.VideoCaptureFileWithAPI(s.path, gocv.VideoCaptureGstreamer)
	default:
		vc, err = gocv.VideoCaptureFile(s.path)
	}
	if err == nil && !vc.IsOpened() {
		err = fmt.Errorf("not opened")
	}
	if err != nil {
		if vc != nil {
			_ = vc.Close()
		}
		return nil, &DeviceError{Src: s.raw, Op: "open", Err: fmt.Errorf("%w: %v", ErrOpen, err)}
	}
	c := &vcCapture{vc: vc, s: s, o: o, mc: mc}
	if s.kind == KindV4L2 {
		if o.FourCC != "" {
			vc.Set(gocv.VideoCaptureFOURCC, vc.ToCodec(o.FourCC))
		}
		if o.Width > 0 {
			vc.Set(gocv.VideoCaptureFrameWidth, float64(o.Width))
			vc.Set(gocv.VideoCaptureFrameHeight, float64(o.Height))
		}
		if o.FPS > 0 {
			vc.Set(gocv.VideoCaptureFPS, o.FPS)
		}
	}
	c.inf = Info{
		Width:  int(vc.Get(gocv.VideoCaptureFrameWidth)),
		Height: int(vc.Get(gocv.VideoCaptureFrameHeight)),
		FPS:    vc.Get(gocv.VideoCaptureFPS),
		Device: s.raw,
		Kind:   s.kind,
	}
	return c, nil
}

func (c *vcCapture) read() (gocv.Mat, error) {
	m := c.mc.newMat()
	if c.vc.Read(&m) && !m.Empty() {
		return m, nil
	}
	c.mc.closeMat(&m)
	if live(c.s.kind) {
		// For a pipeline this is also its end of stream: a camera that
		// ends is reconnected like one that fails.
		return gocv.Mat{}, &DeviceError{Src: c.s.raw, Op: "read", Err: ErrRead}
	}
	return gocv.Mat{}, io.EOF
}

// rewind reopens the file: seeking back is not reliable across backends.
func (c *vcCapture) rewind() error {
	n, err := openVC(c.s, c.o, c.mc)
	if err != nil {
		return err
	}
	_ = c.vc.Close()
	c.vc = n.vc
	return nil
}

func (c *vcCapture) info() Info { return c.inf }

func (c *vcCapture) close() error { return c.vc.Close() }

// imgCapture reads a list of still images with cv::imread.
type imgCapture struct {
	s   source
	mc  *matCount
	i   int
	inf Info
}

func openImages(s source, _ Opts, mc *matCount) (*imgCapture, error) {
	c := &imgCapture{s: s, mc: mc}
	// The first image fixes the native size.
	m, err := c.read()
	if err != nil {
		return nil, err
	}
	c.inf = Info{Width: m.Cols(), Height: m.Rows(), Device: s.raw, Kind: KindImages}
	c.mc.wipeCloseMat(&m)
	c.i = 0
	return c, nil
}

func (c *imgCapture) read() (gocv.Mat, error) {
	if c.i >= len(c.s.files) {
		return gocv.Mat{}, io.EOF
	}
	name := c.s.files[c.i]
	c.i++
	m := c.mc.adopt(gocv.IMRead(name, gocv.IMReadColor))
	if m.Empty() {
		c.mc.closeMat(&m)
		return gocv.Mat{}, fmt.Errorf("%w: %s", ErrDecode, name)
	}
	return m, nil
}

func (c *imgCapture) rewind() error { c.i = 0; return nil }

func (c *imgCapture) info() Info { return c.inf }

func (c *imgCapture) close() error { return nil }
