package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestOTAHint: the acquirer hints the terminal in its answer to a sale
// that an update waits; posd checks tms-sim by itself soon after (within
// the 30 s hint jitter, without posctl ota check, an hour before its next
// regular poll) and applies the bundle published there.
func TestOTAHint(t *testing.T) {
	t.Parallel() // a long one: see TestMain
	dir := t.TempDir()
	tms := startTMS(t, dir)
	defer tms.p.stop(t)
	ctl := freePort(t)
	e, acq, cfg := newEnv(t, []string{"-control", ctl}, nil)
	defer acq.stop(t)
	editConfig(t, cfg, tms.otaConfig)
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer posd.stop(t)
	if v, _ := e.run([]string{"sale", "--amount", "1.00"}, "visa-classic"); v.State != "approved" {
		t.Fatalf("sale: %+v", v)
	}
	tms.publish(t, "params/params-1.json", "params", 1,
		[]byte(`{"version":1,"created":"2026-11-28T00:00:00Z","sections":{"limits":{"max_amount":{"swipe":5000}}}}`))
	resp, err := http.Post("http://"+ctl+"/v1/hints", "application/json", strings.NewReader(`{"all":true}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("hint: %s", resp.Status)
	}
	hinted := time.Now()
	v, _ := e.run([]string{"sale", "--amount", "2.00"}, "visa-classic")
	if v.State != "approved" {
		t.Fatalf("hinted sale: %+v", v)
	}
	journal, _ := os.ReadFile(e.journal)
	found := false
	for _, l := range strings.Split(string(journal), "\n") {
		var en struct {
			Direction  string `json:"direction"`
			STAN       string `json:"stan"`
			UpdateHint bool   `json:"update_hint"`
		}
		if json.Unmarshal([]byte(l), &en) == nil && en.Direction == "out" && en.STAN == v.STAN && en.UpdateHint {
			found = true
		}
	}
	if !found {
		t.Fatalf("the answer to sale %s carries no hint:\n%s", v.STAN, journal)
	}
	// No posctl ota check: the hint alone brings the check.
	deadline := hinted.Add(60 * time.Second)
	for {
		out, _ := e.posctl("ota", "status")
		var st otaStatusView
		json.Unmarshal([]byte(out), &st)
		if st.Params != nil && st.Params.Version == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no check after the hint: %s", out)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("parameter set 1 in use %v after the hinted sale", time.Since(hinted).Round(time.Second))
	if v, _ := e.run([]string{"sale", "--amount", "60.00"}, "visa-classic"); v.State != "failed" || v.Failure != "risk_refused" {
		t.Fatalf("sale over the hinted bundle's limit: %+v", v)
	}
	// More hinted answers within the minute bring no second check.
	for _, amt := range []string{"3.00", "4.00"} {
		if v, _ := e.run([]string{"sale", "--amount", amt}, "visa-classic"); v.State != "approved" {
			t.Fatalf("sale: %+v", v)
		}
	}
	time.Sleep(2 * time.Second)
	tms.p.stop(t)
	tj, _ := os.ReadFile(tms.journal)
	if !strings.Contains(string(tj), `"path":"/targets/`) && !strings.Contains(string(tj), "params-1.json") {
		t.Fatalf("tms-sim's journal shows no fetch of the bundle:\n%s", tj)
	}
	if n := strings.Count(string(tj), "timestamp.json"); n > 2 {
		t.Fatalf("%d checks of the repository for one hint:\n%s", n, tj)
	}
}
