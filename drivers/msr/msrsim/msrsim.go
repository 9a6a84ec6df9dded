// Package msrsim simulates a magnetic stripe reader that sends its
// swipes as ASCII: on each swipe it writes the card's tracks, framed with
// sentinels (and the LRC when configured), in the output format of the
// reader it plays, exactly as the reader would on its UART:
//
//   - msr.FormatLine (and FormatAuto): the tracks on one line, then CR.
//   - msr.FormatIDTech: every track on its own line ended by CR (the ID
//     TECH MiniMag "ID TECH format": <SS><data><ES><CR> per track; track 3
//     start sentinel ';' as ISO 4909). A track the reader could not decode
//     is left out, as by a MiniMag set to read "any track" (the manual
//     documents no error marker; set to require several tracks it sends
//     nothing when one fails).
//   - msr.FormatMagTek: STX, optionally ESC, the tracks, CR, ETX (the
//     MagTek format of the same manual; MagTek RS-232 swipe readers);
//     track 3 start sentinel '+'; a track the reader could not decode is
//     sent as its sentinels around 'E' ("%E?").
//
// The simulated board runs it on the master side of a pseudo-terminal;
// the driver reads the slave side as a serial port.
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
	// Bad[n-1]: the reader could not decode track n (a damaged stripe):
	// it sends its error marker instead (MagTek, line formats) or leaves
	// the track out (ID TECH).
	Bad [3]bool
}

// Opts configure the simulated reader; they must match the driver's.
type Opts struct {
	// Format of the output; FormatAuto sends FormatLine.
	Format msr.Format
	// Sentinels; zero means msr.DefaultSentinels (ID TECH: ';' for track
	// 3).
	Sentinels msr.Sentinels
	// LRC: send the LRC character after each track.
	LRC bool
	// ErrorMark for a track that could not be decoded; zero means 'E'.
	ErrorMark byte
	// ESC: in FormatMagTek, send ESC after STX.
	ESC bool
}

// Sim is a simulated reader writing to w.
type Sim struct {
	mu   sync.Mutex
	w    io.Writer
	opts Opts
}

// New returns a simulator that writes swipes to w.
func New(w io.Writer, opts *Opts) *Sim {
	var o Opts
	if opts != nil {
		o = *opts
	}
	if o.ErrorMark == 0 {
		o.ErrorMark = msr.DefaultErrorMark
	}
	return &Sim{w: w, opts: o}
}

// Frame returns the bytes the reader sends for t in its format.
func (s *Sim) Frame(t Tracks) []byte { return s.FrameAs(s.opts.Format, t) }

// FrameAs returns the bytes a reader of format f sends for t.
func (s *Sim) FrameAs(f msr.Format, t Tracks) []byte {
	sent := s.opts.Sentinels
	if sent == (msr.Sentinels{}) {
		sent = msr.DefaultSentinels
		if f == msr.FormatIDTech {
			sent.Track3Start = sent.Track2Start
		}
	}
	var out []byte
	if f == msr.FormatMagTek {
		out = append(out, 0x02)
		if s.opts.ESC {
			out = append(out, 0x1B)
		}
	}
	add := func(start byte, body string, bad bool, base, mask byte) {
		if body == "" && !bad {
			return
		}
		if bad {
			if f == msr.FormatIDTech {
				return
			}
			body = string(s.opts.ErrorMark)
		}
		fr := append([]byte{start}, body...)
		fr = append(fr, sent.End)
		out = append(out, fr...)
		if s.opts.LRC {
			out = append(out, msr.LRC(fr, base, mask))
		}
		if f == msr.FormatIDTech {
			out = append(out, '\r')
		}
	}
	add(sent.Track1Start, t.T1, t.Bad[0], 0x20, 0x3F)
	add(sent.Track2Start, t.T2, t.Bad[1], 0x30, 0x0F)
	add(sent.Track3Start, t.T3, t.Bad[2], 0x30, 0x0F)
	switch f {
	case msr.FormatIDTech:
	case msr.FormatMagTek:
		out = append(out, '\r', 0x03)
	default:
		out = append(out, '\r')
	}
	return out
}

// Swipe sends t as one swipe in the simulator's format.
func (s *Sim) Swipe(t Tracks) error { return s.WriteRaw(s.Frame(t)) }

// SwipeAs sends t as one swipe in format f.
func (s *Sim) SwipeAs(f msr.Format, t Tracks) error { return s.WriteRaw(s.FrameAs(f, t)) }

// WriteRaw sends bytes as they are, for tests of damaged stripes and noise.
func (s *Sim) WriteRaw(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.w.Write(b)
	return err
}

// OpenPTY allocates the pseudo-terminal the simulated reader writes to
// (Master); the driver's serial port opens SlavePath.
func OpenPTY() (*ptysim.PTY, error) { return ptysim.Open() }
