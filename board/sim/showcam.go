package sim

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/draw"
	_ "image/jpeg" // ShowImage takes JPEG photos of codes too
	_ "image/png"  // and PNG screenshots
	"sync"
	"time"

	"posd/drivers/camera"

	qrcode "github.com/skip2/go-qrcode"
)

// DefaultShowFor is how long ShowCodeToCamera and ShowImage hold a
// picture in front of the simulated camera.
const DefaultShowFor = 20 * time.Second

// Errors of the simulated camera.
var (
	// ErrNoCamera: the board has no camera (the nocv build, or the
	// camera failed its check).
	ErrNoCamera = errors.New("sim: camera unavailable")
	// ErrImage: the picture cannot be decoded, or is empty or too large.
	ErrImage = errors.New("sim: picture not a PNG or JPEG of at most 4096x4096")
)

// held is a picture held in front of the simulated camera, in the
// frame's BGR layout, placed in the middle of the scene.
type held struct {
	mu    sync.Mutex
	img   *image.RGBA
	until time.Time
	now   func() time.Time
}

// heldSource is the simulated camera: the drifting scene, with the held
// picture pasted over it while one is held.
type heldSource struct {
	camera.Source
	h     *held
	stage *faceStage
}

func (s heldSource) Next(ctx context.Context) (*camera.Frame, error) {
	f, err := s.Source.Next(ctx)
	if err != nil {
		return nil, err
	}
	s.h.mu.Lock()
	img := s.h.img
	if img != nil && s.h.now().After(s.h.until) {
		s.h.img, img = nil, nil
	}
	s.h.mu.Unlock()
	if img == nil && (s.stage == nil || !s.stage.playing()) {
		return f, nil
	}
	defer f.Close()
	w, hgt := f.Size()
	bgr, err := f.BGR()
	if err != nil {
		return nil, err
	}
	if s.stage != nil {
		s.stage.frame(bgr, w, hgt)
	}
	if img != nil {
		paste(bgr, w, hgt, img)
	}
	defer clear(bgr)
	return camera.NewFrameBGR(w, hgt, bgr)
}

// paste draws img in the middle of the BGR frame, scaled down (nearest
// neighbour) to at most 90 % of the frame's height when it is larger.
func paste(bgr []byte, w, h int, img *image.RGBA) {
	iw, ih := img.Bounds().Dx(), img.Bounds().Dy()
	scale := 1.0
	if limit := float64(h) * 0.9; float64(ih) > limit || float64(iw) > float64(w)*0.9 {
		scale = min(limit/float64(ih), float64(w)*0.9/float64(iw))
	}
	dw, dh := int(float64(iw)*scale), int(float64(ih)*scale)
	x0, y0 := (w-dw)/2, (h-dh)/2
	for y := 0; y < dh; y++ {
		sy := min(int(float64(y)/scale), ih-1)
		for x := 0; x < dw; x++ {
			sx := min(int(float64(x)/scale), iw-1)
			o := img.PixOffset(sx, sy)
			d := ((y0+y)*w + x0 + x) * 3
			bgr[d], bgr[d+1], bgr[d+2] = img.Pix[o+2], img.Pix[o+1], img.Pix[o]
		}
	}
}

// maxHeld is the largest side of a picture held up to the camera.
const maxHeld = 4096

// hold puts img in front of the camera for d (DefaultShowFor when 0).
func (b *Board) hold(img image.Image, d time.Duration) error {
	if b.held == nil {
		return ErrNoCamera
	}
	r := img.Bounds()
	if r.Dx() <= 0 || r.Dy() <= 0 || r.Dx() > maxHeld || r.Dy() > maxHeld {
		return ErrImage
	}
	if d <= 0 {
		d = DefaultShowFor
	}
	// A code is held up: a face scene is gone.
	b.HideFace()
	rgba := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(rgba, rgba.Bounds(), img, r.Min, draw.Src)
	b.held.mu.Lock()
	b.held.img, b.held.until = rgba, b.held.now().Add(d)
	b.held.mu.Unlock()
	return nil
}

// ShowCodeToCamera holds text, drawn as a QR code as a phone held up to
// the camera shows it (the code up to 440 pixels high in the frame: 6 to
// 8 pixels a module for a wallet or EMV code, which the detector reads in
// one frame; at 4 pixels some random EMV codes were not read at all), in
// front of the simulated camera for d.
func (b *Board) ShowCodeToCamera(text string, d time.Duration) error {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return ErrImage
	}
	n := len(q.Bitmap()) // modules, quiet zone included
	px := min(8, max(4, 440/n))
	return b.hold(q.Image(n*px), d)
}

// ShowImage holds a picture (PNG or JPEG bytes: a photo or screenshot of
// a code) in front of the simulated camera for d.
// Its size is read from its header first: a picture larger than hold
// takes is refused before any pixel buffer is made for it.
func (b *Board) ShowImage(pic []byte, d time.Duration) error {
	c, _, err := image.DecodeConfig(bytes.NewReader(pic))
	if err != nil || c.Width <= 0 || c.Height <= 0 || c.Width > maxHeld || c.Height > maxHeld {
		return ErrImage
	}
	img, _, err := image.Decode(bytes.NewReader(pic))
	if err != nil {
		return ErrImage
	}
	return b.hold(img, d)
}

// HideFromCamera takes any held picture away.
func (b *Board) HideFromCamera() {
	if b.held == nil {
		return
	}
	b.held.mu.Lock()
	b.held.img = nil
	b.held.mu.Unlock()
}
