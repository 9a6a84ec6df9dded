// Package camera is the camera driver of posd: it delivers BGR frames from a
// V4L2 device or a GStreamer pipeline (libcamera) on a real board, or from a
// video file or a sequence of image files on the simulated board and in
// tests.
//
// # Construction
//
//	d, err := camera.New("/dev/video0", nil)           // V4L2 device by path
//	d, err := camera.New("0", nil)                     // V4L2 device by index
//	d, err := camera.New("v4l2:/dev/video0", nil)      // the same, backend named
//	d, err := camera.New("gst:"+camera.LibcameraPipeline(640, 480, 15), nil)
//	                                                   // libcamera through GStreamer
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
// gocv.Mat with Frame.Mat. The application sees a camera through the neutral
// posd/conn/video contract: [Video] adapts any Source to it.
//
// # Which backend
//
// A USB (UVC) camera is a V4L2 device. A Raspberry Pi CSI camera module on a
// current kernel is driven by libcamera: its /dev/video0 is the CSI
// receiver's raw node, which OpenCV's V4L2 backend opens but cannot read
// (opencv/opencv#22820: isOpened() true, every read() false). It is read
// through OpenCV's GStreamer backend with libcamera's libcamerasrc element
// instead ([LibcameraPipeline]). A "gst:" pipeline must end in an appsink
// that keeps its default name (OpenCV looks for an element named appsink*
// or opencvsink) and should hand it BGR (videoconvert !
// video/x-raw,format=BGR): OpenCV passes YUV formats through as 1- or
// 2-channel matrices. Debian 12's OpenCV 4.6.0 is built with GStreamer
// 1.22 (opencv_version -v; [HasGStreamer] asks at run time); without it a
// "gst:" source is an *UnsupportedError.
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
// safe for concurrent use). For cameras (V4L2 and GStreamer) it keeps only
// the newest frame, as a live camera does, and reconnects with exponential
// backoff after a read or open error; every attempt since the last frame
// counts towards Opts.MaxReconnects, reopenings that are followed by a
// failed read included, and the backoff grows across them. A camera that
// goes Opts.NoFrameTimeout without a frame, open or not, is reported failed:
// [Dev.Check] and [Dev.SelfTest] return ErrNoFrame and Stats.Stalled is set.
// Files and images are delivered without dropping, paced to Opts.FPS by the
// injected clock, resized to Opts.Width x Opts.Height, and optionally looped.
//
// OpenCV calls cannot be interrupted. V4L2 reads end by themselves (OpenCV
// waits at most OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT, 10 s by default, in
// select()), but OpenCV 4.6's GStreamer backend opens a pipeline by waiting
// without a timeout for its first frame (gst_element_get_state with
// GST_CLOCK_TIME_NONE) and reads with gst_app_sink_pull_sample, which blocks
// until a sample or the end of the stream. So New gives a pipeline
// NoFrameTimeout to start, and [Dev.Shutdown] bounds the wait for a reader
// stuck in such a call (ErrStuck); the reader then finishes by itself.
//
// # Halt, Start and Close
//
// Halt means what it means for every driver of posd: stop the activity,
// the device stays usable. [Dev.Halt] stops the reader goroutine, waits
// for it, releases the capture (a camera is closed, its LED goes off and
// another process may open it) and closes the frames still queued; frames
// Next returned before stay the caller's, and [Dev.OpenMats] counts them
// until they are closed. A halted Dev keeps answering Info, Stats and
// OpenMats; Next and Check return ErrHalted, also to a call waiting when
// Halt begins. [Dev.Start] opens the source again, as New did (a camera
// reopened, a file or image sequence from its first frame), and Next
// delivers again. Next never restarts a halted Dev by itself: whoever
// halted the camera decides when it comes back. Start also restarts a
// Dev whose reader ended by itself (ErrEndOfStream, ErrGaveUp). Halt and
// Start may be repeated; Stats counters and frame numbers carry on.
// [Dev.Shutdown] is Halt with a bound on the wait for OpenCV. Start opens
// a pipeline within NoFrameTimeout, as New does. While a reader left
// behind by Shutdown, or an opening Start gave up on, has not returned
// from OpenCV, Start fails with ErrStuck instead of opening the source a
// second time.
//
// [Dev.Close] is final, as the [Source] and video.Source contracts (and
// io.Closer) mean: it halts the Dev and from then on Next, Check and
// Start return ErrClosed. Close after Halt, or twice, is fine.
//
// # QR codes
//
// A [QRDetector] reads the QR codes in a frame ([QRDetector.Decode]), a Go
// image or packed BGR bytes: the wallet payment codes customers show on
// their phones (an 18-digit WeChat Pay or Alipay code, a base64 EMV
// consumer-presented payload) or a merchant's EMV string. It returns the
// texts only to its caller and never logs them. Debian 12's OpenCV 4.6 is
// built without quirc, so its cv::QRCodeDetector finds codes but decodes
// none ("Library QUIRC is not linked"). The codes are read by
// cv::wechat_qrcode::WeChatQRCode (opencv_contrib, Debian's
// libopencv-contrib406, a ZXing descendant) without its optional CNN
// models; QRCodeDetector only locates codes. A search runs in three steps:
// WeChatQRCode over the whole frame (it reads at most one code); when it
// read one, QRCodeDetector.detectMulti, and WeChatQRCode over each code it
// locates if it sees more than were read; when nothing was read, a retry
// on the frame scaled 2x: QRCodeDetector.detect, then WeChatQRCode over
// that region, plain and sharpened. The C++ shim (qr_cv.cpp) replaces
// gocv v0.31.0's wrappers of both classes, which leak or free their
// results too early and let C++ exceptions through.
//
// Limits measured by TestQRMatrix on synthetic 640x480 pictures (a code on
// a phone screen over a textured counter, sensor noise; three payloads of
// 21, 37 and 57 modules; four backgrounds and positions each), the same
// with Debian's arm64 OpenCV (under qemu):
//
//   - Modules of 3 px or more are read turned any way (0 to 180 degrees
//     at 4 px, 10 and 30 at 3, 5 and 8 px) up to a blur of sigma 1 px;
//     5 px modules also at sigma 2. Sigma 2 defeats 3 px modules and
//     sigma 3 defeats 5 px ones (the 21-module code sometimes survives).
//   - 2 px modules are read only sharp: the 37- and 57-module codes
//     always, the 21-module code not always, and none at sigma 1.
//   - A phone tilted back 30 degrees is read, 45 degrees mostly (4 px
//     modules, turned 30); a 21-module code (no alignment pattern) of 6 px
//     modules tilted 40 and turned 20 degrees is not.
//   - The retry reads 187 of the 238 pictures instead of 175 (small,
//     blurred or tilted codes), for 25 to 30 ms more on a frame without a
//     code.
//   - Two codes: the second one is read only when detectMulti locates
//     both, which takes modules of about 6 px; two smaller codes in view
//     may give one text, or none.
//   - Time on a 2-vCPU amd64 development machine: about 15 ms for a frame
//     with a code (5 to read it, 10 to look for a second one); 40 to
//     140 ms for a frame without one, the common case while waiting
//     (WeChatQRCode tries four binarizers at two scales before giving up;
//     a flat noisy picture costs most). Expect several times that on an
//     ARM board.
//
// The nocv build has no OpenCV and so no camera and no camera QR codes:
// NewQRDetector returns an *UnsupportedError, and wallet codes come only
// from a serial barcode scanner.
//
// # Build tags
//
// The OpenCV code is built unless the nocv tag is set. With -tags nocv (and
// CGO_ENABLED=0) the package is pure Go: New returns an error matching
// [ErrUnsupported], while [Frame], [NewFrameBGR], [Source] and [Info] remain
// usable by code and tests that never touch OpenCV. Dev is a
// periph.io/x/conn/v3 conn.Resource (String, Halt) in both builds.
//
// # Documents followed
//
//   - OpenCV 4.6.0 videoio reference (cv::VideoCapture, cv::VideoWriter,
//     VideoCaptureAPIs, VideoCaptureProperties: CAP_V4L2, CAP_GSTREAMER,
//     CAP_PROP_FRAME_WIDTH, CAP_PROP_FRAME_HEIGHT, CAP_PROP_FPS,
//     CAP_PROP_FOURCC; a property that a backend does not support reads back
//     as 0; CAP_PROP_READ_TIMEOUT_MSEC applies to FFmpeg only in 4.6;
//     cv::videoio_registry::hasBackend) and imgcodecs (cv::imread,
//     IMREAD_COLOR always yields 3-channel BGR).
//   - OpenCV 4.6 modules/videoio/src/cap_gstreamer.cpp (manual pipelines:
//     the appsink found by name, max-buffers 1 unless the pipeline sets it,
//     no dropping unless drop=true, PLAYING awaited without a timeout;
//     formats handed over: BGR, GRAY8, YUV as raw planes) and cap_v4l.cpp
//     (select() timeout, OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT).
//   - GStreamer 1.22 appsink (gst_app_sink_pull_sample blocks until a sample
//     or EOS, or the element goes to READY/NULL; drop, max-buffers) and
//     libcamera's libcamerasrc element (Debian gstreamer1.0-libcamera 0.0.3:
//     width, height, framerate and format negotiated from the caps).
//   - Public reports of the Raspberry Pi camera behind OpenCV's V4L2 backend:
//     opencv/opencv#22820, opencv/opencv-python#738, emgucv/emgucv#931.
//   - gocv v0.31.0 API documentation (Mat ownership: every Mat must be closed;
//     VideoCapture.Read returns false at end of stream or on device error).
//   - OpenCV 4.6.0 objdetect reference (cv::QRCodeDetector: detect,
//     detectMulti; decoding needs quirc) and opencv_contrib's wechat_qrcode
//     module (cv::wechat_qrcode::WeChatQRCode, detectAndDecode; without the
//     CNN detector the whole picture is the one candidate, tried at half
//     and full scale, half first when a side is 640 or more).
//   - EMVCo QR Code Specification for Payment Systems: Merchant-Presented
//     Mode and Consumer-Presented Mode (the test payloads).
//   - posd design notes and contribution rules (layers, Halt stops the
//     activity and waits for its goroutines while the device stays usable,
//     clocks injected, errors in errors.go).
package camera
