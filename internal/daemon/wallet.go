package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // photos of codes
	_ "image/png"  // screenshots of codes
	"time"

	"posd/drivers/barcode"
	"posd/terminal/txn"
	"posd/terminal/wallet"
)

// walletPlatforms is the gateway client with its resolver: what the
// engine's wallet sales need (txn.Wallets).
type walletPlatforms struct {
	*wallet.HTTPClient
	r *wallet.Resolver
}

func (w walletPlatforms) Resolve(ctx context.Context, p wallet.Platform, orderID string) (wallet.Result, error) {
	return w.r.Resolve(ctx, p, orderID)
}

// openWallet connects the wallet platforms of the configuration (nil
// when none is configured): one query limiter for the whole terminal.
func (d *Daemon) openWallet() (txn.Wallets, error) {
	cfg, set := d.Config.Wallet, d.Settings
	if cfg.URL == "" {
		return nil, nil
	}
	c, err := wallet.NewHTTPClient(wallet.Opts{BaseURL: cfg.URL, TerminalID: d.Config.Terminal.ID, Key: set.WalletKey,
		Logger: d.Log.With("part", "wallet")})
	if err != nil {
		return nil, err
	}
	r, err := wallet.NewResolver(wallet.ResolverOpts{
		Client: c, Limiter: wallet.NewLimiter(nil, cfg.QueryRate, 2),
		First: time.Duration(cfg.QueryFirst), Total: time.Duration(cfg.QueryTotal),
		Logger: d.Log.With("part", "wallet"),
	})
	if err != nil {
		return nil, err
	}
	return walletPlatforms{HTTPClient: c, r: r}, nil
}

// scannerCodes reads payment codes from the board's barcode scanner.
// A garbled or over-long scan is asked for again (the reader keeps
// reading) until ctx ends.
type scannerCodes struct{ dev *barcode.Dev }

func (s scannerCodes) FlushCodes() { s.dev.Flush() }

func (s scannerCodes) ReadCode(ctx context.Context) (string, error) {
	for {
		sc, err := s.dev.Read(ctx)
		if errors.Is(err, barcode.ErrGarbled) || errors.Is(err, barcode.ErrTooLong) {
			continue
		}
		if err != nil {
			return "", err
		}
		return sc.Text, nil
	}
}

// Errors of ShowCode.
var (
	// ErrNotSim: the board is not simulated.
	ErrNotSim = errors.New("daemon: not the simulated board")
)

// Where a simulated code is shown (ShowCode).
const (
	ShowAuto    = ""        // the camera when posd reads codes from it, else the scanner
	ShowCamera  = "camera"  // drawn as a QR code in front of the camera
	ShowScanner = "scanner" // under the barcode scanner
)

// ErrNoReader: the sim board has no such code reader (the scanner, or
// the camera: a build without OpenCV reads no codes from it).
var ErrNoReader = errors.New("daemon: the simulated board has no such code reader")

// ShowCode shows a payment code on the sim board: under the scanner
// (the scanner simulator sends it over its line, the real driver reads
// it), or drawn as a QR code in front of the camera (the QR detector
// reads it from the frames).
func (d *Daemon) ShowCode(code, where string) (string, error) {
	if d.Sim == nil {
		return "", ErrNotSim
	}
	if where == ShowAuto {
		where = ShowScanner
		if d.qr != nil {
			where = ShowCamera
		}
	}
	switch {
	case where == ShowCamera && d.qr != nil:
		return where, d.Sim.ShowCodeToCamera(code, 0)
	case where == ShowScanner && d.Board.Devices.Scanner != nil:
		return where, d.Sim.ShowCode(code)
	}
	return "", ErrNoReader
}

// DecodePicture returns the QR codes in a picture (PNG or JPEG), read by
// the camera's QR detector; ErrNoReader when this build has none.
func (d *Daemon) DecodePicture(pic []byte) ([]string, error) {
	if d.qr == nil {
		return nil, ErrNoReader
	}
	img, _, err := image.Decode(bytes.NewReader(pic))
	if err != nil {
		return nil, fmt.Errorf("%w: not a PNG or JPEG picture", ErrPicture)
	}
	return d.qr.DecodeImage(img)
}

// ErrPicture: the bytes are not a picture.
var ErrPicture = errors.New("daemon: bad picture")

// ShowPicture holds a picture (PNG or JPEG: a screenshot or photo of a
// code) in front of the sim board's camera.
func (d *Daemon) ShowPicture(pic []byte) error {
	if d.Sim == nil {
		return ErrNotSim
	}
	if d.qr == nil {
		return ErrNoReader
	}
	return d.Sim.ShowImage(pic, 0)
}
