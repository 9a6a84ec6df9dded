//go:build !nocv

package board

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"posd/drivers/camera"
)

// The rpi4 profile reads its CSI camera through GStreamer and libcamera,
// not through V4L2 (whose /dev/video0 there opens but never reads).
func TestRPi4CameraIsALibcameraPipeline(t *testing.T) {
	p, err := Lookup("rpi4")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Camera, camera.SchemeGStreamer+"libcamerasrc ") || !strings.HasSuffix(p.Camera, "appsink drop=true") {
		t.Fatalf("rpi4 camera = %q, want a gst: libcamerasrc pipeline", p.Camera)
	}
}

// A camera pipeline that delivers is reported OK, passes the self test and
// is handed to the application as a video.Source. videotestsrc stands in
// for libcamerasrc (gstreamer1.0-plugins-base, installed by scripts/setup.sh).
func TestGStreamerCameraOnTheBoard(t *testing.T) {
	b := New("test", nil)
	src := camera.SchemeGStreamer + strings.Replace(camera.LibcameraPipeline(64, 48, 30), "libcamerasrc", "videotestsrc", 1)
	b.AddCamera(src, nil)
	defer b.Halt()
	st := b.Status()
	if len(st) != 1 || !st[0].OK || !strings.Contains(st[0].Detail, "64x48") || !strings.Contains(st[0].Detail, "gstreamer") {
		t.Fatalf("status = %+v", st)
	}
	if st := b.SelfTest(context.Background()); !st[0].OK {
		t.Fatalf("self test = %+v", st)
	}
	v := b.Devices.CameraVideo()
	if v == nil {
		t.Fatal("no video source")
	}
	f, err := v.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if w, h := f.Size(); w != 64 || h != 48 {
		t.Fatalf("frame %dx%d", w, h)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// A camera that opens but delivers nothing is reported failed, without
// a driver, and the board's start is held up NoFrameTimeout at most.
func TestSilentCameraReportedFailed(t *testing.T) {
	b := New("test", nil)
	o := camera.DefaultOpts
	o.NoFrameTimeout = 200 * time.Millisecond
	b.AddCamera(camera.SchemeGStreamer+"videotestsrc is-live=true ! valve drop=true ! videoconvert ! video/x-raw,format=BGR ! appsink", &o)
	defer b.Halt()
	st := b.Status()
	if len(st) != 1 || st[0].OK || !strings.Contains(st[0].Error, "no frame") {
		t.Fatalf("status = %+v, want failed with no frame", st)
	}
	if b.Devices.Camera != nil || b.Devices.CameraVideo() != nil {
		t.Fatal("a silent camera has a driver")
	}
}

// The camera is open only while frames are asked for: halted once
// checked at start, opened by Next, halted again CameraIdleOff after the
// last frame. A face-pay terminal's camera is not left running.
func TestCameraOpensOnDemand(t *testing.T) {
	b := New("test", nil)
	src := camera.SchemeGStreamer + strings.Replace(camera.LibcameraPipeline(64, 48, 30), "libcamerasrc", "videotestsrc", 1)
	b.AddCamera(src, nil)
	defer b.Halt()
	st, ok := b.CameraState()
	if !ok || st.On || st.Frames != 0 {
		t.Fatalf("after start: %+v %v, want off with no frame delivered", st, ok)
	}
	f, err := b.Devices.Camera.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if st, _ = b.CameraState(); !st.On || st.Frames != 1 || st.Starts != 1 {
		t.Fatalf("after a frame: %+v", st)
	}
	deadline := time.Now().Add(CameraIdleOff + 5*time.Second)
	for st.On && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		st, _ = b.CameraState()
	}
	if st.On {
		t.Fatalf("still on %v after the last frame", CameraIdleOff+5*time.Second)
	}
	f, err = b.Devices.Camera.Next(context.Background())
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	f.Close()
	if st, _ = b.CameraState(); !st.On || st.Starts != 2 {
		t.Fatalf("after reopening: %+v", st)
	}
}

// A profile's IR camera is opened like its colour camera: checked at
// start, reported as "ir-camera", self-tested, handed to the application
// as Devices.IRCamera and open only while read, through a gate of its own
// (reading it does not open the colour camera). videotestsrc stands in
// for libcamerasrc, its name property for camera-name, so the pipeline has
// the shape of a named CSI camera's.
func TestIRCameraOnTheBoard(t *testing.T) {
	rgb := camera.SchemeGStreamer + strings.Replace(camera.LibcameraPipeline(64, 48, 30), "libcamerasrc", "videotestsrc", 1)
	named := camera.LibcameraNamedPipeline("/base/soc/i2c0mux/i2c@0/imx219@10", 32, 24, 30)
	ir := camera.SchemeGStreamer + strings.Replace(named, "libcamerasrc camera-name=", "videotestsrc name=", 1)
	b, err := Open(context.Background(), Profile{Name: "test", Camera: rgb, IRCamera: ir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Halt()
	got := statusByName(b)
	if s := got["camera"]; !s.OK || !strings.Contains(s.Detail, "64x48") {
		t.Fatalf("camera: %+v", s)
	}
	if s := got["ir-camera"]; !s.OK || s.Where != ir || !strings.Contains(s.Detail, "32x24") || !strings.Contains(s.Detail, "gstreamer") {
		t.Fatalf("ir-camera: %+v", s)
	}
	for _, s := range b.SelfTest(context.Background()) {
		if (s.Name == "camera" || s.Name == "ir-camera") && !s.OK {
			t.Fatalf("self test: %+v", s)
		}
	}
	v := b.Devices.IRCamera
	if v == nil {
		t.Fatal("no IR video source")
	}
	// Settle after the self tests, which opened both cameras.
	waitOff := func(state func() (CameraState, bool), what string) {
		t.Helper()
		deadline := time.Now().Add(CameraIdleOff + 5*time.Second)
		for {
			st, _ := state()
			if !st.On {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still on %v after the last frame", what, CameraIdleOff+5*time.Second)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitOff(b.CameraState, "camera")
	waitOff(b.IRCameraState, "IR camera")
	irBefore, _ := b.IRCameraState()
	rgbBefore, _ := b.CameraState()
	f, err := v.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if w, h := f.Size(); w != 32 || h != 24 {
		t.Fatalf("IR frame %dx%d", w, h)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if st, ok := b.IRCameraState(); !ok || !st.On || st.Frames != irBefore.Frames+1 || st.Starts != irBefore.Starts+1 {
		t.Fatalf("IR camera after a frame: %+v %v (before %+v)", st, ok, irBefore)
	}
	if st, _ := b.CameraState(); st != rgbBefore {
		t.Fatalf("reading the IR camera changed the colour camera: %+v, was %+v", st, rgbBefore)
	}
	waitOff(b.IRCameraState, "IR camera")
	if err := b.Halt(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Next(context.Background()); !errors.Is(err, camera.ErrClosed) {
		t.Fatalf("IR camera after Halt: %v, want ErrClosed", err)
	}
}

// An IR camera that opens but delivers nothing is reported failed and left
// out, as a colour one is; the colour camera is not affected.
func TestSilentIRCameraReportedFailed(t *testing.T) {
	b := New("test", nil)
	o := camera.DefaultOpts
	o.NoFrameTimeout = 200 * time.Millisecond
	b.AddCamera(camera.SchemeGStreamer+strings.Replace(camera.LibcameraPipeline(64, 48, 30), "libcamerasrc", "videotestsrc", 1), &o)
	b.AddIRCamera(camera.SchemeGStreamer+"videotestsrc is-live=true ! valve drop=true ! videoconvert ! video/x-raw,format=BGR ! appsink", &o)
	defer b.Halt()
	st := b.Status()
	if len(st) != 2 || !st[0].OK || st[1].Name != "ir-camera" || st[1].OK || !strings.Contains(st[1].Error, "no frame") {
		t.Fatalf("status = %+v, want the camera OK and the IR camera failed with no frame", st)
	}
	if b.Devices.IRCamera != nil || b.Devices.Camera == nil {
		t.Fatal("want a colour camera and no IR camera")
	}
}

// failingLight is an illuminator whose driver cannot be switched on.
type failingLight struct{ gpiotest.Pin }

func (p *failingLight) Out(l gpio.Level) error {
	if l == gpio.High {
		return errors.New("gpio: write failed")
	}
	return p.Pin.Out(l)
}

// The IR camera's illuminator is lit exactly while the IR camera is open:
// off at start, on for a frame or a self-test, off again when the camera
// halts for idleness and at the board's Halt. A light that cannot be
// switched on fails the read instead of handing out unlit frames.
func TestIRLightFollowsTheIRCamera(t *testing.T) {
	ir := camera.SchemeGStreamer + strings.Replace(camera.LibcameraPipeline(32, 24, 30), "libcamerasrc", "videotestsrc", 1)
	b := New("test", nil)
	b.AddIRCamera(ir, nil)
	defer b.Halt()
	light := &gpiotest.Pin{N: "GPIO18", Num: 18, L: gpio.High}
	b.AddIRLight("GPIO18", light)
	if s := statusByName(b)["ir-light"]; !s.OK || s.Where != "GPIO18" {
		t.Fatalf("ir-light status: %+v", s)
	}
	lit := func() bool { return light.Read() == gpio.High }
	if lit() {
		t.Fatal("the illuminator is lit while the IR camera is halted")
	}
	if st, _ := b.IRCameraState(); st.LightOn == nil || *st.LightOn {
		t.Fatalf("state at start: %+v", st)
	}
	f, err := b.Devices.IRCamera.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if !lit() {
		t.Fatal("the illuminator is off while the IR camera delivers")
	}
	if st, _ := b.IRCameraState(); !st.On || st.LightOn == nil || !*st.LightOn {
		t.Fatalf("state after a frame: %+v", st)
	}
	waitDark := func(what string) {
		t.Helper()
		deadline := time.Now().Add(CameraIdleOff + 5*time.Second)
		for lit() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the illuminator still lit %v after the last frame", what, CameraIdleOff+5*time.Second)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if st, _ := b.IRCameraState(); st.On {
			t.Fatalf("%s: light off but camera on: %+v", what, st)
		}
	}
	waitDark("idle")
	for _, s := range b.SelfTest(context.Background()) {
		if s.Name == "ir-camera" && !s.OK {
			t.Fatalf("self test: %+v", s)
		}
	}
	if !lit() {
		t.Fatal("the self-test's frames were taken unlit (the light is off right after it)")
	}
	if err := b.Halt(); err != nil {
		t.Fatal(err)
	}
	if lit() {
		t.Fatal("the illuminator is lit after the board halted")
	}

	// A driver that cannot switch the light on: no unlit frame.
	b2 := New("test", nil)
	b2.AddIRCamera(ir, nil)
	defer b2.Halt()
	bad := &failingLight{gpiotest.Pin{N: "GPIO18"}}
	b2.AddIRLight("GPIO18", bad)
	if _, err := b2.Devices.IRCamera.Next(context.Background()); err == nil || !strings.Contains(err.Error(), "illuminator") {
		t.Fatalf("read with a light that fails: %v, want the illuminator's error", err)
	}
	if st, _ := b2.IRCameraState(); st.On {
		t.Fatalf("the IR camera runs without its light: %+v", st)
	}
}

// A light without an IR camera is driven off and reported unused.
func TestIRLightWithoutIRCamera(t *testing.T) {
	b := New("test", nil)
	light := &gpiotest.Pin{N: "GPIO18", L: gpio.High}
	b.AddIRLight("GPIO18", light)
	if light.Read() != gpio.Low {
		t.Fatal("the illuminator is left lit")
	}
	if s := statusByName(b)["ir-light"]; s.OK || !strings.Contains(s.Error, "no IR camera") {
		t.Fatalf("ir-light status: %+v", s)
	}
}
