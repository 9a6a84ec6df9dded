package board

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"

	"posd/conn/video"
	"posd/drivers/camera"
)

// cameraStopWait bounds how long stopping the camera waits for an OpenCV
// call in progress (a GStreamer pipeline that stalled blocks its reader
// inside OpenCV until it delivers again).
const cameraStopWait = 3 * time.Second

// AddCamera opens the camera and records it. src is what camera.New takes:
// a GStreamer pipeline ("gst:" and a pipeline ending in appsink, such as
// camera.LibcameraPipeline for a libcamera CSI camera), a V4L2 device
// ("v4l2:/dev/video0", or the bare path or index), a video file or an image
// sequence. The camera must deliver a frame within opts.NoFrameTimeout of
// opening: one that opens but stays silent is reported failed, like one
// that does not open, and released.
func (b *Board) AddCamera(src string, opts *camera.Opts) {
	g := b.addGatedCamera("camera", src, opts)
	if g == nil {
		return
	}
	b.mu.Lock()
	b.camGate = g
	b.mu.Unlock()
	b.Devices.Camera = g
}

// AddIRCamera opens the near-infrared camera beside the colour one, from
// the same kind of source as AddCamera, with the same checks and the same
// on-demand gate, and records it as "ir-camera". A camera that fails is
// reported with its error and left out (Devices.IRCamera stays nil); the
// board starts without it.
func (b *Board) AddIRCamera(src string, opts *camera.Opts) {
	g := b.addGatedCamera("ir-camera", src, opts)
	if g == nil {
		return
	}
	b.mu.Lock()
	b.irGate = g
	b.mu.Unlock()
	b.Devices.IRCamera = camera.Video(g)
}

// addGatedCamera opens the camera src, checks that it delivers and records
// it under name, behind the on-demand gate that keeps it halted while
// nothing reads frames; it returns the gate, or nil when the camera failed
// (recorded with its error and released).
func (b *Board) addGatedCamera(name, src string, opts *camera.Opts) *gatedCamera {
	st := Status{Name: name, Driver: "camera", Where: src}
	d, err := camera.New(src, opts)
	if err != nil {
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return nil
	}
	// Check is bounded by NoFrameTimeout for a camera; the deadline here
	// only guards a file source that never yields its first image.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err = d.Check(ctx)
	cancel()
	if err != nil {
		st.Error = err.Error()
		b.Add(st, nil, nil)
		_ = stopCamera(d)
		return nil
	}
	// Checked: from now on the camera is open only while something
	// reads frames (a QR sale, face pay after consent, a self-test).
	g := newGatedCamera(d, CameraIdleOff)
	g.idleOff()
	info := d.Info()
	st.OK, st.Detail = true, fmt.Sprintf("%dx%d @ %.1f fps (%s)", info.Width, info.Height, info.FPS, info.Kind)
	b.Add(st, func(ctx context.Context) (string, error) {
		if err := g.acquire(); err != nil {
			return "", err
		}
		defer g.release()
		r, err := d.SelfTest(ctx, 5)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%dx%d @ %.1f fps measured over %d frames (%s)", r.Width, r.Height, r.FPS, r.Frames, r.Info.Kind), nil
	}, g.halt)
	return g
}

// stopCamera halts the camera (the capture is released; camera.Dev.Start
// would reopen it), leaving a reader stuck in OpenCV behind after
// cameraStopWait rather than holding up the daemon's shutdown.
func stopCamera(d *camera.Dev) error {
	ctx, cancel := context.WithTimeout(context.Background(), cameraStopWait)
	defer cancel()
	return d.Shutdown(ctx)
}

// CameraVideo returns the board's camera as the application consumes it
// (the neutral posd/conn/video contract), or nil when the board has no
// working camera. Closing it stops the camera for good (camera.Dev.Close);
// the board's Halt halts it.
func (d *Devices) CameraVideo() video.Source {
	if d.Camera == nil {
		return nil
	}
	return camera.Video(d.Camera)
}

// AddIRLight gives the IR camera its illuminator, the GPIO pin named name
// (high: lit): lit while the IR camera is open (on demand, for a face
// check or a self-test), off as soon as it halts (idle, the board's Halt)
// and off now. Recorded as "ir-light"; a board without a working IR
// camera leaves the light off and reports it unused.
func (b *Board) AddIRLight(name string, pin gpio.PinOut) {
	st := Status{Name: "ir-light", Driver: "gpio", Where: name}
	b.mu.Lock()
	g := b.irGate
	b.mu.Unlock()
	if g == nil {
		if err := pin.Out(gpio.Low); err != nil {
			st.Error = fmt.Sprintf("switching the IR illuminator off: %v", err)
		} else {
			st.Error = "no IR camera to light: the illuminator stays off"
		}
		b.Add(st, nil, nil)
		return
	}
	if err := g.setLight(pin); err != nil {
		st.Error = fmt.Sprintf("switching the IR illuminator: %v", err)
		b.Add(st, nil, nil)
		return
	}
	st.OK, st.Detail = true, "lit while the IR camera is open"
	b.Add(st, nil, nil)
}
