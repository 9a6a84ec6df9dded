package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRestoredDatabaseRepeatsNoNumber is the acquirer's audit with real
// processes: posd stops, posd.db is copied aside, two sales and a batch
// close are made, posd stops, the copy is put back and posd starts again.
// Its start-up log and `posctl status` say the database was behind; the
// next sale and batch close reuse no record id, invoice number or batch
// number of the lost ones, and the host never sees a STAN twice.
func TestRestoredDatabaseRepeatsNoNumber(t *testing.T) {
	e, _, cfg := newEnv(t, nil, nil)
	type numbers struct {
		ID      string `json:"id"`
		STAN    string `json:"stan"`
		Invoice uint32 `json:"invoice"`
		Batch   uint32 `json:"batch"`
	}
	sale := func(amount string) numbers {
		t.Helper()
		v, code := e.sale(amount, "visa-classic")
		if v.State != "approved" || code != 0 {
			t.Fatalf("sale of %s: %+v exit %d", amount, v, code)
		}
		out, _ := e.posctl("txn", "show", v.ID)
		var n numbers
		if err := json.Unmarshal([]byte(out), &n); err != nil || n.Invoice == 0 {
			t.Fatalf("txn show %s: %s %v", v.ID, out, err)
		}
		return n
	}
	closeBatch := func() {
		t.Helper()
		if out, code := e.posctl("batch", "close"); code != 0 || !strings.Contains(out, `"state": "approved"`) {
			t.Errorf("batch close: exit %d %s", code, out)
		}
	}
	db := filepath.Join(e.dataDir, "posd.db")

	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	sale("1.00")
	if err := posd.stop(t); err != nil {
		t.Fatalf("posd: %v", err)
	}
	backup, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}

	posd = start(t, "posd", []string{"-config", cfg}, posdReady)
	lost := []numbers{sale("2.00"), sale("3.00")}
	closeBatch()
	if err := posd.stop(t); err != nil {
		t.Fatalf("posd: %v", err)
	}

	if err := os.WriteFile(db, backup, 0o600); err != nil {
		t.Fatal(err)
	}
	// The start-up log, as it stood when posd was ready (the process's
	// output is collected whole only once it exits).
	var startLog string
	posd = start(t, "posd", []string{"-config", cfg}, func(s string) bool {
		startLog = s
		return posdReady(s)
	})
	defer posd.stop(t)
	if !strings.Contains(startLog, "posd.db was behind the counters' high-water mark") {
		t.Errorf("the start-up log does not say the database was behind:\n%s", startLog)
	}
	if st, _ := e.posctl("status"); !strings.Contains(st, `"database_behind"`) {
		t.Errorf("posctl status does not say the database was behind: %s", st)
	}
	got := sale("4.00")
	closeBatch()
	for _, l := range lost {
		if got.ID == l.ID || got.Invoice == l.Invoice {
			t.Errorf("the sale after the restore %+v repeats a lost one: %+v", got, l)
		}
	}
	if got.Batch <= lost[0].Batch {
		t.Errorf("the sale after the restore went into batch %d; batch %d was settled", got.Batch, lost[0].Batch)
	}

	seen := map[string]string{}
	settled := map[float64]bool{}
	for _, m := range e.rawJournal() {
		if m["direction"] != "in" {
			continue
		}
		stan, _ := m["stan"].(string)
		what, _ := m["kind"].(string)
		if prev, ok := seen[stan]; ok {
			t.Errorf("the host saw STAN %s twice: %s, then %s", stan, prev, what)
		}
		seen[stan] = what
		if what == "settlement" && m["settled"] == true {
			b, _ := m["batch"].(float64)
			if settled[b] {
				t.Errorf("the host settled batch %v twice", b)
			}
			settled[b] = true
		}
	}
	if len(settled) != 2 {
		t.Errorf("%d batches settled at the host, want 2: %v", len(settled), settled)
	}
}
