package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// tmsEnv is a tms-sim process with an update repository.
type tmsEnv struct {
	addr, root, journal string
	p                   *proc
}

func startTMS(t *testing.T, dir string, args ...string) *tmsEnv {
	t.Helper()
	m := &tmsEnv{addr: freePort(t), root: filepath.Join(dir, "root.json"), journal: filepath.Join(dir, "tms.jsonl")}
	m.p = start(t, "tms-sim", append([]string{"-listen", m.addr, "-journal", m.journal, "-repo", filepath.Join(dir, "repo"),
		"-root-out", m.root}, args...), func(s string) bool { return strings.Contains(s, "tms-sim listening on") })
	return m
}

// publish publishes a target at run time.
func (m *tmsEnv) publish(t *testing.T, name, kind string, version int, data []byte) {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"kind":%q,"version":%d,"data":%q}`, name, kind, version, base64.StdEncoding.EncodeToString(data))
	resp, err := http.Post("http://"+m.addr+"/v1/admin/publish", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("publish %s: %s", name, resp.Status)
	}
}

func (m *tmsEnv) otaConfig(c map[string]any) {
	c["ota"] = map[string]any{"url": "http://" + m.addr + "/repo", "root": m.root, "interval": "1h",
		"report_url": "http://" + m.addr + "/v1/report"}
}

type otaStatusView struct {
	Params *struct {
		Version int `json:"version"`
	} `json:"params"`
	LastError string `json:"last_error"`
}

// waitParams asks for a check and waits for parameter set version.
func (e *env) waitParams(t *testing.T, version int) {
	t.Helper()
	e.posctl("ota", "check")
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := e.posctl("ota", "status")
		var st otaStatusView
		json.Unmarshal([]byte(out), &st)
		if st.Params != nil && st.Params.Version == version {
			return
		}
		if time.Now().After(deadline) {
			hist, _ := e.posctl("ota", "history")
			t.Fatalf("parameter set %d never in use: %s\n%s", version, out, hist)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestOTAParameters: a parameter bundle published on tms-sim is fetched
// (TUF-verified), applied between transactions and in use; a bundle this
// firmware cannot apply and a tampered one are refused whole, the
// parameter set staying where it was.
func TestOTAParameters(t *testing.T) {
	t.Parallel() // a long one: see TestMain
	dir := t.TempDir()
	bundle := func(v int, sections string) []byte {
		return []byte(fmt.Sprintf(`{"version":%d,"created":"2026-11-28T00:00:00Z","sections":%s}`, v, sections))
	}
	p1 := filepath.Join(dir, "p1.json")
	os.WriteFile(p1, bundle(1, `{"risk":{"max_amount":{"swipe":5000}}}`), 0o644)
	tms := startTMS(t, dir, "-params", p1)
	defer tms.p.stop(t)
	e, acq, cfg := newEnv(t, nil, nil)
	defer acq.stop(t)
	editConfig(t, cfg, tms.otaConfig)
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer func() { posd.stop(t) }()

	e.waitParams(t, 1)
	// The new rule is in use: a swiped sale over 50.00 is refused.
	if v, _ := e.run([]string{"sale", "--amount", "60.00"}, "visa-classic"); v.State != "failed" || v.Failure != "risk_refused" {
		t.Fatalf("sale over the new swipe limit: %+v", v)
	}
	if v, _ := e.run([]string{"sale", "--amount", "40.00"}, "visa-classic"); v.State != "approved" {
		t.Fatalf("sale under the new swipe limit: %+v", v)
	}
	if out, _ := e.posctl("status"); !strings.Contains(out, `"params"`) {
		t.Fatalf("posctl status does not show the parameter set: %s", out)
	}
	// A restart keeps the parameter set in use, not only its number.
	if err := posd.stop(t); err != nil {
		t.Fatal(err)
	}
	posd = start(t, "posd", []string{"-config", cfg}, posdReady)
	if v, _ := e.run([]string{"sale", "--amount", "60.00"}, "visa-classic"); v.State != "failed" || v.Failure != "risk_refused" {
		t.Fatalf("after a restart, a sale over the bundle's swipe limit: %+v", v)
	}
	// A bundle with a section that does not check (a host address
	// without a port): refused whole, the reason in the history.
	tms.publish(t, "params/params-2.json", "params", 2, bundle(2, `{"risk":{"max_amount":{"swipe":100000}},"host":{"addr":"10.0.0.1"}}`))
	e.posctl("ota", "check")
	waitHistory(t, e, "refused", "params-2")
	if hist, _ := e.posctl("ota", "history"); !strings.Contains(hist, "host section") {
		t.Fatalf("the refusal does not say why: %s", hist)
	}
	// The set in use is still 1, and its rule still holds.
	if out, _ := e.posctl("ota", "status"); !strings.Contains(out, `"version": 1`) {
		t.Fatalf("after a refused bundle: %s", out)
	}
	// Version 3 applies.
	tms.publish(t, "params/params-3.json", "params", 3, bundle(3, `{"risk":{"max_amount":{"swipe":100000}}}`))
	e.waitParams(t, 3)
	if v, _ := e.run([]string{"sale", "--amount", "60.00"}, "visa-classic"); v.State != "approved" {
		t.Fatalf("sale after version 3: %+v", v)
	}
	tms.p.stop(t)
	journal, _ := os.ReadFile(tms.journal)
	for _, want := range []string{`"op":"fetch"`, `"op":"report"`, `"result":"applied"`, `"result":"refused"`} {
		if !strings.Contains(string(journal), want) {
			t.Errorf("tms journal lacks %s", want)
		}
	}
}

// TestOTABundleSections: a bundle with a hotlist, limits and a host
// section is applied whole between transactions: a swiped sale over the
// new limit is refused by the rule, a card in a hotlisted range is refused,
// and the next sale goes to the new host address (a second acquirer-sim);
// a restart keeps all three; a bundle whose hotlist carries a card number
// is refused whole.
func TestOTABundleSections(t *testing.T) {
	t.Parallel() // a long one: see TestMain
	dir := t.TempDir()
	e, acq, cfg := newEnv(t, nil, nil)
	defer acq.stop(t)
	addrB, journalB := freePort(t), filepath.Join(dir, "b.jsonl")
	acqB := start(t, "acquirer-sim", []string{"-listen", addrB, "-journal", journalB},
		func(s string) bool { return strings.Contains(s, "listening on") })
	defer acqB.stop(t)
	p1 := filepath.Join(dir, "p1.json")
	os.WriteFile(p1, fmt.Appendf(nil, `{"version":1,"created":"2026-11-28T00:00:00Z","sections":{
		"hotlist":["54133300"],
		"host":{"addr":%q},
		"limits":{"max_amount":{"swipe":5000}}}}`, addrB), 0o644)
	tms := startTMS(t, dir, "-params", p1)
	defer tms.p.stop(t)
	editConfig(t, cfg, tms.otaConfig)
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer func() { posd.stop(t) }()
	if v, _ := e.run([]string{"sale", "--amount", "1.00"}, "visa-classic"); v.State != "approved" {
		t.Fatalf("sale before the bundle: %+v", v)
	}
	e.waitParams(t, 1)
	checks := func(when string) {
		t.Helper()
		if v, _ := e.run([]string{"sale", "--amount", "60.00"}, "visa-classic"); v.State != "failed" || v.Failure != "risk_refused" {
			t.Fatalf("%s: a swiped sale over the bundle's limit: %+v", when, v)
		}
		if v, _ := e.run([]string{"sale", "--amount", "10.00"}, "mastercard-credit"); v.State != "failed" || v.Failure != "risk_refused" {
			t.Fatalf("%s: a card in a hotlisted range: %+v", when, v)
		}
		v, _ := e.run([]string{"sale", "--amount", "12.34"}, "visa-classic")
		if v.State != "approved" {
			t.Fatalf("%s: a sale within the limits: %+v", when, v)
		}
		// It went to the new host address.
		jb, _ := os.ReadFile(journalB)
		if !strings.Contains(string(jb), `"stan":"`+v.STAN+`"`) {
			t.Fatalf("%s: sale %s is not in the new host's journal:\n%s", when, v.STAN, jb)
		}
		ja, _ := os.ReadFile(e.journal)
		if strings.Contains(string(ja), `"stan":"`+v.STAN+`"`) {
			t.Fatalf("%s: sale %s went to the old host", when, v.STAN)
		}
	}
	checks("applied")
	if err := posd.stop(t); err != nil {
		t.Fatal(err)
	}
	posd = start(t, "posd", []string{"-config", cfg}, posdReady)
	checks("after a restart")

	// A hotlist entry that is a card number: the bundle is refused whole,
	// and the card number is nowhere in the history.
	tms.publish(t, "params/params-2.json", "params", 2, []byte(`{"version":2,"created":"2026-11-28T00:00:00Z","sections":{"hotlist":["4761739001010010"],"limits":{"max_amount":{"swipe":100000}}}}`))
	e.posctl("ota", "check")
	waitHistory(t, e, "refused", "params-2")
	hist, _ := e.posctl("ota", "history")
	if !strings.Contains(hist, "hotlist section") || strings.Contains(hist, "4761739001010010") {
		t.Fatalf("refusal of a hotlist with a card number: %s", hist)
	}
	if v, _ := e.run([]string{"sale", "--amount", "60.00"}, "visa-classic"); v.State != "failed" || v.Failure != "risk_refused" {
		t.Fatalf("after the refused bundle, the limit of the set in use: %+v", v)
	}
}

func waitHistory(t *testing.T, e *env, result, target string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := e.posctl("ota", "history")
		var h []struct {
			Result string `json:"result"`
			Target string `json:"target"`
		}
		json.Unmarshal([]byte(out), &h)
		for _, ev := range h {
			if ev.Result == result && strings.Contains(ev.Target, target) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s %s in the history: %s", result, target, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type fwStatus struct {
	Firmware *struct {
		Slot  string `json:"running_slot"`
		Trial bool   `json:"trial"`
		Slots *struct {
			Committed        string `json:"committed"`
			CommittedVersion string `json:"committed_version"`
			ActiveVersion    string `json:"active_version"`
		} `json:"slots"`
	} `json:"firmware"`
}

// waitFirmware waits until posd runs committed slot at version (it may
// restart in between: posctl errors are retried).
func (e *env) waitFirmware(t *testing.T, slot, version string, within time.Duration) {
	t.Helper()
	e.waitSlots(t, fmt.Sprintf("committed slot %s version %s", slot, version), within, func(st fwStatus) bool {
		return st.Firmware.Slot == slot && !st.Firmware.Trial && st.Firmware.Slots.Committed == slot && st.Firmware.Slots.CommittedVersion == version
	})
}

// waitTrial waits until posd runs version on trial from slot.
func (e *env) waitTrial(t *testing.T, slot, version string, within time.Duration) {
	t.Helper()
	e.waitSlots(t, fmt.Sprintf("version %s on trial from slot %s", version, slot), within, func(st fwStatus) bool {
		return st.Firmware.Slot == slot && st.Firmware.Trial && st.Firmware.Slots.ActiveVersion == version
	})
}

// waitSlots waits until posctl status shows the firmware slots and ok
// holds for them.
func (e *env) waitSlots(t *testing.T, what string, within time.Duration, ok func(fwStatus) bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out, code := e.posctl("status")
		var st fwStatus
		if code == 0 && json.Unmarshal([]byte(out), &st) == nil && st.Firmware != nil && st.Firmware.Slots != nil && ok(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("posd never ran %s: %s", what, out)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// on is e for a subtest: its failures are t's.
func (e *env) on(t testing.TB) *env {
	c := *e
	c.t = t
	return &c
}

// buildNoCV starts building posd as make cross ships it (-tags nocv, no
// cgo): a firmware without the camera driver. It returns what waits for
// the build and gives the executable.
func buildNoCV(t *testing.T) func(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, goBin, "build", "-tags", "nocv", "-o", dir+"/", "posd/cmd/posd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	var err error
	done := make(chan struct{})
	go func() {
		err = cmd.Wait()
		close(done)
	}()
	// Before the directory goes: a test that ends early stops the build.
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return func(t *testing.T) []byte {
		t.Helper()
		<-done
		if err != nil {
			t.Fatalf("building posd -tags nocv: %v\n%s", err, out.String())
		}
		b, err := os.ReadFile(filepath.Join(dir, "posd"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// TestOTAFirmwareAB: posd runs under posd-supervisor from slot a; a newer
// firmware published on tms-sim is installed into slot b, tried, found
// healthy (devices and host) and committed; a broken one is tried,
// fails its boots and is rolled back by itself, is not installed
// again, and the TMS is told once. Then ("device lost") a firmware that
// boots, answers and reaches the acquirer but cannot drive the camera
// the committed one drove fails its health check and rolls itself back.
func TestOTAFirmwareAB(t *testing.T) {
	t.Parallel() // a long one: see TestMain
	// The firmware that lost the camera is built while the rest runs.
	var noCV func(t *testing.T) []byte
	if buildTags != "nocv" {
		noCV = buildNoCV(t)
	}
	dir := t.TempDir()
	tms := startTMS(t, dir)
	defer tms.p.stop(t)
	e, acq, cfg := newEnv(t, nil, nil)
	defer acq.stop(t)
	editConfig(t, cfg, tms.otaConfig)
	root := filepath.Join(dir, "ab")
	sup := start(t, "posd-supervisor", []string{"-root", root, "-seed", filepath.Join(binDir, "posd"), "-seed-version", "1",
		"-trial-boots", "2", "-health", "90s", "-restart-delay", "200ms", "--", "-config", cfg}, posdReady)
	defer sup.stop(t)
	e.waitFirmware(t, "a", "1", 30*time.Second)

	// A good update: the same posd, published as version 2.
	good, err := os.ReadFile(filepath.Join(binDir, "posd"))
	if err != nil {
		t.Fatal(err)
	}
	tms.publish(t, "firmware/posd-2", "firmware", 2, good)
	e.posctl("ota", "check")
	e.waitFirmware(t, "b", "2", 120*time.Second)
	if v, code := e.run([]string{"sale", "--amount", "12.34"}, "visa-classic"); v.State != "approved" || code != 0 {
		t.Fatalf("sale on the new firmware: %+v", v)
	}

	// A broken update: it starts and exits at once. Two failed trial
	// boots, then the supervisor runs slot b again by itself.
	tms.publish(t, "firmware/posd-3", "firmware", 3, []byte("#!/bin/sh\necho broken firmware >&2\nexit 1\n"))
	e.posctl("ota", "check")
	e.waitRollback(t, "b", "3", 150*time.Second)
	e.waitFirmware(t, "b", "2", 60*time.Second)
	// Asked again, the terminal does not install the version it rolled
	// back.
	e.posctl("ota", "check")
	time.Sleep(8 * time.Second)
	e.waitFirmware(t, "b", "2", 10*time.Second)
	hist, _ := e.posctl("ota", "history")
	if strings.Count(hist, `"firmware/posd-3"`) != 1 {
		t.Fatalf("firmware 3 installed again after its rollback: %s", hist)
	}
	if v, code := e.run([]string{"sale", "--amount", "2.34"}, "visa-classic"); v.State != "approved" || code != 0 {
		t.Fatalf("sale after the rollback: %+v", v)
	}
	// The TMS learns of the supervisor's rollback from the committed
	// firmware, once, with the version blocked (a crash is the firmware's
	// fault).
	if rolled := tms.waitRollbackReports(t, 1, 30*time.Second); len(rolled) != 1 || rolled[0].Version != 3 || rolled[0].Decision != "blocked" {
		t.Fatalf("rollback reports at the TMS: %+v", rolled)
	}

	// A firmware that lost a device: version 4 is posd without the
	// camera driver (the nocv build). Version 2 recorded the devices that
	// worked before installing it, the camera among them; the trial
	// boots, answers and reaches the acquirer, but its health check fails
	// on the camera, and it rolls itself back.
	t.Run("device lost", func(t *testing.T) {
		if noCV == nil {
			t.Skip("this run's posd is the nocv build: it has no camera to lose, and no other build drops a device " +
				"(the cgo run, make test, runs this)")
		}
		e := e.on(t)
		tms.publish(t, "firmware/posd-4", "firmware", 4, noCV(t))
		e.posctl("ota", "check")
		e.waitTrial(t, "a", "4", 120*time.Second)
		if out, code := e.posctl("host", "test"); code != 0 {
			t.Fatalf("the trial does not reach the acquirer: %s", out)
		}
		ev := e.waitRollback(t, "b", "4", 120*time.Second)
		// posd's own rollback, on the device (not the supervisor's, not a
		// host-link failure).
		if !strings.HasPrefix(ev.Reason, "health check failed: device camera: ") {
			t.Fatalf("rollback reason %q does not name the camera", ev.Reason)
		}
		e.waitFirmware(t, "b", "2", 60*time.Second)
		if out, _ := e.posctl("ota", "status"); !strings.Contains(out, `"firmware_version": "2"`) {
			t.Fatalf("ota status after the rollback: %s", out)
		}
		out, _ := e.posctl("ota", "history")
		var hist []otaEventView
		json.Unmarshal([]byte(out), &hist)
		if !slices.ContainsFunc(hist, func(ev otaEventView) bool {
			return ev.Kind == "firmware" && ev.Result == "rolled_back" && ev.Version == 4 && strings.Contains(ev.Detail, "device camera")
		}) {
			t.Fatalf("ota history lacks version 4's rollback naming the camera: %s", out)
		}
		// The TMS keeps one report of it, the version blocked (a lost
		// device is the firmware's fault).
		rolled := tms.waitRollbackReports(t, 2, 30*time.Second)
		if r := rolled[len(rolled)-1]; len(rolled) != 2 || r.Version != 4 || r.Decision != "blocked" || !strings.Contains(r.Detail, "device camera") {
			t.Fatalf("rollback reports at the TMS: %+v", rolled)
		}
	})
}

// otaEventView is a line of posctl ota history.
type otaEventView struct {
	Kind    string `json:"kind"`
	Result  string `json:"result"`
	Version int    `json:"version"`
	Detail  string `json:"detail"`
}

// slotEvent is the last event of the slots' history, as posctl status
// shows it.
type slotEvent struct {
	Kind   string `json:"kind"`
	From   string `json:"from"`
	Reason string `json:"reason"`
}

// waitRollback waits until posd runs slot after the rollback of version
// from (posd may restart in between: posctl errors are retried) and
// returns the rollback. Version from committed fails at once.
func (e *env) waitRollback(t *testing.T, slot, from string, within time.Duration) slotEvent {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out, code := e.posctl("status")
		var st struct {
			Firmware *struct {
				Slot  string `json:"running_slot"`
				Slots *struct {
					CommittedVersion string     `json:"committed_version"`
					Last             *slotEvent `json:"last"`
				} `json:"slots"`
			} `json:"firmware"`
		}
		if code == 0 && json.Unmarshal([]byte(out), &st) == nil && st.Firmware != nil && st.Firmware.Slots != nil {
			if st.Firmware.Slots.CommittedVersion == from {
				t.Fatalf("version %s committed instead of rolled back: %s", from, out)
			}
			if last := st.Firmware.Slots.Last; st.Firmware.Slot == slot && last != nil && last.Kind == "rollback" && last.From == from {
				return *last
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rollback from version %s: %s", from, out)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// rollbackReport is a firmware rollback as the TMS journals it.
type rollbackReport struct {
	Target   string `json:"target"`
	Version  int    `json:"version"`
	Detail   string `json:"detail"`
	Decision string `json:"decision"`
}

// waitRollbackReports waits until the TMS has journaled at least n
// firmware rollback reports and returns them all, oldest first.
func (m *tmsEnv) waitRollbackReports(t *testing.T, n int, within time.Duration) []rollbackReport {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		journal, _ := os.ReadFile(m.journal)
		var rolled []rollbackReport
		for _, l := range strings.Split(string(journal), "\n") {
			var r struct {
				rollbackReport
				Op     string `json:"op"`
				Result string `json:"result"`
			}
			if json.Unmarshal([]byte(l), &r) == nil && r.Op == "report" && r.Result == "rolled_back" {
				rolled = append(rolled, r.rollbackReport)
			}
		}
		if len(rolled) >= n {
			return rolled
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rollback reports at the TMS, want %d: %+v", len(rolled), n, rolled)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
