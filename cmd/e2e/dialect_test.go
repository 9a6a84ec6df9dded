package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dialectLine is a journal line with the fields that tell dialects apart.
type dialectLine struct {
	Direction    string `json:"direction"`
	Dialect      string `json:"dialect"`
	Kind         string `json:"kind"`
	MTI          string `json:"mti"`
	STAN         string `json:"stan"`
	OrigSTAN     string `json:"orig_stan"`
	ResponseCode string `json:"response_code"`
	MACOK        *bool  `json:"mac_ok"`
	Duplicate    bool   `json:"duplicate"`
}

func (e *env) dialectLines() []dialectLine {
	e.t.Helper()
	_, raw := e.journalLines()
	var out []dialectLine
	for _, l := range strings.Split(strings.TrimSpace(raw), "\n") {
		if l == "" {
			continue
		}
		var j dialectLine
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			e.t.Fatalf("journal line %q: %v", l, err)
		}
		out = append(out, j)
	}
	return out
}

// TestCUPDialect runs the default suite's scenarios with the China
// UnionPay-style dialect on both sides: approval, declines 51 and 05, no
// response ending in a reversal the host acknowledges, the field
// engineer's echo test, and host down.
func TestCUPDialect(t *testing.T) {
	dir := t.TempDir()
	hostAddr, apiAddr := freePort(t), freePort(t)
	e := &env{t: t, api: apiAddr, journal: filepath.Join(dir, "journal.jsonl"), dataDir: filepath.Join(dir, "data")}
	acq := start(t, "acquirer-sim", []string{"-listen", hostAddr, "-journal", e.journal, "-dialect", "cup"},
		func(s string) bool { return strings.Contains(s, "listening on") })
	cfg := writeConfig(t, dir, map[string]any{
		"data_dir": e.dataDir,
		"api":      map[string]any{"listen": apiAddr},
		"host": map[string]any{
			"addr": hostAddr, "dialect": "cup", "response_timeout": "2s", "reversal_retry": "1s",
		},
	})
	posd := start(t, "posd", []string{"-config", cfg}, func(s string) bool { return strings.Contains(s, "posd ready") })

	v, code := e.sale("12.34", "visa-classic")
	if v.State != "approved" || v.ResponseCode != "00" || len(v.AuthCode) != 6 || code != 0 {
		t.Fatalf("approve: %+v exit %d", v, code)
	}
	if v.MaskedPAN != "476173******0010" {
		t.Errorf("masked PAN %q", v.MaskedPAN)
	}
	if v, code = e.sale("10.51", "unionpay-debit"); v.State != "declined" || v.ResponseCode != "51" || code != 3 {
		t.Fatalf("decline 51: %+v exit %d", v, code)
	}
	if v, _ = e.sale("20.05", "mastercard-credit"); v.State != "declined" || v.ResponseCode != "05" {
		t.Fatalf("decline 05: %+v", v)
	}

	// No response: the sale ends in a reversal, acknowledged by the host.
	v, _ = e.sale("40.91", "visa-classic")
	if v.State != "reversal_pending" {
		t.Fatalf("no response: %+v", v)
	}
	deadline := time.Now().Add(30 * time.Second)
	for v.State != "reversed" && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		out, _ := e.posctl("txn", "show", v.ID)
		json.Unmarshal([]byte(out), &v)
	}
	if v.State != "reversed" {
		t.Fatalf("reversal not acknowledged: %+v", v)
	}

	// The field engineer's link test: a CUP echo test is an 0820, answered 0830.
	if out, code := e.posctl("host", "test"); code != 0 || !strings.Contains(out, `"ok"`) {
		t.Fatalf("host test: exit %d %s", code, out)
	}

	// The journal: all in the CUP dialect, every MACed message verified,
	// the reversal resending the original's STAN with reason 98.
	lines := e.dialectLines()
	mtis := map[string]int{}
	var reversalIn *dialectLine
	for i, l := range lines {
		mtis[l.Direction+" "+l.MTI]++
		if l.Dialect != "cup" {
			t.Errorf("journal line in dialect %q: %+v", l.Dialect, l)
		}
		if l.MACOK != nil && !*l.MACOK {
			t.Errorf("journal line with mac_ok=false: %+v", l)
		}
		if l.Duplicate {
			t.Errorf("duplicate reversal without a lost answer: %+v", l)
		}
		if l.Direction == "in" && l.Kind == "reversal" {
			reversalIn = &lines[i]
		}
	}
	for k, n := range map[string]int{"in 0200": 4, "out 0210": 3, "drop 0200": 1, "in 0400": 1, "out 0410": 1, "in 0820": 1, "out 0830": 1} {
		if mtis[k] != n {
			t.Errorf("journal has %d %q lines, want %d (all: %v)", mtis[k], k, n, mtis)
		}
	}
	if reversalIn == nil || reversalIn.STAN != reversalIn.OrigSTAN {
		t.Errorf("reversal does not resend the original's STAN: %+v", reversalIn)
	}
	_, raw := e.journalLines()
	assertNoCardData(t, "journal", []byte(raw))
	if !strings.Contains(raw, `"note":"reversal: 98 (no response)"`) {
		t.Errorf("reversal reason 98 not journaled:\n%s", raw)
	}

	// Host down: a clear "host unreachable", and posd keeps running.
	if err := acq.stop(t); err != nil {
		t.Errorf("acquirer-sim exit: %v", err)
	}
	v, _ = e.sale("5.00", "visa-classic")
	if v.State != "failed" || !strings.Contains(v.Error, "host unreachable") {
		t.Fatalf("host down: %+v", v)
	}
	if out, code := e.posctl("host", "test"); code != 1 || !strings.Contains(out, "unreachable") {
		t.Fatalf("host test with the host down: exit %d %s", code, out)
	}
	if out, code := e.posctl("status"); code != 0 {
		t.Fatalf("posd gone after host failure: %s", out)
	}
	if err := posd.stop(t); err != nil {
		t.Fatalf("posd exit: %v\n%s", err, posd.stderr)
	}
	assertNoCardData(t, "posd log", posd.stderr.Bytes())
}
