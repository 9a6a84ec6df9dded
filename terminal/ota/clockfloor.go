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

// judgeAt is the time metadata expiry is judged at: the clock's now, or
// the floor when the clock is behind it.
//
// A freeze (the repository, or someone between it and the terminal,
// serving the last metadata on and on) is caught by the timestamp's
// expiry, as judged by the terminal's clock. A clock can be set back (an
// unauthenticated time source, a board without a real-time clock that
// starts at an old time), and then the frozen timestamp looks valid again.
// So once the clock was seen past the expiry of a trusted timestamp, that
// expiry is the floor: it is never judged valid again, in this run or
// after a restart; only a newer timestamp, signed by the repository, is.
// The floor only ever rises to a signed expiry (never to the clock's
// reading itself): a clock that ran ahead for a while costs no more than
// the wait for the repository's next timestamp.
func (c *Client) judgeAt(now time.Time) time.Time {
	if c.floor.After(now) {
		c.log.Warn("ota: the clock is behind the expiry of a timestamp it was already seen past; judging expiry by that",
			"clock", now.Format(time.RFC3339), "judged_at", c.floor.Format(time.RFC3339))
		return c.floor
	}
	return now
}

// notePast raises the floor when the trusted timestamp of up has expired
// at the time at.
func (c *Client) notePast(up *updater.Updater, at time.Time) {
	ts := up.GetTrustedMetadataSet().Timestamp
	if ts == nil || !ts.Signed.IsExpired(at) {
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
			", before the expiry of a timestamp it was already seen past; check the time source"
	}
	return note + "the clock says " + now.Format(time.RFC3339) + "; if that is wrong, set it right"
}
