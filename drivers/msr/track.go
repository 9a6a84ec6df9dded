package msr

import (
	"bytes"
	"log/slog"
)

// Sentinels are the framing characters a reader sends around each track.
// The defaults are in DefaultSentinels.
type Sentinels struct {
	Track1Start byte // '%'
	Track2Start byte // ';'
	// Track3Start is '+' on MagTek readers and most modules; ISO 4909
	// says ';'. A Track2Start character after track 2 always starts
	// track 3, so both work with the default.
	Track3Start byte
	End         byte // '?'
}

// DefaultSentinels are the ISO 7813 sentinels with '+' for track 3 (the
// ISO 4909 ';' is recognised by position as well).
var DefaultSentinels = Sentinels{Track1Start: '%', Track2Start: ';', Track3Start: '+', End: '?'}

// track returns the number of the track that c starts when the lowest
// track that may come next is next, or 0.
func (s Sentinels) track(c byte, next int) int {
	switch {
	case next <= 1 && c == s.Track1Start:
		return 1
	case next <= 2 && c == s.Track2Start:
		return 2
	case next <= 3 && (c == s.Track3Start || c == s.Track2Start):
		return 3
	}
	return 0
}

func (s Sentinels) isStart(c byte) bool {
	return c == s.Track1Start || c == s.Track2Start || c == s.Track3Start
}

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
//
// A swipe is returned when track 2 or track 1 is usable; a track that was
// on the stripe but could not be used is nil and its reason is in Errs.
type Swipe struct {
	Track1 *Track1
	Track2 *Track2
	Track3 []byte // raw track 3 data between the sentinels
	// Errs[n-1] says why track n was sent but is unusable (a *TrackError:
	// ErrBadRead, ErrFormat, ErrLRC, ErrSentinel). It is nil for a good
	// track and for a track the reader did not send.
	Errs [3]error
}

// Err returns why track n (1 to 3) is unusable, or nil.
func (s *Swipe) Err(n int) error {
	if s == nil || n < 1 || n > 3 {
		return nil
	}
	return s.Errs[n-1]
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
	var bad []byte
	for i, err := range s.Errs {
		if err != nil {
			bad = append(bad, byte('1'+i))
		}
	}
	out := "swipe{pan=" + s.MaskedPAN() + " tracks=" + string(tr)
	if len(bad) > 0 {
		out += " bad=" + string(bad)
	}
	return out + "}"
}

// LogValue implements slog.LogValuer without revealing track data.
func (s *Swipe) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Wipe overwrites the raw track bytes. Go strings (PAN, name) cannot be
// overwritten; they are dropped.
func (s *Swipe) Wipe() {
	if s == nil {
		return
	}
	clearTrack1(s.Track1)
	clearTrack2(s.Track2)
	s.Track1, s.Track2 = nil, nil
	clear(s.Track3)
	s.Track3 = nil
}

func clearTrack1(t *Track1) {
	if t != nil {
		clear(t.Raw)
		clear(t.Discretionary)
	}
}

func clearTrack2(t *Track2) {
	if t != nil {
		clear(t.Raw)
		clear(t.Discretionary)
	}
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
	// Sentinels; zero means DefaultSentinels.
	Sentinels Sentinels
	// LRC: the reader forwards the LRC character after each end
	// sentinel, and it is checked.
	LRC bool
	// ErrorMark is what the reader sends between a track's sentinels when
	// it could not decode that track; zero means 'E' (MagTek: "%E?").
	ErrorMark byte
}

// DefaultErrorMark is the character MagTek readers send in place of a
// track they could not decode.
const DefaultErrorMark = 'E'

// Parse parses the text of one swipe: the tracks in order, each framed by
// its sentinels (and followed by its LRC when o.LRC), without the framing
// of the reader's output format (STX, ETX, line ends). Characters between
// tracks that start no track are skipped.
//
// Each track is judged on its own: a track marked unreadable by the
// reader or malformed is left out and its reason recorded in Swipe.Errs.
// Parse returns a swipe when track 2 or track 1 is usable (when both are,
// their PANs must agree), and otherwise a *SwipeError, which matches
// ErrUnreadable. Errors never contain track content.
func Parse(line []byte, o ParseOpts) (*Swipe, error) {
	s := o.Sentinels
	if s == (Sentinels{}) {
		s = DefaultSentinels
	}
	mark := o.ErrorMark
	if mark == 0 {
		mark = DefaultErrorMark
	}
	rest := bytes.TrimSpace(line)
	if o.LRC {
		// A track 1 LRC of code 0 is a space: keep trailing spaces.
		rest = bytes.TrimRight(bytes.TrimLeft(line, " \t\n\v\f\r"), "\t\n\v\f\r")
	}
	if len(rest) == 0 {
		return nil, &SwipeError{Errs: []error{ErrNoTracks}}
	}
	sw := &Swipe{}
	fail := func(n int, err error) {
		if sw.Errs[n-1] == nil {
			sw.Errs[n-1] = &TrackError{Track: n, Err: err}
		}
	}
	junk := false
	next := 1 // the lowest track number that may come next
	for len(rest) > 0 {
		num := s.track(rest[0], next)
		if num == 0 {
			// Not a start sentinel where one may be: noise, a card
			// sensor status, an unexpected LRC. Skip it.
			junk = true
			rest = rest[1:]
			continue
		}
		end := bytes.IndexByte(rest[1:], s.End)
		if end < 0 {
			fail(num, ErrSentinel)
			break
		}
		body := rest[1 : 1+end]
		framed := rest[:end+2]
		after := rest[end+2:]
		next = num + 1
		if len(body) == 1 && body[0] == mark {
			// The reader's "could not decode" marker. An LRC after it
			// is consumed only when it checks.
			if o.LRC && len(after) > 0 && lrcOK(num, framed, after[0]) {
				after = after[1:]
			}
			fail(num, ErrBadRead)
			rest = after
			continue
		}
		if o.LRC {
			if len(after) == 0 || !lrcOK(num, framed, after[0]) {
				fail(num, ErrLRC)
				if len(after) > 0 {
					after = after[1:]
				}
				rest = after
				continue
			}
			after = after[1:]
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
		if err != nil && num == 1 {
			// A track 1 without its end sentinel runs into track 2:
			// start again at track 2's sentinel.
			if i := bytes.IndexByte(body, s.Track2Start); i >= 0 {
				err = ErrSentinel
				after = rest[1+i:]
			}
		}
		if err != nil {
			fail(num, err)
		}
		rest = after
	}
	if sw.Track1 != nil && sw.Track2 != nil && sw.Track1.PAN != sw.Track2.PAN {
		clearTrack1(sw.Track1)
		clearTrack2(sw.Track2)
		sw.Track1, sw.Track2 = nil, nil
		fail(1, ErrMismatch)
		fail(2, ErrMismatch)
	}
	if sw.Track1 != nil || sw.Track2 != nil {
		return sw, nil
	}
	var errs []error
	for _, err := range sw.Errs {
		if err != nil {
			errs = append(errs, err)
		}
	}
	sw.Wipe()
	switch {
	case len(errs) > 0:
	case junk:
		errs = []error{&TrackError{Track: next, Err: ErrSentinel}}
	default:
		// Only a track 3: nothing a payment can use.
		errs = []error{ErrNoTracks}
	}
	return nil, &SwipeError{Errs: errs}
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
