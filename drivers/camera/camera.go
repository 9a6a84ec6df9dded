package camera

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"posd/conn/clock"
)

// Source kinds reported in Info.Kind.
const (
	KindV4L2      = "v4l2"      // a V4L2 capture device
	KindGStreamer = "gstreamer" // a GStreamer pipeline ending in appsink
	KindVideo     = "video"     // a video file (or stream URL)
	KindImages    = "images"    // a sequence of still images
)

// Scheme prefixes of a source string that name the backend explicitly:
// "v4l2:/dev/video0" (or "v4l2:0") and "gst:<pipeline>". A board profile
// uses them to choose between OpenCV's V4L2 and GStreamer backends.
const (
	SchemeV4L2      = "v4l2:"
	SchemeGStreamer = "gst:"
)

// LibcameraPipeline returns the GStreamer pipeline (without the "gst:"
// scheme) that reads a camera driven by libcamera, such as a Raspberry Pi
// CSI camera module on a current kernel, at width x height and fps frames
// per second (0 leaves the rate to the camera), converted to the packed
// BGR that OpenCV delivers as a 3-channel matrix:
//
//	libcamerasrc ! video/x-raw,width=640,height=480,framerate=15/1
//	  ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true
//
// On such a board /dev/video0 is the CSI receiver's raw node: OpenCV's
// V4L2 backend opens it but every read fails (opencv/opencv#22820), which
// is why the rpi4 profile uses this pipeline. libcamerasrc is libcamera's
// GStreamer element (Debian: gstreamer1.0-libcamera; the 0.0.3 of Debian
// 12 takes width, height and framerate from the caps that follow it);
// videoconvert and appsink come with gstreamer1.0-plugins-base.
// drop=true lets the appsink replace an unread frame by a newer one
// instead of stalling the camera (OpenCV's GStreamer backend does not
// drop by itself and gives the appsink a queue of one buffer).
func LibcameraPipeline(width, height, fps int) string {
	return libcameraPipeline("libcamerasrc", width, height, fps)
}

// LibcameraNamedPipeline is LibcameraPipeline for one camera of several:
// libcamerasrc's camera-name property picks the camera whose libcamera id
// is name (libcamerasrc looks it up with CameraManager::get; without the
// property it takes the first camera libcamera lists, whichever that is).
// On a Raspberry Pi the id is the sensor's device-tree path, as
// `rpicam-hello --list-cameras` shows it in parentheses, e.g.
// "/base/soc/i2c0mux/i2c@1/imx219@10". The name is double-quoted for
// GStreamer's pipeline parser (an id has '/' and '@'); a '"' or '\' in it
// is escaped with a backslash.
func LibcameraNamedPipeline(name string, width, height, fps int) string {
	q := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name)
	return libcameraPipeline(`libcamerasrc camera-name="`+q+`"`, width, height, fps)
}

func libcameraPipeline(src string, width, height, fps int) string {
	caps := fmt.Sprintf("video/x-raw,width=%d,height=%d", width, height)
	if fps > 0 {
		caps += fmt.Sprintf(",framerate=%d/1", fps)
	}
	return src + " ! " + caps + " ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true"
}

// CheckSource reports whether New would accept src as a source string,
// without opening anything: a "gst:" pipeline must end in an appsink, a
// V4L2 source must name a /dev/videoN device (a symlink to one, such as a
// udev /dev/v4l/by-id name, counts only where it exists), a file source
// must exist. The error wraps ErrBadSource. It does not depend on the
// build: a nocv build checks the same way, though its New then reports
// ErrUnsupported.
func CheckSource(src string) error {
	_, err := parseSource(src)
	return err
}

// Source is what the rest of the daemon consumes. *Dev implements it; tests
// of consumers can implement it with frames made by NewFrameBGR.
type Source interface {
	// Next blocks until the next frame, an error, or the end of ctx.
	// The caller owns the returned frame and must Close it.
	Next(ctx context.Context) (*Frame, error)
	// Info describes the frames Next delivers.
	Info() Info
	// Close stops the source and releases everything it holds.
	Close() error
}

// Info describes a source and the frames it delivers.
type Info struct {
	Width, Height int     // size of delivered frames
	FPS           float64 // nominal frame rate (0 = unpaced / unknown)
	Device        string  // the source string given to New
	Kind          string  // KindV4L2, KindGStreamer, KindVideo or KindImages
}

func (i Info) String() string {
	return fmt.Sprintf("%s:%s %dx%d@%g", i.Kind, i.Device, i.Width, i.Height, i.FPS)
}

// Opts configures a Dev. The zero value of a field means "leave as is"
// unless said otherwise; New(src, nil) uses DefaultOpts.
type Opts struct {
	// Width and Height request the frame size. Devices are asked for it
	// (CAP_PROP_FRAME_WIDTH/HEIGHT) and deliver what they negotiated;
	// files and images are resized to it. 0 keeps the source's size.
	Width, Height int
	// FPS requests the frame rate. Devices are asked for it
	// (CAP_PROP_FPS); files and images are paced to it. 0 means the
	// device default, the video's own rate, or no pacing for images.
	FPS float64
	// Unpaced delivers file and image frames as fast as they are
	// consumed, whatever FPS says (tests, benchmarks, offline analysis).
	Unpaced bool
	// Loop restarts a file or image source at its end instead of
	// returning ErrEndOfStream.
	Loop bool
	// FourCC asks a device for a pixel format, e.g. "MJPG" or "YUYV".
	// "" leaves the driver's default.
	FourCC string
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// attempts to reopen a failed camera. The backoff grows with every
	// attempt since the last frame, whether the reopening failed or the
	// reopened camera failed its first read.
	ReconnectMin, ReconnectMax time.Duration
	// MaxReconnects is the number of reconnect attempts without a frame
	// in between after which a camera Dev gives up (ErrGaveUp). Every
	// attempt counts: a failed reopening, and a reopening whose camera
	// then fails before delivering a frame. A frame resets the count.
	// 0 never gives up.
	MaxReconnects int
	// NoFrameTimeout is how long a camera (V4L2 or GStreamer) may go
	// without delivering a frame, from its opening or its last frame,
	// before it is reported failed with ErrNoFrame (Check, SelfTest,
	// Stats.Stalled). A GStreamer pipeline that has not started within
	// it fails New. 0 means DefaultOpts.NoFrameTimeout.
	NoFrameTimeout time.Duration
	// Clock paces files and times backoff and NoFrameTimeout; nil is the
	// wall clock.
	Clock clock.Clock
	// Logger receives driver events; nil discards them.
	Logger *slog.Logger
}

// DefaultOpts is what New uses when given nil: VGA at 15 frames/s; a
// camera that delivers nothing for 5 s is reported failed, and one that
// keeps failing is given up after 10 reconnects (about half a minute of
// backoff).
var DefaultOpts = Opts{
	Width:          640,
	Height:         480,
	FPS:            15,
	ReconnectMin:   200 * time.Millisecond,
	ReconnectMax:   5 * time.Second,
	MaxReconnects:  10,
	NoFrameTimeout: 5 * time.Second,
}

// Stats counts what a Dev did since New.
type Stats struct {
	Frames     uint64 // frames handed to the delivery queue
	Dropped    uint64 // device frames replaced by newer ones before being read
	Errors     uint64 // read, decode and reopen failures
	Reconnects uint64 // successful reopenings after a device failure
	Loops      uint64 // restarts of a looping file or image source
	Connected  bool   // the capture is currently open
	LastError  string // the most recent error, "" if none
	// LastFrame is when the capture last delivered a frame (zero: never).
	LastFrame time.Time
	// Stalled: a camera has gone Opts.NoFrameTimeout without a frame,
	// whether or not it is open (see ErrNoFrame).
	Stalled bool
}

// SelfTestResult is what SelfTest measured.
type SelfTestResult struct {
	Info          Info          // what the Dev reports
	Frames        int           // frames read
	Width, Height int           // size of the frames actually read
	FPS           float64       // measured rate between first and last frame
	Elapsed       time.Duration // time from first to last frame
}

// normalize validates o and fills defaults for unset backoff fields.
func (o Opts) normalize() (Opts, error) {
	if o.Width < 0 || o.Height < 0 || (o.Width == 0) != (o.Height == 0) {
		return o, fmt.Errorf("%w: size %dx%d", ErrBadOpts, o.Width, o.Height)
	}
	if o.FPS < 0 || o.FPS != o.FPS || o.FPS > 1000 {
		return o, fmt.Errorf("%w: fps %g", ErrBadOpts, o.FPS)
	}
	if o.FourCC != "" && len(o.FourCC) != 4 {
		return o, fmt.Errorf("%w: fourcc %q is not 4 characters", ErrBadOpts, o.FourCC)
	}
	if o.MaxReconnects < 0 || o.ReconnectMin < 0 || o.ReconnectMax < 0 {
		return o, fmt.Errorf("%w: negative reconnect setting", ErrBadOpts)
	}
	if o.NoFrameTimeout < 0 {
		return o, fmt.Errorf("%w: negative no-frame timeout", ErrBadOpts)
	}
	if o.NoFrameTimeout == 0 {
		o.NoFrameTimeout = DefaultOpts.NoFrameTimeout
	}
	if o.ReconnectMin == 0 {
		o.ReconnectMin = DefaultOpts.ReconnectMin
	}
	if o.ReconnectMax == 0 {
		o.ReconnectMax = DefaultOpts.ReconnectMax
	}
	if o.ReconnectMax < o.ReconnectMin {
		return o, fmt.Errorf("%w: reconnect max %v below min %v", ErrBadOpts, o.ReconnectMax, o.ReconnectMin)
	}
	o.Clock = clock.Or(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// backoff returns the wait before reopen attempt n (0-based): min doubled
// n times, capped at max.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 0; i < n && d < hi; i++ {
		d *= 2
	}
	if d > hi {
		d = hi
	}
	return d
}

// source is a parsed source string.
type source struct {
	raw    string
	kind   string
	index  int      // KindV4L2: /dev/video<index>
	path   string   // KindVideo: the file or URL; KindGStreamer: the pipeline
	files  []string // KindImages: the frames, in order
	single bool     // KindImages: one still image
}

var (
	devIndexRe = regexp.MustCompile(`^video([0-9]+)$`)
	printfRe   = regexp.MustCompile(`%0?[0-9]*d`)
	// appsinkRe finds an appsink element in a pipeline description.
	appsinkRe = regexp.MustCompile(`(^|!)\s*appsink(\s|$)`)
)

var imageExts = map[string]bool{
	".png": true, ".jpg": true, ".jpeg": true, ".bmp": true, ".pgm": true,
	".ppm": true, ".pbm": true, ".tif": true, ".tiff": true, ".webp": true,
}

func isImage(name string) bool { return imageExts[strings.ToLower(filepath.Ext(name))] }

// parseSource classifies src: a GStreamer pipeline ("gst:..."), a device
// index or path (optionally "v4l2:..."), a directory, a glob or printf
// image pattern, a still image, or a video file.
func parseSource(src string) (source, error) {
	s := source{raw: src}
	if src == "" {
		return s, fmt.Errorf("%w: empty source", ErrBadSource)
	}
	if p, ok := strings.CutPrefix(src, SchemeGStreamer); ok {
		p = strings.TrimSpace(p)
		if p == "" {
			return s, fmt.Errorf("%w: empty GStreamer pipeline", ErrBadSource)
		}
		// OpenCV reads from the pipeline's appsink, found by its default
		// name (appsink0, ...); without one it refuses the pipeline.
		if !appsinkRe.MatchString(p) {
			return s, fmt.Errorf("%w: GStreamer pipeline %q does not end in an appsink", ErrBadSource, p)
		}
		s.kind, s.path = KindGStreamer, p
		return s, nil
	}
	if d, ok := strings.CutPrefix(src, SchemeV4L2); ok {
		v, err := parseFileOrDevice(source{raw: d})
		if err == nil && v.kind != KindV4L2 {
			err = fmt.Errorf("%w: %s is not a V4L2 device", ErrBadSource, d)
		}
		v.raw = src
		return v, err
	}
	return parseFileOrDevice(s)
}

// parseFileOrDevice classifies a source string without a scheme.
func parseFileOrDevice(s source) (source, error) {
	src := s.raw
	if n, err := strconv.Atoi(src); err == nil {
		if n < 0 {
			return s, fmt.Errorf("%w: negative device index %d", ErrBadSource, n)
		}
		s.kind, s.index = KindV4L2, n
		return s, nil
	}
	if strings.HasPrefix(src, "/dev/") {
		p := src
		if r, err := filepath.EvalSymlinks(src); err == nil {
			p = r
		}
		m := devIndexRe.FindStringSubmatch(filepath.Base(p))
		if m == nil {
			return s, fmt.Errorf("%w: %s is not a /dev/videoN device", ErrBadSource, src)
		}
		n, err := strconv.Atoi(m[1])
		if err != nil {
			return s, fmt.Errorf("%w: %s: %w", ErrBadSource, src, err)
		}
		s.kind, s.index = KindV4L2, n
		return s, nil
	}
	if strings.Contains(src, "://") {
		s.kind, s.path = KindVideo, src
		return s, nil
	}
	if fi, err := os.Stat(src); err == nil && fi.IsDir() {
		ents, err := os.ReadDir(src)
		if err != nil {
			return s, fmt.Errorf("%w: %w", ErrBadSource, err)
		}
		for _, e := range ents {
			if !e.IsDir() && isImage(e.Name()) {
				s.files = append(s.files, filepath.Join(src, e.Name()))
			}
		}
		if len(s.files) == 0 {
			return s, fmt.Errorf("%w: no images in directory %s", ErrBadSource, src)
		}
		s.kind = KindImages
		return s, nil
	}
	if strings.ContainsAny(src, "*?[") {
		files, err := filepath.Glob(src)
		if err != nil {
			return s, fmt.Errorf("%w: pattern %s: %w", ErrBadSource, src, err)
		}
		sort.Strings(files)
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
				s.files = append(s.files, f)
			}
		}
		if len(s.files) == 0 {
			return s, fmt.Errorf("%w: no file matches %s", ErrBadSource, src)
		}
		s.kind = KindImages
		return s, nil
	}
	if strings.Contains(src, "%") {
		files, err := expandPrintf(src)
		if err != nil {
			return s, err
		}
		s.kind, s.files = KindImages, files
		return s, nil
	}
	fi, err := os.Stat(src)
	if err != nil {
		return s, fmt.Errorf("%w: %w", ErrBadSource, err)
	}
	if !fi.Mode().IsRegular() {
		return s, fmt.Errorf("%w: %s is not a regular file", ErrBadSource, src)
	}
	if isImage(src) {
		s.kind, s.files, s.single = KindImages, []string{src}, true
		return s, nil
	}
	s.kind, s.path = KindVideo, src
	return s, nil
}

// maxPrintfFrames bounds the expansion of a printf pattern.
const maxPrintfFrames = 1 << 20

// expandPrintf lists the files of a pattern like "f%03d.png": numbering
// starts at 0 or 1 and runs until the first missing number.
func expandPrintf(pat string) ([]string, error) {
	rest := strings.ReplaceAll(pat, "%%", "")
	if len(printfRe.FindAllString(rest, -1)) != 1 || strings.Count(rest, "%") != 1 {
		return nil, fmt.Errorf("%w: pattern %s needs exactly one %%d verb", ErrBadSource, pat)
	}
	name := func(i int) string { return fmt.Sprintf(pat, i) }
	exists := func(p string) bool {
		fi, err := os.Stat(p)
		return err == nil && fi.Mode().IsRegular()
	}
	start := 0
	if !exists(name(0)) {
		start = 1
	}
	var files []string
	for i := start; i < maxPrintfFrames && exists(name(i)); i++ {
		files = append(files, name(i))
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: no file matches %s", ErrBadSource, pat)
	}
	return files, nil
}

// openMats counts native matrices of the whole package not yet released.
var openMats atomic.Int64

// OpenMats returns how many native frame buffers of this package (frames
// not yet closed, plus any buffer a Dev is working on) are open right now.
// A steady rise means some caller forgets Frame.Close.
func OpenMats() int { return int(openMats.Load()) }

// matCount counts the native buffers of one owner (a Dev, or loose frames).
type matCount struct{ n atomic.Int64 }

func (c *matCount) inc() { c.n.Add(1); openMats.Add(1) }
func (c *matCount) dec() { c.n.Add(-1); openMats.Add(-1) }

// looseMats counts frames made by NewFrameBGR.
var looseMats = new(matCount)
