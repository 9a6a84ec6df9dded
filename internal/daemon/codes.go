package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"posd/drivers/camera"
	"posd/terminal/txn"
)

// openCodes returns the readers of customer-presented codes: the
// barcode scanner, and the camera through the QR detector (a build
// without OpenCV has no camera, and reads codes from a scanner only).
// Nil when the board has neither.
func (d *Daemon) openCodes() txn.CodeReader {
	var rs anyCodes
	if sc := d.Board.Devices.Scanner; sc != nil {
		rs = append(rs, scannerCodes{sc})
		d.codeReaders = append(d.codeReaders, "scanner")
	}
	if src := d.Board.Devices.Camera; src != nil {
		det, err := camera.NewQRDetector()
		if err != nil {
			d.Log.Warn("camera QR codes unavailable", "err", err)
		} else {
			d.qr = det
			rs = append(rs, &cameraCodes{src: src, det: det, log: d.Log.With("part", "camera-codes")})
			d.codeReaders = append(d.codeReaders, "camera")
		}
	}
	if len(rs) == 0 {
		return nil
	}
	return rs
}

// goneFrames is how many frames in a row must miss the code read last
// before it counts as gone from the view (half a second at 30 fps): the
// detector can miss a code that is still there in a frame, and under load
// in several in a row (5 let a code still held up be read again for the
// next sale, once in CI).
const goneFrames = 15

// cameraCodes reads payment codes from the camera: every frame goes
// through the QR detector until one holds a code. A code still in view
// after it was read (the customer's phone lingering in front of the
// camera) is not read again until goneFrames frames in a row did not
// show it: a payment code is not presented twice by accident.
type cameraCodes struct {
	src camera.Source
	det *camera.QRDetector
	log *slog.Logger

	mu     sync.Mutex
	last   string // the code read last, until it leaves the view
	missed int    // frames in a row without last
}

func (c *cameraCodes) FlushCodes() {}

func (c *cameraCodes) ReadCode(ctx context.Context) (string, error) {
	for {
		f, err := c.src.Next(ctx)
		if err != nil {
			return "", err
		}
		texts, err := c.det.Decode(f)
		f.Close()
		if err != nil {
			c.log.Debug("camera frame not decoded", "err", err)
			continue
		}
		c.mu.Lock()
		if err := ctx.Err(); err != nil {
			// The sale this reader was for has ended (or another
			// reader won): a frame it still got is not its to read.
			// Claiming a code here would mark it read for nobody, and
			// the next sale's reader would never take it.
			c.mu.Unlock()
			return "", err
		}
		seen := false
		for _, t := range texts {
			if t == c.last {
				seen = true
			}
		}
		switch {
		case seen:
			c.missed = 0
		case c.last != "":
			if c.missed++; c.missed >= goneFrames {
				c.last, c.missed = "", 0
			}
		}
		for _, t := range texts {
			if t != "" && t != c.last {
				c.last, c.missed = t, 0
				c.mu.Unlock()
				return t, nil
			}
		}
		c.mu.Unlock()
	}
}

// anyCodes reads from every code reader at once (the scanner and the
// camera): the first code shown to any of them is the sale's. It fails
// only when every reader has failed. The first code is returned at once:
// the other readers are told to stop and end by themselves (the camera's
// within the frame it is decoding), not waited for.
type anyCodes []txn.CodeReader

func (a anyCodes) FlushCodes() {
	for _, r := range a {
		r.FlushCodes()
	}
}

func (a anyCodes) ReadCode(ctx context.Context) (string, error) {
	if len(a) == 1 {
		return a[0].ReadCode(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		text string
		err  error
	}
	out := make(chan result, len(a)) // buffered: a late reader never blocks
	for _, r := range a {
		go func() {
			t, err := r.ReadCode(ctx)
			out <- result{t, err}
		}()
	}
	var errs []error
	for range a {
		r := <-out
		if r.err == nil {
			return r.text, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		errs = append(errs, r.err)
	}
	return "", errors.Join(errs...)
}
