package host

import (
	"time"

	"github.com/moov-io/iso8583"
)

// The acquirer's time in its answers. ASCII87 answers carry DE7, the
// transmission date and time in UTC (MMDDhhmmss); CUP answers carry
// DE12/DE13, the local time and date (hhmmss, MMDD) at the acceptor, which
// for a domestic acquirer is the terminal's own zone. Neither carries the
// year: the one that puts the time nearest the terminal's clock is taken,
// so a terminal clock up to six months off still gets the right year.
// The client hands the time to OnHostTime, for the terminal to judge its
// own clock by (terminal/risk.HostClock).

// answerTimeFields reads the time fields of answer m in dialect d: the
// MMDDhhmmss text and the zone it is in (nil: none carried).
func (d *Dialect) answerTimeFields(m *iso8583.Message) (string, bool) {
	switch d.codec.(type) {
	case ascii87Codec:
		de7, err := m.GetString(DETransmission)
		return de7, err == nil && de7 != ""
	case cupCodec:
		de12, err12 := m.GetString(DELocalTime)
		de13, err13 := m.GetString(DELocalDate)
		return de13 + de12, err12 == nil && err13 == nil && de12 != "" && de13 != ""
	}
	return "", false
}

// answerTime is the acquirer's time answer m carries, its year the one
// nearest ref; zero when m carries none or it does not parse.
func (d *Dialect) answerTime(m *iso8583.Message, ref time.Time) time.Time {
	text, ok := d.answerTimeFields(m)
	if !ok {
		return time.Time{}
	}
	loc := ref.Location()
	if _, utc := d.codec.(ascii87Codec); utc {
		loc = time.UTC
	}
	return answerClock(text, loc, ref)
}

// answerClock parses MMDDhhmmss in loc in the year (ref's, the one
// before or after) that puts it nearest ref; zero when it is no valid
// time in any of them.
func answerClock(s string, loc *time.Location, ref time.Time) time.Time {
	if len(s) != 10 {
		return time.Time{}
	}
	var v [5]int
	for i := range v {
		a, b := s[2*i], s[2*i+1]
		if a < '0' || a > '9' || b < '0' || b > '9' {
			return time.Time{}
		}
		v[i] = int(a-'0')*10 + int(b-'0')
	}
	month, day, hh, mm, ss := v[0], v[1], v[2], v[3], v[4]
	if month < 1 || month > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 59 {
		return time.Time{}
	}
	var best time.Time
	var bestDist time.Duration
	for _, y := range []int{ref.Year() - 1, ref.Year(), ref.Year() + 1} {
		t := time.Date(y, time.Month(month), day, hh, mm, ss, 0, loc)
		if t.Month() != time.Month(month) || t.Day() != day {
			continue // 30 February, or 29 February of a common year
		}
		dist := t.Sub(ref)
		if dist < 0 {
			dist = -dist
		}
		if best.IsZero() || dist < bestDist {
			best, bestDist = t, dist
		}
	}
	return best
}
