// Package msrsim simulates a serial magnetic stripe reader module: on each
// swipe it writes the card's tracks, framed with sentinels (and the LRC when
// configured), followed by a carriage return, exactly as the module would on
// its UART. The simulated board runs it on the master side of a
// pseudo-terminal; the driver reads the slave side as a serial port.
package msrsim

import (
	"io"
	"sync"

	"posd/drivers/msr"
	"posd/drivers/ptysim"
)

// Tracks are the contents of a card's tracks between the sentinels. An
// empty string means the track is absent.
type Tracks struct {
	T1, T2, T3 string
}

// Opts configure the simulated module; they must match the driver's.
type Opts struct {
	Sentinels msr.Sentinels
	LRC       bool
}

// Sim is a simulated reader module writing to w.
type Sim struct {
	mu   sync.Mutex
	w    io.Writer
	opts Opts
}

// New returns a simulator that writes swipes to w.
func New(w io.Writer, opts *Opts) *Sim {
	o := Opts{Sentinels: msr.DefaultSentinels}
	if opts != nil {
		o = *opts
		if o.Sentinels == (msr.Sentinels{}) {
			o.Sentinels = msr.DefaultSentinels
		}
	}
	return &Sim{w: w, opts: o}
}

// Frame returns the bytes the module sends for t.
func (s *Sim) Frame(t Tracks) []byte {
	var out []byte
	add := func(start byte, body string, base, mask byte) {
		if body == "" {
			return
		}
		f := append([]byte{start}, body...)
		f = append(f, s.opts.Sentinels.End)
		out = append(out, f...)
		if s.opts.LRC {
			out = append(out, msr.LRC(f, base, mask))
		}
	}
	add(s.opts.Sentinels.Track1Start, t.T1, 0x20, 0x3F)
	add(s.opts.Sentinels.Track2Start, t.T2, 0x30, 0x0F)
	add(s.opts.Sentinels.Track3Start, t.T3, 0x30, 0x0F)
	return append(out, '\r')
}

// Swipe sends t as one swipe.
func (s *Sim) Swipe(t Tracks) error {
	return s.WriteRaw(s.Frame(t))
}

// WriteRaw sends bytes as they are, for tests of damaged stripes and noise.
func (s *Sim) WriteRaw(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.w.Write(b)
	return err
}

// OpenPTY allocates the pseudo-terminal the simulated module writes to
// (Master); the driver's serial port opens SlavePath.
func OpenPTY() (*ptysim.PTY, error) { return ptysim.Open() }
