package daemon

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"posd/board/sim/deck"
	"posd/internal/config"
	"posd/terminal/emv"
	"posd/terminal/ota"
	"posd/terminal/slots"
	"posd/terminal/txn"

	"go.etcd.io/bbolt"
)

// The bbolt bucket of over-the-air updates: the running parameter set and
// the history of what was checked, applied and refused.
var (
	otaBucket     = []byte("ota")
	otaHistory    = []byte("ota_history")
	otaParamsKey  = []byte("params")
	otaHealthyKey = []byte("healthy_devices")
	otaBundleKey  = []byte("params_bundle")
	// otaRefusedKey is the parameter bundles refused last (up to
	// maxRefused, newest last; see refusedTarget): not fetched again
	// until the repository offers another.
	otaRefusedKey = []byte("params_refused")
	// otaFwRefusedKey is the firmware bundles refused last for their
	// manifest: not fetched again until the repository offers another.
	otaFwRefusedKey = []byte("firmware_refused")
	// otaOpenKey is the failures still repeating (otaPart.open, as
	// openFailure records) and otaLastErrKey ota status' last_error: a
	// failure going on across a restart stays one history entry, one
	// report to the TMS, and is shown from the start.
	otaOpenKey    = []byte("open_failures")
	otaLastErrKey = []byte("last_error")
	otaSchemaKey  = []byte("schema")
	otaSchema     = []byte{1}
	maxOTAHistory = 200
)

// idleRetry is how long an update waits for the sale in progress before
// trying again to put itself in use.
const idleRetry = 2 * time.Second

// ParamsSet is the parameter set in use (from a bundle over the air).
type ParamsSet struct {
	Version int       `json:"version"`
	Target  string    `json:"target,omitempty"`
	SHA256  string    `json:"sha256,omitempty"`
	Applied time.Time `json:"applied"`
}

// OTAEvent is one line of the update history.
type OTAEvent struct {
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`   // check, params, firmware
	Result  string    `json:"result"` // applied, installed, refused, failed, dropped, rolled_back
	Target  string    `json:"target,omitempty"`
	Version int       `json:"version,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	// Count is how many times the same failure happened in a row (a
	// failure repeated at every poll is one entry); Last is when it
	// happened last.
	Count int       `json:"count,omitempty"`
	Last  time.Time `json:"last,omitzero"`
	// Decision of a firmware rollback (rolled_back): "blocked" (the
	// version is not installed again) or "retry" (tried again after
	// RetryAfter, once the acquirer answers).
	Decision   string    `json:"decision,omitempty"`
	RetryAfter time.Time `json:"retry_after,omitzero"`
}

// OTAStatus is what posctl ota status shows.
type OTAStatus struct {
	URL       string     `json:"url"`
	Params    *ParamsSet `json:"params,omitempty"`
	Firmware  string     `json:"firmware_version"`
	LastCheck time.Time  `json:"last_check,omitzero"`
	// NextCheck is when the next check is due (a hint or posctl ota
	// check brings it forward).
	NextCheck time.Time `json:"next_check,omitzero"`
	// Checked is false until the first check of this start ended.
	Checked   bool   `json:"checked"`
	LastError string `json:"last_error,omitempty"`
	Interval  string `json:"interval"`
	// RolledBack names the firmware versions newer than the one running
	// that were rolled back: blocked, or waiting to be tried again.
	RolledBack []FirmwareRollback `json:"firmware_rolled_back,omitempty"`
}

// otaPart is the daemon's update client and its loop.
type otaPart struct {
	c    *ota.Client
	hint chan struct{}
	// hostHint is the acquirer's "an update waits" (host.Client.OnHint).
	hostHint chan struct{}
	done     chan struct{}
	k        *emv.Kernel

	mu        sync.Mutex
	lastCheck time.Time
	nextCheck time.Time
	lastErr   string

	// retryRefused: the engineer asked for a check (CheckUpdates), which
	// fetches a refused parameter bundle once more.
	retryRefused atomic.Bool

	// histMu guards open: the history entry (its sequence number) of each
	// failure still repeating, which a repeat counts instead of adding an
	// entry (otaFailure).
	histMu sync.Mutex
	open   map[failKey]uint64
}

// ErrNoOTA: the terminal has no update repository (ota.url).
var ErrNoOTA = errors.New("daemon: no update repository configured (ota.url)")

// ErrRefusedBefore: the parameter bundle the repository offers is the one
// (name and hash) this terminal refused already; it is not fetched again
// until the repository offers another, or the engineer asks for a check.
var ErrRefusedBefore = errors.New("daemon: parameter bundle refused before")

// openOTA starts checking the update repository at jittered times.
func (d *Daemon) openOTA(ctx context.Context, k *emv.Kernel) error {
	if d.Settings.OTARoot == nil {
		return nil
	}
	if err := d.DB.Bolt().Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(otaBucket)
		if err != nil {
			return err
		}
		if s := b.Get(otaSchemaKey); s != nil && !bytes.Equal(s, otaSchema) {
			return fmt.Errorf("update state schema %v, this posd knows %v", s, otaSchema)
		}
		if err := b.Put(otaSchemaKey, otaSchema); err != nil {
			return err
		}
		_, err = tx.CreateBucketIfNotExists(otaHistory)
		return err
	}); err != nil {
		return fmt.Errorf("ota: %w", err)
	}
	c, err := ota.New(ota.Opts{BaseURL: d.Config.OTA.URL, TerminalID: d.Config.Terminal.ID, Root: d.Settings.OTARoot,
		Dir: filepath.Join(d.Config.DataDir, otaDir), Logger: d.Log.With("part", "ota")})
	if err != nil {
		return fmt.Errorf("ota: %w", err)
	}
	// From here nothing returns an error: Close waits for d.ota.done,
	// which only the goroutines started below close (an error return
	// here once left a failed start hanging in Close).
	d.ota = &otaPart{c: c, hint: make(chan struct{}, 1), hostHint: make(chan struct{}, 1), done: make(chan struct{}), k: k,
		open: map[failKey]uint64{}}
	d.loadOpen()
	// The parameter set received before this start goes back in use.
	var stored []byte
	_ = d.DB.Bolt().View(func(tx *bbolt.Tx) error {
		stored = bytes.Clone(tx.Bucket(otaBucket).Get(otaBundleKey))
		return nil
	})
	if stored != nil {
		use, version, err := d.prepareParams(stored)
		if err != nil {
			// A bundle this firmware cannot use: one applied under a newer
			// firmware whose trial was rolled back (a section or risk key
			// only that one knows), or damaged. posd still starts, on the
			// configuration's parameters; the bundle is forgotten, so the
			// next check takes the repository's set again.
			d.dropStoredParams(err)
		} else {
			use()
			d.Log.Info("parameters received over the air in use", "version", version)
		}
	}
	// The acquirer's answers may say an update waits: check soon, with
	// jitter, at most once a minute for it.
	d.Host.OnHint(d.ota.hintToOTA)
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = c.PollWith(ctx, ota.PollOpts{Every: d.Settings.OTAInterval, Now: d.ota.hint, HostHint: d.ota.hostHint,
			HostHintJitter: ota.DefaultHostHintJitter, HintCooldown: ota.DefaultHintCooldown,
			Due: func(t time.Time) { d.ota.mu.Lock(); d.ota.nextCheck = t.UTC(); d.ota.mu.Unlock() }}, d.otaRound)
	})
	if d.fw != nil && d.Config.OTA.ReportURL != "" {
		// Firmware rollbacks reach the TMS, those of earlier starts (the
		// supervisor's, the boot loader's, a trial's the TMS did not
		// take) included.
		clk, rnd, poke := d.fw.clock(), d.fw.rnd, d.fw.poke
		wg.Go(func() { d.reportRollbacksLoop(ctx, clk, rnd, poke) })
	}
	go func() {
		wg.Wait()
		close(d.ota.done)
	}()
	return nil
}

// CheckUpdates asks for a check now (it runs within a few seconds, with
// jitter). That check also fetches a parameter bundle refused before once
// more (a regular check leaves it until the repository offers another).
func (d *Daemon) CheckUpdates() error {
	if d.ota == nil {
		return ErrNoOTA
	}
	d.ota.retryRefused.Store(true)
	select {
	case d.ota.hint <- struct{}{}:
	default:
	}
	return nil
}

// otaRound is one check: the newest parameter bundle above the running
// one is applied between transactions; a newer firmware is installed
// into the inactive slot and tried at the next start.
//
// Whatever keeps an update from arriving (a check or a download that
// failed, a bundle refused) is the round's error: ota status shows it
// (last_error) until a round ends without one, and the history has it
// once, with a count, however many polls repeat it (otaFailure).
func (d *Daemon) otaRound(ctx context.Context) error {
	retry := d.ota.retryRefused.Swap(false)
	targets, err := d.ota.c.Check(ctx)
	d.ota.mu.Lock()
	d.ota.lastCheck = time.Now().UTC()
	d.ota.mu.Unlock()
	if err != nil {
		if retry {
			d.ota.retryRefused.Store(true) // for the next check that gets through
		}
		result := "failed"
		if ota.Refused(err) {
			result = "refused"
		}
		d.otaFailure(ctx, OTAEvent{Kind: "check", Result: result, Detail: err.Error()}, err)
		d.Log.Warn("update check failed", "err", err)
		d.setLastErr(err)
		return err
	}
	d.otaRecovered("check")
	var errs []error
	cur := d.Params()
	if t, ok := ota.Newer(targets, ota.KindParams, cur.Version); ok {
		if why, refused := d.refusedTarget(otaRefusedKey, t); refused && !retry {
			errs = append(errs, fmt.Errorf("%w: %s (version %d, sha256 %s): %s; waiting for another from the repository or ota check",
				ErrRefusedBefore, t.Name, t.Version, slots.ShortDigest(t.SHA256), why))
		} else {
			errs = append(errs, d.applyParams(ctx, t))
		}
	}
	if d.fw != nil {
		if t, ok := ota.Newer(targets, ota.KindFirmware, d.firmwareVersion()); ok {
			if why, refused := d.refusedTarget(otaFwRefusedKey, t); refused && !retry {
				errs = append(errs, fmt.Errorf("%w: %s (version %d, sha256 %s): %s; waiting for another from the repository or ota check",
					ErrRefusedBefore, t.Name, t.Version, slots.ShortDigest(t.SHA256), why))
			} else {
				errs = append(errs, d.installFirmware(ctx, t))
			}
		}
	}
	err = errors.Join(errs...)
	d.setLastErr(err)
	return err
}

// setLastErr is what ota status shows as last_error (nil: none), kept
// across a restart.
func (d *Daemon) setLastErr(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	d.ota.mu.Lock()
	changed := d.ota.lastErr != msg
	d.ota.lastErr = msg
	d.ota.mu.Unlock()
	if changed {
		if err := d.DB.Bolt().Update(func(tx *bbolt.Tx) error {
			return tx.Bucket(otaBucket).Put(otaLastErrKey, []byte(msg))
		}); err != nil {
			d.Log.Warn("the update's last error could not be kept", "err", err)
		}
	}
}

// openFailure is a failKey and its history entry, as stored.
type openFailure struct {
	Kind    string `json:"kind"`
	Result  string `json:"result"`
	Target  string `json:"target,omitempty"`
	Version int    `json:"version,omitempty"`
	Class   string `json:"class"`
	Seq     uint64 `json:"seq"`
}

// saveOpen stores p.open (p.histMu held).
func (d *Daemon) saveOpen() {
	list := make([]openFailure, 0, len(d.ota.open))
	for k, seq := range d.ota.open {
		list = append(list, openFailure{Kind: k.kind, Result: k.result, Target: k.target, Version: k.version, Class: k.class, Seq: seq})
	}
	raw, err := json.Marshal(list)
	if err == nil {
		err = d.DB.Bolt().Update(func(tx *bbolt.Tx) error { return tx.Bucket(otaBucket).Put(otaOpenKey, raw) })
	}
	if err != nil {
		d.Log.Warn("the update's repeating failures could not be kept", "err", err)
	}
}

// loadOpen reads back the failures still repeating and the last error a
// previous run kept.
func (d *Daemon) loadOpen() {
	var rawOpen, rawErr []byte
	_ = d.DB.Bolt().View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(otaBucket)
		rawOpen, rawErr = bytes.Clone(b.Get(otaOpenKey)), bytes.Clone(b.Get(otaLastErrKey))
		return nil
	})
	var list []openFailure
	if rawOpen != nil && json.Unmarshal(rawOpen, &list) == nil {
		for _, f := range list {
			d.ota.open[failKey{kind: f.Kind, result: f.Result, target: f.Target, version: f.Version, class: f.Class}] = f.Seq
		}
	}
	d.ota.lastErr = string(rawErr)
}

// dropStoredParams forgets the stored parameter bundle, which this
// firmware cannot use (why), saying so in the log and the update history.
func (d *Daemon) dropStoredParams(why error) {
	set := d.Params()
	d.Log.Warn("the stored parameter bundle is not usable by this firmware: the configuration's parameters are in use until the next update check",
		"version", set.Version, "target", set.Target, "err", why)
	if err := d.DB.Bolt().Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(otaBucket)
		if err := b.Delete(otaBundleKey); err != nil {
			return err
		}
		return b.Delete(otaParamsKey)
	}); err != nil {
		d.Log.Warn("the stored parameter bundle could not be forgotten", "err", err)
	}
	d.otaEvent(OTAEvent{Kind: "params", Result: "dropped", Target: set.Target, Version: set.Version,
		Detail: "not usable by this firmware: " + why.Error()})
}

// applyParams fetches a bundle, checks every section, then puts them in
// use together between two transactions, with the version on disk in the
// same step. A bundle with a section this firmware cannot apply is
// refused whole: nothing of it is used.
//
// A bundle refused for what it holds (its bytes matched the signed hash,
// so fetching it again gives the same) is remembered by name and hash and
// not fetched again until the repository offers another (otaRound); one
// refused in transit (ota.Refused: a wrong hash, too large) is tried
// again at the next check.
func (d *Daemon) applyParams(ctx context.Context, t ota.Target) error {
	refuse := func(err error, remember bool) error {
		if remember {
			d.rememberRefused(otaRefusedKey, t, err)
		}
		d.otaFailure(ctx, OTAEvent{Kind: "params", Result: "refused", Target: t.Name, Version: t.Version, Detail: err.Error()}, err)
		d.report(ctx, t, "refused", err.Error())
		return fmt.Errorf("parameters %s refused: %w", t.Name, err)
	}
	b, err := d.ota.c.Fetch(ctx, t)
	if err != nil {
		if ota.Refused(err) {
			return refuse(err, false)
		}
		// The TMS hears of it once, like the history.
		if d.otaFailure(ctx, OTAEvent{Kind: "params", Result: "failed", Target: t.Name, Version: t.Version, Detail: err.Error()}, err) {
			d.report(ctx, t, "failed", err.Error())
		}
		return fmt.Errorf("parameters %s: %w", t.Name, err)
	}
	use, version, err := d.prepareParams(b)
	if err != nil {
		return refuse(err, true)
	}
	if version != t.Version {
		return refuse(fmt.Errorf("bundle version %d, its target says %d", version, t.Version), true)
	}
	set := ParamsSet{Version: version, Target: t.Name, SHA256: t.SHA256, Applied: time.Now().UTC()}
	raw, err := json.Marshal(set)
	if err != nil {
		return err
	}
	err = d.whenIdle(ctx, func() error {
		// The bundle is kept with its version: a restart puts it in use
		// again (openOTA) instead of the configuration's parameters.
		if err := d.DB.Bolt().Update(func(tx *bbolt.Tx) error {
			b2 := tx.Bucket(otaBucket)
			if err := b2.Put(otaBundleKey, b); err != nil {
				return err
			}
			if err := b2.Delete(otaRefusedKey); err != nil {
				return err
			}
			return b2.Put(otaParamsKey, raw)
		}); err != nil {
			return err
		}
		use()
		return nil
	})
	if err != nil {
		d.otaFailure(ctx, OTAEvent{Kind: "params", Result: "failed", Target: t.Name, Version: t.Version, Detail: err.Error()}, err)
		return err
	}
	d.Log.Info("parameters applied", "version", set.Version, "target", t.Name)
	d.otaEvent(OTAEvent{Kind: "params", Result: "applied", Target: t.Name, Version: t.Version})
	d.report(ctx, t, "applied", "")
	return nil
}

// prepareParams checks a bundle whole and returns what puts it in use
// (it cannot fail) and its version. A bundle with a section that does not
// check is refused whole.
//
// The bundle is the acquirer's whole parameter set over the
// configuration: risk rules are the configuration's with the bundle's
// risk section, then its limits section, over them; the card ranges on
// the hotlist are the bundle's (none without a hotlist section); the
// acquirer's address is the bundle's host section (the configuration's
// host.addr without one), taken from the next connection on.
func (d *Daemon) prepareParams(b []byte) (use func(), version int, err error) {
	bundle, err := ota.ParseBundle(b)
	if err != nil {
		return nil, 0, err
	}
	s := bundle.Sections
	var emvCfg *emv.Config
	if s.EMV != nil {
		cfg, err := emv.LoadParams(s.EMV)
		if err != nil {
			return nil, 0, fmt.Errorf("emv section: %w", err)
		}
		if d.Sim != nil {
			if err := cfg.AddCAPKs(deck.CAPKs()...); err != nil {
				return nil, 0, fmt.Errorf("emv section: the simulated CA keys: %w", err)
			}
		}
		emvCfg = &cfg
	}
	rules := d.Settings.Risk // over the configuration's rules, not a previous bundle's
	if s.Risk != nil {
		dec := json.NewDecoder(bytes.NewReader(s.Risk))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rules); err != nil {
			return nil, 0, fmt.Errorf("risk section: %w", err)
		}
		if err := rules.Validate(); err != nil {
			return nil, 0, fmt.Errorf("risk section: %w", err)
		}
	}
	if bundle.Limits != nil {
		if err := mergeLimits(&rules, bundle.Limits); err != nil {
			return nil, 0, fmt.Errorf("limits section: %w", err)
		}
		if err := rules.Validate(); err != nil {
			return nil, 0, fmt.Errorf("limits section: %w", err)
		}
	}
	if err := config.RiskCoversCurrencies(rules, d.Settings.Currencies); err != nil {
		return nil, 0, fmt.Errorf("risk section: the terminal's currencies: %w", err)
	}
	var ranges []string
	if bundle.Hotlist != nil {
		ranges = bundle.Hotlist.Prefixes
	}
	addr := d.Config.Host.Addr
	if bundle.Host != nil {
		addr = bundle.Host.Addr
	}
	return func() {
		// Each was checked above: none of these fails on what passed.
		_ = d.Risk.SetRules(rules)
		_ = d.Risk.SetBlockedRanges(ranges)
		_ = d.Host.SetAddr(addr)
		if emvCfg != nil {
			d.ota.k.SetConfig(*emvCfg)
		}
	}, bundle.Version, nil
}

// installFirmware writes a newer firmware into the inactive slot, marks
// it for a trial and starts it between two transactions (a reboot on
// boards with an updater, a restart under posd-supervisor); the trial
// commits itself once healthy, or rolls itself back (CheckTrial), or the
// boot loader or the supervisor rolls it back after its last boot.
//
// A version rolled back before is installed again only when all its
// rollbacks were host-link failures, fewer than the bound, its back-off
// is over and the acquirer answers the committed firmware (mayInstall,
// fwrollback.go); otherwise it waits, or stays blocked until the
// repository offers a newer one.
func (d *Daemon) installFirmware(ctx context.Context, t ota.Target) error {
	version := strconv.Itoa(t.Version)
	ok, why := d.mayInstall(ctx, version)
	if !ok {
		d.Log.Info("firmware not installed", "version", t.Version, "why", why)
		return nil
	}
	if why != "" {
		d.Log.Warn("firmware rolled back before on host-link failures: installing it again", "version", t.Version, "why", why)
	}
	if err := d.recordTarget(version, t.Name); err != nil {
		return err
	}
	b, err := d.ota.c.Fetch(ctx, t)
	if err != nil {
		if ota.Refused(err) {
			d.otaFailure(ctx, OTAEvent{Kind: "firmware", Result: "refused", Target: t.Name, Version: t.Version, Detail: err.Error()}, err)
			d.report(ctx, t, "refused", err.Error())
		} else if d.otaFailure(ctx, OTAEvent{Kind: "firmware", Result: "failed", Target: t.Name, Version: t.Version, Detail: err.Error()}, err) {
			d.report(ctx, t, "failed", err.Error())
		}
		return fmt.Errorf("firmware %s: %w", t.Name, err)
	}
	if err := d.recordHealthy(ctx); err != nil {
		return err
	}
	img := slots.Image{Version: strconv.Itoa(t.Version), SHA256: t.SHA256, Size: t.Length}
	slot, err := d.installImage(ctx, img, b)
	if err != nil {
		// A bundle whose own manifest names another version (or board)
		// than its target is refused, not installed: recorded under the
		// target's version it could block the real one.
		result := "failed"
		if errors.Is(err, slots.ErrMislabelled) {
			result = "refused"
			d.rememberRefused(otaFwRefusedKey, t, err)
		}
		d.otaFailure(ctx, OTAEvent{Kind: "firmware", Result: result, Target: t.Name, Version: t.Version, Detail: err.Error()}, err)
		d.report(ctx, t, result, err.Error())
		return err
	}
	d.otaEvent(OTAEvent{Kind: "firmware", Result: "installed", Target: t.Name, Version: t.Version, Detail: "slot " + slot})
	d.report(ctx, t, "installed", "slot "+slot)
	return d.startTrial(ctx)
}

// recordHealthy records the devices that work now: the trial must drive
// them too (a device this build or board cannot drive is not asked of it).
// Its self test waits for the transaction in progress (selfTestWhenIdle).
func (d *Daemon) recordHealthy(ctx context.Context) error {
	healthy := []string{}
	list, err := d.selfTestWhenIdle(ctx)
	if err != nil {
		return fmt.Errorf("recording the healthy devices: %w", err)
	}
	for _, st := range list {
		if st.OK {
			healthy = append(healthy, st.Name)
		}
	}
	raw, _ := json.Marshal(healthy)
	if err := d.DB.Bolt().Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(otaBucket)
		if err != nil {
			return err
		}
		return b.Put(otaHealthyKey, raw)
	}); err != nil {
		return fmt.Errorf("recording the healthy devices: %w", err)
	}
	return nil
}

// installImage writes a checked firmware image (a RAUC bundle on boards
// with an updater, the posd executable on the simulated board) into the
// inactive slot and marks it for a trial; it returns the slot.
func (d *Daemon) installImage(ctx context.Context, img slots.Image, b []byte) (string, error) {
	slot, err := d.fw.m.Install(ctx, img, bytes.NewReader(b))
	if err != nil {
		return "", fmt.Errorf("firmware %s: %w", img.Version, err)
	}
	if err := d.fw.m.TryNext(ctx); err != nil {
		return "", fmt.Errorf("firmware %s: trial of slot %s: %w", img.Version, slot, err)
	}
	d.Log.Info("firmware installed", "version", img.Version, "slot", slot)
	return slot, nil
}

// startTrial starts the installed trial between two transactions: the
// board's updater reboots into it (the boot loader starts the slot marked
// active); under posd-supervisor posd restarts and the supervisor starts
// it.
func (d *Daemon) startTrial(ctx context.Context) error {
	if d.fw.u != nil {
		return d.rebootWhenIdle(ctx)
	}
	d.Log.Info("restarting into the new firmware between transactions")
	return d.closeWhenIdle(ctx, func() error { d.requestRestart(); return nil })
}

// whenIdle runs fn between two transactions, waiting for the one in
// progress (trying again every idleRetry) until ctx ends.
func (d *Daemon) whenIdle(ctx context.Context, fn func() error) error {
	return d.untilIdle(ctx, d.Engine.WhenIdle, fn)
}

// closeWhenIdle is whenIdle for what ends posd (a restart, a reboot): once
// fn succeeds the engine takes no new transaction (txn's CloseWhenIdle),
// so none starts in the moment before posd stops.
func (d *Daemon) closeWhenIdle(ctx context.Context, fn func() error) error {
	return d.untilIdle(ctx, d.Engine.CloseWhenIdle, fn)
}

// untilIdle calls idle(fn) until it does not answer txn.ErrBusy, trying
// again every idleRetry, until ctx ends.
func (d *Daemon) untilIdle(ctx context.Context, idle func(func() error) error, fn func() error) error {
	for {
		err := idle(fn)
		if !errors.Is(err, txn.ErrBusy) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(idleRetry):
		}
	}
}

// firmwareVersion is the running firmware's version as the repository
// numbers it (0 for a slot seeded by hand).
func (d *Daemon) firmwareVersion() int {
	if d.fw == nil {
		return 0
	}
	return atoiOr0(d.fw.version)
}

// healthyBefore is the set of devices that passed their self-test before
// the firmware update (nil when not recorded).
func (d *Daemon) healthyBefore() map[string]bool {
	var names []string
	_ = d.DB.Bolt().View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(otaBucket); b != nil {
			if raw := b.Get(otaHealthyKey); raw != nil {
				return json.Unmarshal(raw, &names)
			}
		}
		return nil
	})
	if names == nil {
		return nil
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// Params is the parameter set in use (version 0: none over the air yet).
func (d *Daemon) Params() ParamsSet {
	var p ParamsSet
	_ = d.DB.Bolt().View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(otaBucket); b != nil {
			if raw := b.Get(otaParamsKey); raw != nil {
				return json.Unmarshal(raw, &p)
			}
		}
		return nil
	})
	return p
}

// OTAStatus says what the terminal runs and when it last checked.
func (d *Daemon) OTAStatus() (OTAStatus, error) {
	if d.ota == nil {
		return OTAStatus{}, ErrNoOTA
	}
	st := OTAStatus{URL: d.Config.OTA.URL, Firmware: d.Version, Interval: d.Settings.OTAInterval.String()}
	if d.fw != nil {
		st.Firmware = strconv.Itoa(d.firmwareVersion())
	}
	if p := d.Params(); p.Version > 0 {
		st.Params = &p
	}
	if d.fw != nil {
		st.RolledBack = d.rolledBackVersions(d.firmwareVersion())
	}
	d.ota.mu.Lock()
	st.LastCheck, st.LastError, st.NextCheck = d.ota.lastCheck, d.ota.lastErr, d.ota.nextCheck
	st.Checked = !st.LastCheck.IsZero()
	d.ota.mu.Unlock()
	return st, nil
}

// OTAHistory is the update history, newest first.
func (d *Daemon) OTAHistory(limit int) ([]OTAEvent, error) {
	if d.ota == nil {
		return nil, ErrNoOTA
	}
	var out []OTAEvent
	err := d.DB.Bolt().View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(otaHistory).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var e OTAEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// otaEvent appends to the history (the oldest go beyond maxOTAHistory).
// An event that is not a failure ends the repeats of the failures of its
// kind: the next one is a new entry.
func (d *Daemon) otaEvent(e OTAEvent) {
	if d.ota != nil {
		d.otaRecovered(e.Kind)
	}
	if _, err := d.appendOTAEvent(e); err != nil {
		d.Log.Error("recording an update event", "err", err)
	}
}

func (d *Daemon) appendOTAEvent(e OTAEvent) (uint64, error) {
	e.At = time.Now().UTC()
	var seq uint64
	err := d.DB.Bolt().Update(func(tx *bbolt.Tx) error {
		var err error
		seq, err = appendOTAEventTx(tx.Bucket(otaHistory), e)
		return err
	})
	return seq, err
}

// appendOTAEventTx appends e (its At set) to the history bucket b.
//
// A rollback the trial did itself comes twice: from the trial (its
// detail, no decision yet: rollbackTrial) and from the rollback's record
// (the decision: syncRollbacks). Whichever comes second completes the
// entry of the first instead of adding one.
func appendOTAEventTx(b *bbolt.Bucket, e OTAEvent) (uint64, error) {
	if e.Kind == "firmware" && e.Result == "rolled_back" {
		if k, v := b.Cursor().Last(); k != nil {
			var last OTAEvent
			if json.Unmarshal(v, &last) == nil && last.Kind == e.Kind && last.Result == e.Result &&
				last.Version == e.Version && (last.Decision == "") != (e.Decision == "") {
				trial, rec := last, e
				if last.Decision != "" {
					trial, rec = e, last
				}
				last.Detail, last.Decision, last.RetryAfter = trial.Detail, rec.Decision, rec.RetryAfter
				raw, err := json.Marshal(last)
				if err != nil {
					return 0, err
				}
				return last.Seq, b.Put(k, raw)
			}
		}
	}
	seq, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	e.Seq = seq
	if e.Count > 0 {
		e.Last = e.At
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return 0, err
	}
	if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), raw); err != nil {
		return 0, err
	}
	for b.Stats().KeyN > maxOTAHistory {
		k, _ := b.Cursor().First()
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return seq, nil
}

// failKey tells a failure from another: the same kind, result and target,
// and the same cause (errClass), is a repeat.
type failKey struct {
	kind, result, target string
	version              int
	class                string
}

// errClass is the cause of a failure, without what changes from one try
// to the next (byte counts, addresses): the package error it wraps.
func errClass(err error) string {
	var r *ota.RefusedError
	if errors.As(err, &r) {
		return "refused " + r.File + ": " + r.Reason.Error()
	}
	for _, e := range []error{ota.ErrNoSpace, ota.ErrTimeout, ota.ErrTooSlow, ota.ErrUnreachable, ota.ErrNotFound, ota.ErrBadBundle,
		slots.ErrBusy, slots.ErrTrialPending, slots.ErrMislabelled, slots.ErrUpdater, slots.ErrIncomplete} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return err.Error()
}

// otaFailure records a failure in the history: the first time as an entry
// of its own (Count 1), then, as long as it repeats with nothing else of
// its kind in between (otaRecovered), by counting it in that entry (Count,
// Last, Detail the latest words). A failure repeated at every poll so
// never pushes the real events out of the history's maxOTAHistory
// entries. A failure because posd stops (ctx ended) is not one. It
// returns whether the failure is a new entry (not a repeat).
func (d *Daemon) otaFailure(ctx context.Context, e OTAEvent, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	k := failKey{kind: e.Kind, result: e.Result, target: e.Target, version: e.Version, class: errClass(err)}
	p := d.ota
	p.histMu.Lock()
	defer p.histMu.Unlock()
	if seq, ok := p.open[k]; ok {
		counted := false
		uerr := d.DB.Bolt().Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(otaHistory)
			key := binary.BigEndian.AppendUint64(nil, seq)
			raw := b.Get(key)
			if raw == nil {
				return nil // pushed out meanwhile
			}
			var prev OTAEvent
			if err := json.Unmarshal(raw, &prev); err != nil {
				return err
			}
			prev.Count++
			prev.Last = time.Now().UTC()
			prev.Detail = e.Detail
			raw, err := json.Marshal(prev)
			if err != nil {
				return err
			}
			counted = true
			return b.Put(key, raw)
		})
		if uerr != nil {
			d.Log.Error("recording an update event", "err", uerr)
			return false
		}
		if counted {
			return false
		}
	}
	e.Count = 1
	seq, aerr := d.appendOTAEvent(e)
	if aerr != nil {
		d.Log.Error("recording an update event", "err", aerr)
		return true
	}
	p.open[k] = seq
	d.saveOpen()
	return true
}

// otaRecovered ends the repeats of the failures of kind ("check",
// "params", "firmware"): something of that kind went through.
func (d *Daemon) otaRecovered(kind string) {
	p := d.ota
	p.histMu.Lock()
	defer p.histMu.Unlock()
	n := len(p.open)
	for k := range p.open {
		if k.kind == kind {
			delete(p.open, k)
		}
	}
	if len(p.open) != n {
		d.saveOpen()
	}
}

// maxRefused is how many refused bundles of a kind are remembered: a
// repository that flips between a few bad publications gets each
// downloaded once.
const maxRefused = 8

// refusedBundle is a bundle refused (by its name and hash).
type refusedBundle struct {
	Target  string    `json:"target"`
	SHA256  string    `json:"sha256"`
	Version int       `json:"version"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// readRefused reads the refused bundles under key: a list (newest last),
// or the single object an earlier posd kept.
func readRefused(raw []byte) []refusedBundle {
	var list []refusedBundle
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	var one refusedBundle
	if json.Unmarshal(raw, &one) == nil && one.Target != "" {
		return []refusedBundle{one}
	}
	return nil
}

// rememberRefused adds t to the bundles refused under key
// (otaRefusedKey, otaFwRefusedKey; see refusedTarget), the oldest
// dropped past maxRefused.
func (d *Daemon) rememberRefused(key []byte, t ota.Target, why error) {
	r := refusedBundle{Target: t.Name, SHA256: t.SHA256, Version: t.Version, Reason: why.Error(), At: time.Now().UTC()}
	err := d.DB.Bolt().Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(otaBucket)
		list := slices.DeleteFunc(readRefused(b.Get(key)), func(x refusedBundle) bool {
			return x.Target == r.Target && strings.EqualFold(x.SHA256, r.SHA256)
		})
		list = append(list, r)
		if len(list) > maxRefused {
			list = list[len(list)-maxRefused:]
		}
		raw, err := json.Marshal(list)
		if err != nil {
			return err
		}
		return b.Put(key, raw)
	})
	if err != nil {
		d.Log.Warn("the refused bundle could not be remembered", "target", t.Name, "err", err)
	}
}

// refusedTarget tells whether t is among the bundles refused under key
// (the same name and hash), and why it was.
func (d *Daemon) refusedTarget(key []byte, t ota.Target) (string, bool) {
	var list []refusedBundle
	_ = d.DB.Bolt().View(func(tx *bbolt.Tx) error {
		list = readRefused(tx.Bucket(otaBucket).Get(key))
		return nil
	})
	for _, r := range list {
		if r.Target == t.Name && strings.EqualFold(r.SHA256, t.SHA256) {
			return r.Reason, true
		}
	}
	return "", false
}

// report tells the TMS what the terminal did with a target (best effort:
// the TMS also sees every fetch).
func (d *Daemon) report(ctx context.Context, t ota.Target, result, detail string) {
	if d.Config.OTA.ReportURL == "" {
		return
	}
	err := d.postReport(ctx, otaReport{TerminalID: d.Config.Terminal.ID, Target: t.Name, Version: t.Version,
		Result: result, Detail: detail})
	if err != nil {
		d.Log.Warn("update report not delivered", "err", err)
	}
}
