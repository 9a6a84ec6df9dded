package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"posd/conn/clock"
	"posd/terminal/ota"
	"posd/terminal/redact"
	"posd/terminal/slots"

	"go.etcd.io/bbolt"
)

// Firmware rollbacks, what they mean for the version rolled back, and
// their reports to the TMS.
//
// The slots' history is the truth about rollbacks: posd's own health
// check (CheckTrial), posd-supervisor and the boot loader (found by
// Booted) all record a rollback event there, with its reason. posd copies
// each rollback event into its database (bucket fwBucket) the first time
// it sees it (syncRollbacks), decides there once what the rollback means
// for its version, and keeps whether the TMS has the report. So a
// rollback is reported whichever process did it, by the trial that
// rolled itself back or, when that one could not (it crashed, the TMS
// was down), by the committed firmware that runs next.
//
// The rule for a rolled-back version:
//
//   - A trial whose health check failed only on the host echo (every
//     device passed its self-test on every try) is a host-link failure:
//     the shop's network or the acquirer may have been down, which is not
//     the firmware's fault. The version is tried again, after a back-off
//     (hostBackoff after the first such rollback, 4 times longer after
//     each next one) and only once the committed firmware reaches the
//     acquirer itself (an echo just before the install): a host still
//     down spends no attempt. The hostRollbacks-th host-link rollback of
//     the same version blocks it: a firmware that cannot reach the host
//     looks just like an outage, and is not retried endlessly.
//   - Any other rollback (a device failed its self-test, the trial
//     crashed or hung and the supervisor or boot loader gave up on it, its
//     image was damaged) is the firmware's fault: the version is blocked.
//
// A blocked version is not installed again; a newer one from the
// repository is. Each rollback is reported once to the TMS (result
// "rolled_back", the decision "retry" or "blocked", the reason with card
// numbers masked, and an id the TMS can drop repeats by): delivery is
// retried with a back-off while the TMS does not take it, and the record
// is marked reported in the same database once it did.

// fwBucket holds the rollback records ("r/" + id) and the repository's
// target name of each firmware version installed ("t/" + version).
var fwBucket = []byte("firmware_rollbacks")

// Defaults of the host-link retry rule and of the report retries.
const (
	defaultHostRollbacks = 3
	defaultHostBackoff   = time.Hour
	hostBackoffFactor    = 4
	maxHostBackoff       = 7 * 24 * time.Hour
	reportRetryMin       = 30 * time.Second
	reportRetryMax       = 30 * time.Minute
	// maxRollbackRecords bounds the records kept (the oldest reported go
	// first); the slots' history keeps at most 200 events, so a record
	// dropped is never found there again.
	maxRollbackRecords = 256
	maxReportDetail    = 400
)

// Decisions of a rollback record.
const (
	decisionRetry   = "retry"
	decisionBlocked = "blocked"
)

// hostLinkReason starts the reason of a rollback whose health check
// failed on the host echo alone; deviceReason that of one where a device
// failed. Both are in the slots' history, which both firmware versions
// read: the class travels in the reason, the event has no other field.
const (
	healthReasonPrefix = "health check failed: "
	hostLinkReason     = healthReasonPrefix + "host link only: "
)

// healthError is a failed health check: host says it was the echo only.
type healthError struct {
	host bool
	err  error
}

func (e *healthError) Error() string { return e.err.Error() }
func (e *healthError) Unwrap() error { return e.err }

// healthReason is the rollback reason recorded for a failed health check.
func healthReason(err error) string {
	var he *healthError
	if errors.As(err, &he) {
		if he.host {
			return hostLinkReason + he.Error()
		}
		return healthReasonPrefix + he.Error()
	}
	return healthReasonPrefix + err.Error()
}

// hostOnly tells a rollback reason of a host-link failure.
func hostOnly(reason string) bool { return strings.HasPrefix(reason, hostLinkReason) }

// fwRollback is one rollback as posd records it.
type fwRollback struct {
	ID      string    `json:"id"`
	Version string    `json:"version"` // the version rolled back
	Slot    string    `json:"slot"`    // the slot running after it
	At      time.Time `json:"at"`
	Reason  string    `json:"reason"`
	// HostOnly: its health check failed on the host echo alone.
	HostOnly bool `json:"host_only,omitempty"`
	// HostFailures counts the host-link rollbacks of Version, this one
	// included.
	HostFailures int       `json:"host_failures,omitempty"`
	Decision     string    `json:"decision"`
	RetryAfter   time.Time `json:"retry_after,omitzero"`
	Reported     bool      `json:"reported,omitempty"`
	// GaveUp: the TMS refused the report (4xx); not sent again.
	GaveUp string `json:"gave_up,omitempty"`
}

// rollbackID names a rollback event: its number in the slots' history and
// its time (a slots state made anew numbers from 1 again).
func rollbackID(e slots.Event) string {
	return fmt.Sprintf("%020d-%d", e.Seq, e.At.UnixNano())
}

// hostPolicy returns the host-link retry rule in force.
func (fw *firmware) hostPolicy() (int, time.Duration) {
	n, b := fw.hostRollbacks, fw.hostBackoff
	if n < 1 {
		n = defaultHostRollbacks
	}
	if b <= 0 {
		b = defaultHostBackoff
	}
	return n, b
}

// decide fills the decision of r given the earlier records of its version.
func (r *fwRollback) decide(prev []fwRollback, maxHost int, backoff time.Duration) {
	fault := !r.HostOnly
	n := 0
	if r.HostOnly {
		n = 1
	}
	for _, p := range prev {
		if p.HostOnly {
			n++
		} else {
			fault = true
		}
	}
	r.HostFailures = n
	switch {
	case fault, n >= maxHost:
		r.Decision = decisionBlocked
	default:
		r.Decision = decisionRetry
		wait := backoff
		for range n - 1 {
			wait *= hostBackoffFactor
		}
		r.RetryAfter = r.At.Add(min(wait, maxHostBackoff))
	}
}

// syncRollbacks records the rollbacks of the slots' history not recorded
// yet, deciding for each what it means for its version.
func (d *Daemon) syncRollbacks(ctx context.Context) error {
	hist, err := d.fw.m.History(ctx, 0)
	if err != nil {
		return fmt.Errorf("firmware rollbacks: %w", err)
	}
	maxHost, backoff := d.fw.hostPolicy()
	err = d.DB.Bolt().Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(fwBucket)
		if err != nil {
			return err
		}
		recs, err := rollbackRecords(b)
		if err != nil {
			return err
		}
		added := false
		for _, e := range hist {
			if e.Kind != slots.EventRollback || e.From == "" {
				continue
			}
			id := rollbackID(e)
			if b.Get([]byte("r/"+id)) != nil {
				continue
			}
			r := fwRollback{ID: id, Version: e.From, Slot: e.Slot, At: e.At.UTC(), Reason: e.Reason, HostOnly: hostOnly(e.Reason)}
			var prev []fwRollback
			for _, p := range recs {
				if p.Version == r.Version {
					prev = append(prev, p)
				}
			}
			r.decide(prev, maxHost, backoff)
			if err := putRollback(b, r); err != nil {
				return err
			}
			recs = append(recs, r)
			added = true
			d.Log.Warn("firmware rollback recorded", r.logArgs()...)
			// The update history shows it too, whichever process rolled
			// back (posd-supervisor and the boot loader write no history).
			if h := tx.Bucket(otaHistory); h != nil && d.ota != nil {
				if _, err := appendOTAEventTx(h, r.historyEvent()); err != nil {
					return err
				}
			}
		}
		if !added || len(recs) <= maxRollbackRecords {
			return nil
		}
		sort.Slice(recs, func(i, j int) bool { return recs[i].At.Before(recs[j].At) })
		for _, r := range recs[:len(recs)-maxRollbackRecords] {
			if r.Reported || r.GaveUp != "" {
				if err := b.Delete([]byte("r/" + r.ID)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("firmware rollbacks: %w", err)
	}
	return nil
}

// logArgs are the attributes of the log line of a rollback recorded: no
// retry time for a blocked version.
func (r fwRollback) logArgs() []any {
	args := []any{"version", r.Version, "decision", r.Decision, "host_failures", r.HostFailures}
	if r.Decision == decisionRetry && !r.RetryAfter.IsZero() {
		args = append(args, "retry_after", r.RetryAfter)
	} else if r.Decision == decisionBlocked {
		args = append(args, "until", "the repository offers a newer version")
	}
	return append(args, "reason", r.Reason)
}

// historyEvent is the update history's entry of a rollback.
func (r fwRollback) historyEvent() OTAEvent {
	e := OTAEvent{At: r.At, Kind: "firmware", Result: "rolled_back", Version: atoiOr0(r.Version),
		Detail: boundDetail(redact.Digits(r.Reason)), Decision: r.Decision}
	if r.Decision == decisionRetry {
		e.RetryAfter = r.RetryAfter
	}
	return e
}

func boundDetail(s string) string {
	if len(s) > maxReportDetail {
		s = strings.ToValidUTF8(s[:maxReportDetail], "")
	}
	return s
}

// FirmwareRollback is a firmware version rolled back, as ota status
// shows it: blocked (not installed again; a newer version from the
// repository is) or to be tried again after RetryAfter.
type FirmwareRollback struct {
	Version    int       `json:"version"`
	Decision   string    `json:"decision"`
	RetryAfter time.Time `json:"retry_after,omitzero"`
	// Reason and At are the last rollback's.
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	Note   string    `json:"note"`
}

// rolledBackVersions are the versions newer than running that were
// rolled back, by version (from the records: read only, no sync).
func (d *Daemon) rolledBackVersions(running int) []FirmwareRollback {
	byVersion := map[int]*FirmwareRollback{}
	_ = d.DB.Bolt().View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(fwBucket)
		if b == nil {
			return nil
		}
		recs, err := rollbackRecords(b)
		if err != nil {
			return err
		}
		for _, r := range recs {
			v := atoiOr0(r.Version)
			if v <= running {
				continue
			}
			f := byVersion[v]
			if f == nil {
				f = &FirmwareRollback{Version: v}
				byVersion[v] = f
			}
			if !r.At.Before(f.At) {
				f.At, f.Reason = r.At, redact.Digits(r.Reason)
				if f.Decision != decisionBlocked {
					f.Decision, f.RetryAfter = r.Decision, r.RetryAfter
				}
			}
			if r.Decision == decisionBlocked {
				f.Decision, f.RetryAfter = decisionBlocked, time.Time{}
			}
		}
		return nil
	})
	var out []FirmwareRollback
	for _, v := range slices.Sorted(maps.Keys(byVersion)) {
		f := *byVersion[v]
		if f.Decision == decisionBlocked {
			f.RetryAfter = time.Time{}
			f.Note = "blocked: not installed again; a newer version from the repository is"
		} else {
			f.Note = "tried again after " + f.RetryAfter.UTC().Format(time.RFC3339) + ", once the acquirer answers"
		}
		out = append(out, f)
	}
	return out
}

func rollbackRecords(b *bbolt.Bucket) ([]fwRollback, error) {
	var out []fwRollback
	c := b.Cursor()
	for k, v := c.Seek([]byte("r/")); k != nil && bytes.HasPrefix(k, []byte("r/")); k, v = c.Next() {
		var r fwRollback
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, fmt.Errorf("rollback record %s: %w", k, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func putRollback(b *bbolt.Bucket, r fwRollback) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put([]byte("r/"+r.ID), raw)
}

// fwVerdict is what the rollbacks of one version say about installing it.
type fwVerdict struct {
	Blocked      bool
	HostFailures int
	// RetryAfter: not before (host-link rollbacks only).
	RetryAfter time.Time
	// Reason of the last rollback.
	Reason string
}

// firmwareVerdict reads the rollbacks of version (recording those of the
// slots' history first).
func (d *Daemon) firmwareVerdict(ctx context.Context, version string) fwVerdict {
	if err := d.syncRollbacks(ctx); err != nil {
		d.Log.Warn("firmware rollbacks not read from the slots' history", "err", err)
	}
	var v fwVerdict
	_ = d.DB.Bolt().View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(fwBucket)
		if b == nil {
			return nil
		}
		recs, err := rollbackRecords(b)
		if err != nil {
			return err
		}
		var last time.Time
		for _, r := range recs {
			if r.Version != version {
				continue
			}
			v.Blocked = v.Blocked || r.Decision == decisionBlocked
			v.HostFailures = max(v.HostFailures, r.HostFailures)
			if !r.At.Before(last) {
				last, v.RetryAfter, v.Reason = r.At, r.RetryAfter, r.Reason
			}
		}
		return nil
	})
	return v
}

// mayInstall applies the rule to a version the repository offers: never
// rolled back, or rolled back on host-link failures only, its back-off
// over and the acquirer answering the committed firmware. why says why
// not (or why again).
func (d *Daemon) mayInstall(ctx context.Context, version string) (ok bool, why string) {
	v := d.firmwareVerdict(ctx, version)
	maxHost, _ := d.fw.hostPolicy()
	switch {
	case v.Blocked:
		return false, "rolled back before (" + v.Reason + "): blocked until the repository offers a newer version"
	case v.HostFailures == 0:
		return true, ""
	case d.fw.clock().Now().Before(v.RetryAfter):
		return false, fmt.Sprintf("rolled back after %d host-link failure(s); tried again after %s",
			v.HostFailures, v.RetryAfter.UTC().Format(time.RFC3339))
	}
	if _, err := d.Echo(ctx); err != nil {
		return false, "the acquirer does not answer the committed firmware either (" + err.Error() + "): not blaming the new one yet"
	}
	return true, fmt.Sprintf("trying again after %d of %d host-link failures", v.HostFailures, maxHost)
}

// recordTarget remembers the repository's name of a firmware version
// about to be installed, for the reports of its rollbacks.
func (d *Daemon) recordTarget(version, name string) error {
	err := d.DB.Bolt().Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(fwBucket)
		if err != nil {
			return err
		}
		return b.Put([]byte("t/"+version), []byte(name))
	})
	if err != nil {
		return fmt.Errorf("recording firmware target %s: %w", name, err)
	}
	return nil
}

// reportDetail is what the TMS reads of a rollback: the decision and the
// reason, card numbers masked, bounded.
func (r fwRollback) reportDetail(maxHost int) string {
	var s string
	switch {
	case r.Decision == decisionRetry:
		s = fmt.Sprintf("host link failure %d of %d, tried again after %s: ", r.HostFailures, maxHost, r.RetryAfter.UTC().Format(time.RFC3339))
	case r.HostOnly:
		s = fmt.Sprintf("blocked after %d host link failures: ", r.HostFailures)
	default:
		s = "blocked (firmware fault): "
	}
	return boundDetail(redact.Digits(s + r.Reason))
}

// sendRollbackReports sends the TMS every rollback not reported yet,
// oldest first, marking each reported once the TMS took it. It stops at
// the first one the TMS does not take (nil when there is no report URL).
func (d *Daemon) sendRollbackReports(ctx context.Context) error {
	if d.fw == nil || d.Config.OTA.ReportURL == "" {
		return nil
	}
	d.fw.reportMu.Lock()
	defer d.fw.reportMu.Unlock()
	if err := d.syncRollbacks(ctx); err != nil {
		return err
	}
	var pending []fwRollback
	targets := map[string]string{}
	err := d.DB.Bolt().View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(fwBucket)
		recs, err := rollbackRecords(b)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if !r.Reported && r.GaveUp == "" {
				pending = append(pending, r)
				if t := b.Get([]byte("t/" + r.Version)); t != nil {
					targets[r.Version] = string(t)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("firmware rollbacks: %w", err)
	}
	sort.SliceStable(pending, func(i, j int) bool { return pending[i].At.Before(pending[j].At) })
	maxHost, _ := d.fw.hostPolicy()
	for _, r := range pending {
		target := targets[r.Version]
		if target == "" {
			target = "firmware/" + r.Version
		}
		err := d.postReport(ctx, otaReport{TerminalID: d.Config.Terminal.ID, Target: target, Version: atoiOr0(r.Version),
			Result: "rolled_back", Detail: r.reportDetail(maxHost), ID: r.ID, Decision: r.Decision})
		var refused *reportRefusedError
		switch {
		case errors.As(err, &refused):
			// Sent again it would be refused again.
			d.Log.Error("the TMS refused a rollback report; not sent again", "version", r.Version, "err", err)
			r.GaveUp = err.Error()
		case err != nil:
			return fmt.Errorf("rollback of firmware %s: %w", r.Version, err)
		default:
			r.Reported = true
			d.Log.Info("firmware rollback reported", "version", r.Version, "decision", r.Decision)
		}
		if err := d.DB.Bolt().Update(func(tx *bbolt.Tx) error { return putRollback(tx.Bucket(fwBucket), r) }); err != nil {
			return fmt.Errorf("marking the rollback of firmware %s reported: %w", r.Version, err)
		}
	}
	return nil
}

// reportRollbacksLoop sends the rollback reports at start, at each poke,
// and after a jittered, doubling back-off while the TMS does not take
// them: each wait between half the step and the step, drawn from rnd,
// timed by clk.
func (d *Daemon) reportRollbacksLoop(ctx context.Context, clk clock.Clock, rnd *rand.Rand, poke <-chan struct{}) {
	wait := reportRetryMin
	for {
		var retry <-chan time.Time
		if err := d.sendRollbackReports(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			in := wait/2 + time.Duration(rnd.Int64N(int64(wait/2+1)))
			d.Log.Warn("firmware rollback not reported; trying again", "in", in, "err", err)
			retry = clk.After(in)
			wait = min(2*wait, reportRetryMax)
		} else {
			wait = reportRetryMin
		}
		select {
		case <-ctx.Done():
			return
		case <-poke:
		case <-retry:
		}
	}
}

// otaReport is what the terminal tells the TMS about a target.
type otaReport struct {
	TerminalID string `json:"terminal_id"`
	Target     string `json:"target"`
	Version    int    `json:"version"`
	Result     string `json:"result"`
	Detail     string `json:"detail"`
	// ID names a report sent until the TMS takes it: a repeat (the TMS
	// took it, the answer was lost) carries the same id.
	ID string `json:"id,omitempty"`
	// Decision (rolled_back): "retry" or "blocked".
	Decision string `json:"decision,omitempty"`
}

// reportRefusedError: the TMS answered a report with a client error; it
// would refuse it again.
type reportRefusedError struct{ status string }

func (e *reportRefusedError) Error() string { return "the TMS refused the report: " + e.status }

// postReport sends one report to the TMS.
func (d *Daemon) postReport(ctx context.Context, r otaReport) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Config.OTA.ReportURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("update report: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(ota.TerminalHeader, d.Config.Terminal.ID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("update report: %w", err)
	}
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests:
		return &reportRefusedError{status: resp.Status}
	default:
		return fmt.Errorf("update report: the TMS answered %s", resp.Status)
	}
}
