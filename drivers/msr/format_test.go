package msr

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Reader output samples. The framing follows the readers' manuals:
//
//   - ID TECH MiniMag (keyboard wedge and RS-232 user's manuals, "Default
//     Settings" and "Output Format Selection"): per track
//     <SS><data><ES><CR>, the CR being the track separator after tracks 1
//     and 2 and the terminator after the last; track 3 start sentinel ';'
//     (ISO). "Mag-Tek format": [<STX>][<ESC>]<stripe data>[<CR>][<ETX>].
//   - MagTek RS-232 swipe readers (MT-211232 manual, "Reader to host
//     message format"): STX, SS, data, ES per track, CR, ETX, with STX, CR
//     and ETX optional; track 3 start sentinel '+'. MagTek "Swipe Readers
//     with RS-232 IntelliHead" and USB keyboard-emulation manuals: an 'E'
//     in place of the data of a track that has an error, e.g.
//     "%…?;E?+…?<CR>"; MagTek insertion readers (P-series manual): "STX
//     ESC % E ? ; <track 2> ? 0 CR ETX" for a bad track 1 and a good
//     track 2, where the '0' is the card sensor status.
const (
	t1Frame = "%" + t1Visa + "?"
	t2Frame = ";" + t2Visa + "?"
	t3Body  = "011234567890123456=1234"
)

type emitted struct {
	text string
	err  error
}

type framerRun struct {
	f   *framer
	got []emitted
	now time.Time
}

func newRun(format Format) *framerRun {
	return &framerRun{f: newFramer(format, DefaultSentinels, 512, 300*time.Millisecond), now: time.Unix(1000, 0)}
}

func (r *framerRun) emit(b []byte, err error) { r.got = append(r.got, emitted{string(b), err}) }
func (r *framerRun) feed(s string)            { r.f.feed([]byte(s), r.now, r.emit) }
func (r *framerRun) wait(d time.Duration)     { r.now = r.now.Add(d); r.f.tick(r.now, r.emit) }
func (r *framerRun) take() []emitted          { g := r.got; r.got = nil; return g }

func TestFramerLine(t *testing.T) {
	r := newRun(FormatLine)
	r.feed(t1Frame + t2Frame + "\r\n")
	if g := r.take(); len(g) != 1 || g[0].text != t1Frame+t2Frame {
		t.Fatalf("line: %v", g)
	}
	// No gap in the line format: an unterminated line waits for its CR.
	r.feed(t2Frame)
	r.wait(time.Hour)
	if g := r.take(); len(g) != 0 {
		t.Fatalf("unterminated line delivered: %v", g)
	}
	r.feed("\n")
	if g := r.take(); len(g) != 1 || g[0].text != t2Frame {
		t.Fatalf("LF: %v", g)
	}
}

func TestFramerMagTek(t *testing.T) {
	r := newRun(FormatMagTek)
	// STX ESC … CR ETX: the CR inside the frame does not end the swipe.
	r.feed("\x02\x1b%E?" + t2Frame + "\r")
	if g := r.take(); len(g) != 0 {
		t.Fatalf("delivered before ETX: %v", g)
	}
	r.feed("\x03")
	if g := r.take(); len(g) != 1 || g[0].text != "%E?"+t2Frame {
		t.Fatalf("framed: %v", g)
	}
	// Without STX/ETX, CR ends the swipe.
	r.feed(t1Frame + t2Frame + "+" + t3Body + "?\r")
	if g := r.take(); len(g) != 1 || g[0].text != t1Frame+t2Frame+"+"+t3Body+"?" {
		t.Fatalf("unframed: %v", g)
	}
	// An ETX that never comes: the gap ends the frame.
	r.feed("\x02" + t2Frame + "\r")
	r.wait(299 * time.Millisecond)
	if g := r.take(); len(g) != 0 {
		t.Fatalf("delivered before the gap: %v", g)
	}
	r.wait(time.Millisecond)
	if g := r.take(); len(g) != 1 || g[0].text != t2Frame {
		t.Fatalf("lost ETX: %v", g)
	}
}

func TestFramerIDTech(t *testing.T) {
	for _, f := range []Format{FormatIDTech, FormatAuto} {
		r := newRun(f)
		r.feed(t1Frame + "\r" + t2Frame + "\r")
		r.wait(299 * time.Millisecond)
		if g := r.take(); len(g) != 0 {
			t.Fatalf("%v: delivered before the gap: %v", f, g)
		}
		r.wait(time.Millisecond)
		if g := r.take(); len(g) != 1 || g[0].text != t1Frame+t2Frame {
			t.Fatalf("%v: %v", f, g)
		}
		// Nothing follows track 3: its line ends the swipe.
		r.feed(t1Frame + "\r" + t2Frame + "\r" + ";" + t3Body + "?\r")
		if g := r.take(); len(g) != 1 || g[0].text != t1Frame+t2Frame+";"+t3Body+"?" {
			t.Fatalf("%v: three tracks: %v", f, g)
		}
		// A line that starts a track which cannot follow the pending
		// ones begins the next swipe at once.
		r.feed(t1Frame + "\r" + t2Frame + "\r")
		r.feed(t1Frame + "\r")
		if g := r.take(); len(g) != 1 || g[0].text != t1Frame+t2Frame {
			t.Fatalf("%v: next swipe: %v", f, g)
		}
		r.feed(t2Frame + "\r" + t2Frame + "\r" + t2Frame + "\r")
		// ";" after track 1 is track 2, then track 3 (ISO 4909), then a
		// new swipe.
		if g := r.take(); len(g) != 1 || g[0].text != t1Frame+t2Frame+t2Frame {
			t.Fatalf("%v: third ';' line: %v", f, g)
		}
		r.wait(time.Second)
		if g := r.take(); len(g) != 1 || g[0].text != t2Frame {
			t.Fatalf("%v: last swipe: %v", f, g)
		}
	}
}

func TestFramerAutoFramed(t *testing.T) {
	r := newRun(FormatAuto)
	// A line holding several tracks comes from a reader that sends a
	// swipe per line: it ends the swipe at once. A line with one track
	// may be followed by others (ID TECH): it waits for the gap.
	r.feed(t1Frame + t2Frame + "\r\n")
	if g := r.take(); len(g) != 1 || g[0].text != t1Frame+t2Frame {
		t.Fatalf("auto, two tracks on a line: %v", g)
	}
	r.feed(t2Frame + "\r\n")
	if g := r.take(); len(g) != 0 {
		t.Fatalf("auto, one track: delivered before the gap: %v", g)
	}
	r.wait(time.Second)
	if g := r.take(); len(g) != 1 || g[0].text != t2Frame {
		t.Fatalf("auto, one track: %v", g)
	}
	// In the ID TECH format a line is a track, whatever it holds.
	ri := newRun(FormatIDTech)
	ri.feed(t1Frame + t2Frame + "\r")
	if g := ri.take(); len(g) != 0 {
		t.Fatalf("idtech: two tracks on a line delivered before the gap: %v", g)
	}

	r.feed("\x02\x1b" + t1Frame + t2Frame + "\r\x03")
	if g := r.take(); len(g) != 1 || g[0].text != t1Frame+t2Frame {
		t.Fatalf("auto, framed: %v", g)
	}
	// Unframed bytes pending when an STX arrives are a swipe of their own.
	r.feed(t2Frame + "\r\x02")
	if g := r.take(); len(g) != 1 || g[0].text != t2Frame {
		t.Fatalf("auto, STX after a line: %v", g)
	}
}

func TestFramerTooLongAndOverrun(t *testing.T) {
	for _, f := range []Format{FormatLine, FormatIDTech, FormatMagTek, FormatAuto} {
		r := newRun(f)
		r.f = newFramer(f, DefaultSentinels, 64, 300*time.Millisecond)
		r.feed(strings.Repeat("1", 100) + "\r")
		r.wait(time.Second)
		g := r.take()
		if len(g) != 1 || !errors.Is(g[0].err, ErrTooLong) {
			t.Fatalf("%v: long line: %v", f, g)
		}
		r.feed(t2Frame + "\r")
		r.wait(time.Second)
		if g := r.take(); len(g) != 1 || g[0].text != t2Frame {
			t.Fatalf("%v: after a long line: %v", f, g)
		}
		// CAN: characters were lost; the swipe is reported, not parsed.
		r.feed(t2Frame[:5] + "\x18" + t2Frame[5:] + "\r")
		r.wait(time.Second)
		if g := r.take(); len(g) != 1 || !errors.Is(g[0].err, ErrOverrun) {
			t.Fatalf("%v: overrun: %v", f, g)
		}
		r.feed(t2Frame + "\r")
		r.wait(time.Second)
		if g := r.take(); len(g) != 1 || g[0].text != t2Frame {
			t.Fatalf("%v: after an overrun: %v", f, g)
		}
	}
}

func TestFormatNames(t *testing.T) {
	for _, f := range []Format{FormatAuto, FormatLine, FormatIDTech, FormatMagTek} {
		b, err := f.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var g Format
		if err := g.UnmarshalText(b); err != nil || g != f {
			t.Fatalf("%v: round trip %q -> %v, %v", f, b, g, err)
		}
	}
	if _, err := ParseFormat("uic"); err == nil {
		t.Fatal("unknown format accepted")
	}
	if g, err := ParseFormat("iso-line"); err != nil || g != FormatLine {
		t.Fatalf("iso-line: %v %v", g, err)
	}
}

// FuzzFramer feeds arbitrary bytes, in arbitrary pieces and at arbitrary
// times, to the framer of every format and parses what it cuts.
func FuzzFramer(f *testing.F) {
	f.Add([]byte("\x02\x1b%E?"+t2Frame+"\r\x03"), uint8(0), uint16(0))
	f.Add([]byte(t1Frame+"\r"+t2Frame+"\r;"+t3Body+"?\r"), uint8(2), uint16(400))
	f.Add([]byte(t2Frame+"\x18\r\n\x02"), uint8(1), uint16(7))
	f.Fuzz(func(t *testing.T, in []byte, format uint8, step uint16) {
		fmts := []Format{FormatAuto, FormatLine, FormatIDTech, FormatMagTek}
		fr := newFramer(fmts[int(format)%len(fmts)], DefaultSentinels, 64, 300*time.Millisecond)
		now := time.Unix(0, 0)
		total := 0
		emit := func(b []byte, err error) {
			if (b == nil) == (err == nil) {
				t.Fatalf("emit(%q, %v): want text or error", b, err)
			}
			if len(b) > 64 {
				t.Fatalf("swipe of %d bytes, max 64", len(b))
			}
			total += len(b)
			if b != nil {
				if sw, err := Parse(b, ParseOpts{}); err == nil {
					sw.Wipe()
				} else if !errors.Is(err, ErrUnreadable) {
					t.Fatalf("Parse error %v does not match ErrUnreadable", err)
				}
			}
		}
		for i := 0; i < len(in); i += 3 {
			fr.feed(in[i:min(i+3, len(in))], now, emit)
			now = now.Add(time.Duration(step) * time.Millisecond)
			fr.tick(now, emit)
		}
		if total > len(in) {
			t.Fatalf("emitted %d bytes from %d", total, len(in))
		}
	})
}

func (e emitted) String() string {
	if e.err != nil {
		return "error(" + e.err.Error() + ")"
	}
	return "swipe(" + strings.Repeat("x", len(e.text)) + ")"
}
