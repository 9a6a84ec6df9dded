package daemon

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"posd/internal/config"
	"posd/terminal/store"
)

// TestRestoredDatabaseIsBehind: posd.db put back from a copy taken before
// a STAN, an invoice number and a batch close were used. posd starts,
// says in its log and its status that the database was behind, and the
// next STAN, invoice and batch are none of those the host has seen.
func TestRestoredDatabaseIsBehind(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cfg, err := config.Parse([]byte(`{"data_dir":"` + dir + `","host":{"addr":"127.0.0.1:1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	open := func() *Daemon {
		t.Helper()
		d, err := Open(context.Background(), cfg, "test", slog.New(slog.NewTextHandler(logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	type drawn struct {
		stan, invoice uint32
		batch         uint32
	}
	draw := func(d *Daemon, closeBatch bool) (n drawn) {
		t.Helper()
		err := d.DB.Do(func(tx *store.Tx) error {
			var err error
			if n.stan, err = tx.NextSTAN(); err != nil {
				return err
			}
			if n.invoice, err = tx.NextInvoice(); err != nil {
				return err
			}
			n.batch = tx.OpenBatch()
			if closeBatch {
				_, err = tx.CloseBatch()
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	d := open()
	draw(d, false)
	d.Close(context.Background())
	db := filepath.Join(dir, "posd.db")
	backup, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}

	d = open()
	if st := d.Status(); st.DatabaseBehind != nil {
		t.Fatalf("a clean restart reported behind: %+v", st.DatabaseBehind)
	}
	lost := []drawn{draw(d, false), draw(d, true)}
	d.Close(context.Background())

	if err := os.WriteFile(db, backup, 0o600); err != nil {
		t.Fatal(err)
	}
	logs = &syncBuffer{}
	d = open()
	defer d.Close(context.Background())
	st := d.Status()
	if st.DatabaseBehind == nil || len(st.DatabaseBehind.Counters) == 0 {
		t.Fatalf("status after the restore: %+v", st.DatabaseBehind)
	}
	raw, _ := json.Marshal(st)
	if !strings.Contains(string(raw), `"database_behind":{"message":"posd.db was behind`) {
		t.Errorf("status JSON: %s", raw)
	}
	if !strings.Contains(logs.String(), "posd.db was behind the counters' high-water mark") {
		t.Errorf("start-up log does not say the database was behind:\n%s", logs.String())
	}
	next := draw(d, false)
	for _, l := range lost {
		if next.stan == l.stan || next.invoice == l.invoice {
			t.Errorf("after the restore %+v repeats %+v", next, l)
		}
	}
	if next.batch <= lost[1].batch {
		t.Errorf("open batch %d after the restore; batch %d was closed", next.batch, lost[1].batch)
	}
}
