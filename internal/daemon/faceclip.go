package daemon

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/draw"
	"os"

	"golang.org/x/sys/unix"

	"posd/conn/video"
	"posd/drivers/camera"
)

// pictureClip is a finite video source over pictures (PNG or JPEG),
// decoded one at a time as they are read.
func pictureClip(pics [][]byte) (video.Source, error) {
	for i, p := range pics {
		if len(p) == 0 {
			return nil, fmt.Errorf("%w: frame %d is empty", ErrClip, i)
		}
	}
	return &pictures{pics: pics}, nil
}

type pictures struct {
	pics [][]byte
	next int
	w, h int
}

func (p *pictures) Next(ctx context.Context) (video.Frame, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p.next >= len(p.pics) {
		return nil, video.ErrEndOfStream
	}
	i := p.next
	p.next++
	// The size first: a small file may declare a huge picture.
	cfg, _, err := image.DecodeConfig(bytes.NewReader(p.pics[i]))
	if err != nil {
		return nil, fmt.Errorf("%w: frame %d is not a PNG or JPEG picture", ErrClip, i)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > 4096 || cfg.Height > 4096 {
		return nil, fmt.Errorf("%w: frame %d is %dx%d", ErrClip, i, cfg.Width, cfg.Height)
	}
	img, _, err := image.Decode(bytes.NewReader(p.pics[i]))
	if err != nil {
		return nil, fmt.Errorf("%w: frame %d is not a PNG or JPEG picture", ErrClip, i)
	}
	r := img.Bounds()
	if r.Dx() <= 0 || r.Dy() <= 0 || r.Dx() > 4096 || r.Dy() > 4096 {
		return nil, fmt.Errorf("%w: frame %d is %dx%d", ErrClip, i, r.Dx(), r.Dy())
	}
	if p.w == 0 {
		p.w, p.h = r.Dx(), r.Dy()
	} else if r.Dx() != p.w || r.Dy() != p.h {
		return nil, fmt.Errorf("%w: frame %d is %dx%d, the first %dx%d", ErrClip, i, r.Dx(), r.Dy(), p.w, p.h)
	}
	rgba := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(rgba, rgba.Bounds(), img, r.Min, draw.Src)
	bgr := make([]byte, r.Dx()*r.Dy()*3)
	for j := 0; j < r.Dx()*r.Dy(); j++ {
		bgr[3*j], bgr[3*j+1], bgr[3*j+2] = rgba.Pix[4*j+2], rgba.Pix[4*j+1], rgba.Pix[4*j]
	}
	clear(rgba.Pix)
	f, err := video.NewBytesFrame(r.Dx(), r.Dy(), bgr)
	clear(bgr)
	return f, err
}

func (p *pictures) Close() error {
	p.next = len(p.pics)
	return nil
}

// videoClip opens a video file's bytes with the camera driver (OpenCV)
// from an anonymous in-memory file: the clip is never written to disk.
func videoClip(b []byte) (video.Source, func(), error) {
	fd, err := unix.MemfdCreate("posd-face-clip", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("in-memory file: %w", err)
	}
	f := os.NewFile(uintptr(fd), "posd-face-clip")
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("in-memory file: %w", err)
	}
	path := fmt.Sprintf("/proc/self/fd/%d", fd)
	o := camera.DefaultOpts
	o.Loop = false
	o.Width, o.Height = 0, 0
	dev, err := camera.New(path, &o)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("not a video this build can read: %w", err)
	}
	return camera.Video(dev), func() {
		dev.Close()
		f.Close()
	}, nil
}
