package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestHostFaults: acquirer-sim injects one fault per magic amount into its
// answer to a purchase, in both dialects. The terminal shows approved only
// when the host approved with a valid MAC, in time: a reset link, garbage,
// a bad MAC and a late answer end in a reversal the host acknowledges,
// sent for that sale once (repeats of one reversal allowed); a duplicated
// answer and a slow one in time are one approval, with no reversal.
func TestHostFaults(t *testing.T) {
	t.Parallel() // a long one: see TestMain
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) { testHostFaults(t, d) })
	}
}

func testHostFaults(t *testing.T, dialect string) {
	e, _, cfg := newEnv(t, []string{"-dialect", dialect, "-late-delay", "4s", "-slow-delay", "500ms"},
		map[string]any{"dialect": dialect})
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer posd.stop(t)

	for _, c := range []struct {
		amount, fault string
		approved      bool
	}{
		{"10.92", "reset", false},
		{"10.93", "garbage", false},
		{"10.94", "bad_mac", false},
		{"10.95", "late", false},
		{"10.97", "duplicate", true},
		{"10.98", "slow", true},
	} {
		before, _ := e.journalLines()
		v, code := e.sale(c.amount, "visa-classic")
		if c.approved {
			if v.State != "approved" || code != 0 {
				t.Errorf("%s: %+v exit %d, want approved", c.fault, v, code)
			}
		} else {
			if v.State == "approved" || code == 0 {
				t.Errorf("%s: the terminal approved: %+v", c.fault, v)
			}
			deadline := time.Now().Add(30 * time.Second)
			for v.State != "reversed" && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
				out, _ := e.posctl("txn", "show", v.ID)
				json.Unmarshal([]byte(out), &v)
			}
			if v.State != "reversed" {
				t.Errorf("%s: not reversed: %+v", c.fault, v)
			}
		}
		// What the host saw for this sale: the purchase with its fault,
		// and for a failed one its reversal, one reversal for one original.
		waitFor(t, 10*time.Second, func() bool {
			after, _ := e.journalLines()
			n := count(after[len(before):])
			return n["out purchase"]+n["drop purchase"] >= 1 && (c.approved || n["out reversal"] >= 1)
		})
		after, raw := e.journalLines()
		n := count(after[len(before):])
		if n["in purchase"] != 1 || (c.approved && n["in reversal"] != 0) {
			t.Errorf("%s: messages at the host %v", c.fault, n)
		}
		if !c.approved {
			origs := map[string]bool{}
			for _, l := range after[len(before):] {
				if l.Direction == "in" && l.Kind == "reversal" {
					origs[l.OrigSTAN] = true
				}
			}
			if len(origs) != 1 {
				t.Errorf("%s: reversals for originals %v", c.fault, origs)
			}
		}
		if !strings.Contains(raw, `"fault":"`+c.fault+`"`) {
			t.Errorf("%s: the journal does not show the fault", c.fault)
		}
	}
	// The late answer arrives after the reversal; nothing changes.
	time.Sleep(4 * time.Second)
	out, _ := e.posctl("txn", "list", "--state", "approved")
	var list []txnView
	if json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 {
		t.Errorf("approved sales after every fault: %s", out)
	}
}
