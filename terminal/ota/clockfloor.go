package ota

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

// floorFile (in Opts.Dir) keeps Client.floor across restarts: one RFC 3339
// time.
const floorFile = "expiry-floor"

// judgeAt is the time metadata expiry is judged at, given the clock's
// now and the monotonic elapsed (Opts.Elapsed): the latest of now, the
// floor, and the time carried over from the last Check of this run.
//
// A freeze (the repository, or someone between it and the terminal,
// serving the last metadata on and on) is caught by the timestamp's
// expiry, as judged by the terminal's clock. A clock can be set back (an
// unauthenticated time source, a board without a real-time clock that
// starts at an old time), and then the frozen timestamp looks valid again.
// So once the clock was seen past the expiry of a trusted timestamp, that
// expiry is the floor: it is never judged valid again, in this run or
// after a restart; only a newer timestamp, signed by the repository, is.
//
// Within one run, a clock set back before any Check saw the expiry is
// caught too: the last Check's time plus the monotonic time passed since
// is a time the true time is past, so expiry is judged no earlier than
// that. This carried time only counts up to just past the expiry of the
// timestamp trusted then (enough to see it expire; beyond, it would only
// repeat a clock that had run ahead).
//
// Neither rises to the clock's own reading beyond a signed expiry: a
// clock that ran ahead for a while costs no more than the wait for the
// repository's next timestamp.
//
// What stays out of reach: a clock set back while posd is not running
// (across a restart or a power cut), before any Check saw the trusted
// timestamp expire. TUF metadata carry no signed time of signing, only
// expiries, so the terminal has nothing signed to put a lower bound on the
// true time but the expiries it saw passed; the exposure is bounded by
// the timestamp's lifetime after the last time the clock was right.
func (c *Client) judgeAt(now time.Time, mono time.Duration) time.Time {
	at := now
	if c.floor.After(at) {
		at = c.floor
	}
	if !c.judged.IsZero() && !c.trustedExp.IsZero() {
		carried := c.judged.Add(mono - c.judgedMono)
		if limit := c.trustedExp.UTC().Truncate(time.Second).Add(time.Second); carried.After(limit) {
			carried = limit
		}
		// (A second of slack: the wall and monotonic readings are not
		// taken at the same instant.)
		if carried.Sub(at) > time.Second {
			at = carried
		}
	}
	if at.After(now) {
		c.log.Warn("ota: the clock is behind a time it was already seen past; judging expiry by that",
			"clock", now.Format(time.RFC3339), "judged_at", at.Format(time.RFC3339))
	}
	return at
}

// notePast remembers, for the next Check of this run, the time at expiry
// was judged at (with the monotonic mono then) and the expiry of the
// timestamp trusted now; and it raises the floor when that timestamp has
// expired at the time at.
func (c *Client) notePast(up *updater.Updater, at time.Time, mono time.Duration) {
	ts := up.GetTrustedMetadataSet().Timestamp
	if !at.Before(c.judged) {
		c.judged, c.judgedMono = at, mono
	}
	if ts == nil {
		return
	}
	c.trustedExp = ts.Signed.Expires
	if !ts.Signed.IsExpired(at) {
		return
	}
	// Expiry is judged with a strict After: one second later is past it
	// (metadata carry whole seconds).
	f := ts.Signed.Expires.UTC().Truncate(time.Second).Add(time.Second)
	if !f.After(c.floor) {
		return
	}
	c.floor = f
	if err := c.writeFloor(f); err != nil {
		c.log.Warn("ota: keeping the expiry floor", "err", err)
	}
}

// readFloor reads the kept floor; a missing or unreadable one is none
// (an unreadable one is logged).
func (c *Client) readFloor() time.Time {
	b, err := os.ReadFile(c.floorPath)
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}
	}
	var t time.Time
	if err == nil {
		t, err = time.Parse(time.RFC3339, string(bytes.TrimSpace(b)))
	}
	if err != nil {
		c.log.Warn("ota: kept expiry floor unreadable; ignoring it", "err", err)
		return time.Time{}
	}
	return t.UTC()
}

// writeFloor replaces the kept floor with f, durably.
func (c *Client) writeFloor(f time.Time) error {
	return writeDurably(c.floorPath, []byte(f.Format(time.RFC3339)+"\n"))
}

// expiryNote says, for a refusal of file as expired, when it expired
// (when the trusted metadata set still holds it) and by what time it was
// judged: what an engineer needs to tell a frozen repository from a
// terminal clock that is wrong.
func expiryNote(up *updater.Updater, file string, now, at time.Time) string {
	tm := up.GetTrustedMetadataSet()
	var exp time.Time
	switch roleOf(file) {
	case metadata.ROOT:
		if tm.Root != nil {
			exp = tm.Root.Signed.Expires
		}
	case metadata.TIMESTAMP:
		if tm.Timestamp != nil {
			exp = tm.Timestamp.Signed.Expires
		}
	case metadata.SNAPSHOT:
		if tm.Snapshot != nil {
			exp = tm.Snapshot.Signed.Expires
		}
	}
	note := ""
	if !exp.IsZero() && exp.Before(at) {
		note = "expired at " + exp.UTC().Format(time.RFC3339) + "; "
	}
	if at.After(now) {
		return note + "judged at " + at.Format(time.RFC3339) + ": the clock says " + now.Format(time.RFC3339) +
			", behind a time already seen passed (an expiry seen past, or the time passed since an earlier check); check the time source"
	}
	return note + "the clock says " + now.Format(time.RFC3339) + "; if that is wrong, set it right"
}
