package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashMixSales is how many sales TestKillNineMixed runs (make crash runs
// more through POSD_CRASH_SALES).
func crashMixSales(t *testing.T) int {
	if s := os.Getenv("POSD_CRASH_SALES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("POSD_CRASH_SALES=%q", s)
		}
		return n
	}
	return 200
}

// TestKillNineMixed runs 200 sales over swipe, insert and tap, online and
// offline (a chip card approving below the floor limit), against a live
// acquirer-sim, and kills posd with SIGKILL at random points of about one
// sale in eight, restarting it each time; then it lets posd forward what
// waits. The invariants, from the host's journal and posd's records:
//   - every purchase the host approved and that was not reversed is shown
//     approved, and every sale shown approved was approved by the host and
//     not reversed;
//   - every reversal names one original, under one STAN, and that sale
//     ends reversed (acknowledged); no sale shown approved was reversed;
//   - every offline approval reached the host (accepted once, repeats
//     only as acknowledged duplicates) and says so; none is lost;
//   - no STAN and no KSN is used twice on the wire.
//
// The seed is logged; POSD_CRASH_SEED replays one.
func TestKillNineMixed(t *testing.T) {
	t.Parallel() // a long one: see TestMain
	if testing.Short() {
		t.Skip("crash test")
	}
	rng := rand.New(rand.NewPCG(crashSeed(t), 11))
	e, _, cfg := newEnv(t, nil, map[string]any{"reversal_retry": "200ms"})
	withEMVParams(t, cfg, func(aid map[string]any) { delete(aid, "random_selection") })
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer func() { posd.stop(t) }()

	cards := []string{"visa-classic", "insert:visa-credit", "tap:mastercard-debit", "insert:visa-offline"}
	n := crashMixSales(t)
	kills := 0
	// Approved sales that may be voided, approved pre-authorizations that
	// may be completed (id -> amount in minor units).
	voidable, completable := []string{}, map[string]int{}
	kinds := map[string]int{}
	for i := range n {
		amount := fmt.Sprintf("%d.%02d", 1+i%9, 10+i%40) // never a magic ending
		minor := (1+i%9)*100 + 10 + i%40
		args := []string{"sale", "--amount", amount}
		needsCard := true
		switch i % 8 {
		case 3:
			args[0] = "refund"
		case 5:
			args[0] = "preauth"
		case 6:
			if len(voidable) > 0 {
				args, needsCard = []string{"void", voidable[0]}, false
				voidable = voidable[1:]
			}
		case 7:
			for id, amt := range completable {
				args, needsCard = []string{"complete", id, "--amount", fmt.Sprintf("%d.%02d", (amt-1)/100, (amt-1)%100)}, false
				delete(completable, id)
				break
			}
		}
		kinds[args[0]]++
		out, code := e.posctl(args...)
		// The last one's outcome is on disk a moment before the engine
		// frees the terminal: busy is transient.
		for deadline := time.Now().Add(5 * time.Second); code != 0 && strings.Contains(out, "already in progress") && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
			out, code = e.posctl(args...)
		}
		if code != 0 {
			t.Fatalf("%s %d: %s", args[0], i, out)
		}
		var v txnView
		json.Unmarshal([]byte(out), &v)
		card := cards[(i+i/8)%len(cards)] // every kind meets every card
		if needsCard {
			if out, code := e.posctl(presentArgs(card)...); code != 0 {
				t.Fatalf("%s %d: present %s: %s", args[0], i, card, out)
			}
		}
		if rng.IntN(8) == 0 {
			time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
			posd.cmd.Process.Signal(syscall.SIGKILL)
			<-posd.exited
			kills++
			posd = start(t, "posd", []string{"-config", cfg}, posdReady)
			continue
		}
		// Let it end before the next one.
		var x txnView
		waitFor(t, 30*time.Second, func() bool {
			out, _ := e.posctl("txn", "show", v.ID)
			return json.Unmarshal([]byte(out), &x) == nil && ended(x.State)
		})
		if x.State == "approved" {
			switch args[0] {
			case "sale":
				voidable = append(voidable, v.ID)
			case "preauth":
				completable[v.ID] = minor
			}
		}
	}
	// Forward what waits, then wait for every record to settle.
	var list []offlineView
	var listRaw string
	waitFor(t, 60*time.Second, func() bool {
		e.posctl("sync")
		out, _ := e.posctl("txn", "list", "--limit", "1000")
		listRaw = out
		list = nil
		if json.Unmarshal([]byte(out), &list) != nil {
			return false
		}
		for _, x := range list {
			if !ended(x.State) || x.State == "reversal_pending" || x.State == "offline_approved" && x.AdviceSent == "" {
				return false
			}
		}
		return true
	})
	states := map[string]int{}
	for _, x := range list {
		states[x.State]++
	}
	t.Logf("%d transactions %v, %d kills: %d records %v", n, kinds, kills, len(list), states)
	if kills == 0 || states["offline_approved"] == 0 || states["approved"] == 0 {
		t.Errorf("the run did not exercise kills, offline and online approvals")
	}
	// Every advice acknowledged: no key of their card data is left,
	// including those of approvals a kill kept from being committed and
	// of advices acknowledged just before one (erased as posd started).
	if n := adviceKeysUsed(t, e.dataDir); n != 0 {
		t.Errorf("%d advice keys kept with no advice waiting", n)
	}

	_, raw := e.journalLines()
	hostApproved, reversedOrig := map[string]bool{}, map[string]string{}
	stans, ksns := map[string]string{}, map[string]bool{}
	advices := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(raw), "\n") {
		var j struct {
			journalLine
			Ref string `json:"ref"`
		}
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			t.Fatalf("journal: %v", err)
		}
		switch {
		case j.Direction == "out" && moneyKinds[j.Kind] && j.ResponseCode == "00":
			hostApproved[j.STAN] = true
		case j.Direction == "in" && j.Kind == "reversal":
			if prev, ok := reversedOrig[j.OrigSTAN]; ok && prev != j.STAN {
				t.Errorf("original %s reversed under STANs %s and %s", j.OrigSTAN, prev, j.STAN)
			}
			reversedOrig[j.OrigSTAN] = j.STAN
		case j.Direction == "in" && j.Kind == "advice" && j.ResponseCode == "00" && !j.Duplicate:
			advices[strings.TrimSpace(j.Ref)]++
		}
		if j.Direction != "in" {
			continue
		}
		if j.KSN != "" {
			if ksns[j.KSN] {
				t.Errorf("KSN %s used twice", j.KSN)
			}
			ksns[j.KSN] = true
		}
		owner := j.Kind + " " + j.STAN
		if j.Kind == "reversal" {
			owner = "reversal of " + j.OrigSTAN
		}
		if j.Kind == "advice" {
			owner = "advice " + j.Ref
		}
		if prev, ok := stans[j.STAN]; ok && prev != owner {
			t.Errorf("STAN %s used by %s and %s", j.STAN, prev, owner)
		}
		stans[j.STAN] = owner
	}
	shown := map[string]offlineView{}
	for _, x := range list {
		shown[x.STAN] = x
		switch x.State {
		case "approved":
			if !hostApproved[x.STAN] || reversedOrig[x.STAN] != "" {
				t.Errorf("sale %s (STAN %s) shown approved: host approved %t, reversed %t", x.ID, x.STAN, hostApproved[x.STAN], reversedOrig[x.STAN] != "")
			}
		case "offline_approved":
			if advices[x.ID] != 1 {
				t.Errorf("offline approval %s reached the host %d times", x.ID, advices[x.ID])
			}
		}
	}
	for stan := range hostApproved {
		if reversedOrig[stan] == "" && shown[stan].State != "approved" {
			t.Errorf("the host approved STAN %s, not reversed, and posd shows %q", stan, shown[stan].State)
		}
	}
	for orig := range reversedOrig {
		if shown[orig].State != "reversed" {
			t.Errorf("reversal of STAN %s: posd shows %q", orig, shown[orig].State)
		}
	}
	offline := map[string]bool{}
	for _, x := range list {
		offline[x.ID] = x.State == "offline_approved"
	}
	for ref := range advices {
		if !offline[ref] {
			t.Errorf("an advice %s reached the host for no offline approval", ref)
		}
	}
	// A void or completion and its original agree: the original names the
	// approved one that took it, and only that one.
	var links []struct {
		ID          string `json:"id"`
		Kind        string `json:"kind"`
		State       string `json:"state"`
		OrigID      string `json:"orig_id"`
		VoidedBy    string `json:"voided_by"`
		CompletedBy string `json:"completed_by"`
		Invoice     uint32 `json:"invoice"`
	}
	json.Unmarshal([]byte(listRaw), &links)
	// No invoice number twice, whatever the kills.
	invoices := map[uint32]string{}
	for _, l := range links {
		if l.Invoice == 0 {
			continue
		}
		if prev, ok := invoices[l.Invoice]; ok {
			t.Errorf("invoice %d on records %s and %s", l.Invoice, prev, l.ID)
		}
		invoices[l.Invoice] = l.ID
	}
	if len(invoices) == 0 {
		t.Error("no record has an invoice number")
	}
	byID := map[string]int{}
	for i, l := range links {
		byID[l.ID] = i
	}
	for _, l := range links {
		o, ok := byID[l.OrigID]
		if !ok || (l.Kind != "void" && l.Kind != "completion") {
			continue
		}
		took := links[o].VoidedBy
		if l.Kind == "completion" {
			took = links[o].CompletedBy
		}
		if (l.State == "approved") != (took == l.ID) {
			t.Errorf("%s %s is %s, its original %s names %q", l.Kind, l.ID, l.State, l.OrigID, took)
		}
	}
	// The batch closes, and the host's totals are the terminal's.
	out, code := e.posctl("batch", "close")
	if code != 0 || !strings.Contains(out, `"state": "approved"`) {
		t.Fatalf("batch close after the run: exit %d %s", code, out)
	}
	settled := false
	for _, m := range e.rawJournal() {
		if m["kind"] == "settlement" && m["direction"] == "in" && m["settled"] == true {
			settled = true
		}
	}
	if !settled {
		t.Error("the host did not close the batch")
	}
}

// moneyKinds are the kinds of the host's journal whose approval moves or
// reserves money.
var moneyKinds = map[string]bool{"purchase": true, "refund": true, "preauth": true, "completion": true, "void": true}

// ended: the sale has its outcome (a reversal may still be on its way).
func ended(state string) bool {
	switch state {
	case "approved", "offline_approved", "declined", "failed", "reversed", "reversal_pending":
		return true
	}
	return false
}
