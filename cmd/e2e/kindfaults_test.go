package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestFaultsOnEveryKind arms each fault at acquirer-sim's control endpoint
// for the next refund, pre-authorization, completion and void, in both
// dialects: the terminal shows approved only when the host approved with
// a valid MAC (a duplicate, slow or delayed answer), and every other
// outcome is reversed, once, at the host.
func TestFaultsOnEveryKind(t *testing.T) {
	t.Parallel() // a long one: see TestMain
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) { testFaultsOnEveryKind(t, d) })
	}
}

func testFaultsOnEveryKind(t *testing.T, dialect string) {
	ctl := freePort(t)
	e, _, cfg := newEnv(t, []string{"-dialect", dialect, "-control", ctl, "-late-delay", "3s", "-slow-delay", "300ms"},
		map[string]any{"dialect": dialect})
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer posd.stop(t)

	arm := func(fault, kind string) {
		t.Helper()
		body := `{"fault":"` + fault + `","kind":"` + kind + `","count":1}`
		if fault == "delay" {
			body = `{"fault":"delay","kind":"` + kind + `","count":1,"delay":"300ms"}`
		}
		resp, err := http.Post("http://"+ctl+"/v1/faults", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("arming %s for %s: %s %s", fault, kind, resp.Status, msg)
		}
	}
	show := func(id string) txnView {
		var v txnView
		out, _ := e.posctl("txn", "show", id)
		json.Unmarshal([]byte(out), &v)
		return v
	}
	for _, f := range []struct {
		fault    string
		approved bool
	}{
		{"drop", false}, {"reset", false}, {"garbage", false}, {"bad_mac", false}, {"late", false},
		{"duplicate", true}, {"slow", true}, {"delay", true},
	} {
		for _, kind := range []string{"refund", "preauth", "completion", "void"} {
			var v txnView
			var code int
			switch kind {
			case "refund":
				arm(f.fault, kind)
				v, code = e.run([]string{"refund", "--amount", "3.00"}, "visa-classic")
			case "preauth":
				arm(f.fault, kind)
				v, code = e.run([]string{"preauth", "--amount", "30.00"}, "visa-classic")
			case "completion", "void":
				// The original first, approved without a fault.
				verb, args := "preauth", []string{"preauth", "--amount", "20.00"}
				if kind == "void" {
					verb, args = "sale", []string{"sale", "--amount", "7.00"}
				}
				orig, c := e.run(args, "visa-classic")
				if orig.State != "approved" || c != 0 {
					t.Fatalf("%s before the %s: %+v", verb, kind, orig)
				}
				arm(f.fault, kind)
				args = []string{"void", orig.ID, "--wait"}
				if kind == "completion" {
					args = []string{"complete", orig.ID, "--amount", "15.00", "--wait"}
				}
				out, c := e.posctl(args...)
				json.Unmarshal([]byte(out), &v)
				code = c
			}
			what := f.fault + " on a " + kind
			if v.ID == "" {
				t.Fatalf("%s: no record (exit %d)", what, code)
			}
			if f.approved {
				if v.State != "approved" || code != 0 {
					t.Errorf("%s: %+v exit %d, want approved", what, v, code)
				}
				continue
			}
			if v.State == "approved" || code == 0 {
				t.Errorf("%s: the terminal shows approved: %+v", what, v)
			}
			waitFor(t, 30*time.Second, func() bool { v = show(v.ID); return v.State == "reversed" })
			// The host: the request went out with its fault, then exactly
			// one reversal of it.
			faulted, reversals := false, 0
			for _, m := range e.rawJournal() {
				if m["direction"] != "in" {
					continue
				}
				if m["kind"] == kind && m["stan"] == v.STAN && m["fault"] == f.fault {
					faulted = true
				}
				if m["kind"] == "reversal" && m["orig_stan"] == v.STAN && m["duplicate"] != true {
					reversals++
				}
			}
			if !faulted || reversals != 1 {
				t.Errorf("%s: host saw the fault %v, %d reversals", what, faulted, reversals)
			}
		}
	}
	// Nothing stays armed, and the batch still closes in balance.
	resp, err := http.Get("http://" + ctl + "/v1/faults")
	if err != nil {
		t.Fatal(err)
	}
	var armed []map[string]any
	json.NewDecoder(resp.Body).Decode(&armed)
	resp.Body.Close()
	for _, a := range armed {
		if n, _ := a["remaining"].(float64); n > 0 {
			t.Errorf("still armed: %v", a)
		}
	}
	out, code := e.posctl("batch", "close")
	if code != 0 || !strings.Contains(out, `"state": "approved"`) {
		t.Errorf("batch close after the faults: exit %d %s", code, out)
	}
}
