//go:build !nocv

package camera

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// These tests run real GStreamer pipelines through OpenCV's GStreamer
// backend, with videotestsrc standing in for libcamerasrc. They need
// gstreamer1.0-plugins-base (videotestsrc, videoconvert, appsink), which
// scripts/setup.sh installs.

// testPipeline is LibcameraPipeline with its camera replaced by a test
// source painting one colour (ARGB 0xff204080: R 0x20, G 0x40, B 0x80).
func testPipeline(t *testing.T, w, h, fps int, srcArgs string) string {
	t.Helper()
	if !HasGStreamer() {
		t.Fatal("this OpenCV has no GStreamer backend")
	}
	p := LibcameraPipeline(w, h, fps)
	if !strings.HasPrefix(p, "libcamerasrc ! ") {
		t.Fatalf("pipeline %q does not start with libcamerasrc", p)
	}
	return SchemeGStreamer + strings.Replace(p, "libcamerasrc", "videotestsrc pattern=solid-color foreground-color=0xff204080 "+srcArgs, 1)
}

func openPipeline(t *testing.T, src string, o *Opts) *Dev {
	t.Helper()
	d, err := New(src, o)
	if err != nil {
		t.Fatalf("New(%q) = %v (is gstreamer1.0-plugins-base installed?)", src, err)
	}
	return d
}

func TestGStreamerPipelineDeliversBGR(t *testing.T) {
	src := testPipeline(t, 64, 48, 30, "")
	d := openPipeline(t, src, nil)
	want := Info{Width: 64, Height: 48, FPS: 30, Device: src, Kind: KindGStreamer}
	if got := d.Info(); got != want {
		t.Fatalf("Info = %+v, want %+v", got, want)
	}
	ctx := context.Background()
	if err := d.Check(ctx); err != nil {
		t.Fatalf("Check = %v", err)
	}
	for i := 0; i < 3; i++ {
		f, err := d.Next(ctx)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Width != 64 || f.Height != 48 {
			t.Fatalf("frame %d is %dx%d", i, f.Width, f.Height)
		}
		// The colour survives the conversions in the right channel order
		// (within the rounding of a YUV step).
		r, g, b := centre(t, f)
		if !near(r, 0x20, 4) || !near(g, 0x40, 4) || !near(b, 0x80, 4) {
			t.Fatalf("frame %d shows R%d G%d B%d, want R32 G64 B128", i, r, g, b)
		}
		f.Close()
	}
	res, err := d.SelfTest(ctx, 3)
	if err != nil || res.Frames != 3 || res.Info.Kind != KindGStreamer {
		t.Fatalf("SelfTest = %+v, %v", res, err)
	}
	halt(t, d, 0x7fffffff)
}

// A pipeline that reaches its end is a camera that went away: reopened,
// and each new frame starts the reconnect count again, so a camera that
// keeps coming back is never given up.
func TestGStreamerEndOfStreamReconnects(t *testing.T) {
	src := testPipeline(t, 32, 24, 0, "num-buffers=2")
	d := openPipeline(t, src, &Opts{ReconnectMin: time.Millisecond, ReconnectMax: time.Millisecond, MaxReconnects: 1})
	for i := 0; i < 5; i++ {
		f, err := d.Next(context.Background())
		if err != nil {
			t.Fatalf("frame %d: %v (stats %+v)", i, err, d.Stats())
		}
		f.Close()
	}
	if st := d.Stats(); st.Reconnects < 2 {
		t.Fatalf("stats = %+v, want at least 2 reconnects for 5 frames of 2-frame streams", st)
	}
	halt(t, d, 0x7fffffff)
}

// OpenCV 4.6 starts a pipeline and waits without a timeout until a first
// frame reaches its appsink; a source that never delivers one (here
// valve drops everything) would hold New forever. It fails after
// NoFrameTimeout instead. The opening stays blocked inside OpenCV for the
// rest of this test binary's life: that is the documented cost.
func TestGStreamerPipelineWithoutFramesFailsNew(t *testing.T) {
	src := SchemeGStreamer + "videotestsrc is-live=true ! video/x-raw,width=32,height=24 ! valve drop=true ! videoconvert ! video/x-raw,format=BGR ! appsink"
	if !HasGStreamer() {
		t.Fatal("this OpenCV has no GStreamer backend")
	}
	d, err := New(src, &Opts{NoFrameTimeout: 200 * time.Millisecond})
	if d != nil || !errors.Is(err, ErrOpen) || !errors.Is(err, ErrNoFrame) {
		t.Fatalf("New = %v, %v; want ErrOpen and ErrNoFrame", d, err)
	}
}

func TestGStreamerRejectsPipelineWithoutAppsink(t *testing.T) {
	if _, err := New(SchemeGStreamer+"videotestsrc ! fakesink", nil); !errors.Is(err, ErrBadSource) {
		t.Fatalf("New = %v, want ErrBadSource", err)
	}
}

// Halt closes a running pipeline (the camera is released) and Start
// builds it again.
func TestGStreamerHaltAndStart(t *testing.T) {
	src := testPipeline(t, 32, 24, 30, "")
	d := openPipeline(t, src, nil)
	ctx := context.Background()
	f, err := d.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats(); st.Connected {
		t.Fatalf("stats after Halt = %+v, want disconnected", st)
	}
	if _, err := d.Next(ctx); !errors.Is(err, ErrHalted) {
		t.Fatalf("Next after Halt = %v, want ErrHalted", err)
	}
	if err := d.Start(); err != nil {
		t.Fatalf("Start = %v", err)
	}
	f, err = d.Next(ctx)
	if err != nil {
		t.Fatalf("Next after Start = %v", err)
	}
	if r, g, b := centre(t, f); f.Width != 32 || f.Height != 24 || !near(r, 0x20, 4) || !near(g, 0x40, 4) || !near(b, 0x80, 4) {
		t.Fatalf("frame after Start: %v showing R%d G%d B%d", f, r, g, b)
	}
	f.Close()
	if _, err := d.SelfTest(ctx, 2); err != nil {
		t.Fatalf("SelfTest after Start = %v", err)
	}
	halt(t, d, 0x7fffffff)
}

// A named camera's pipeline opens as written: the quoted id, with its
// '/' and '@', gets through OpenCV to GStreamer's parser. videotestsrc's
// name property (every element has one) stands in for libcamerasrc's
// camera-name.
func TestGStreamerNamedPipelineParses(t *testing.T) {
	if !HasGStreamer() {
		t.Fatal("this OpenCV has no GStreamer backend")
	}
	p := LibcameraNamedPipeline("/base/soc/i2c0mux/i2c@0/imx219@10", 32, 24, 30)
	named := strings.Replace(p, "libcamerasrc camera-name=", "videotestsrc name=", 1)
	if named == p {
		t.Fatalf("pipeline %q does not name a libcamerasrc camera", p)
	}
	d := openPipeline(t, SchemeGStreamer+named, nil)
	if err := d.Check(context.Background()); err != nil {
		t.Fatalf("Check = %v", err)
	}
	halt(t, d, 0x7fffffff)
}
