package msr

import (
	"fmt"
	"time"
)

// Format is how a reader delimits a swipe in its output. Whatever the
// format, the tracks themselves are parsed by Parse.
type Format int

const (
	// FormatAuto accepts every format below: STX…ETX framing when the
	// reader sends it; a line holding two or more tracks is a swipe (as
	// FormatLine); otherwise the lines of one swipe are gathered as in
	// FormatIDTech.
	FormatAuto Format = iota
	// FormatLine: all tracks of a swipe on one line, ended by CR or LF
	// (serial reader modules). The line ends the swipe at once.
	FormatLine
	// FormatIDTech: ID TECH readers (MiniMag, in their default "ID TECH
	// format"): every track on its own line, "<SS><data><ES><CR>", where
	// the CR is the track separator after tracks 1 and 2 and the
	// terminator after the last one. Separator and terminator being the
	// same character, a swipe ends when the line has been quiet for
	// Opts.SwipeGap, when a line starts a track that cannot follow, or
	// after track 3.
	FormatIDTech
	// FormatMagTek: MagTek readers: "[STX][ESC]<tracks>[CR][ETX]", STX,
	// ESC and ETX optional; 'E' between the sentinels of a track the
	// reader could not decode; '+' as track 3 start sentinel. ETX ends
	// the swipe, or CR when the reader sends no STX.
	FormatMagTek
)

var formatNames = [...]string{FormatAuto: "auto", FormatLine: "line", FormatIDTech: "idtech", FormatMagTek: "magtek"}

func (f Format) String() string {
	if f >= 0 && int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("msr.Format(%d)", int(f))
}

// ParseFormat returns the format named s: "auto" (or ""), "line" (or
// "iso-line"), "idtech", "magtek".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "", "auto":
		return FormatAuto, nil
	case "line", "iso-line":
		return FormatLine, nil
	case "idtech":
		return FormatIDTech, nil
	case "magtek":
		return FormatMagTek, nil
	}
	return 0, fmt.Errorf("msr: unknown reader format %q (auto, line, idtech, magtek)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (f Format) MarshalText() ([]byte, error) {
	if f < 0 || int(f) >= len(formatNames) {
		return nil, fmt.Errorf("msr: unknown reader format %d", int(f))
	}
	return []byte(f.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (f *Format) UnmarshalText(b []byte) error {
	v, err := ParseFormat(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// Control characters of the reader output formats (ASCII).
const (
	stx = 0x02 // start of text: MagTek framing
	etx = 0x03 // end of text: MagTek framing
	esc = 0x1B // MagTek sends it after STX
	can = 0x18 // cancel: the byte source lost characters (see ErrOverrun)
)

// framer cuts the reader's byte stream into swipes according to a Format.
// It is a pure function of the bytes and the times they arrived, so it is
// tested and fuzzed without a goroutine. emit receives a swipe's text
// (valid only during the call; the framer wipes it afterwards) or an
// error for a swipe that was discarded.
type framer struct {
	format Format
	sent   Sentinels
	max    int
	gap    time.Duration

	buf        []byte
	framed     bool // inside STX … ETX
	lineStart  bool // the next byte begins a line
	lastTrack  int  // track begun by the last line (per-track formats)
	lineTracks int  // tracks begun in the current line
	prev       byte // the byte before, in the current line
	discarding bool // the swipe overflowed: drop bytes until it ends
	overrun    bool // characters were lost: the swipe is unusable
	last       time.Time
}

func newFramer(f Format, s Sentinels, max int, gap time.Duration) *framer {
	return &framer{format: f, sent: s, max: max, gap: gap, buf: make([]byte, 0, max), lineStart: true}
}

// perTrack tells whether lines are tracks of one swipe rather than swipes.
func (f *framer) perTrack() bool { return f.format == FormatAuto || f.format == FormatIDTech }

// feed takes bytes that arrived at now.
func (f *framer) feed(b []byte, now time.Time, emit func([]byte, error)) {
	if len(b) > 0 {
		f.last = now
	}
	for _, c := range b {
		switch {
		case c == stx:
			f.flush(emit)
			f.framed = true
			continue
		case c == etx:
			f.flush(emit)
			f.framed = false
			continue
		case c == can:
			f.overrun = true
			continue
		case c == esc && len(f.buf) == 0:
			continue
		case c == '\r' || c == '\n':
			if f.framed {
				continue // MagTek's CR before ETX
			}
			if !f.perTrack() || f.discarding || f.complete() {
				// A line end ends an overflowed swipe in every format.
				f.flush(emit)
				continue
			}
			f.lineStart = true
			continue
		}
		if f.discarding {
			continue
		}
		if f.lineStart && !f.framed && f.perTrack() {
			f.lineStart = false
			n := f.sent.track(c, f.lastTrack+1)
			if n == 0 && f.sent.isStart(c) && len(f.buf) > 0 {
				// A track that cannot follow the pending ones: the
				// pending swipe is complete and a new one begins.
				f.flush(emit)
				n = f.sent.track(c, 1)
			}
			if n != 0 {
				f.lastTrack = n
			}
			f.lineTracks, f.prev = 0, 0
			if n != 0 {
				f.lineTracks = 1
			}
		} else if f.prev == f.sent.End && f.sent.isStart(c) {
			f.lineTracks++
		}
		f.prev = c
		if len(f.buf) == f.max {
			f.reset()
			f.discarding = true
			emit(nil, ErrTooLong)
			continue
		}
		f.buf = append(f.buf, c)
	}
}

// tick is called when nothing arrived. In the per-track formats, inside
// an STX frame whose ETX never came, and after lost characters, a swipe
// quiet for the gap is complete.
func (f *framer) tick(now time.Time, emit func([]byte, error)) {
	if !f.pending() || (!f.perTrack() && !f.framed && !f.overrun) {
		return
	}
	if now.Sub(f.last) >= f.gap {
		f.flush(emit)
		f.framed = false
	}
}

// complete tells, at the end of a line of a per-track format, whether no
// further line can belong to the swipe: track 3 has been read, or (auto)
// the line held several tracks, as from a reader that sends a swipe per
// line.
func (f *framer) complete() bool {
	return f.lastTrack == 3 || (f.format == FormatAuto && f.lineTracks >= 2)
}

func (f *framer) pending() bool { return len(f.buf) > 0 || f.discarding || f.overrun }

// flush ends the pending swipe.
func (f *framer) flush(emit func([]byte, error)) {
	switch {
	case f.discarding:
		// ErrTooLong was reported when the swipe overflowed.
	case f.overrun:
		emit(nil, ErrOverrun)
	case len(f.buf) > 0:
		emit(f.buf, nil)
	}
	f.reset()
}

func (f *framer) reset() {
	clear(f.buf)
	f.buf = f.buf[:0]
	f.lineStart = true
	f.lastTrack, f.lineTracks, f.prev = 0, 0, 0
	f.discarding = false
	f.overrun = false
}

// wipe forgets everything pending.
func (f *framer) wipe() {
	f.reset()
	f.framed = false
	clear(f.buf[:cap(f.buf)])
}
