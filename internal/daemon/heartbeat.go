package daemon

import (
	"context"
	"log/slog"
	"time"

	"posd/conn/clock"
	"posd/terminal/host"
)

// heartbeat keeps the link to the acquirer known while the terminal is
// idle: when the host has not been heard from (nor tried) for idle, it
// sends a network management echo, between transactions only. The
// status's host_link then says whether the host answers before a
// cashier's sale finds out, and a persistent connection stays open
// through NATs and the host's own idle timeout.
type heartbeat struct {
	echo func(ctx context.Context) error
	link func() host.LinkState
	busy func() bool // a transaction runs
	clk  clock.Clock
	idle time.Duration
	log  *slog.Logger
}

// heartbeatBusyWait is the pause before looking again when a
// transaction runs at the time an echo is due.
const heartbeatBusyWait = 10 * time.Second

// run sends echoes until ctx ends.
func (h *heartbeat) run(ctx context.Context) {
	last := h.clk.Now() // the last exchange, or posd's start
	failing := false
	for {
		st := h.link()
		for _, t := range []time.Time{st.LastAnswer, st.LastFailure} {
			if t.After(last) {
				last = t
			}
		}
		wait := last.Add(h.idle).Sub(h.clk.Now())
		if wait <= 0 && h.busy() {
			wait = min(heartbeatBusyWait, h.idle)
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-h.clk.After(wait):
			}
			continue
		}
		last = h.clk.Now()
		err := h.echo(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			h.log.Warn("the host does not answer the idle link's echo", "err", err)
		case err == nil && failing:
			h.log.Info("the host answers the idle link's echo again")
		}
		failing = err != nil
	}
}
