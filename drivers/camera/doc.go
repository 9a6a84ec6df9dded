// Package camera is the camera driver of posd: it delivers BGR frames from a
// V4L2 device on a real board, or from a video file or a sequence of image
// files on the simulated board and in tests.
//
// # Construction
//
//	d, err := camera.New("/dev/video0", nil)           // V4L2 device by path
//	d, err := camera.New("0", nil)                     // V4L2 device by index
//	d, err := camera.New("face.avi", &opts)            // video file
//	d, err := camera.New("frames/", &opts)             // directory of images
//	d, err := camera.New("frames/f%03d.png", &opts)    // printf pattern
//	d, err := camera.New("frames/*.jpg", &opts)        // glob pattern
//	d, err := camera.New("face.jpg", &opts)            // one still image
//
// Only board/ calls New (the board decides which device or files are the
// camera). Everything else consumes the [Source] interface, which carries no
// OpenCV type: frames expose their pixels as BGR bytes ([Frame.BGR]) or as an
// [image.RGBA] ([Frame.Image]). Code built with cgo can borrow the underlying
// gocv.Mat with Frame.Mat.
//
// # Ownership
//
// Every [Frame] returned by [Dev.Next] belongs to the caller, who must call
// [Frame.Close] exactly when done with it; Close releases the native matrix
// once and is safe to repeat. [OpenMats] and [Dev.OpenMats] count native
// matrices not yet released, so tests can prove that nothing leaks.
//
// # Behaviour
//
// A reader goroutine per Dev owns the OpenCV capture (OpenCV objects are not
// safe for concurrent use). For devices it keeps only the newest frame, as a
// live camera does, and reconnects with exponential backoff after a read or
// open error. Files and images are delivered without dropping, paced to
// Opts.FPS by the injected clock, resized to Opts.Width x Opts.Height, and
// optionally looped.
//
// # Build tags
//
// The OpenCV code is built unless the nocv tag is set. With -tags nocv (and
// CGO_ENABLED=0) the package is pure Go: New returns an error matching
// [ErrUnsupported], while [Frame], [NewFrameBGR], [Source] and [Info] remain
// usable by code and tests that never touch OpenCV.
//
// # Documents followed
//
//   - OpenCV 4.6.0 videoio reference (cv::VideoCapture, cv::VideoWriter,
//     VideoCaptureAPIs, VideoCaptureProperties: CAP_V4L2, CAP_PROP_FRAME_WIDTH,
//     CAP_PROP_FRAME_HEIGHT, CAP_PROP_FPS, CAP_PROP_FOURCC; a property that a
//     backend does not support reads back as 0) and imgcodecs (cv::imread,
//     IMREAD_COLOR always yields 3-channel BGR).
//   - gocv v0.31.0 API documentation (Mat ownership: every Mat must be closed;
//     VideoCapture.Read returns false at end of stream or on device error).
//   - posd design notes and contribution rules (layers, Halt waits for its
//     goroutines, clocks injected, errors in errors.go).
package camera
