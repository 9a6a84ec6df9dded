package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/cmd/tms-sim/repo"
	"posd/conn/clock"
	"posd/internal/config"
	"posd/terminal/slots"
)

// fakeTMS is the acquirer's terminal management system as far as reports
// go: it records what terminals report, or answers 503 while down.
type fakeTMS struct {
	mu       sync.Mutex
	down     bool
	attempts int
	reports  []tmsReport
}

type tmsReport struct {
	TerminalID string `json:"terminal_id"`
	Target     string `json:"target"`
	Version    int    `json:"version"`
	Result     string `json:"result"`
	Detail     string `json:"detail"`
	ID         string `json:"id"`
	Decision   string `json:"decision"`
}

func (f *fakeTMS) ServeHTTP(w http.ResponseWriter, q *http.Request) {
	if q.URL.Path != "/v1/report" {
		http.NotFound(w, q)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.down {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	var r tmsReport
	if err := json.NewDecoder(q.Body).Decode(&r); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.reports = append(f.reports, r)
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeTMS) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

// rollbacks are the "rolled_back" reports received so far.
func (f *fakeTMS) rollbacks() []tmsReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []tmsReport
	for _, r := range f.reports {
		if r.Result == "rolled_back" {
			out = append(out, r)
		}
	}
	return out
}

// waitRollbacks waits until the TMS holds n rollback reports.
func (f *fakeTMS) waitRollbacks(t *testing.T, n int) []tmsReport {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := f.rollbacks()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the TMS got %d rollback reports, want %d: %+v", len(got), n, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startTMS runs a fake TMS and writes a pinned update root for it.
func startTMS(t *testing.T) (*fakeTMS, string, string) {
	t.Helper()
	f := &fakeTMS{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	r, err := repo.New(filepath.Join(t.TempDir(), "repo"), repo.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "root.json")
	if err := os.WriteFile(root, r.RootJSON(), 0o644); err != nil {
		t.Fatal(err)
	}
	return f, srv.URL, root
}

// openFWReport is openFW with an update repository and a TMS to report to.
func openFWReport(t *testing.T, dir, hostAddr, tmsURL, root string, u FirmwareUpdater, names [2]string) *Daemon {
	t.Helper()
	return openFWReportWith(t, "", dir, hostAddr, tmsURL, root, u, names)
}

// openFWReportWith is openFWReport with more configuration: extra is
// members of the configuration's object, each followed by a comma.
func openFWReportWith(t *testing.T, extra, dir, hostAddr, tmsURL, root string, u FirmwareUpdater, names [2]string) *Daemon {
	t.Helper()
	cfg, err := config.Parse([]byte(`{` + extra + `"data_dir":"` + dir + `","host":{"addr":"` + hostAddr + `"},` +
		`"terminal":{"id":"T0000042"},` +
		`"ota":{"url":"` + tmsURL + `/repo","root":"` + root + `","interval":"1h","report_url":"` + tmsURL + `/v1/report"}}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), cfg, "1", nil, WithFirmwareUpdater(u, names))
	if err != nil {
		t.Fatal(err)
	}
	d.healthTries, d.healthPause = 1, time.Millisecond
	return d
}

// fwOutage is a terminal whose trial of firmware 2 its own health check
// rolled back (no acquirer) while the TMS was down.
type fwOutage struct {
	dir, tmsURL, root string
	u                 *fakeUpdater
	names             [2]string
	tms               *fakeTMS
}

func rolledBackDuringTMSOutage(t *testing.T) fwOutage {
	t.Helper()
	f := fwOutage{dir: filepath.Join(t.TempDir(), "data"), u: newFakeUpdater(), names: [2]string{"a", "b"}}
	f.tms, f.tmsURL, f.root = startTMS(t)
	d := f.open(t)
	tryFirmware(t, d, "2")
	closeFW(t, d)
	f.tms.setDown(true)
	d = f.open(t) // the trial; no acquirer
	if err := d.CheckTrial(context.Background()); !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("CheckTrial: %v", err)
	}
	closeFW(t, d)
	if got := f.tms.rollbacks(); len(got) != 0 {
		t.Fatalf("reports while the TMS was down: %+v", got)
	}
	return f
}

func (f fwOutage) open(t *testing.T) *Daemon {
	return openFWReport(t, f.dir, "127.0.0.1:1", f.tmsURL, f.root, f.u, f.names)
}

// A trial rolled back by its own health check while the TMS is down is
// reported by the committed firmware that boots next, once: not again at
// the following starts. (Before, no rollback ever reached the TMS.)
func TestRollbackReportedOnceAfterTMSOutage(t *testing.T) {
	ctx := context.Background()
	f := rolledBackDuringTMSOutage(t)
	tms := f.tms

	// The committed firmware boots; the TMS is back.
	tms.setDown(false)
	d := f.open(t)
	if st := d.Status().Firmware; st.Slot != "a" || st.Trial {
		t.Fatalf("after the rollback: %+v", st)
	}
	got := tms.waitRollbacks(t, 1)
	r := got[0]
	if r.Version != 2 || r.TerminalID != "T0000042" || r.ID == "" || !strings.Contains(r.Detail, "host") {
		t.Fatalf("rollback report %+v", r)
	}
	closeFW(t, d)

	// Started again: nothing more to report.
	d = f.open(t)
	if err := d.sendRollbackReports(ctx); err != nil {
		t.Fatal(err)
	}
	closeFW(t, d)
	if got := tms.rollbacks(); len(got) != 1 {
		t.Fatalf("the rollback was reported %d times: %+v", len(got), got)
	}
}

// While the TMS does not take a rollback report, the report loop tries
// again after the waits its generator draws: the same seed, the same
// waits.
func TestRollbackReportRetryJitter(t *testing.T) {
	ctx := context.Background()
	f := rolledBackDuringTMSOutage(t)
	tms := f.tms

	// The committed firmware has a rollback to report; its own loop
	// waits on the wall clock, this one on a fake.
	d := f.open(t)
	defer closeFW(t, d)
	fake := clock.NewFake(time.Now())
	seed := [32]byte{'f', 'w'}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.reportRollbacksLoop(lctx, fake, rand.New(rand.NewChaCha8(seed)), nil)
	}()
	defer func() { cancel(); <-done }()
	stepJitter(t, fake, rand.New(rand.NewChaCha8(seed)), 8, reportRetryMin, reportRetryMax, true)
	if got := tms.rollbacks(); len(got) != 0 {
		t.Fatalf("reports while the TMS was down: %+v", got)
	}
}

// A trial that crashed before its health check (the boot loader fell back
// to the committed slot) is reported by the committed firmware, from the
// slots' history, with the reason, the card number in it masked; the
// version is blocked: a crash is the firmware's fault.
func TestBootLoaderRollbackReported(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	u := newFakeUpdater()
	names := [2]string{"a", "b"}
	tms, tmsURL, root := startTMS(t)
	acq := startAcquirer(t)

	d := openFWReport(t, dir, acq, tmsURL, root, u, names)
	tryFirmware(t, d, "2")
	closeFW(t, d)

	// The trial boots and dies before it checks its health.
	d = openFWReport(t, dir, acq, tmsURL, root, u, names)
	if st := d.Status().Firmware; st.Slot != "b" || !st.Trial {
		t.Fatalf("trial boot: %+v", st)
	}
	closeFW(t, d)
	// The boot loader gives up on b and starts a.
	u.mu.Lock()
	u.booted, u.primary = "a", "a"
	u.mu.Unlock()

	d = openFWReport(t, dir, acq, tmsURL, root, u, names)
	defer closeFW(t, d)
	r := tms.waitRollbacks(t, 1)[0]
	if r.Version != 2 || !strings.Contains(r.Detail, "boot loader") || r.Decision != "blocked" {
		t.Fatalf("rollback report %+v", r)
	}
	if v := d.firmwareVerdict(ctx, "2"); !v.Blocked {
		t.Fatalf("version 2 after a crash: %+v", v)
	}

	// A rollback whose reason carries a card number (a driver's error,
	// say): the TMS never sees the number.
	tryFirmware(t, d, "3")
	if err := d.fw.m.Rollback(ctx, "posd-supervisor: trial exited: card 4761739001010010 read failed"); err != nil {
		t.Fatal(err)
	}
	if err := d.sendRollbackReports(ctx); err != nil {
		t.Fatal(err)
	}
	got := tms.rollbacks()
	if len(got) != 2 || got[1].Version != 3 || strings.Contains(got[1].Detail, "4761739001010010") ||
		!strings.Contains(got[1].Detail, "476173******0010") {
		t.Fatalf("reports %+v", got)
	}
}

// failHostTrial installs version 2, boots it where the acquirer does not
// answer (its health check fails on the echo alone: a host outage) and
// boots the committed firmware again, talking to hostAddr.
func failHostTrial(t *testing.T, dir, hostAddr, tmsURL, root string, u FirmwareUpdater, names [2]string, d *Daemon) *Daemon {
	t.Helper()
	tryFirmware(t, d, "2")
	closeFW(t, d)
	d = openFWReport(t, dir, "127.0.0.1:1", tmsURL, root, u, names)
	if st := d.Status().Firmware; st.Slot != "b" || !st.Trial {
		t.Fatalf("trial boot: %+v", st)
	}
	if err := d.CheckTrial(context.Background()); !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("CheckTrial: %v", err)
	}
	closeFW(t, d)
	return openFWReport(t, dir, hostAddr, tmsURL, root, u, names)
}

// A trial that cannot drive a device the committed firmware drove (the
// camera, gone on the trial boot) is rolled back on that device although
// the acquirer answers: the reason names the device, the version is
// blocked (the firmware's fault) and the TMS is told so.
func TestTrialLosingADeviceBlocked(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	u, names := newFakeUpdater(), [2]string{"a", "b"}
	tms, tmsURL, root := startTMS(t)
	acq := startAcquirer(t)

	d := openFWReport(t, dir, acq, tmsURL, root, u, names)
	tryFirmware(t, d, "2")
	camera := d.healthyBefore()["camera"]
	closeFW(t, d)
	if !camera {
		t.Skip("the camera did not work before the update (the nocv build has none): no device to lose")
	}
	d = openFWReportWith(t, `"sim":{"no_camera":true},`, dir, acq, tmsURL, root, u, names)
	defer closeFW(t, d)
	if st := d.Status().Firmware; st.Slot != "b" || !st.Trial {
		t.Fatalf("trial boot: %+v", st)
	}
	u.take()
	if err := d.CheckTrial(ctx); !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("CheckTrial: %v", err)
	}
	if got := u.take(); got != "bad b, active a, reboot" {
		t.Fatalf("rollback at the updater: %q", got)
	}
	st, err := d.fw.m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Last == nil || st.Last.Kind != slots.EventRollback || st.Last.From != "2" ||
		!strings.HasPrefix(st.Last.Reason, healthReasonPrefix+"device camera: ") {
		t.Fatalf("last slot event %+v", st.Last)
	}
	if v := d.firmwareVerdict(ctx, "2"); !v.Blocked {
		t.Fatalf("version 2 after losing the camera: %+v", v)
	}
	if r := tms.waitRollbacks(t, 1)[0]; r.Version != 2 || r.Decision != "blocked" || !strings.Contains(r.Detail, "device camera") {
		t.Fatalf("report %+v", r)
	}
}

// A trial that failed its health check only because the acquirer did not
// answer (a shop's network down) is not blocked: the version is tried
// again after a back-off (1 h, then 4 h), and only once the committed
// firmware reaches the acquirer itself; the third such rollback blocks it
// and the TMS is told. (Before, one outage blocked the version for good.)
func TestHostOutageTrialRetried(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	u := newFakeUpdater()
	names := [2]string{"a", "b"}
	tms, tmsURL, root := startTMS(t)
	acq := startAcquirer(t)

	d := openFWReport(t, dir, acq, tmsURL, root, u, names)
	d = failHostTrial(t, dir, acq, tmsURL, root, u, names, d)
	fake := clock.NewFake(time.Now())
	d.fw.clk = fake
	if r := tms.waitRollbacks(t, 1)[0]; r.Version != 2 || r.Decision != "retry" || !strings.Contains(r.Detail, "host link") {
		t.Fatalf("first report %+v", r)
	}
	v := d.firmwareVerdict(ctx, "2")
	if v.Blocked || v.HostFailures != 1 || v.RetryAfter.Before(fake.Now().Add(59*time.Minute)) {
		t.Fatalf("after one host outage: %+v", v)
	}
	if ok, why := d.mayInstall(ctx, "2"); ok {
		t.Fatal("version 2 tried again at once")
	} else if !strings.Contains(why, "after") {
		t.Fatalf("why not: %q", why)
	}
	fake.Advance(61 * time.Minute)
	if ok, why := d.mayInstall(ctx, "2"); !ok {
		t.Fatalf("version 2 not tried again after the back-off: %s", why)
	}
	closeFW(t, d)

	// The committed firmware cannot reach the acquirer either: the outage
	// goes on, the version waits (and no attempt is spent).
	d = openFWReport(t, dir, "127.0.0.1:1", tmsURL, root, u, names)
	d.fw.clk = fake
	if ok, why := d.mayInstall(ctx, "2"); ok || !strings.Contains(why, "committed firmware") {
		t.Fatalf("tried during the outage: %v %q", ok, why)
	}
	closeFW(t, d)

	// Second outage: 4 h of back-off.
	d = openFWReport(t, dir, acq, tmsURL, root, u, names)
	d = failHostTrial(t, dir, acq, tmsURL, root, u, names, d)
	d.fw.clk = fake
	if r := tms.waitRollbacks(t, 2)[1]; r.Decision != "retry" {
		t.Fatalf("second report %+v", r)
	}
	fake.Advance(61 * time.Minute)
	if ok, _ := d.mayInstall(ctx, "2"); ok {
		t.Fatal("the second back-off is not longer than the first")
	}
	fake.Advance(3 * time.Hour)
	if ok, why := d.mayInstall(ctx, "2"); !ok {
		t.Fatalf("version 2 not tried after the second back-off: %s", why)
	}

	// Third: the firmware may well be what cannot reach the host: blocked,
	// and the TMS told.
	d = failHostTrial(t, dir, acq, tmsURL, root, u, names, d)
	defer closeFW(t, d)
	d.fw.clk = fake
	if r := tms.waitRollbacks(t, 3)[2]; r.Decision != "blocked" || !strings.Contains(r.Detail, "3") {
		t.Fatalf("third report %+v", r)
	}
	fake.Advance(1000 * time.Hour)
	if v := d.firmwareVerdict(ctx, "2"); !v.Blocked {
		t.Fatalf("after three host-link rollbacks: %+v", v)
	}
	if ok, _ := d.mayInstall(ctx, "2"); ok {
		t.Fatal("a blocked version may be installed")
	}
	if got := tms.rollbacks(); len(got) != 3 {
		t.Fatalf("reports %+v", got)
	}
}

// A trial whose devices fail their self-test is the firmware's fault; one
// where only the host echo failed is not.
func TestHealthFailureClass(t *testing.T) {
	for _, c := range []struct {
		err  error
		host bool
	}{
		{&healthError{host: true, err: errors.New("host echo: connection refused")}, true},
		{&healthError{err: errors.New("device nfc: no answer")}, false},
		{errors.New("something else"), false},
	} {
		reason := healthReason(c.err)
		if got := hostOnly(reason); got != c.host {
			t.Errorf("%v: reason %q host-only %v, want %v", c.err, reason, got, c.host)
		}
		if !strings.HasPrefix(reason, "health check failed") {
			t.Errorf("reason %q", reason)
		}
	}
}

// rolledBackEvents are the history's firmware rollbacks of version.
func rolledBackEvents(t *testing.T, d *Daemon, version int) []OTAEvent {
	t.Helper()
	h, err := d.OTAHistory(100)
	if err != nil {
		t.Fatal(err)
	}
	var out []OTAEvent
	for _, e := range h {
		if e.Kind == "firmware" && e.Result == "rolled_back" && e.Version == version {
			out = append(out, e)
		}
	}
	return out
}

// The field engineer's case: the trial of version 2 failed its boots and
// posd-supervisor rolled it back (posd's own health check never ran).
// The update history shows the rollback with its reason and decision,
// ota status names version 2 as blocked, and nothing shows a zero
// retry_after. (Before, the history had only "installed" and ota status
// said nothing of version 2.)
func TestSupervisorRollbackInOTAHistory(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	u := newFakeUpdater()
	names := [2]string{"a", "b"}
	tms, tmsURL, root := startTMS(t)
	acq := startAcquirer(t)

	d := openFWReport(t, dir, acq, tmsURL, root, u, names)
	tryFirmware(t, d, "2")
	if err := d.fw.m.Rollback(ctx, "posd-supervisor: trial boot 3 of 3 failed: exit status 2"); err != nil {
		t.Fatal(err)
	}
	closeFW(t, d)
	d = openFWReport(t, dir, acq, tmsURL, root, u, names)
	defer closeFW(t, d)
	tms.waitRollbacks(t, 1)
	if err := d.syncRollbacks(ctx); err != nil {
		t.Fatal(err)
	}

	got := rolledBackEvents(t, d, 2)
	if len(got) != 1 || got[0].Decision != "blocked" || !strings.Contains(got[0].Detail, "posd-supervisor: trial boot 3 of 3") {
		t.Fatalf("history's rollbacks of version 2: %+v", got)
	}
	h, _ := d.OTAHistory(100)
	raw, _ := json.Marshal(h)
	if strings.Contains(string(raw), "0001-01-01") {
		t.Errorf("history shows a zero time: %s", raw)
	}

	st, err := d.OTAStatus()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.RolledBack) != 1 || st.RolledBack[0].Version != 2 || st.RolledBack[0].Decision != "blocked" ||
		!strings.Contains(st.RolledBack[0].Reason, "posd-supervisor") {
		t.Fatalf("ota status: %+v", st)
	}
	raw, _ = json.Marshal(st)
	if strings.Contains(string(raw), "0001-01-01") || strings.Contains(string(raw), "retry_after") {
		t.Errorf("ota status of a blocked version: %s", raw)
	}
}

// A trial that rolled itself back (its health check failed on the host
// echo: a retry) has one history entry for it, with the decision and
// when it is tried again, not one from the trial and one from the
// committed firmware.
func TestOwnRollbackOnceInOTAHistory(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	u := newFakeUpdater()
	names := [2]string{"a", "b"}
	tms, tmsURL, root := startTMS(t)
	acq := startAcquirer(t)

	d := openFWReport(t, dir, acq, tmsURL, root, u, names)
	d = failHostTrial(t, dir, acq, tmsURL, root, u, names, d)
	defer closeFW(t, d)
	tms.waitRollbacks(t, 1)
	if err := d.syncRollbacks(ctx); err != nil {
		t.Fatal(err)
	}
	got := rolledBackEvents(t, d, 2)
	if len(got) != 1 || got[0].Decision != "retry" || got[0].RetryAfter.IsZero() || !strings.Contains(got[0].Detail, "host link") {
		t.Fatalf("history's rollbacks of version 2: %+v", got)
	}
	st, err := d.OTAStatus()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.RolledBack) != 1 || st.RolledBack[0].Decision != "retry" || st.RolledBack[0].RetryAfter.IsZero() {
		t.Fatalf("ota status: %+v", st.RolledBack)
	}
}

// The log line of a rollback recorded names no retry time for a blocked
// version (before: retry_after=0001-01-01T00:00:00.000Z).
func TestRollbackLogNoZeroRetry(t *testing.T) {
	at := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	for _, r := range []fwRollback{
		{Version: "2", Decision: decisionBlocked, Reason: "posd-supervisor: gave up", At: at},
		{Version: "2", Decision: decisionRetry, HostOnly: true, HostFailures: 1, RetryAfter: at.Add(time.Hour), Reason: hostLinkReason + "echo", At: at},
	} {
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Warn("firmware rollback recorded", r.logArgs()...)
		line := buf.String()
		if strings.Contains(line, "0001-01-01") {
			t.Errorf("zero time logged: %s", line)
		}
		if want := r.Decision == decisionRetry; strings.Contains(line, "retry_after=") != want {
			t.Errorf("retry_after logged %v, want %v: %s", !want, want, line)
		}
	}
}
