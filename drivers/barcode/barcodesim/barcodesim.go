// Package barcodesim simulates a serial 2D barcode scanner: for each
// symbol held under it, it sends the configured prefix (typically an AIM
// symbology identifier such as "]Q1" for QR Code), the symbol's data and
// the configured suffix (CR by default; LF or CR LF), as a scanner in
// serial or USB CDC mode does (see package barcode for the sources).
//
// The simulated board serves it on the master side of a pseudo-terminal;
// the driver opens the slave side as a serial port. The simulator never
// logs a symbol's text: payment codes are bearer tokens.
package barcodesim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"posd/drivers/barcode"
	"posd/drivers/ptysim"
)

// ErrNotServing: the simulator has no host link (before ServePTY or
// Serve, or after its context ended).
var ErrNotServing = errors.New("barcodesim: not connected")

// Opts configure the simulated scanner; the driver's must match.
type Opts struct {
	// Prefix sent before each symbol's data: an AIM symbology
	// identifier ("]Q1") or nothing.
	Prefix string
	// Suffix sent after each symbol; SuffixAuto sends CR, the usual
	// factory setting.
	Suffix barcode.Suffix
	// Logger receives diagnostics (lengths, never text); nil discards.
	Logger *slog.Logger
}

// Sim is a simulated scanner. It is safe for concurrent use.
type Sim struct {
	opts Opts
	log  *slog.Logger

	mu sync.Mutex // guards w and serialises writes
	w  io.Writer  // the host link, nil when not serving

	wg sync.WaitGroup // ServePTY goroutines
}

// New returns a simulator; nil opts send no prefix and a CR suffix.
func New(opts *Opts) *Sim {
	var o Opts
	if opts != nil {
		o = *opts
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Sim{opts: o, log: lg}
}

// Frame returns the bytes the scanner sends for a symbol holding text.
func (s *Sim) Frame(text string) []byte {
	b := make([]byte, 0, len(s.opts.Prefix)+len(text)+2)
	b = append(b, s.opts.Prefix...)
	b = append(b, text...)
	return append(b, s.opts.Suffix.Bytes()...)
}

// Scan sends a symbol holding text, as when a code is held under the
// scanner. The scanner sends the symbol's data as it is.
func (s *Sim) Scan(text string) error {
	if err := s.WriteRaw(s.Frame(text)); err != nil {
		return err
	}
	s.log.Debug("barcodesim scanned a symbol", "len", len(text))
	return nil
}

// WriteRaw sends bytes as they are, for tests of line noise.
func (s *Sim) WriteRaw(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return ErrNotServing
	}
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("barcodesim: %w", err)
	}
	return nil
}

// Serve makes rw the host link until ctx is done or reading rw fails.
// What the host sends is read and ignored: the simulated scanner takes no
// commands.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	s.mu.Lock()
	s.w = rw
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.w = nil
		s.mu.Unlock()
	}()
	buf := make([]byte, 64)
	for ctx.Err() == nil {
		if _, err := rw.Read(buf); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("barcodesim: %w", err)
		}
	}
	return nil
}

// ServePTY opens a pseudo-terminal and serves the simulator on its master
// side until ctx is done. It returns the slave's path, which the board
// opens as if it were the scanner's serial port.
func (s *Sim) ServePTY(ctx context.Context) (string, error) {
	// The link is set before ServePTY returns, so a Scan right after
	// it reaches the port.
	return ptysim.Serve(ctx, &s.wg, s.log, "barcodesim", func(w io.Writer) {
		s.mu.Lock()
		s.w = w
		s.mu.Unlock()
	}, s.Serve)
}

// Wait blocks until every goroutine started by ServePTY has ended (their
// context is done and the pty is closed).
func (s *Sim) Wait() { s.wg.Wait() }
