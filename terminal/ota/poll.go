package ota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"posd/conn/clock"
)

// Poll's schedule.
const (
	// PollSpread is the jitter of the regular wait: every·(1 ± PollSpread),
	// uniformly.
	PollSpread = 0.25
	// HintJitter bounds the wait before a run asked for on the terminal
	// (posctl ota check, the console): uniformly within [0, HintJitter)
	// (and within [0, every) when every is shorter).
	HintJitter = 5 * time.Second
	// DefaultHostHintJitter bounds the wait before a run the acquirer's
	// host hinted at (PollOpts.HostHintJitter): a host that hints its whole
	// fleet at once sees their checks spread over this long.
	DefaultHostHintJitter = 30 * time.Second
	// DefaultHintCooldown: a host hint within this long after a run ended
	// (PollOpts.HintCooldown) brings no run of its own.
	DefaultHintCooldown = time.Minute
	// maxBackoff bounds the factor of the regular period after failures
	// (2 after one, then 4), and maxBackoffWait the wait it makes (a
	// period longer than that is not made longer).
	maxBackoff     = 4
	maxBackoffWait = 24 * time.Hour
)

// PollOpts is Poll's schedule and what brings a run forward.
type PollOpts struct {
	// Every is the regular period (required, above 0).
	Every time.Duration
	// Now asks for a run soon, on the terminal's own initiative (posctl
	// ota check): within [0, min(HintJitter, Every)). Send without
	// blocking on a channel of capacity 1; nil: none.
	Now <-chan struct{}
	// HostHint is the acquirer's host saying an update is waiting: a run
	// comes uniformly within [0, min(HostHintJitter, Every)), unless a run
	// is already due that soon or one ended less than HintCooldown ago
	// (then the hint is dropped: the run that just happened, or the one
	// about to, sees the update), or runs are failing (or posd died in
	// the last) and the last was less than Every ago (see PollWith). Send without blocking on a
	// channel of
	// capacity 1; nil: none.
	HostHint <-chan struct{}
	// HostHintJitter bounds the wait before a hinted run (0:
	// DefaultHostHintJitter).
	HostHintJitter time.Duration
	// HintCooldown (0: DefaultHintCooldown; negative: none).
	HintCooldown time.Duration
	// Due, when not nil, is told when the next run is due each time that
	// changes (status: "next check at").
	Due func(time.Time)
}

// Poll runs fn, one run at a time, until ctx ends, at jittered times so
// that a fleet of terminals never polls its TMS in step:
//
//   - the first run comes uniformly within [0, every) after Poll starts
//     (terminals that boot together spread over a whole period);
//   - each next run comes every·(1 ± PollSpread) after the previous run
//     ended, uniformly (their phases drift apart further with each poll);
//   - a hint brings the next run forward to uniformly within [0,
//     HintJitter) — hints arriving while that wait or a run is under way
//     are coalesced into at most one more run (send hints without blocking
//     on a channel of capacity 1).
//
// A run that fails as the TMS is down or does not answer (Transient)
// doubles the wait before the next, up to maxBackoff times the period and
// no longer than maxBackoffWait (unless the period itself is longer); a
// run that ends otherwise brings the regular period back. While failures
// add up, an acquirer's hint brings a run forward only once a whole
// period passed since the last run (the terminal's own hints still do at
// once). Other errors of fn are logged and do not change the schedule.
//
// The schedule survives a restart (the file poll-state in Opts.Dir): a
// run is recorded as started before fn is called and as ended after, with
// the failures in a row, so the first run after a start comes no sooner
// than the wait after the last run of an earlier start (from its start,
// when posd died in it; then hints wait a period too, as after failures).
// A terminal that crashes and starts again and again, while its TMS is
// down, checks no more often for it. Poll returns
// ctx's error once ctx ends (after the run under way, which gets ctx,
// returns). Waits are on Opts.Clock, draws from Opts.Rand. Poll is
// PollWith with hint as PollOpts.Now.
func (c *Client) Poll(ctx context.Context, every time.Duration, hint <-chan struct{}, fn func(context.Context) error) error {
	return c.PollWith(ctx, PollOpts{Every: every, Now: hint}, fn)
}

// PollWith is Poll with host hints (PollOpts.HostHint): a hinted run is
// jittered over a longer bound than a run asked for on the terminal, and
// hints coalesce over a cooldown, so a host that hints every terminal of
// a fleet within a second makes them check their TMS spread over
// HostHintJitter, once each, however often it repeats the hint.
func (c *Client) PollWith(ctx context.Context, o PollOpts, fn func(context.Context) error) error {
	every := o.Every
	if every <= 0 {
		return fmt.Errorf("%w: poll period %v", ErrConfig, every)
	}
	jitter := o.HostHintJitter
	if jitter <= 0 {
		jitter = DefaultHostHintJitter
	}
	cooldown := o.HintCooldown
	if cooldown == 0 {
		cooldown = DefaultHintCooldown
	}
	now, hint := o.Now, o.HostHint
	var lastEnd time.Time // zero until a run ended
	wait := c.uniform(every)
	st := c.readPollState()
	failures := st.Failures
	// died: posd stopped in the last run, which never ended: a crash
	// (maybe the run's own), a watchdog, a power cut, a reboot into new
	// firmware. It counts as a run, not as a failure (nothing says the TMS
	// failed), but until a run ends, hints wait as they do after failures.
	died := false
	if !st.Started.IsZero() {
		lastEnd = st.Ended
		if st.Ended.Before(st.Started) {
			lastEnd, died = st.Started, true
		}
		// No sooner than the wait after that run; a clock set back can
		// make it no longer than the longest wait.
		longest := max(time.Duration(float64(every)*(1+PollSpread)), maxBackoffWait)
		if after := lastEnd.Add(c.backoff(every, failures)).Sub(c.clk.Now()); after > wait {
			wait = min(after, longest)
		}
	}
	tell := func(t time.Time) {
		if o.Due != nil {
			o.Due(t)
		}
	}
	for {
		due := c.clk.Now().Add(wait)
		tell(due)
		timer := c.clk.After(wait)
	waiting:
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer:
				break waiting
			case _, ok := <-now:
				if !ok {
					// A closed channel asks no more.
					now = nil
					continue
				}
				d := c.uniform(min(HintJitter, every))
				tell(c.clk.Now().Add(d))
				c.log.Debug("ota: check asked for; polling soon", "in", d)
				if err := clock.Sleep(ctx, c.clk, d); err != nil {
					return err
				}
				break waiting
			case _, ok := <-hint:
				if !ok {
					hint = nil
					continue
				}
				at := c.clk.Now()
				if (failures > 0 || died) && at.Sub(lastEnd) < every {
					c.log.Debug("ota: host hint dropped: backing off (the last runs failed, or posd stopped in the last)",
						"failures", failures, "ago", at.Sub(lastEnd))
					continue
				}
				if !lastEnd.IsZero() && cooldown > 0 && at.Sub(lastEnd) < cooldown {
					c.log.Debug("ota: host hint dropped: checked recently", "ago", at.Sub(lastEnd))
					continue
				}
				d := c.uniform(min(jitter, every))
				if !due.After(at.Add(d)) {
					c.log.Debug("ota: host hint dropped: a check is due sooner", "in", due.Sub(at))
					continue
				}
				tell(at.Add(d))
				c.log.Info("ota: the host says an update is waiting; checking soon", "in", d)
				if err := clock.Sleep(ctx, c.clk, d); err != nil {
					return err
				}
				break waiting
			}
		}
		c.writePollState(pollState{Started: c.clk.Now().UTC(), Ended: lastEnd, Failures: failures})
		err := fn(ctx)
		if err != nil {
			c.log.Warn("ota: poll failed", "err", err)
		}
		lastEnd, died = c.clk.Now().UTC(), false
		if cerr := ctx.Err(); cerr != nil {
			// posd stops: the run was cut short, not failed.
			c.writePollState(pollState{Started: lastEnd, Ended: lastEnd, Failures: failures})
			return cerr
		}
		if Transient(err) {
			failures++
		} else {
			failures = 0
		}
		c.writePollState(pollState{Started: lastEnd, Ended: lastEnd, Failures: failures})
		wait = c.backoff(every, failures)
	}
}

// backoff is the wait after a run that ended with failures runs failing
// in a row: every·(1 ± PollSpread), times 2^failures up to maxBackoff, and
// no longer than maxBackoffWait unless the plain wait is.
func (c *Client) backoff(every time.Duration, failures int) time.Duration {
	w := c.spread(every)
	if failures <= 0 {
		return w
	}
	return max(w, min(w*time.Duration(min(1<<min(failures, 8), maxBackoff)), maxBackoffWait))
}

// pollFile (in Opts.Dir) keeps Poll's schedule across restarts.
const pollFile = "poll-state"

// pollState is Poll's schedule: when the last run started and ended
// (Ended before Started: it never ended), and the failures in a row
// before it.
type pollState struct {
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended"`
	Failures int       `json:"failures"`
}

// readPollState reads the kept schedule; a missing or unreadable one is
// none (an unreadable one is logged).
func (c *Client) readPollState() pollState {
	var st pollState
	b, err := os.ReadFile(filepath.Join(c.o.Dir, pollFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st
	}
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil || st.Failures < 0 {
		c.log.Warn("ota: kept poll schedule unreadable; ignoring it", "err", err)
		return pollState{}
	}
	return st
}

// writePollState keeps st durably (a failure is logged: the schedule
// goes on in memory).
func (c *Client) writePollState(st pollState) {
	b, err := json.Marshal(st)
	if err == nil {
		err = writeDurably(filepath.Join(c.o.Dir, pollFile), b)
	}
	if err != nil {
		c.log.Warn("ota: keeping the poll schedule", "err", err)
	}
}

// uniform draws a duration uniformly within [0, d).
func (c *Client) uniform(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	c.rndMu.Lock()
	defer c.rndMu.Unlock()
	return time.Duration(c.rnd.Int64N(int64(d)))
}

// spread draws every·(1 ± PollSpread) uniformly.
func (c *Client) spread(every time.Duration) time.Duration {
	c.rndMu.Lock()
	x := c.rnd.Float64()
	c.rndMu.Unlock()
	return time.Duration(float64(every) * (1 - PollSpread + 2*PollSpread*x))
}
