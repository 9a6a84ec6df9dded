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

// heldFrames is how many frames the code read for the sale before, still
// in view as the next sale starts, is held back (two seconds at 30 fps):
// the customer may not have taken the phone away yet, and the next
// customer's code, shown meanwhile, is read instead. Held there longer,
// it is shown on purpose, and is read.
const heldFrames = 60

// cameraCodes reads payment codes from the camera: every frame goes
// through the QR detector until one holds a code. A code still in view
// after it was read (the customer's phone lingering in front of the
// camera) is not read again in the same sale until goneFrames frames in
// a row did not show it: a payment code is not presented twice by
// accident.
//
// A new sale (FlushCodes) reads the code in front of the camera, the one
// read for the sale before too: frames are read only while a sale
// waits, so the camera cannot tell whether that code left the view in
// between. Still in view, it is held back for heldFrames frames first.
// One the sale before did not pay with (declined, insufficient balance)
// is then read: the customer tops up and shows it again. One it paid
// with is read once, and the platform refuses it as used rather than the
// sale waiting in silence; after that it is not read again until it has
// left the view.
type cameraCodes struct {
	src camera.Source
	det *camera.QRDetector
	log *slog.Logger
	// paid reports whether code paid the sale it was last read for
	// (nil: never known).
	paid func(code string) bool

	mu     sync.Mutex
	last   string // the code read last, until it leaves the view
	missed int    // frames in a row without last
	fresh  bool   // a sale started (FlushCodes): its first read decides about last
	// holding: last, read for the sale before, is held back for this
	// one; read once held counts heldFrames frames in view. holdPaid:
	// it paid the sale before.
	holding  bool
	held     int
	holdPaid bool
	// resent: last is a paid code read again because it was held in
	// view: not read again until it leaves the view.
	resent bool
}

// FlushCodes starts a new sale (see cameraCodes).
func (c *cameraCodes) FlushCodes() {
	c.mu.Lock()
	c.fresh = true
	c.mu.Unlock()
}

// newSale decides, at a sale's first read, what becomes of the code
// read last: held back, or (a paid code already read again) not read
// while it stays in view.
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
	c.holding = !resent
	c.held, c.holdPaid = 0, paid
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
			if c.held++; c.held >= heldFrames {
				// Held in view on purpose: a retry, or (paid) the
				// platform says it is used.
				c.holding, c.resent, c.missed = false, c.holdPaid, 0
				t, paid := c.last, c.holdPaid
				c.mu.Unlock()
				c.log.Info("the code of the sale before held in view: read again", "paid_before", paid)
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

// codePaid reports whether code paid a sale: a recent record of a code
// sale with its masked form (wallet or EMV code) is approved. A payment
// code pays once: the refusals of its later reads (code_used) do not
// make it unpaid, and an EMV code's cryptogram must not go to the
// acquirer again.
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
		if t.MaskedPAN == masked && (t.EntryMode == string(risk.EntryQR) || t.EntryMode == entryModeCPM) &&
			(t.State == store.StateApproved || t.State == store.StateOfflineApproved) {
			return true
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
