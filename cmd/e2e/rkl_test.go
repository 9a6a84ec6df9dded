package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRemoteKeyLoading: a fresh terminal with an empty DUKPT slot and no
// TEST key gets its device certificate from tms-sim's test factory, then
// its KBPK (TR-34 token) and DUKPT initial key (TR-31 under the KBPK)
// from tms-sim's key distribution host, and a sale is approved by
// acquirer-sim with them. No key byte reaches a log or a journal.
func TestRemoteKeyLoading(t *testing.T) {
	dir := t.TempDir()
	tmsAddr := freePort(t)
	caFile := filepath.Join(dir, "kdh-ca.pem")
	tmsJournal := filepath.Join(dir, "tms.jsonl")
	tms := start(t, "tms-sim", []string{"-listen", tmsAddr, "-journal", tmsJournal, "-kdh-ca-out", caFile},
		func(s string) bool { return strings.Contains(s, "tms-sim listening on") })
	defer tms.stop(t)
	e, acq, cfg := newEnv(t, nil, nil)
	editConfig(t, cfg, func(c map[string]any) {
		c["sim"] = map[string]any{"test_keys": false}
		c["remote_keys"] = map[string]any{"url": "http://" + tmsAddr, "kdh_ca": caFile, "factory_url": "http://" + tmsAddr + "/v1/factory/certify"}
	})
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	if v, code := e.run([]string{"sale", "--amount", "12.34"}, "visa-classic"); v.State != "approved" || code != 0 {
		t.Fatalf("sale with remotely loaded keys: %+v %d", v, code)
	}
	// A restart keeps the keys: nothing is loaded again.
	if err := posd.stop(t); err != nil {
		t.Fatal(err)
	}
	firstLog := posd.stderr.String()
	if !strings.Contains(firstLog, "keys loaded from the key distribution host") {
		t.Fatalf("posd did not load its keys:\n%s", firstLog)
	}
	posd = start(t, "posd", []string{"-config", cfg}, posdReady)
	if v, code := e.run([]string{"sale", "--amount", "2.34"}, "visa-classic"); v.State != "approved" || code != 0 {
		t.Fatalf("sale after a restart: %+v %d", v, code)
	}
	if err := posd.stop(t); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(posd.stderr.String(), "keys loaded from the key distribution host") {
		t.Fatal("keys loaded again after a restart")
	}
	acq.stop(t)
	tms.stop(t)
	journal, err := os.ReadFile(tmsJournal)
	if err != nil || !strings.Contains(string(journal), `"keys"`) {
		t.Fatalf("tms journal: %v %s", err, journal)
	}
	for what, data := range map[string]string{"posd's log": firstLog + posd.stderr.String(), "tms-sim's journal": string(journal)} {
		if strings.Contains(data, "PRIVATE KEY") {
			t.Errorf("%s holds a private key", what)
		}
	}
}
