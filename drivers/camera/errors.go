package camera

import (
	"errors"
	"fmt"
	"io"
)

// Errors returned by this package. Callers compare with errors.Is; every
// error that carries more detail wraps one of these.
//
// Fatal (the Dev delivers no more frames: stop calling Next; see
// [IsFatal]): for good, ErrClosed and ErrUnsupported; until [Dev.Start],
// ErrHalted, ErrEndOfStream and ErrGaveUp.
// Transient (call Next again): ErrDecode, ErrNoFrame (the camera may
// recover), and context errors from the caller's own context.
var (
	// ErrUnsupported: this build has no camera support (built with the
	// nocv tag) or the source kind cannot be opened by this build.
	// Returned as *UnsupportedError.
	ErrUnsupported = errors.New("camera: unsupported in this build")

	// ErrBadSource: the source string names nothing usable (no such file,
	// an image pattern matching no file, an unparsable device path).
	ErrBadSource = errors.New("camera: bad source")

	// ErrBadOpts: an option is out of range (negative size or rate,
	// odd backoff settings, unknown FourCC).
	ErrBadOpts = errors.New("camera: bad options")

	// ErrOpen: OpenCV could not open the device or file. Wrapped in
	// *DeviceError with Op "open".
	ErrOpen = errors.New("camera: open failed")

	// ErrRead: the device returned no frame. Wrapped in *DeviceError with
	// Op "read"; a device Dev reconnects after it.
	ErrRead = errors.New("camera: read failed")

	// ErrDecode: one image of a sequence could not be decoded. Next
	// returns it for that frame only; the sequence continues.
	ErrDecode = errors.New("camera: image decode failed")

	// ErrEndOfStream: a file source without Opts.Loop has delivered its
	// last frame. It wraps io.EOF.
	ErrEndOfStream = fmt.Errorf("camera: end of stream: %w", io.EOF)

	// ErrGaveUp: a camera failed Opts.MaxReconnects reconnect attempts in
	// a row without delivering a frame (failed reopenings and reopenings
	// followed by a failed read alike). It wraps the last device error.
	ErrGaveUp = errors.New("camera: gave up reconnecting")

	// ErrNoFrame: a camera has delivered no frame for Opts.NoFrameTimeout
	// since it was opened or since its last frame, although it may be
	// open: a CSI camera opened through a backend that cannot drive it,
	// a GStreamer pipeline that negotiated but never produces. Returned
	// in a *DeviceError by Check and SelfTest (Op "read"), and by New for
	// a GStreamer pipeline that did not start in time (Op "open", with
	// ErrOpen).
	ErrNoFrame = errors.New("camera: no frame")

	// ErrStuck: Shutdown's context ended while the reader was still inside
	// an OpenCV open or read, which nothing can interrupt (OpenCV 4.6's
	// GStreamer backend waits without a timeout for a pipeline's first
	// frame when opening and for each sample when reading). The reader
	// releases the capture and ends by itself if that call ever returns.
	// Start returns it too while such a reader, or a pipeline opening an
	// earlier Start gave up on, has not returned yet (the source is not
	// opened twice): call Start again later.
	ErrStuck = errors.New("camera: reader stuck in a native call")

	// ErrHalted: the Dev was halted (Halt or Shutdown) and not started
	// again. Next and Check return it, at once or, if they were waiting,
	// as soon as Halt begins; Dev.Start makes the Dev deliver again.
	ErrHalted = errors.New("camera: halted")

	// ErrClosed: the Dev was closed (Close): it will never deliver again,
	// and Start fails with it too.
	ErrClosed = errors.New("camera: closed")

	// ErrFrameClosed: a Frame was used after Close.
	ErrFrameClosed = errors.New("camera: frame already closed")

	// ErrFrameFormat: pixel data does not match the frame size (NewFrameBGR)
	// or a native frame has an unexpected layout.
	ErrFrameFormat = errors.New("camera: bad frame format")

	// ErrQRClosed: a QRDetector was used after Close.
	ErrQRClosed = errors.New("camera: QR detector closed")

	// ErrQRDetect: OpenCV failed while creating a QRDetector or searching
	// one picture (it threw). Transient for a search: the next frame is
	// searched afresh.
	ErrQRDetect = errors.New("camera: QR detection failed")
)

// UnsupportedError says why a source cannot be used by this build.
type UnsupportedError struct {
	Src    string // the source given to New
	Reason string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("camera: %s: unsupported: %s", e.Src, e.Reason)
}

// Is makes errors.Is(err, ErrUnsupported) true.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// DeviceError reports an open or read failure of the underlying capture.
type DeviceError struct {
	Src string // the source given to New
	Op  string // "open" or "read"
	Err error  // ErrOpen or ErrRead, possibly joined with OpenCV's message
}

func (e *DeviceError) Error() string {
	return fmt.Sprintf("camera: %s %s: %v", e.Op, e.Src, e.Err)
}

func (e *DeviceError) Unwrap() error { return e.Err }

// IsFatal reports whether err means the source will deliver no more frames
// without help: calling Next again is pointless. After ErrHalted,
// ErrEndOfStream or ErrGaveUp, Dev.Start reopens the source; after
// ErrClosed or ErrUnsupported nothing does.
func IsFatal(err error) bool {
	return errors.Is(err, ErrClosed) || errors.Is(err, ErrHalted) || errors.Is(err, ErrEndOfStream) ||
		errors.Is(err, ErrGaveUp) || errors.Is(err, ErrUnsupported)
}
