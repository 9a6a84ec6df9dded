// Package msrsim simulates a serial magnetic stripe reader module: on each
// swipe it writes the card's tracks, framed with sentinels (and the LRC when
// configured), followed by a carriage return, exactly as the module would on
// its UART. The simulated board runs it on the master side of a
// pseudo-terminal; the driver reads the slave side as a serial port.
package msrsim

import (
	"errors"
	"io"
	"os"
	"sync"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"posd/drivers/msr"
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

// PTY is a pseudo-terminal pair: the simulator writes to Master, the
// driver's serial port opens SlavePath.
type PTY struct {
	Master    *os.File
	SlavePath string
	slave     *os.File
}

// OpenPTY allocates a pseudo-terminal. The slave side is kept open by the
// simulator too, so the master never sees a hang-up while the driver
// reopens the port.
func OpenPTY() (*PTY, error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, err
	}
	if err := makeRaw(s); err != nil {
		m.Close()
		s.Close()
		return nil, err
	}
	return &PTY{Master: m, SlavePath: s.Name(), slave: s}, nil
}

// Close closes both sides.
func (p *PTY) Close() error {
	return errors.Join(p.Master.Close(), p.slave.Close())
}

// makeRaw puts the slave side in raw mode (no echo, no line editing), as a
// UART is; a serial library opening the slave sets the same again.
func makeRaw(f *os.File) error {
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}
