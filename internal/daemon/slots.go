package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"posd/terminal/slots"
)

// The environment posd-supervisor gives posd (cmd/posd-supervisor).
const (
	envSlotsDir = "POSD_SLOTS_DIR"
	envSlot     = "POSD_SLOT"
	envTrial    = "POSD_SLOT_TRIAL"
)

// healthTries and healthPause bound a trial's health check: the host may
// take a moment to answer after a restart.
const (
	healthTries = 6
	healthPause = 5 * time.Second
)

// firmware is the A/B slot state when posd runs under posd-supervisor.
type firmware struct {
	m     *slots.Manager
	slot  string
	trial bool
}

// openSlots opens the A/B slot state the supervisor named (nil when posd
// does not run under it).
func (d *Daemon) openSlots() error {
	dir := os.Getenv(envSlotsDir)
	if dir == "" {
		return nil
	}
	m, err := slots.OpenDir(dir, slots.Options{Logger: d.Log.With("part", "slots")})
	if err != nil {
		return fmt.Errorf("firmware slots: %w", err)
	}
	d.fw = &firmware{m: m, slot: os.Getenv(envSlot), trial: os.Getenv(envTrial) == "1"}
	return nil
}

// FirmwareView is the firmware part of Status.
type FirmwareView struct {
	Slot  string        `json:"running_slot"`
	Trial bool          `json:"trial"`
	Slots *slots.Status `json:"slots,omitempty"`
	Error string        `json:"error,omitempty"`
}

// FirmwareStatus is the A/B slot state (nil when posd does not run under
// the supervisor).
func (d *Daemon) FirmwareStatus(ctx context.Context) (*slots.Status, error) {
	if d.fw == nil {
		return nil, nil
	}
	st, err := d.fw.m.Status(ctx)
	return &st, err
}

// ErrUnhealthy: a trial firmware failed its health check.
var ErrUnhealthy = errors.New("daemon: the new firmware failed its health check")

// CheckTrial commits a trial boot once posd is healthy: every device
// passes its self-test and the acquirer answers an echo. A trial that
// stays unhealthy returns ErrUnhealthy; posd then exits without
// committing and the supervisor counts a failed boot (and rolls back by
// itself after the last one). Nothing to do on a committed slot.
func (d *Daemon) CheckTrial(ctx context.Context) error {
	if d.fw == nil || !d.fw.trial {
		return nil
	}
	var why error
	for try := range healthTries {
		if try > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(healthPause):
			}
		}
		if why = d.health(ctx); why == nil {
			break
		}
		d.Log.Warn("trial firmware not healthy yet", "try", try+1, "err", why)
	}
	if why != nil {
		return fmt.Errorf("%w: %w", ErrUnhealthy, why)
	}
	if err := d.fw.m.Commit(ctx, d.fw.slot); err != nil {
		return fmt.Errorf("committing the firmware: %w", err)
	}
	d.fw.trial = false
	d.Log.Info("trial firmware healthy: committed", "slot", d.fw.slot, "version", d.Version)
	return nil
}

// health is the trial's check: the devices that passed their self-test
// under the firmware that installed this one (all of them when that is
// not known), then the host link. A device the board or the build never
// had (the nocv build's camera) does not fail a trial; one the old
// firmware drove and the new one cannot does.
func (d *Daemon) health(ctx context.Context) error {
	need := d.healthyBefore()
	for _, st := range d.Board.SelfTest(ctx) {
		if !st.OK && (need == nil || need[st.Name]) {
			return fmt.Errorf("device %s: %s", st.Name, st.Error)
		}
	}
	if _, err := d.Echo(ctx); err != nil {
		return fmt.Errorf("host echo: %w", err)
	}
	return nil
}
