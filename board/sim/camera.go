package sim

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"posd/board"
	"posd/drivers/camera"
)

// simFrames is the number of images in the simulated camera's loop.
const simFrames = 8

// writeFrames draws the simulated camera's scene into dir as PNG files: a
// lit face-like oval with two eyes that drifts across the frame, so the
// stream changes from frame to frame as a real one does.
func writeFrames(dir string, w, h int) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	for i := 0; i < simFrames; i++ {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		cx, cy := w/2+(i-simFrames/2)*w/64, h/2
		rx, ry := w/7, h/4
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := color.RGBA{R: uint8(60 + y*40/h), G: uint8(70 + x*30/w), B: 90, A: 255}
				dx, dy := float64(x-cx)/float64(rx), float64(y-cy)/float64(ry)
				if dx*dx+dy*dy <= 1 {
					c = color.RGBA{R: 224, G: 172, B: 140, A: 255}
					for _, ex := range []int{cx - rx/3, cx + rx/3} {
						ey := cy - ry/4
						if (x-ex)*(x-ex)+(y-ey)*(y-ey) <= (rx/8)*(rx/8) {
							c = color.RGBA{R: 30, G: 30, B: 40, A: 255}
						}
					}
				}
				img.SetRGBA(x, y, c)
			}
		}
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("frame%03d.png", i)), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return "", err
		}
		err = png.Encode(f, img)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", err
		}
	}
	return dir, nil
}

func (b *Board) openCamera(o Opts) {
	w, h := camera.DefaultOpts.Width, camera.DefaultOpts.Height
	// The scene's pictures live outside the data directory: nothing that
	// looks like a camera picture is ever kept there.
	// A posd killed (-9, a crash) left its scene behind: sweep those.
	sweepCameraDirs(os.TempDir(), processAlive)
	tmp, err := os.MkdirTemp("", cameraDirPrefix)
	if err != nil {
		b.Add(boardStatus("camera", "camera", "", err), nil, nil)
		return
	}
	b.OnHalt(func() error { return os.RemoveAll(tmp) })
	if err := os.WriteFile(filepath.Join(tmp, cameraOwnerFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		b.Add(boardStatus("camera", "camera", tmp, err), nil, nil)
		return
	}
	dir, err := writeFrames(tmp, w, h)
	if err != nil {
		b.Add(boardStatus("camera", "camera", dir, err), nil, nil)
		return
	}
	co := camera.DefaultOpts
	co.Loop = true
	co.Logger = o.Logger
	b.AddCamera(dir, &co)
	if b.Devices.Camera != nil {
		b.held = &held{now: time.Now}
		b.stage = &faceStage{now: time.Now, w: w, h: h}
		b.Devices.Camera = heldSource{Source: b.Devices.Camera, h: b.held, stage: b.stage}
		if o.IRCamera {
			irs := &irSource{s: b.stage, closed: make(chan struct{})}
			b.Devices.IRCamera = irs
			b.Add(board.Status{Name: "ir-camera", Driver: "camera", Where: "sim", OK: true,
				Detail: fmt.Sprintf("%dx%d near-infrared (simulated)", w, h)}, nil, irs.Close)
		}
	}
}

// The simulated camera's scene lives in a temporary directory named
// cameraDirPrefix..., with the pid of the posd that made it in
// cameraOwnerFile.
const (
	cameraDirPrefix = "posd-sim-camera-"
	cameraOwnerFile = "owner.pid"
)

// sweepCameraDirs removes the scene directories under root whose posd is
// gone (alive says no to its pid), and returns how many. A directory
// without a readable owner is left alone: it may be a posd's that is
// still writing it, or not this project's.
func sweepCameraDirs(root string, alive func(pid int) bool) int {
	entries, err := os.ReadDir(root)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), cameraDirPrefix) {
			continue
		}
		dir := filepath.Join(root, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, cameraOwnerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || alive(pid) {
			continue
		}
		if os.RemoveAll(dir) == nil {
			n++
		}
	}
	return n
}

// processAlive reports whether process pid exists (signal 0: EPERM means
// it exists under another user).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
