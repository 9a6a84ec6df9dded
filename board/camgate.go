package board

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"

	"posd/drivers/camera"
)

// CameraIdleOff is how long the camera stays open after the last frame
// was asked for: then it is halted (the device released, its LED off)
// until something needs frames again. A face-pay terminal's camera is
// not left running while nobody pays.
const CameraIdleOff = 2 * time.Second

// gatedCamera opens the camera on demand: Next starts a halted camera,
// and CameraIdleOff after the last Next returned it is halted again.
type gatedCamera struct {
	d    *camera.Dev
	idle time.Duration

	mu      sync.Mutex
	running bool
	users   int // Next calls and self-tests in progress
	timer   *time.Timer
	closed  bool
	// light is the IR illuminator (nil: none): high exactly while the
	// camera runs.
	light  gpio.PinOut
	lit    bool
	frames atomic.Int64
	starts atomic.Int64
}

func newGatedCamera(d *camera.Dev, idle time.Duration) *gatedCamera {
	return &gatedCamera{d: d, idle: idle, running: true}
}

// acquire starts the camera when it is halted and counts a user.
func (g *gatedCamera) acquire() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return camera.ErrClosed
	}
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	if !g.running {
		if g.light != nil {
			if err := g.light.Out(gpio.High); err != nil {
				return fmt.Errorf("board: switching the IR illuminator on: %w", err)
			}
			g.lit = true
		}
		if err := g.d.Start(); err != nil {
			g.lightOff()
			return err
		}
		g.running = true
		g.starts.Add(1)
	}
	g.users++
	return nil
}

// release counts a user out; the last one arms the idle timer.
func (g *gatedCamera) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.users--
	if g.users == 0 && g.running && !g.closed {
		g.timer = time.AfterFunc(g.idle, g.idleOff)
	}
}

// idleOff halts the camera when nobody used it for the idle time.
func (g *gatedCamera) idleOff() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.users > 0 || !g.running || g.closed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cameraStopWait)
	defer cancel()
	_ = g.d.Shutdown(ctx)
	g.running = false
	g.lightOff()
}

// lightOff turns the illuminator off (g.mu held). A pin that cannot be
// driven is left as it is: there is nothing better to do with it.
func (g *gatedCamera) lightOff() {
	if g.light != nil && g.light.Out(gpio.Low) == nil {
		g.lit = false
	}
}

// setLight gives the gate its illuminator, switched off now (the camera
// is halted once checked) and on while the camera runs.
func (g *gatedCamera) setLight(p gpio.PinOut) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	on := g.running && !g.closed
	if err := p.Out(gpio.Level(on)); err != nil {
		return err
	}
	g.light, g.lit = p, on
	return nil
}

// Next implements camera.Source.
func (g *gatedCamera) Next(ctx context.Context) (*camera.Frame, error) {
	if err := g.acquire(); err != nil {
		return nil, err
	}
	defer g.release()
	f, err := g.d.Next(ctx)
	if err == nil {
		g.frames.Add(1)
	}
	return f, err
}

// Info implements camera.Source.
func (g *gatedCamera) Info() camera.Info { return g.d.Info() }

// Close implements camera.Source.
func (g *gatedCamera) Close() error {
	g.mu.Lock()
	g.closed = true
	if g.timer != nil {
		g.timer.Stop()
	}
	g.mu.Unlock()
	return g.d.Close()
}

// halt stops the camera for good (the board's Halt).
func (g *gatedCamera) halt() error {
	g.mu.Lock()
	g.closed = true
	if g.timer != nil {
		g.timer.Stop()
	}
	g.running = false
	g.mu.Unlock()
	err := stopCamera(g.d)
	g.mu.Lock()
	g.lightOff()
	g.mu.Unlock()
	return err
}

// CameraState is whether the camera is open now, how many frames it has
// delivered and how often it was opened on demand.
type CameraState struct {
	On     bool  `json:"on"`
	Frames int64 `json:"frames_delivered"`
	Starts int64 `json:"opened_on_demand"`
	// LightOn is whether the camera's illuminator is lit (nil: the
	// camera has none that posd switches).
	LightOn *bool `json:"light_on,omitempty"`
}

// CameraState reports the camera's gate (false, zero when the board has
// no camera).
func (b *Board) CameraState() (CameraState, bool) {
	b.mu.Lock()
	g := b.camGate
	b.mu.Unlock()
	return g.state()
}

// IRCameraState reports the IR camera's gate (false, zero when the board
// has no IR camera opened by AddIRCamera).
func (b *Board) IRCameraState() (CameraState, bool) {
	b.mu.Lock()
	g := b.irGate
	b.mu.Unlock()
	return g.state()
}

func (g *gatedCamera) state() (CameraState, bool) {
	if g == nil {
		return CameraState{}, false
	}
	g.mu.Lock()
	on := g.running
	var lit *bool
	if g.light != nil {
		l := g.lit
		lit = &l
	}
	g.mu.Unlock()
	return CameraState{On: on, Frames: g.frames.Load(), Starts: g.starts.Load(), LightOn: lit}, true
}
