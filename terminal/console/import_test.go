package console

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openBolt(t *testing.T, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func auditOf(t *testing.T, db *bolt.DB) []AuditEntry {
	t.Helper()
	c, err := New(Opts{Terminal: &fakeTerm{}, TerminalID: tid, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	es, err := c.Audit(MaxAudit)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestReadImportAudit: the trail read out of a closed database file comes
// into a fresh one with its sequence numbers and times, followed by the
// note; importing the same trail again changes nothing.
func TestReadImportAudit(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	r.login(p, "eve01", "admin")
	p.cmd("status", "> ")
	r.scan()
	want, err := r.c.Audit(MaxAudit)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.db.Close(); err != nil {
		t.Fatal(err)
	}
	got, unreadable, err := ReadAuditFile(r.path, time.Second)
	if err != nil || unreadable != 0 || len(got) != len(want) || len(got) < 3 {
		t.Fatalf("ReadAuditFile: %d entries (want %d), %d unreadable, %v", len(got), len(want), unreadable, err)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("entry %d: %+v, want %+v", i, got[i], want[i])
		}
	}

	db := openBolt(t, filepath.Join(t.TempDir(), "new.db"))
	note := AuditEntry{Time: t0.Add(time.Minute), Event: "factory_reset", Detail: "carried out at start"}
	if ok, err := ImportAudit(db, "trail-1", got, note); !ok || err != nil {
		t.Fatalf("ImportAudit: %v, %v", ok, err)
	}
	if ok, err := ImportAudit(db, "trail-1", got, note); ok || err != nil {
		t.Fatalf("ImportAudit again: %v, %v", ok, err)
	}
	es := auditOf(t, db)
	if len(es) != len(want)+1 {
		t.Fatalf("%d entries after the import, want %d: %+v", len(es), len(want)+1, es)
	}
	for i := range want {
		if es[i] != want[i] {
			t.Fatalf("imported entry %d: %+v, want %+v", i, es[i], want[i])
		}
	}
	last := es[len(es)-1]
	if last.Seq != want[len(want)-1].Seq+1 || last.Event != "factory_reset" || !last.Time.Equal(note.Time) {
		t.Fatalf("note: %+v", last)
	}
	// The console goes on numbering after the imported entries.
	c, err := New(Opts{Terminal: &fakeTerm{}, TerminalID: tid, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.audit("", "", "console_start", ""); err != nil {
		t.Fatal(err)
	}
	if es2, _ := c.Audit(1); len(es2) != 1 || es2[0].Seq != last.Seq+1 {
		t.Fatalf("next entry: %+v", es2)
	}
}

// TestImportAuditBounded: an import keeps the newest MaxAudit entries,
// note included, as the console's own writes do; a trail that does not
// come after the database's own entries is numbered after them.
func TestImportAuditBounded(t *testing.T) {
	var trail []AuditEntry
	for i := range MaxAudit + 5 {
		trail = append(trail, AuditEntry{Seq: uint64(i + 100), Time: t0, Event: "command", Detail: "status"})
	}
	db := openBolt(t, filepath.Join(t.TempDir(), "a.db"))
	if _, err := ImportAudit(db, "big", trail, AuditEntry{Time: t0, Event: "factory_reset"}); err != nil {
		t.Fatal(err)
	}
	es := auditOf(t, db)
	last := uint64(MaxAudit + 5 + 100)
	if len(es) != MaxAudit || es[0].Seq != last-MaxAudit+1 || es[len(es)-1].Seq != last || es[len(es)-1].Event != "factory_reset" {
		t.Fatalf("%d entries, %d..%d", len(es), es[0].Seq, es[len(es)-1].Seq)
	}

	// A database with entries of its own: the trail comes after them.
	db2 := openBolt(t, filepath.Join(t.TempDir(), "b.db"))
	c, err := New(Opts{Terminal: &fakeTerm{}, TerminalID: tid, DB: db2})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := c.audit("", "", "console_start", ""); err != nil {
			t.Fatal(err)
		}
	}
	small := []AuditEntry{{Seq: 1, Time: t0, Event: "login"}, {Seq: 2, Time: t0, Event: "logout"}}
	if _, err := ImportAudit(db2, "small", small, AuditEntry{Time: t0, Event: "factory_reset"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range auditOf(t, db2) {
		got = append(got, e.Event)
		if e.Seq != uint64(len(got)) {
			t.Fatalf("entry %d has seq %d", len(got), e.Seq)
		}
	}
	if strings.Join(got, " ") != "console_start console_start console_start login logout factory_reset" {
		t.Fatalf("events: %v", got)
	}
}

// TestImportAuditGuards: imported texts pass the console's output guard,
// as entries it writes do.
func TestImportAuditGuards(t *testing.T) {
	db := openBolt(t, filepath.Join(t.TempDir(), "a.db"))
	trail := []AuditEntry{{Seq: 1, Time: t0, Engineer: "eve01", Event: "command", Detail: "card " + testPAN + " " + strings.Repeat("x", 2*maxDetail)}}
	if _, err := ImportAudit(db, "", trail, AuditEntry{Time: t0, Event: "factory_reset"}); err != nil {
		t.Fatal(err)
	}
	es := auditOf(t, db)
	if strings.Contains(es[0].Detail, testPAN) || len(es[0].Detail) > maxDetail {
		t.Fatalf("imported detail: %q", es[0].Detail)
	}
}

// TestReadAuditFileDamage: an entry that does not decode is counted and
// left out; a file that is no database is an error, not a crash; a
// database without the console's buckets has no entries.
func TestReadAuditFileDamage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.db")
	db := openBolt(t, path)
	if _, err := ImportAudit(db, "", []AuditEntry{{Seq: 1, Time: t0, Event: "login"}}, AuditEntry{Time: t0, Event: "logout"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketAudit).Put(seqKey(7), []byte("{not json")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	es, unreadable, err := ReadAuditFile(path, time.Second)
	if err != nil || unreadable != 1 || len(es) != 2 || es[0].Event != "login" || es[1].Event != "logout" {
		t.Fatalf("ReadAuditFile: %+v, %d unreadable, %v", es, unreadable, err)
	}

	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, bytes.Repeat([]byte{0xAB}, 16<<10), 0o600)
	if _, _, err := ReadAuditFile(junk, time.Second); err == nil {
		t.Fatal("ReadAuditFile read a file that is no database")
	}

	empty := filepath.Join(dir, "empty.db")
	openBolt(t, empty).Close()
	if es, n, err := ReadAuditFile(empty, time.Second); err != nil || n != 0 || len(es) != 0 {
		t.Fatalf("a database without the audit bucket: %v, %d, %v", es, n, err)
	}
	if _, _, err := ReadAuditFile(filepath.Join(dir, "none.db"), time.Second); err == nil || !errors.Is(err, ErrStorage) {
		t.Fatalf("a missing file: %v", err)
	}
}
