package ota

import (
	"context"
	"fmt"
	"time"

	"posd/conn/clock"
)

// Poll's schedule.
const (
	// PollSpread is the jitter of the regular wait: every·(1 ± PollSpread),
	// uniformly.
	PollSpread = 0.25
	// HintJitter bounds the wait before a hinted run: uniformly within
	// [0, HintJitter) (and within [0, every) when every is shorter).
	HintJitter = 5 * time.Second
)

// Poll runs fn, one run at a time, until ctx ends, at jittered times so
// that a fleet of terminals never polls its TMS in step:
//
//   - the first run comes uniformly within [0, every) after Poll starts
//     (terminals that boot together spread over a whole period);
//   - each next run comes every·(1 ± PollSpread) after the previous run
//     ended, uniformly (their phases drift apart further with each poll);
//   - a hint (the host said an update is waiting) brings the next run
//     forward to uniformly within [0, HintJitter) — hints arriving while
//     that wait or a run is under way are coalesced into at most one more
//     run (send hints without blocking on a channel of capacity 1).
//
// An error of fn is logged and does not change the schedule. Poll returns
// ctx's error once ctx ends (after the run under way, which gets ctx,
// returns). Waits are on Opts.Clock, draws from Opts.Rand.
func (c *Client) Poll(ctx context.Context, every time.Duration, hint <-chan struct{}, fn func(context.Context) error) error {
	if every <= 0 {
		return fmt.Errorf("%w: poll period %v", ErrConfig, every)
	}
	wait := c.uniform(every)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.clk.After(wait):
		case _, ok := <-hint:
			if !ok {
				// A closed hint channel hints no more.
				hint = nil
				continue
			}
			d := c.uniform(min(HintJitter, every))
			c.log.Debug("ota: hinted; polling soon", "in", d)
			if err := clock.Sleep(ctx, c.clk, d); err != nil {
				return err
			}
		}
		if err := fn(ctx); err != nil {
			c.log.Warn("ota: poll failed", "err", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		wait = c.spread(every)
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
