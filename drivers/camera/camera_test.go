package camera

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestParseSource(t *testing.T) {
	dir := t.TempDir()
	for i := 1; i <= 3; i++ {
		touch(t, filepath.Join(dir, fmt.Sprintf("f%03d.png", i)))
	}
	touch(t, filepath.Join(dir, "notes.txt"))
	touch(t, filepath.Join(dir, "clip.avi"))
	empty := t.TempDir()

	pngs := []string{
		filepath.Join(dir, "f001.png"),
		filepath.Join(dir, "f002.png"),
		filepath.Join(dir, "f003.png"),
	}
	tests := []struct {
		src   string
		kind  string
		index int
		path  string
		files []string
		err   error
	}{
		{src: "0", kind: KindV4L2, index: 0},
		{src: "12", kind: KindV4L2, index: 12},
		{src: "/dev/video7", kind: KindV4L2, index: 7},
		{src: "-1", err: ErrBadSource},
		{src: "/dev/ttyS0", err: ErrBadSource},
		{src: "", err: ErrBadSource},
		{src: dir, kind: KindImages, files: pngs},
		{src: filepath.Join(dir, "f*.png"), kind: KindImages, files: pngs},
		{src: filepath.Join(dir, "f%03d.png"), kind: KindImages, files: pngs},
		{src: filepath.Join(dir, "f%03d-%d.png"), err: ErrBadSource},
		{src: filepath.Join(dir, "g%03d.png"), err: ErrBadSource},
		{src: filepath.Join(dir, "*.jpg"), err: ErrBadSource},
		{src: empty, err: ErrBadSource},
		{src: pngs[1], kind: KindImages, files: pngs[1:2]},
		{src: filepath.Join(dir, "clip.avi"), kind: KindVideo, path: filepath.Join(dir, "clip.avi")},
		{src: filepath.Join(dir, "missing.avi"), err: ErrBadSource},
		{src: "rtsp://cam.local/stream", kind: KindVideo, path: "rtsp://cam.local/stream"},
		{src: "v4l2:/dev/video3", kind: KindV4L2, index: 3},
		{src: "v4l2:1", kind: KindV4L2, index: 1},
		{src: "v4l2:" + filepath.Join(dir, "clip.avi"), err: ErrBadSource},
		{src: "v4l2:", err: ErrBadSource},
		{src: "gst:videotestsrc ! videoconvert ! appsink", kind: KindGStreamer, path: "videotestsrc ! videoconvert ! appsink"},
		{src: "gst: videotestsrc ! appsink drop=true ", kind: KindGStreamer, path: "videotestsrc ! appsink drop=true"},
		{src: "gst:appsink", kind: KindGStreamer, path: "appsink"},
		{src: "gst:videotestsrc ! fakesink", err: ErrBadSource},
		{src: "gst:videotestsrc ! appsinkx", err: ErrBadSource},
		{src: "gst:  ", err: ErrBadSource},
		{src: "gst:" + LibcameraPipeline(640, 480, 15), kind: KindGStreamer, path: LibcameraPipeline(640, 480, 15)},
		{src: "gst:" + LibcameraNamedPipeline("/base/soc/i2c0mux/i2c@0/imx219@10", 640, 480, 15), kind: KindGStreamer,
			path: LibcameraNamedPipeline("/base/soc/i2c0mux/i2c@0/imx219@10", 640, 480, 15)},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			s, err := parseSource(tc.src)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.kind != tc.kind || s.index != tc.index || s.path != tc.path || fmt.Sprint(s.files) != fmt.Sprint(tc.files) {
				t.Fatalf("got kind=%s index=%d path=%q files=%v", s.kind, s.index, s.path, s.files)
			}
		})
	}
}

func TestLibcameraPipeline(t *testing.T) {
	for _, tc := range []struct {
		w, h, fps int
		want      string
	}{
		{640, 480, 15, "libcamerasrc ! video/x-raw,width=640,height=480,framerate=15/1 ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true"},
		{1280, 720, 0, "libcamerasrc ! video/x-raw,width=1280,height=720 ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true"},
	} {
		if got := LibcameraPipeline(tc.w, tc.h, tc.fps); got != tc.want {
			t.Errorf("LibcameraPipeline(%d, %d, %d) = %q, want %q", tc.w, tc.h, tc.fps, got, tc.want)
		}
	}
}

// A named libcamera camera: the id double-quoted for GStreamer's parser,
// which takes a quote or backslash in it only escaped.
func TestLibcameraNamedPipeline(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string
	}{
		{"/base/soc/i2c0mux/i2c@1/imx219@10", `libcamerasrc camera-name="/base/soc/i2c0mux/i2c@1/imx219@10" ! video/x-raw,width=640,height=480,framerate=15/1 ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true`},
		{`odd"name\`, `libcamerasrc camera-name="odd\"name\\" ! video/x-raw,width=640,height=480,framerate=15/1 ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true`},
	} {
		if got := LibcameraNamedPipeline(tc.name, 640, 480, 15); got != tc.want {
			t.Errorf("LibcameraNamedPipeline(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// CheckSource is parseSource's verdict, in every build.
func TestCheckSource(t *testing.T) {
	for _, src := range []string{"0", "/dev/video2", "v4l2:/dev/video1", "gst:" + LibcameraPipeline(640, 480, 15),
		"gst:" + LibcameraNamedPipeline("/base/soc/i2c0mux/i2c@0/imx219@10", 640, 480, 15)} {
		if err := CheckSource(src); err != nil {
			t.Errorf("CheckSource(%q) = %v", src, err)
		}
	}
	for _, src := range []string{"", "gst:videotestsrc ! fakesink", "v4l2:", "/dev/ttyS0", "/nonexistent/video0"} {
		if err := CheckSource(src); !errors.Is(err, ErrBadSource) {
			t.Errorf("CheckSource(%q) = %v, want ErrBadSource", src, err)
		}
	}
}

func TestPrintfStartsAtZeroOrOne(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		touch(t, filepath.Join(dir, fmt.Sprintf("a%d.png", i)))
	}
	touch(t, filepath.Join(dir, "a3.png")) // after a gap: not part of the run
	s, err := parseSource(filepath.Join(dir, "a%d.png"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.files) != 2 || filepath.Base(s.files[0]) != "a0.png" {
		t.Fatalf("files = %v", s.files)
	}
}

func TestOptsNormalize(t *testing.T) {
	bad := []Opts{
		{Width: -1, Height: 480},
		{Width: 640},
		{FPS: -2},
		{FourCC: "MJPEG"},
		{MaxReconnects: -1},
		{NoFrameTimeout: -time.Second},
		{ReconnectMin: time.Second, ReconnectMax: time.Millisecond},
	}
	for _, o := range bad {
		if _, err := o.normalize(); !errors.Is(err, ErrBadOpts) {
			t.Errorf("%+v: err = %v, want ErrBadOpts", o, err)
		}
	}
	o, err := Opts{}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if o.ReconnectMin != DefaultOpts.ReconnectMin || o.ReconnectMax != DefaultOpts.ReconnectMax ||
		o.NoFrameTimeout != DefaultOpts.NoFrameTimeout || o.Clock == nil || o.Logger == nil {
		t.Fatalf("defaults not filled: %+v", o)
	}
}

func TestBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, time.Second
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for n, w := range want {
		if got := backoff(n, lo, hi); got != w*time.Millisecond {
			t.Errorf("backoff(%d) = %v, want %v", n, got, w*time.Millisecond)
		}
	}
}

func TestIsFatal(t *testing.T) {
	for _, err := range []error{ErrClosed, ErrHalted, ErrEndOfStream, fmt.Errorf("x: %w", ErrGaveUp), &UnsupportedError{Src: "0"}} {
		if !IsFatal(err) {
			t.Errorf("IsFatal(%v) = false", err)
		}
	}
	for _, err := range []error{ErrDecode, io.ErrUnexpectedEOF, nil} {
		if IsFatal(err) {
			t.Errorf("IsFatal(%v) = true", err)
		}
	}
	if !errors.Is(ErrEndOfStream, io.EOF) {
		t.Error("ErrEndOfStream does not wrap io.EOF")
	}
}

// bgrPattern makes distinct bytes so mix-ups of rows or channels show.
func bgrPattern(w, h int) []byte {
	b := make([]byte, w*h*3)
	for i := range b {
		b[i] = byte(i*7 + i/3)
	}
	return b
}

func TestFrameBGR(t *testing.T) {
	const w, h = 5, 3
	base := OpenMats()
	src := bgrPattern(w, h)
	f, err := NewFrameBGR(w, h, src)
	if err != nil {
		t.Fatal(err)
	}
	if got := OpenMats() - base; got != 1 {
		t.Fatalf("open after NewFrameBGR = %d, want 1", got)
	}
	src[0] ^= 0xff // the frame must hold its own copy
	got, err := f.BGR()
	if err != nil {
		t.Fatal(err)
	}
	src[0] ^= 0xff
	if !bytes.Equal(got, src) {
		t.Fatalf("BGR round trip differs")
	}
	img, err := f.Image()
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := (y*w + x) * 3
			c := img.RGBAAt(x, y)
			if c.B != src[i] || c.G != src[i+1] || c.R != src[i+2] || c.A != 0xff {
				t.Fatalf("pixel %d,%d = %v, want B%d G%d R%d", x, y, c, src[i], src[i+1], src[i+2])
			}
		}
	}
	c, err := f.Clone()
	if err != nil {
		t.Fatal(err)
	}
	if got := OpenMats() - base; got != 2 {
		t.Fatalf("open after Clone = %d, want 2", got)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil { // second close is a no-op
		t.Fatal(err)
	}
	if _, err := f.BGR(); !errors.Is(err, ErrFrameClosed) {
		t.Fatalf("BGR after Close: %v", err)
	}
	if _, err := f.Clone(); !errors.Is(err, ErrFrameClosed) {
		t.Fatalf("Clone after Close: %v", err)
	}
	cb, err := c.BGR()
	if err != nil || !bytes.Equal(cb, src) {
		t.Fatalf("clone lost its pixels: %v", err)
	}
	c.Close()
	if got := OpenMats() - base; got != 0 {
		t.Fatalf("open after closing all = %d, want 0", got)
	}
}

func TestNewFrameBGRRejectsBadSize(t *testing.T) {
	for _, tc := range []struct{ w, h, n int }{{0, 1, 0}, {2, 2, 11}, {2, -2, 12}} {
		if _, err := NewFrameBGR(tc.w, tc.h, make([]byte, tc.n)); !errors.Is(err, ErrFrameFormat) {
			t.Errorf("%dx%d with %d bytes: err = %v", tc.w, tc.h, tc.n, err)
		}
	}
}

// FuzzParseSource feeds arbitrary source strings (they come from board
// configuration): never a panic, and a success is self-consistent.
func FuzzParseSource(f *testing.F) {
	for _, s := range []string{"0", "/dev/video3", "/dev/v4l/by-id/usb-cam", "a%03d.png", "x%d%d", "*.png", "[", "%%d%d", "rtsp://h/s", "clip.avi", "",
		"v4l2:0", "v4l2:v4l2:0", "gst:videotestsrc ! appsink", "gst:!appsink", "gst:", "v4l2:gst:appsink"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		s, err := parseSource(src)
		if err != nil {
			if !errors.Is(err, ErrBadSource) {
				t.Fatalf("%q: error %v is not ErrBadSource", src, err)
			}
			return
		}
		switch s.kind {
		case KindV4L2:
			if s.index < 0 {
				t.Fatalf("%q: index %d", src, s.index)
			}
		case KindVideo:
			if s.path == "" {
				t.Fatalf("%q: empty path", src)
			}
		case KindGStreamer:
			if !strings.HasPrefix(src, SchemeGStreamer) || !strings.Contains(s.path, "appsink") {
				t.Fatalf("%q: pipeline %q", src, s.path)
			}
		case KindImages:
			if len(s.files) == 0 {
				t.Fatalf("%q: no files", src)
			}
		default:
			t.Fatalf("%q: kind %q", src, s.kind)
		}
	})
}
