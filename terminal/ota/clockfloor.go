package ota

import (
	"bytes"
	"encoding/json"
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

// seenFile (in Opts.Dir) keeps, across restarts, the time the last Check
// saw (Client.judged) and the expiry of the timestamp it trusted then
// (Client.trustedExp): JSON, see seenState.
const seenFile = "last-check"

type seenState struct {
	Seen    time.Time `json:"seen"`
	Expires time.Time `json:"timestamp_expires"`
}

// judgeAt is the time metadata expiry is judged at, given the clock's
// now and the monotonic elapsed (Opts.Elapsed): the latest of now, the
// floor, and the time carried over from the last Check. seen is the
// latest of now and the carried time alone (the floor left out): what the
// next Check may carry on from.
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
// A clock set back before any Check saw the expiry is caught too: the
// time the last Check saw, plus the monotonic time passed since, is a time
// the true time is past, so expiry is judged no earlier than that. The
// time seen is kept in Dir: after a restart the time passed since the
// start carries on from it (the time posd was down is lost, not the time
// seen before). The carried time only counts up to just past the expiry
// of the timestamp trusted then (enough to see it expire; beyond, it
// would only repeat a clock that had run ahead), and a Check carries on
// only from a time at which the timestamp it trusted was valid: a
// clock that ran ahead raises the floor to that timestamp's expiry, and
// is not carried forward (it would judge every later timestamp by it).
//
// Neither rises to the clock's own reading beyond a signed expiry: a
// clock that ran ahead for a while costs no more than the wait for the
// repository's next timestamp.
//
// What stays out of reach: the time posd was not running (across a
// restart or a power cut). TUF metadata carry no signed time of signing,
// only expiries, so the terminal has nothing signed to put a lower bound
// on the true time but the expiries it saw passed and the times its
// checks saw; a frozen timestamp stays valid until the time since the
// restart brings the last time seen to its expiry.
func (c *Client) judgeAt(now time.Time, mono time.Duration) (at, seen time.Time) {
	seen = now
	if !c.judged.IsZero() && !c.trustedExp.IsZero() {
		carried := c.judged.Add(mono - c.judgedMono)
		if limit := c.trustedExp.UTC().Truncate(time.Second).Add(time.Second); carried.After(limit) {
			carried = limit
		}
		// (A second of slack: the wall and monotonic readings are not
		// taken at the same instant.)
		if carried.Sub(seen) > time.Second {
			seen = carried
		}
	}
	at = seen
	if c.floor.After(at) {
		at = c.floor
	}
	if at.After(now) {
		c.log.Warn("ota: the clock is behind a time it was already seen past; judging expiry by that",
			"clock", now.Format(time.RFC3339), "judged_at", at.Format(time.RFC3339))
	}
	return at, seen
}

// notePast remembers, for the next Check (of this run and, kept in Dir,
// after a restart), the time seen (with the monotonic mono then) and the
// expiry of the timestamp trusted now, when that timestamp is valid at at;
// and it raises the floor when that timestamp has expired at the time at.
func (c *Client) notePast(up *updater.Updater, at, seen time.Time, mono time.Duration) {
	ts := up.GetTrustedMetadataSet().Timestamp
	if ts == nil {
		return
	}
	if !ts.Signed.IsExpired(at) {
		if seen.Before(c.judged) {
			return
		}
		c.judged, c.judgedMono, c.trustedExp = seen, mono, ts.Signed.Expires
		b, _ := json.Marshal(seenState{Seen: seen.UTC(), Expires: c.trustedExp.UTC()})
		if err := writeDurably(c.seenPath, append(b, '\n')); err != nil {
			c.log.Warn("ota: keeping the time of the last check", "err", err)
		}
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

// readSeen reads the kept time of the last check into c.judged and
// c.trustedExp, carried on from the monotonic mono; a missing or
// unreadable one is none (an unreadable one is logged).
func (c *Client) readSeen(mono time.Duration) {
	b, err := os.ReadFile(c.seenPath)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var st seenState
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err == nil && (st.Seen.IsZero() || st.Expires.IsZero()) {
		err = errors.New("incomplete")
	}
	if err != nil {
		c.log.Warn("ota: kept time of the last check unreadable; ignoring it", "err", err)
		return
	}
	c.judged, c.judgedMono, c.trustedExp = st.Seen.UTC(), mono, st.Expires.UTC()
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
