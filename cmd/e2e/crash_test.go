package e2e

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
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
//
// The seed of the kill timings is logged; POSD_CRASH_SEED replays one.
func TestKillNineDuringSales(t *testing.T) {
	t.Parallel() // a long one: see TestMain
	if testing.Short() {
		t.Skip("crash test")
	}
	seed := crashSeed(t)
	for i, d := range dialects {
		t.Run(d, func(t *testing.T) { testKillNine(t, d, seed+uint64(i)) })
	}
}

// crashSeed is the seed of a crash test's random kills, logged;
// POSD_CRASH_SEED replays one.
func crashSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("POSD_CRASH_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("POSD_CRASH_SEED: %v", err)
		}
		seed = n
	}
	t.Logf("seed %d (POSD_CRASH_SEED=%d replays it)", seed, seed)
	return seed
}

func testKillNine(t *testing.T, dialect string, seed uint64) {
	dir := t.TempDir()
	hostAddr, apiAddr := freePort(t), freePort(t)
	e := &env{t: t, api: apiAddr, journal: filepath.Join(dir, "journal.jsonl"), dataDir: filepath.Join(dir, "data")}
	acq := start(t, "acquirer-sim", []string{"-listen", hostAddr, "-journal", e.journal, "-dialect", dialect},
		func(s string) bool { return strings.Contains(s, "listening on") })
	defer acq.stop(t)
	cfg := writeConfig(t, dir, map[string]any{
		"data_dir": e.dataDir,
		"api":      map[string]any{"listen": apiAddr},
		"host":     map[string]any{"addr": hostAddr, "dialect": dialect, "response_timeout": "2s", "reversal_retry": "200ms"},
	})
	ready := func(s string) bool { return strings.Contains(s, "posd ready") }
	rng := rand.New(rand.NewPCG(seed, 7))
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
		<-posd.exited
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
	// A sale lives in memory until its request is committed: one killed
	// before that leaves no record, and nothing was sent for it.
	if len(list) == 0 || len(list) > rounds {
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
	// On the wire: every request under its own KSN; every purchase and
	// echo under its own STAN; a reversal's attempts share one STAN (the
	// original's in cup) and no other message uses it.
	stans, ksns := map[string]string{}, map[string]string{}
	reversed := map[string]string{}
	purchases := 0
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var j journalLine
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			t.Fatalf("journal: %v", err)
		}
		if j.Direction != "in" {
			continue
		}
		if j.MACOK != nil && !*j.MACOK {
			t.Errorf("request with a bad MAC: %s", l)
		}
		if prev, ok := ksns[j.KSN]; ok {
			t.Errorf("KSN %s used twice (%s and %s)", j.KSN, prev, j.Kind)
		}
		ksns[j.KSN] = j.Kind
		switch j.Kind {
		case "reversal":
			if prev, ok := reversed[j.OrigSTAN]; ok && prev != j.STAN {
				t.Errorf("original %s reversed under STANs %s and %s", j.OrigSTAN, prev, j.STAN)
			}
			reversed[j.OrigSTAN] = j.STAN
			if owner, ok := stans[j.STAN]; ok && !(dialect == "cup" && j.STAN == j.OrigSTAN) && owner != "reversal "+j.OrigSTAN {
				t.Errorf("reversal STAN %s already used by %s", j.STAN, owner)
			}
			if dialect != "cup" {
				stans[j.STAN] = "reversal " + j.OrigSTAN
			}
		default:
			if owner, ok := stans[j.STAN]; ok {
				t.Errorf("STAN %s used twice (%s and %s)", j.STAN, owner, j.Kind)
			}
			stans[j.STAN] = j.Kind
			if j.Kind == "purchase" {
				purchases++
			}
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
	if purchases > approved+len(reversed) {
		t.Errorf("the host saw %d purchases, posd approved %d and reversed %d", purchases, approved, len(reversed))
	}
	// Every purchase the host saw has its record, approved or reversed.
	byStan := map[string]string{}
	for _, x := range list {
		byStan[x.STAN] = x.State
	}
	for stan, kind := range stans {
		if kind != "purchase" {
			continue
		}
		if st := byStan[stan]; st != "approved" && st != "reversed" {
			t.Errorf("the host saw purchase STAN %s; posd's record of it is %q", stan, st)
		}
	}
}
