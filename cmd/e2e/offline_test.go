package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// offlineView is a record with what store-and-forward adds.
type offlineView struct {
	chipView
	AdviceSent string `json:"advice_sent"`
	AdviceCode string `json:"advice_code"`
	RiskRule   string `json:"risk_rule"`
}

type offlineStatus struct {
	Count     int    `json:"count"`
	Amount    int64  `json:"amount"`
	OldestAge string `json:"oldest_age"`
}

func (e *env) offlineStatus() offlineStatus {
	e.t.Helper()
	out, code := e.posctl("status")
	var st struct {
		Offline offlineStatus `json:"offline"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		e.t.Fatalf("status: %d %s", code, out)
	}
	return st.Offline
}

func (e *env) offlineShow(id string) offlineView {
	e.t.Helper()
	var v offlineView
	e.showInto(id, &v)
	return v
}

// TestOfflineStoreAndForward: the host is down. Inserted cards approve
// offline (Y3: "unable to go online", and Y1 below the floor limit)
// within the offline limits, their card data sealed in posd.db; the next
// sale over the count limit fails and names the rule. posctl sync while
// the host is down forwards nothing; once it is up every advice reaches
// it exactly once (its journal), the records say so, and a restart of
// posd sends nothing again.
func TestOfflineStoreAndForward(t *testing.T) {
	e, acq, cfg := newEnv(t, nil, nil)
	withEMVParams(t, cfg, func(aid map[string]any) { delete(aid, "random_selection") })
	var hostAddr string
	editConfig(t, cfg, func(c map[string]any) {
		hostAddr = c["host"].(map[string]any)["addr"].(string)
		c["risk"] = map[string]any{"offline": map[string]any{"max_count": 3}}
	})
	acq.stop(t)
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer func() { posd.stop(t) }()

	var ids []string
	var total int64
	for _, c := range []struct {
		card, amount, rc string
		minor            int64
	}{
		{"insert:visa-credit", "12.30", "Y3", 1230},
		{"insert:visa-offline", "20.00", "Y1", 2000},
		{"insert:visa-credit", "7.50", "Y3", 750},
	} {
		v, code := e.sale(c.amount, c.card)
		rec := e.offlineShow(v.ID)
		if v.State != "offline_approved" || code != 0 || rec.ResponseCode != c.rc || rec.MaskedPAN == "" {
			t.Fatalf("%s with the host down: %+v exit %d", c.card, rec, code)
		}
		ids = append(ids, v.ID)
		total += c.minor
	}
	if st := e.offlineStatus(); st.Count != 3 || st.Amount != total || st.OldestAge == "" {
		t.Fatalf("offline status %+v, want 3 for %d", st, total)
	}
	// The fourth is over the count limit: the card is sent online, the
	// host cannot be reached, and the rule is the reason.
	v, code := e.sale("5.00", "insert:visa-credit")
	if rec := e.offlineShow(v.ID); v.State != "failed" || code != 3 || rec.RiskRule != "offline_count" ||
		!strings.Contains(rec.Error, "offline approvals waiting") {
		t.Fatalf("over the offline count: %+v exit %d", rec, code)
	}
	// What waits is sealed: no card data in the database.
	db, err := os.ReadFile(filepath.Join(e.dataDir, "posd.db"))
	if err != nil {
		t.Fatal(err)
	}
	assertNoChipData(t, "posd.db with advices waiting", db)
	// Each waiting advice's card data has its own key in the slot file.
	if n := adviceKeysUsed(t, e.dataDir); n != 3 {
		t.Fatalf("%d advice keys kept with 3 advices waiting", n)
	}

	// Host still down: sync forwards nothing and says so.
	out, code := e.posctl("sync")
	if code != 1 || !strings.Contains(out, "3 advices not sent: the host is unreachable") {
		t.Fatalf("sync with the host down: %d %s", code, out)
	}
	var st offlineStatus

	// Host up: every advice exactly once.
	acq = start(t, "acquirer-sim", []string{"-listen", hostAddr, "-journal", e.journal},
		func(s string) bool { return strings.Contains(s, "listening on") })
	defer acq.stop(t)
	out, code = e.posctl("sync")
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Count != 0 {
		t.Fatalf("sync with the host up: %d %s", code, out)
	}
	var order []string
	advices := func() map[string]int {
		_, raw := e.journalLines()
		n := map[string]int{}
		order = nil
		for _, l := range strings.Split(strings.TrimSpace(raw), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) != nil || m["kind"] != "advice" || m["direction"] != "in" {
				continue
			}
			if m["duplicate"] == true || m["response_code"] != "00" || m["tc_ok"] != true || m["mac_ok"] != true {
				t.Errorf("advice at the host: %s", l)
			}
			ref := strings.TrimLeft(m["ref"].(string), "0 ")
			n[ref]++
			order = append(order, ref)
		}
		return n
	}
	got := advices()
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("advice of %s reached the host %d times", id, got[id])
		}
		if rec := e.offlineShow(id); rec.AdviceSent == "" || rec.AdviceCode != "" || rec.State != "offline_approved" {
			t.Errorf("record after its advice: %+v", rec)
		}
	}
	if len(got) != len(ids) || strings.Join(order, ",") != strings.Join(ids, ",") {
		t.Errorf("advices at the host: %v in the order %v, want %v in that order", got, order, ids)
	}
	// A restart forwards nothing again.
	if err := posd.stop(t); err != nil {
		t.Fatal(err)
	}
	posd = start(t, "posd", []string{"-config", cfg}, posdReady)
	if _, code := e.posctl("sync"); code != 0 {
		t.Fatal("sync after the restart")
	}
	if again := advices(); len(again) != len(ids) || again[ids[0]] != 1 {
		t.Errorf("after a restart: %v", again)
	}
	db, _ = os.ReadFile(filepath.Join(e.dataDir, "posd.db"))
	assertNoChipData(t, "posd.db after forwarding", db)
	// The host has every advice: their keys are erased, so the copies of
	// the sealed card data bbolt left in freed pages are noise.
	if n := adviceKeysUsed(t, e.dataDir); n != 0 {
		t.Errorf("%d advice keys kept after every advice was acknowledged", n)
	}
}

// adviceKeysUsed counts the used slots of the data directory's advice key
// file (terminal/shred's layout: a 16-byte header, then 80-byte slots whose
// first byte is 1 when used) and checks that a free slot is all zeros.
func adviceKeysUsed(t *testing.T, dataDir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "advice-keys.slots"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 16 || string(b[:8]) != "posdshr1" || (len(b)-16)%80 != 0 {
		t.Fatalf("advice key file of %d bytes", len(b))
	}
	n := 0
	for off := 16; off < len(b); off += 80 {
		slot := b[off : off+80]
		if slot[0] == 1 {
			n++
		} else if !bytes.Equal(slot, make([]byte, 80)) {
			t.Fatalf("free slot at %d not zeroed: %x", off, slot)
		}
	}
	return n
}
