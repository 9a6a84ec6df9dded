package daemon

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"posd/board"
	"posd/board/rauc/rauctest"
	"posd/cmd/tms-sim/repo"
	"posd/internal/config"
	"posd/terminal/ota"
)

// otaRepo is a repository served over HTTP whose answers the test can
// break: down (every file 503) or targets only (target files 503).
type otaRepo struct {
	rp   *repo.Repo
	url  string
	root string

	mu          sync.Mutex
	down        bool
	targetsDown bool
}

func newOTARepo(t *testing.T) *otaRepo {
	t.Helper()
	rp, err := repo.New(filepath.Join(t.TempDir(), "repo"), repo.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	o := &otaRepo{rp: rp}
	h := rp.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := strings.Contains(r.URL.Path, "/targets/") && strings.Contains(r.URL.Path, "/params/") ||
			strings.Contains(r.URL.Path, "/firmware/")
		o.mu.Lock()
		down, tdown := o.down, o.targetsDown && target
		o.mu.Unlock()
		if down || tdown {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	o.url = hs.URL
	o.root = filepath.Join(t.TempDir(), "root.json")
	if err := os.WriteFile(o.root, rp.RootJSON(), 0o644); err != nil {
		t.Fatal(err)
	}
	return o
}

func (o *otaRepo) publish(t *testing.T, name string, b []byte, kind string, version int) {
	t.Helper()
	if err := o.rp.AddTarget(name, b, map[string]any{"kind": kind, "version": version}); err != nil {
		t.Fatal(err)
	}
	if err := o.rp.Publish(); err != nil {
		t.Fatal(err)
	}
}

func (o *otaRepo) set(down, targetsDown bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.down, o.targetsDown = down, targetsDown
}

// withTMS is a TMS that takes the terminal's reports, and the
// configuration members of the repository with it as report_url.
func (o *otaRepo) withTMS(t *testing.T) (*fakeTMS, string) {
	t.Helper()
	tms := &fakeTMS{}
	ts := httptest.NewServer(tms)
	t.Cleanup(ts.Close)
	return tms, strings.Replace(o.members(), `"interval"`, `"report_url":"`+ts.URL+`/v1/report","interval"`, 1)
}

func (o *otaRepo) members() string {
	return `"host":{"addr":"127.0.0.1:1"},"ota":{"url":"` + o.url + `","root":"` + o.root + `","interval":"1h"}`
}

func history(t *testing.T, d *Daemon) []OTAEvent {
	t.Helper()
	h, err := d.OTAHistory(maxOTAHistory)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// A download that keeps failing (here the repository's target files
// answer 503) shows in ota status' last_error and once in the history,
// with a count, however many polls repeat it; so does a repository that
// is down. Once the update arrives the next failure is a new entry.
func TestOTAFetchFailureShown(t *testing.T) {
	ctx := context.Background()
	o := newOTARepo(t)
	o.publish(t, "params/params-2.json", []byte(`{"version": 2, "created": "2026-03-01T10:00:00Z", "sections": {"limits": {"offline": {"floor_limit": 5000}}}}`), "params", 2)
	o.set(false, true)
	tms, members := o.withTMS(t)
	d := newConsoleRigWith(t, members).open()
	defer closeDaemon(t, d)

	for range 5 {
		if err := d.otaRound(ctx); err == nil {
			t.Fatal("a round whose download failed returned no error")
		}
	}
	st, err := d.OTAStatus()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.LastError, "unreachable") || !strings.Contains(st.LastError, "params-2") {
		t.Errorf("ota status last_error %q does not say why the parameters do not arrive", st.LastError)
	}
	h := history(t, d)
	if len(h) != 1 || h[0].Kind != "params" || h[0].Result != "failed" || h[0].Target != "params/params-2.json" ||
		h[0].Version != 2 || h[0].Count != 5 || !strings.Contains(h[0].Detail, "unreachable") {
		t.Fatalf("history after 5 failed downloads: %+v", h)
	}
	if h[0].Last.IsZero() || h[0].Last.Before(h[0].At) {
		t.Errorf("the last repeat's time: %+v", h[0])
	}
	tms.mu.Lock()
	reports := append([]tmsReport(nil), tms.reports...)
	tms.mu.Unlock()
	if len(reports) != 1 || reports[0].Result != "failed" || reports[0].Target != "params/params-2.json" || !strings.Contains(reports[0].Detail, "unreachable") {
		t.Errorf("the TMS, told once of the failure: %+v", reports)
	}

	// The repository down: the check fails, once in the history too.
	o.set(true, false)
	for range 3 {
		_ = d.otaRound(ctx)
	}
	st, _ = d.OTAStatus()
	if !strings.Contains(st.LastError, "unreachable") {
		t.Errorf("last_error with the repository down: %q", st.LastError)
	}
	h = history(t, d)
	if len(h) != 2 || h[0].Kind != "check" || h[0].Result != "failed" || h[0].Count != 3 || h[1].Count != 5 {
		t.Fatalf("history with the repository down: %+v", h)
	}

	// Back up: applied, last_error cleared.
	o.set(false, false)
	if err := d.otaRound(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ = d.OTAStatus()
	if st.LastError != "" || st.Params == nil || st.Params.Version != 2 {
		t.Errorf("status after the update arrived: %+v", st)
	}
	h = history(t, d)
	if len(h) != 3 || h[0].Result != "applied" {
		t.Fatalf("history after the update arrived: %+v", h)
	}

	// Something changed: a new failure is a new entry.
	o.publish(t, "params/params-3.json", []byte(`{"version": 3, "created": "2026-03-02T10:00:00Z", "sections": {}}`), "params", 3)
	o.set(false, true)
	_ = d.otaRound(ctx)
	_ = d.otaRound(ctx)
	h = history(t, d)
	if len(h) != 4 || h[0].Result != "failed" || h[0].Version != 3 || h[0].Count != 2 {
		t.Fatalf("history after a new failure: %+v", h)
	}
}

// A parameter bundle the terminal refused is not fetched (nor refused,
// nor reported) again at every poll: only when the repository offers
// another, or when the engineer asks for a check (ota check), which tries
// it once more. The refusal is remembered across a restart.
func TestRefusedParamsNotFetchedAgain(t *testing.T) {
	ctx := context.Background()
	o := newOTARepo(t)
	o.publish(t, "params/params-2.json", []byte(`{"version": 2, "created": "2026-03-01T10:00:00Z", "sections": {"risk": {"no_such_rule": {"enabled": true}}}}`), "params", 2)
	r := newConsoleRigWith(t, o.members())
	d := r.open()

	for range 5 {
		if err := d.otaRound(ctx); err == nil {
			t.Fatal("no error for a refused bundle")
		}
	}
	h := history(t, d)
	if len(h) != 1 || h[0].Result != "refused" || h[0].Count != 1 || !strings.Contains(h[0].Detail, "no_such_rule") {
		t.Fatalf("history after 5 polls offering a refused bundle: %+v", h)
	}
	st, _ := d.OTAStatus()
	if !strings.Contains(st.LastError, "no_such_rule") {
		t.Errorf("last_error %q does not say the bundle is refused", st.LastError)
	}

	// ota check tries it again, once.
	if err := d.CheckUpdates(); err != nil {
		t.Fatal(err)
	}
	_ = d.otaRound(ctx)
	_ = d.otaRound(ctx)
	if h := history(t, d); len(h) != 1 || h[0].Count != 2 {
		t.Errorf("after ota check, want one more refusal: %+v", h)
	}
	closeDaemon(t, d)

	// Across a restart, still not fetched again.
	d = r.open()
	defer closeDaemon(t, d)
	_ = d.otaRound(ctx)
	if h := history(t, d); len(h) != 1 || h[0].Count != 2 {
		t.Errorf("after a restart, refused again: %+v", h)
	}
	if st, _ := d.OTAStatus(); !strings.Contains(st.LastError, "refused before") {
		t.Errorf("last_error after a restart: %q", st.LastError)
	}

	// Another bundle from the repository is fetched and applied.
	o.publish(t, "params/params-3.json", []byte(`{"version": 3, "created": "2026-03-02T10:00:00Z", "sections": {"limits": {"offline": {"floor_limit": 5000}}}}`), "params", 3)
	if err := d.otaRound(ctx); err != nil {
		t.Fatal(err)
	}
	if p := d.Params(); p.Version != 3 {
		t.Errorf("parameters after a new bundle: %+v", p)
	}
}

// A firmware bundle whose own manifest (RAUC's compatible and version)
// disagrees with its target is refused before RAUC writes a slot, with
// the reason in the history: installed, it would be recorded under the
// target's version and could block the real one.
func TestMislabelledFirmwareRefused(t *testing.T) {
	ctx := context.Background()
	o := newOTARepo(t)
	client, server := rauctest.Pipe(t)
	svc := rauctest.NewService(t, server)
	p, err := board.Lookup("rpi4")
	if err != nil {
		t.Fatal(err)
	}
	u, err := board.NewUpdater(client, p, board.UpdaterOptions{Spool: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// The target says 2, the bundle's manifest 3.
	o.publish(t, "firmware/posd-2.raucb", []byte("[update]\ncompatible=posd-board\nversion=3\n"), "firmware", 2)
	dir := filepath.Join(t.TempDir(), "data")
	cfg, err := config.Parse([]byte(`{"data_dir":"` + dir + `",` + o.members() + `}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(ctx, cfg, "1", nil, WithFirmwareUpdater(u, u.Slots))
	if err != nil {
		t.Fatal(err)
	}
	defer closeFW(t, d)
	if err := d.otaRound(ctx); err == nil {
		t.Error("a mislabelled bundle brought no error")
	}
	if n := len(svc.Bundles()); n != 0 || svc.Reboots() != 0 {
		t.Fatalf("RAUC installed %d bundles, %d reboots: a bundle saying version 3 went in as version 2", n, svc.Reboots())
	}
	h := history(t, d)
	if len(h) != 1 || h[0].Kind != "firmware" || h[0].Result != "refused" || h[0].Version != 2 ||
		!strings.Contains(h[0].Detail, `"3"`) {
		t.Fatalf("history: %+v", h)
	}
	if st := d.Status().Firmware; st == nil || st.Slots.Committed != "rootfs.0" || st.Trial {
		t.Fatalf("slots after the refusal: %+v", st)
	}
	// Not tried again at the next polls (nor after a restart): only a
	// bundle the repository offers anew is.
	_ = d.otaRound(ctx)
	_ = d.otaRound(ctx)
	if n := len(svc.Inspected()); n != 1 {
		t.Errorf("the refused bundle was inspected %d times", n)
	}
	if st, _ := d.OTAStatus(); !strings.Contains(st.LastError, "refused before") {
		t.Errorf("last_error: %q", st.LastError)
	}
	o.publish(t, "firmware/posd-2.raucb", []byte("[update]\ncompatible=posd-board\nversion=2\n"), "firmware", 2)
	if err := d.otaRound(ctx); err != nil {
		t.Fatal(err)
	}
	if b := svc.Bundles(); len(b) != 1 || svc.Reboots() != 1 {
		t.Fatalf("the right bundle: %d installed, %d reboots", len(b), svc.Reboots())
	}
}

// A repository that alternates between two refused bundles (a TMS whose
// metadata flips between two bad publications) gets each downloaded and
// refused once, not at every flip: the terminal remembers the last few
// refusals per kind, not the last one only.
func TestAlternatingRefusedParamsNotFetchedAgain(t *testing.T) {
	ctx := context.Background()
	o := newOTARepo(t)
	a := []byte(`{"version": 2, "created": "2026-03-01T10:00:00Z", "sections": {"risk": {"no_such_rule": {"enabled": true}}}}`)
	b := []byte(`{"version": 3, "created": "2026-03-01T11:00:00Z", "sections": {"risk": {"another_bad_rule": {"enabled": true}}}}`)
	o.publish(t, "params/params-2.json", a, "params", 2)
	r := newConsoleRigWith(t, o.members())
	d := r.open()
	defer closeDaemon(t, d)
	for i := range 6 {
		if i%2 == 0 {
			o.rp.RemoveTarget("params/params-3.json")
			if err := o.rp.Publish(); err != nil {
				t.Fatal(err)
			}
		} else {
			o.publish(t, "params/params-3.json", b, "params", 3)
		}
		if err := d.otaRound(ctx); err == nil {
			t.Fatal("no error for a refused bundle")
		}
	}
	refusals := 0
	for _, e := range history(t, d) {
		if e.Result == "refused" {
			refusals += e.Count
		}
	}
	if refusals != 2 {
		t.Fatalf("%d refusals over 6 polls flipping between two refused bundles, want 2: %+v", refusals, history(t, d))
	}
}

// The single refused bundle an earlier posd kept is read as a list of one.
func TestReadRefusedEarlierFormat(t *testing.T) {
	one := readRefused([]byte(`{"target":"params/params-2.json","sha256":"ab","version":2,"reason":"bad","at":"2026-11-29T10:00:00Z"}`))
	if len(one) != 1 || one[0].Target != "params/params-2.json" || one[0].Reason != "bad" {
		t.Fatalf("earlier format: %+v", one)
	}
	if l := readRefused([]byte(`junk`)); l != nil {
		t.Fatalf("junk: %+v", l)
	}
}

// A failure that goes on across a restart (posd restarted, the TMS still
// serving nothing) stays one history entry, counted, and one report to
// the TMS; ota status shows the last error from the start, before the
// first check of the new run.
func TestOTAFailureAcrossRestart(t *testing.T) {
	ctx := context.Background()
	o := newOTARepo(t)
	o.publish(t, "params/params-2.json", []byte(`{"version": 2, "created": "2026-03-01T10:00:00Z", "sections": {"limits": {"offline": {"floor_limit": 5000}}}}`), "params", 2)
	o.set(false, true)
	tms, members := o.withTMS(t)
	r := newConsoleRigWith(t, members)
	d := r.open()
	_ = d.otaRound(ctx)
	_ = d.otaRound(ctx)
	closeDaemon(t, d)

	d = r.open()
	if st, _ := d.OTAStatus(); !strings.Contains(st.LastError, "params-2") {
		t.Errorf("last_error after a restart, before a check: %q", st.LastError)
	}
	_ = d.otaRound(ctx)
	if h := history(t, d); len(h) != 1 || h[0].Count != 3 {
		t.Fatalf("history after a restart: %+v", h)
	}
	tms.mu.Lock()
	n := len(tms.reports)
	tms.mu.Unlock()
	if n != 1 {
		t.Errorf("the TMS told %d times of one failure", n)
	}
	// Recovered: nothing of it is carried into the next run.
	o.set(false, false)
	if err := d.otaRound(ctx); err != nil {
		t.Fatal(err)
	}
	closeDaemon(t, d)
	d = r.open()
	defer closeDaemon(t, d)
	if st, _ := d.OTAStatus(); st.LastError != "" {
		t.Errorf("last_error after recovering and a restart: %q", st.LastError)
	}
}

// The OTA history names a failure by its class: a trickling download is
// "too slow", not "unreachable" (which ErrTooSlow matches too).
func TestErrClassNamesASlowDownload(t *testing.T) {
	err := fmt.Errorf("targets/bundle: %w", ota.ErrTooSlow)
	if got := errClass(err); got != ota.ErrTooSlow.Error() {
		t.Fatalf("class %q", got)
	}
	if got := errClass(fmt.Errorf("x: %w", ota.ErrUnreachable)); got != ota.ErrUnreachable.Error() {
		t.Fatalf("class %q", got)
	}
}
