package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"posd/drivers/camera"
	"posd/terminal/paycode"
	"posd/terminal/risk"
	"posd/terminal/store"
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
			rs = append(rs, &cameraCodes{src: src, det: det, log: d.Log.With("part", "camera-codes"), paid: d.codePaid})
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

// paidHoldFrames is how many frames a code paid by the sale before,
// still in view as the next sale starts, is held back (two seconds at
// 30 fps): the customer who just paid may not have taken the phone
// away yet. Held there longer, it is shown on purpose, and is sent: the
// platform answers that it is used, rather than the sale waiting in
// silence.
const paidHoldFrames = 60

// cameraCodes reads payment codes from the camera: every frame goes
// through the QR detector until one holds a code. A code still in view
// after it was read (the customer's phone lingering in front of the
// camera) is not read again in the same sale until goneFrames frames in
// a row did not show it: a payment code is not presented twice by
// accident.
//
// A new sale (FlushCodes) reads the code in front of the camera, even
// the one read for the sale before when that sale did not pay with it
// (declined, insufficient balance: the customer tops up and shows the
// same code again): frames are read only while a sale waits, so the
// camera cannot tell whether it left the view in between. A code the
// sale before paid with is held back while it stays in view, up to
// paidHoldFrames frames, then sent once (the platform refuses it as
// used); after that it is not sent again until it leaves the view.
type cameraCodes struct {
	src camera.Source
	det *camera.QRDetector
	log *slog.Logger
	// paid reports whether code paid the sale it was last read for
	// (nil: never known, every new sale reads the code in view).
	paid func(code string) bool

	mu     sync.Mutex
	last   string // the code read last, until it leaves the view
	missed int    // frames in a row without last
	fresh  bool   // a sale started (FlushCodes): its first read decides about last
	// holding: last is a paid code held back for a new sale, sent after
	// paidHoldFrames frames in view (held counts them).
	holding bool
	held    int
	// resent: last is a paid code sent again because it was held in
	// view: not sent again until it leaves the view.
	resent bool
}

// FlushCodes starts a new sale: the code read for the sale before is
// read again if it is in view and did not pay (see cameraCodes).
func (c *cameraCodes) FlushCodes() {
	c.mu.Lock()
	c.fresh = true
	c.mu.Unlock()
}

// newSale decides, at a sale's first read, whether the code read last
// is read again: yes unless it paid its sale (or was a paid code already
// sent again).
func (c *cameraCodes) newSale() {
	c.mu.Lock()
	fresh, last, resent := c.fresh, c.last, c.resent
	c.fresh = false
	c.mu.Unlock()
	if !fresh || last == "" {
		return
	}
	// Asked outside c.mu: it reads the records.
	paid := !resent && c.paid != nil && c.paid(last)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != last {
		return
	}
	switch {
	case resent:
		c.holding = false
	case paid:
		c.holding, c.held = true, 0
	default:
		c.last, c.missed, c.holding = "", 0, false
	}
}

func (c *cameraCodes) ReadCode(ctx context.Context) (string, error) {
	c.newSale()
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
		case seen && c.holding:
			if c.held++; c.held >= paidHoldFrames {
				// Held in view on purpose: the platform says it is used.
				c.holding, c.resent, c.missed = false, true, 0
				t := c.last
				c.mu.Unlock()
				c.log.Info("a code paid before held in view: sent again")
				return t, nil
			}
			c.missed = 0
		case seen:
			c.missed = 0
		case c.last != "":
			if c.missed++; c.missed >= goneFrames {
				c.last, c.missed, c.holding, c.resent = "", 0, false, false
			}
		}
		for _, t := range texts {
			if t != "" && t != c.last {
				c.last, c.missed, c.holding, c.resent = t, 0, false, false
				c.mu.Unlock()
				return t, nil
			}
		}
		c.mu.Unlock()
	}
}

// codePaid reports whether code paid the sale it was read for last: the
// newest record of a code sale with its masked form (wallet or EMV
// code) is approved.
func (d *Daemon) codePaid(code string) bool {
	if d.Engine == nil {
		return false
	}
	masked := paycode.Classify(code).Masked
	if masked == "" {
		return false
	}
	list, err := d.Engine.List(8)
	if err != nil {
		d.Log.Warn("records not read: a paid code may be sent again", "err", err)
		return false
	}
	for _, t := range list {
		if t.MaskedPAN == masked && (t.EntryMode == string(risk.EntryQR) || t.EntryMode == entryModeCPM) {
			return t.State == store.StateApproved || t.State == store.StateOfflineApproved
		}
	}
	return false
}

// entryModeCPM is the entry mode (DE22) of a sale paid with an EMV
// consumer-presented code.
const entryModeCPM = "031"

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
