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

// TestRestoreAfterPowerCutIsBehind: the field engineer's case. The data
// directory is copied while posd runs (a power cut), posd.db replaced by
// a copy from two sales earlier, posd started: its log warns and its
// status says the database is behind, not merely that posd did not stop
// cleanly. Then posd.db and its marker removed: a new database, said so.
func TestRestoreAfterPowerCutIsBehind(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	cfg, err := config.Parse([]byte(`{"data_dir":"` + dir + `","host":{"addr":"127.0.0.1:1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	open := func() *Daemon {
		t.Helper()
		logs = &syncBuffer{}
		d, err := Open(context.Background(), cfg, "test", slog.New(slog.NewTextHandler(logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	sale := func(d *Daemon) {
		t.Helper()
		err := d.DB.Do(func(tx *store.Tx) error {
			if _, err := tx.NextSTAN(); err != nil {
				return err
			}
			_, err := tx.NextInvoice()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	db := filepath.Join(dir, "posd.db")
	d := open()
	sale(d)
	older := filepath.Join(root, "posd.db.older")
	copyFile(t, db, older)
	sale(d)
	sale(d)
	cut := filepath.Join(root, "cut")
	copyDir(t, dir, cut)
	d.Close(context.Background())

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	copyDir(t, cut, dir)
	copyFile(t, older, db)
	d = open()
	st := d.Status()
	if st.DatabaseBehind == nil {
		t.Errorf("status after restoring an older posd.db after a power cut: database_behind null")
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"posd.db was behind") || strings.Contains(logs.String(), "did not stop cleanly") {
		t.Errorf("start-up log:\n%s", logs.String())
	}
	d.Close(context.Background())

	for _, p := range []string{db, db + store.MarkerSuffix} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	d = open()
	defer d.Close(context.Background())
	if st := d.Status(); st.DatabaseBehind != nil {
		t.Errorf("a new database reported behind: %+v", st.DatabaseBehind)
	}
	if l := logs.String(); !strings.Contains(l, "posd.db is a new database") || strings.Contains(l, "did not stop cleanly") {
		t.Errorf("start-up log of a new database:\n%s", l)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	raw, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}
