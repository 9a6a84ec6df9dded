package msr

import (
	"bytes"
	"log/slog"
)

// Sentinels are the framing characters a reader module sends around each
// track. ISO 7813 defaults are in DefaultSentinels.
type Sentinels struct {
	Track1Start byte // '%'
	Track2Start byte // ';'
	Track3Start byte // ';' (ISO 4909); many modules send '+'
	End         byte // '?'
}

// DefaultSentinels are the ISO 7813 / ISO 4909 sentinels.
var DefaultSentinels = Sentinels{Track1Start: '%', Track2Start: ';', Track3Start: ';', End: '?'}

// Track1 is a parsed ISO 7813 format B track 1.
type Track1 struct {
	PAN           string
	Name          string
	Expiry        string // YYMM
	ServiceCode   string
	Discretionary []byte
	Raw           []byte // everything between the sentinels
}

// Track2 is a parsed ISO 7813 track 2.
type Track2 struct {
	PAN           string
	Expiry        string // YYMM
	ServiceCode   string
	Discretionary []byte
	Raw           []byte // everything between the sentinels: PAN=YYMMSSS...
}

// Swipe holds the tracks read from one card swipe. It holds sensitive
// authentication data: call Wipe as soon as it is no longer needed. Its
// String and LogValue show the masked PAN only.
type Swipe struct {
	Track1 *Track1
	Track2 *Track2
	Track3 []byte // raw track 3 data between the sentinels
}

// PAN returns the primary account number from track 2, or track 1.
func (s *Swipe) PAN() string {
	switch {
	case s == nil:
		return ""
	case s.Track2 != nil:
		return s.Track2.PAN
	case s.Track1 != nil:
		return s.Track1.PAN
	}
	return ""
}

// MaskedPAN returns the PAN with all but the first 6 and last 4 digits
// replaced by '*'.
func (s *Swipe) MaskedPAN() string { return MaskPAN(s.PAN()) }

// String implements fmt.Stringer without revealing track data.
func (s *Swipe) String() string {
	var tr []byte
	if s.Track1 != nil {
		tr = append(tr, '1')
	}
	if s.Track2 != nil {
		tr = append(tr, '2')
	}
	if s.Track3 != nil {
		tr = append(tr, '3')
	}
	return "swipe{pan=" + s.MaskedPAN() + " tracks=" + string(tr) + "}"
}

// LogValue implements slog.LogValuer without revealing track data.
func (s *Swipe) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Wipe overwrites the raw track bytes. Go strings (PAN, name) cannot be
// overwritten; they are dropped.
func (s *Swipe) Wipe() {
	if s == nil {
		return
	}
	if s.Track1 != nil {
		clear(s.Track1.Raw)
		clear(s.Track1.Discretionary)
		s.Track1 = nil
	}
	if s.Track2 != nil {
		clear(s.Track2.Raw)
		clear(s.Track2.Discretionary)
		s.Track2 = nil
	}
	clear(s.Track3)
	s.Track3 = nil
}

// MaskPAN keeps the first 6 and last 4 digits of a PAN and masks the rest
// with '*'. PANs of 10 digits or fewer keep only their last 4.
func MaskPAN(pan string) string {
	n := len(pan)
	if n == 0 {
		return ""
	}
	b := []byte(pan)
	first := 6
	if n <= 10 {
		first = 0
	}
	for i := first; i < n-4 && i < n; i++ {
		b[i] = '*'
	}
	if n <= 4 {
		for i := range b {
			b[i] = '*'
		}
	}
	return string(b)
}

// ParseOpts controls the parser.
type ParseOpts struct {
	Sentinels Sentinels
	// LRC: the module forwards the LRC character after each end sentinel,
	// and it is checked.
	LRC bool
}

// Parse parses one line sent by the reader: the tracks concatenated, each
// with its sentinels, without the line terminator. Every track present must
// be well formed; when tracks 1 and 2 are both present their PANs must
// agree. Errors never contain track content.
func Parse(line []byte, o ParseOpts) (*Swipe, error) {
	s := o.Sentinels
	if s == (Sentinels{}) {
		s = DefaultSentinels
	}
	sw := &Swipe{}
	rest := bytes.TrimSpace(line)
	if o.LRC {
		// A track 1 LRC of code 0 is a space: keep trailing spaces.
		rest = bytes.TrimRight(bytes.TrimLeft(line, " \t\n\v\f\r"), "\t\n\v\f\r")
	}
	if len(rest) == 0 {
		return nil, ErrNoTracks
	}
	next := 1 // the lowest track number that may come next
	for len(rest) > 0 {
		var num int
		switch {
		case next <= 1 && rest[0] == s.Track1Start:
			num = 1
		case next <= 2 && rest[0] == s.Track2Start:
			num = 2
		case next <= 3 && rest[0] == s.Track3Start:
			num = 3
		default:
			sw.Wipe()
			return nil, &TrackError{Track: next, Err: ErrSentinel}
		}
		end := bytes.IndexByte(rest[1:], s.End)
		if end < 0 {
			sw.Wipe()
			return nil, &TrackError{Track: num, Err: ErrSentinel}
		}
		body := rest[1 : 1+end]
		framed := rest[:end+2]
		rest = rest[end+2:]
		if o.LRC {
			if len(rest) == 0 {
				sw.Wipe()
				return nil, &TrackError{Track: num, Err: ErrLRC}
			}
			if !lrcOK(num, framed, rest[0]) {
				sw.Wipe()
				return nil, &TrackError{Track: num, Err: ErrLRC}
			}
			rest = rest[1:]
		}
		var err error
		switch num {
		case 1:
			sw.Track1, err = parseTrack1(body)
		case 2:
			sw.Track2, err = parseTrack2(body)
		case 3:
			err = checkTrack3(body)
			if err == nil {
				sw.Track3 = bytes.Clone(body)
			}
		}
		if err != nil {
			sw.Wipe()
			return nil, &TrackError{Track: num, Err: err}
		}
		next = num + 1
	}
	if sw.Track1 != nil && sw.Track2 != nil && sw.Track1.PAN != sw.Track2.PAN {
		sw.Wipe()
		return nil, &TrackError{Track: 1, Err: ErrFormat}
	}
	return sw, nil
}

// lrcOK checks the LRC character of a framed track (start sentinel to end
// sentinel inclusive).
func lrcOK(track int, framed []byte, lrc byte) bool {
	base, mask := byte(0x30), byte(0x0F)
	if track == 1 {
		base, mask = 0x20, 0x3F
	}
	return LRC(framed, base, mask) == lrc
}

// LRC computes the ISO 7811 longitudinal redundancy check character of a
// framed track: base is 0x20 for track 1 (6-bit codes) and 0x30 for tracks
// 2 and 3 (4-bit codes); mask keeps the code bits.
func LRC(framed []byte, base, mask byte) byte {
	var x byte
	for _, c := range framed {
		x ^= (c - base) & mask
	}
	return x + base
}

func parseTrack1(b []byte) (*Track1, error) {
	// B PAN ^ NAME ^ YYMM SSS DISC ; at most 79 characters including
	// sentinels and LRC, so at most 76 between the sentinels.
	if len(b) < 2 || len(b) > 76 || b[0] != 'B' {
		return nil, ErrFormat
	}
	for _, c := range b {
		if c < 0x20 || c > 0x5F {
			return nil, ErrFormat
		}
	}
	f := bytes.SplitN(b[1:], []byte{'^'}, 3)
	if len(f) != 3 {
		return nil, ErrFormat
	}
	pan, name, tail := f[0], f[1], f[2]
	if !validPAN(pan) || len(name) < 2 || len(name) > 26 || len(tail) < 7 {
		return nil, ErrFormat
	}
	if !digits(tail[:7]) || !validExpiry(tail[:4]) {
		return nil, ErrFormat
	}
	return &Track1{
		PAN:           string(pan),
		Name:          string(bytes.TrimSpace(name)),
		Expiry:        string(tail[:4]),
		ServiceCode:   string(tail[4:7]),
		Discretionary: bytes.Clone(tail[7:]),
		Raw:           bytes.Clone(b),
	}, nil
}

func parseTrack2(b []byte) (*Track2, error) {
	// PAN = YYMM SSS DISC ; at most 40 characters including sentinels and
	// LRC, so at most 37 between the sentinels.
	if len(b) > 37 {
		return nil, ErrFormat
	}
	sep := bytes.IndexByte(b, '=')
	if sep < 0 {
		return nil, ErrFormat
	}
	pan, tail := b[:sep], b[sep+1:]
	if !validPAN(pan) || len(tail) < 7 || !digits(tail) || !validExpiry(tail[:4]) {
		return nil, ErrFormat
	}
	return &Track2{
		PAN:           string(pan),
		Expiry:        string(tail[:4]),
		ServiceCode:   string(tail[4:7]),
		Discretionary: bytes.Clone(tail[7:]),
		Raw:           bytes.Clone(b),
	}, nil
}

func checkTrack3(b []byte) error {
	// ISO 4909: at most 107 characters including sentinels and LRC.
	if len(b) < 2 || len(b) > 104 {
		return ErrFormat
	}
	for _, c := range b {
		if (c < '0' || c > '9') && c != '=' {
			return ErrFormat
		}
	}
	return nil
}

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

func validExpiry(yymm []byte) bool {
	if len(yymm) != 4 || !digits(yymm) {
		return false
	}
	mm := int(yymm[2]-'0')*10 + int(yymm[3]-'0')
	return mm >= 1 && mm <= 12
}

// validPAN checks length (12 to 19 digits), digits only and the Luhn check
// digit (ISO/IEC 7812-1).
func validPAN(pan []byte) bool {
	if len(pan) < 12 || len(pan) > 19 || !digits(pan) {
		return false
	}
	sum := 0
	double := false
	for i := len(pan) - 1; i >= 0; i-- {
		d := int(pan[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}
