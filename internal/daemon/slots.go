package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"posd/board"
	"posd/conn/clock"
	"posd/terminal/slots"
)

// The environment posd-supervisor gives posd (cmd/posd-supervisor).
const (
	envSlotsDir = "POSD_SLOTS_DIR"
	envSlot     = "POSD_SLOT"
	envTrial    = "POSD_SLOT_TRIAL"
)

// defaultHealthTries and defaultHealthPause bound a trial's health check: the host may
// take a moment to answer after a restart.
const (
	defaultHealthTries = 6
	defaultHealthPause = 5 * time.Second
)

// FirmwareUpdater is a real board's firmware updater (board.OpenUpdater:
// RAUC over D-Bus): it installs a bundle into a slot and marks slots for
// the A/B state machine (slots.Updater), tells which slot the boot loader
// started (slots.BootReporter), and reboots into the slot marked active.
type FirmwareUpdater interface {
	slots.Updater
	slots.BootReporter
	Reboot(ctx context.Context) error
}

// WithFirmwareUpdater has posd use u (with the two A/B slot names) instead
// of the updater of the board profile.
func WithFirmwareUpdater(u FirmwareUpdater, slotNames [2]string) Option {
	return func(o *options) { o.updater, o.slotNames = u, slotNames }
}

// firmware is the A/B slot state: under posd-supervisor (directory slots,
// u nil) or over the board's updater.
type firmware struct {
	kind    string // Profile.Updater, or "option" (WithFirmwareUpdater)
	m       *slots.Manager
	slot    string
	version string
	trial   bool
	// u is the board's updater (nil: directory slots under
	// posd-supervisor, which switches slots by restarting posd).
	u FirmwareUpdater
	// reboot says why the system should reboot ("": it runs the slot it
	// should).
	reboot string
	// close releases the updater posd opened itself (nil otherwise).
	close func() error

	// clk tells the time of the host-link retry rule (nil: the wall
	// clock); hostRollbacks and hostBackoff are that rule (0: the
	// defaults, see fwrollback.go).
	clk           clock.Clock
	hostRollbacks int
	hostBackoff   time.Duration
	// reportMu makes one sender of rollback reports at a time; poke wakes
	// the report loop.
	reportMu sync.Mutex
	poke     chan struct{}
	// rnd draws the jitter of the report loop's retries (seeded from
	// crypto/rand).
	rnd *rand.Rand
}

func (fw *firmware) clock() clock.Clock { return clock.Or(fw.clk) }

// pokeReports has the report loop send what is pending.
func (fw *firmware) pokeReports() {
	select {
	case fw.poke <- struct{}{}:
	default:
	}
}

// openSlots opens the A/B slot state: the one posd-supervisor named, or
// over the firmware updater of the board (or WithFirmwareUpdater). Nil
// when there is neither.
func (d *Daemon) openSlots(ctx context.Context, o options) error {
	rnd, err := newJitter()
	if err != nil {
		return fmt.Errorf("firmware slots: %w", err)
	}
	if dir := os.Getenv(envSlotsDir); dir != "" {
		m, err := slots.OpenDir(dir, slots.Options{Logger: d.Log.With("part", "slots")})
		if err != nil {
			return fmt.Errorf("firmware slots: %w", err)
		}
		d.fw = &firmware{kind: board.UpdaterDir, m: m, slot: os.Getenv(envSlot), version: os.Getenv(slots.EnvVersion), trial: os.Getenv(envTrial) == "1",
			poke: make(chan struct{}, 1), rnd: rnd}
		return nil
	}
	u, names, kind, closeFn := o.updater, o.slotNames, "option", func() error { return nil }
	if u == nil {
		bu, err := board.OpenUpdater(d.Settings.Profile, board.UpdaterOptions{
			Spool: filepath.Join(d.Config.DataDir, "spool"), Logger: d.Log.With("part", "rauc")})
		if err != nil {
			// No firmware updates, but the terminal still takes payments.
			d.Log.Error("firmware updater unavailable: no firmware updates", "updater", d.Settings.Profile.Updater, "err", err)
			return nil
		}
		if bu == nil {
			return nil
		}
		u, names, kind, closeFn = bu, bu.Slots, d.Settings.Profile.Updater, bu.Close
	}
	if err := os.MkdirAll(filepath.Join(d.Config.DataDir, "spool"), 0o700); err != nil {
		return errors.Join(fmt.Errorf("firmware spool: %w", err), closeFn())
	}
	bootVersion := d.Version
	if _, err := strconv.Atoi(bootVersion); err != nil {
		bootVersion = "factory"
	}
	m, err := slots.Open(filepath.Join(d.Config.DataDir, slotsStateFile), slots.Options{
		Updater: u, Slots: names, BootVersion: bootVersion, Compatible: d.Settings.Profile.Compatible,
		Logger: d.Log.With("part", "slots")})
	if err != nil {
		return errors.Join(fmt.Errorf("firmware slots: %w", err), closeFn())
	}
	b, err := m.Booted(ctx)
	if err != nil {
		d.Log.Error("firmware slots: boot state unknown: no firmware updates", "err", err)
		return closeFn()
	}
	d.fw = &firmware{kind: kind, m: m, slot: b.Slot, version: b.Version, trial: b.Trial, u: u, close: closeFn, poke: make(chan struct{}, 1), rnd: rnd}
	if b.RolledBack {
		d.Log.Warn("firmware trial rolled back at boot", "slot", b.Slot, "version", b.Version, "reason", b.Reason)
	}
	if b.Reboot {
		d.fw.reboot = fmt.Sprintf("the system runs another slot than %s", b.Slot)
		if b.Next != "" {
			d.fw.reboot = fmt.Sprintf("slot %s waits for its trial boot", b.Next)
		}
	}
	d.Log.Info("firmware slots", "slot", b.Slot, "version", b.Version, "trial", b.Trial, "attempt", b.Attempt, "reboot", d.fw.reboot)
	return nil
}

// slotsStateFile is the A/B state file in the data directory (the data
// partition, which both root file systems share) on boards with an
// updater.
const slotsStateFile = "firmware-slots.db"

// FirmwareView is the firmware part of Status.
type FirmwareView struct {
	Updater string        `json:"updater"`
	Slot    string        `json:"running_slot"`
	Trial   bool          `json:"trial"`
	Slots   *slots.Status `json:"slots,omitempty"`
	Error   string        `json:"error,omitempty"`
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
// stays unhealthy is rolled back (its slot marked bad, the committed one
// active; on a board with an updater the system then reboots into it) and
// ErrUnhealthy returned: posd then exits, and under posd-supervisor the
// committed slot starts next. On a committed slot nothing is checked; a
// board that booted another slot than it should is rebooted.
//
// The rollback's reason says whether only the host echo failed (every
// device passed on every try: a host-link failure, which may be a shop's
// outage and lets the version be tried again later, within a bound) or a
// device did (the firmware's fault: the version is blocked); see
// fwrollback.go for the rule. The rollback is reported to the TMS.
func (d *Daemon) CheckTrial(ctx context.Context) error {
	if d.fw == nil {
		return nil
	}
	if d.fw.reboot != "" && d.fw.u != nil {
		d.Log.Warn("firmware: rebooting into the slot the boot loader should start", "why", d.fw.reboot)
		return d.rebootWhenIdle(ctx)
	}
	if !d.fw.trial {
		return nil
	}
	var why, deviceFault error
	for try := range d.healthTries {
		if try > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d.healthPause):
			}
		}
		if why = d.health(ctx); why == nil {
			break
		}
		var he *healthError
		if deviceFault == nil && (!errors.As(why, &he) || !he.host) {
			deviceFault = why
		}
		d.Log.Warn("trial firmware not healthy yet", "try", try+1, "err", why)
	}
	if why != nil {
		if ctx.Err() != nil {
			// Stopped while checking: not the firmware's fault.
			return ctx.Err()
		}
		if deviceFault != nil {
			// A device failed on some try: the firmware's fault, even
			// when the last try failed on the host only.
			why = deviceFault
		}
		err := fmt.Errorf("%w: %w", ErrUnhealthy, why)
		d.rollbackTrial(ctx, err)
		return err
	}
	if err := d.fw.m.Commit(ctx, d.fw.slot); err != nil {
		return fmt.Errorf("committing the firmware: %w", err)
	}
	d.fw.trial = false
	d.Log.Info("trial firmware healthy: committed", "slot", d.fw.slot, "version", d.fw.version)
	d.firmwareEvent(OTAEvent{Kind: "firmware", Result: "committed", Version: atoiOr0(d.fw.version), Detail: "slot " + d.fw.slot})
	return nil
}

// rollbackTrial ends the unhealthy trial: the slot state records the
// rollback with its reason (slots history; healthReason tells a host-link
// failure from a firmware fault), the update history gets a "rolled_back"
// event, the TMS the report (when it does not take it now, the report
// loop or the committed firmware sends it later), and a board with an
// updater reboots into the committed slot.
func (d *Daemon) rollbackTrial(ctx context.Context, cause error) {
	reason := healthReason(cause)
	d.Log.Error("trial firmware unhealthy: rolling back", "slot", d.fw.slot, "version", d.fw.version, "err", cause)
	detail := "slot " + d.fw.slot + ": " + reason
	err := d.fw.m.Rollback(ctx, reason)
	switch {
	case errors.Is(err, slots.ErrNoTrial):
		// Rolled back already (another process, or the boot loader).
		d.Log.Warn("firmware rollback: no trial pending", "err", err)
	case err != nil:
		// ErrUpdater: the state is rolled back, the boot loader may not
		// be; the next Booted reconciles it.
		d.Log.Error("firmware rollback", "err", err)
		detail += "; rollback: " + err.Error()
	}
	d.fw.trial = false
	d.firmwareEvent(OTAEvent{Kind: "firmware", Result: "rolled_back", Version: atoiOr0(d.fw.version), Detail: detail})
	// posd exits or reboots next: try the report now, briefly.
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	if err := d.sendRollbackReports(rctx); err != nil {
		d.Log.Warn("rollback not reported yet: the committed firmware reports it", "err", err)
		d.fw.pokeReports()
	}
	cancel()
	if d.fw.u != nil {
		if err := d.rebootWhenIdle(ctx); err != nil {
			d.Log.Error("rebooting into the committed firmware", "err", err)
		}
	}
}

// rebootWhenIdle reboots the board between two transactions.
func (d *Daemon) rebootWhenIdle(ctx context.Context) error {
	err := d.closeWhenIdle(ctx, func() error { return d.fw.u.Reboot(ctx) })
	if err != nil {
		return fmt.Errorf("firmware: reboot: %w", err)
	}
	d.Log.Info("firmware: rebooting")
	return nil
}

// firmwareEvent records e in the update history when there is one (no
// repository configured: the log and the slots' history only).
func (d *Daemon) firmwareEvent(e OTAEvent) {
	if d.ota == nil {
		return
	}
	d.otaEvent(e)
}

func atoiOr0(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}

// health is the trial's check: the devices that passed their self-test
// under the firmware that installed this one (all of them when that is
// not known), then the host link. A device the board or the build never
// had (the nocv build's camera) does not fail a trial; one the old
// firmware drove and the new one cannot does. A failure is a
// *healthError, host set when the devices passed and only the echo
// failed.
func (d *Daemon) health(ctx context.Context) error {
	need := d.healthyBefore()
	// The self test waits for the transaction in progress: it must not
	// drive the devices a customer is using (selftest.go).
	list, err := d.selfTestWhenIdle(ctx)
	if err != nil {
		return err
	}
	for _, st := range list {
		if !st.OK && (need == nil || need[st.Name]) {
			return &healthError{err: fmt.Errorf("device %s: %s", st.Name, st.Error)}
		}
	}
	if _, err := d.Echo(ctx); err != nil {
		return &healthError{host: true, err: fmt.Errorf("host echo: %w", err)}
	}
	return nil
}
