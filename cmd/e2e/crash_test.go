package e2e

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillNineDuringSales kills posd with SIGKILL at random moments of a
// sale, restarts it on the same data directory, and checks that nothing was
// lost or doubled: every record ends in a final state (a sale caught in
// flight is reversed), no STAN and no KSN was ever used twice on the wire,
// and no request was sent again after the restart.
func TestKillNineDuringSales(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	dir := t.TempDir()
	hostAddr, apiAddr := freePort(t), freePort(t)
	e := &env{t: t, api: apiAddr, journal: filepath.Join(dir, "journal.jsonl"), dataDir: filepath.Join(dir, "data")}
	acq := start(t, "acquirer-sim", []string{"-listen", hostAddr, "-journal", e.journal},
		func(s string) bool { return strings.Contains(s, "listening on") })
	defer acq.stop(t)
	cfg := writeConfig(t, dir, map[string]any{
		"data_dir": e.dataDir,
		"api":      map[string]any{"listen": apiAddr},
		"host":     map[string]any{"addr": hostAddr, "response_timeout": "2s", "reversal_retry": "200ms"},
	})
	ready := func(s string) bool { return strings.Contains(s, "posd ready") }
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	const rounds = 6
	for i := 0; i < rounds; i++ {
		posd := start(t, "posd", []string{"-config", cfg}, ready)
		// Start a sale, swipe, and kill posd somewhere between the swipe
		// and a little after the answer.
		out, code := e.posctl("sale", "--amount", "7.00")
		if code != 0 {
			t.Fatalf("round %d: sale: %s", i, out)
		}
		if out, code := e.posctl("sim", "swipe", "--card", "visa-classic"); code != 0 {
			t.Fatalf("round %d: swipe: %s", i, out)
		}
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		posd.cmd.Process.Signal(syscall.SIGKILL)
		<-posd.done
	}
	// A last start recovers what the last kill left and sends pending
	// reversals.
	posd := start(t, "posd", []string{"-config", cfg}, ready)
	defer posd.stop(t)
	var list []txnView
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := e.posctl("txn", "list", "--limit", "100")
		list = nil
		json.Unmarshal([]byte(out), &list)
		pending := 0
		for _, x := range list {
			switch x.State {
			case "approved", "declined", "failed", "reversed":
			default:
				pending++
			}
		}
		if pending == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(list) != rounds {
		t.Fatalf("%d records for %d sales", len(list), rounds)
	}
	states := map[string]int{}
	for _, x := range list {
		states[x.State]++
		switch x.State {
		case "approved", "failed", "reversed":
		default:
			t.Errorf("record %s ended %s", x.ID, x.State)
		}
	}
	t.Logf("outcomes after %d kills: %v", rounds, states)

	raw, err := os.ReadFile(e.journal)
	if err != nil {
		t.Fatal(err)
	}
	type line struct {
		Direction string `json:"direction"`
		MTI       string `json:"mti"`
		STAN      string `json:"stan"`
		KSN       string `json:"ksn"`
		OrigSTAN  string `json:"orig_stan"`
		MACOK     bool   `json:"mac_ok"`
	}
	stans, ksns := map[string]string{}, map[string]string{}
	reversed := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var j line
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			t.Fatalf("journal: %v", err)
		}
		if j.Direction == "out" {
			continue
		}
		if !j.MACOK {
			t.Errorf("request with a bad MAC: %s", l)
		}
		if prev, ok := stans[j.STAN]; ok {
			t.Errorf("STAN %s used twice (%s and %s)", j.STAN, prev, j.MTI)
		}
		stans[j.STAN] = j.MTI
		if prev, ok := ksns[j.KSN]; ok {
			t.Errorf("KSN %s used twice (%s and %s)", j.KSN, prev, j.MTI)
		}
		ksns[j.KSN] = j.MTI
		if j.MTI == "0400" {
			reversed[j.OrigSTAN] = true
		}
	}
	// Every sale the host saw is either approved in posd's records or
	// reversed on the wire.
	approved := 0
	for _, x := range list {
		if x.State == "approved" {
			approved++
		}
	}
	seen := 0
	for _, mti := range stans {
		if mti == "0200" {
			seen++
		}
	}
	if seen > approved+len(reversed) {
		t.Errorf("the host saw %d purchases, posd approved %d and reversed %d", seen, approved, len(reversed))
	}
}
