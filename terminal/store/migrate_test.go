package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"posd/conn/clock"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// copyFixture copies testdata/NAME, a database an older schema wrote,
// to a temporary posd.db and returns its path.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "posd.db")
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testdata/schema1.db was written by the schema-1 store (the code before
// migrations): nine records, one of each kind of outcome, two of them
// reversal_pending... see the fixture's list below.
func TestMigrateFromSchema1(t *testing.T) {
	path := copyFixture(t, "schema1.db")
	d := open(t, path)
	defer d.Close()
	want := []struct {
		amount int64
		state  State
		stan   uint32
	}{
		{1234, StateApproved, 1}, {1051, StateDeclined, 2}, {3000, StateFailed, 0}, {500, StateFailed, 3},
		{4091, StateReversalPending, 4}, {4191, StateReversed, 5}, {700, StateFailed, 0}, {800, StateCreated, 0},
		{900, StateAuthSent, 6},
	}
	all, err := d.List(0)
	if err != nil || len(all) != len(want) {
		t.Fatalf("%d records after migration: %v", len(all), err)
	}
	for i, w := range want {
		r, err := d.Get(fmt.Sprint(i + 1))
		if err != nil || r.Amount != w.amount || r.State != w.state || r.STAN != w.stan {
			t.Errorf("record %d: %+v %v, want %+v", i+1, r, err, w)
		}
	}
	if r, _ := d.Get("1"); r.AuthCode != "AB12CD" || r.MaskedPAN != "476173******0010" || r.KSN == "" {
		t.Errorf("approved record lost fields: %+v", r)
	}
	for s, n := range map[State]int{StateFailed: 3, StateApproved: 1, StateReversalPending: 1, StateCreated: 1, StateAuthSent: 1, StateReversed: 1, StateDeclined: 1} {
		if got := d.Count(s); got != n {
			t.Errorf("count %s = %d, want %d", s, got, n)
		}
		list, _ := d.List(0, s)
		if len(list) != n {
			t.Errorf("index %s lists %d, want %d", s, len(list), n)
		}
	}
	jobs, err := d.Jobs()
	if err != nil || len(jobs) != 1 || jobs[0].Kind != JobReversal || jobs[0].TxnID != "5" || jobs[0].Attempts != 2 {
		t.Fatalf("outbox after migration: %+v %v", jobs, err)
	}
	// Counters carried over: the next STAN follows the fixture's.
	if stan, _ := d.NextSTAN(); stan != 6 {
		t.Errorf("next STAN %d", stan)
	}
	// New records go on from the old ids.
	x := Txn{Kind: "purchase", Amount: 1}
	if err := d.Create(&x); err != nil || x.ID != "10" {
		t.Fatalf("new record %q %v", x.ID, err)
	}
	var schema string
	d.bolt.View(func(tx *bolt.Tx) error { schema = string(tx.Bucket(bucketMeta).Get(keySchema)); return nil })
	if schema != fmt.Sprint(SchemaVersion) {
		t.Fatalf("schema after migration %q", schema)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	open(t, path).Close()
	b, _ := bolt.Open(path, 0o600, nil)
	b.Update(func(tx *bolt.Tx) error {
		tx.Bucket(bucketMeta).Put(keyCompat, []byte("99"))
		return tx.Bucket(bucketMeta).Put(keySchema, []byte("99"))
	})
	b.Close()
	if _, err := Open(path, nil); !errors.Is(err, ErrSchema) {
		t.Fatalf("schema 99: %v", err)
	}
}

func TestIndexFollowsUpdates(t *testing.T) {
	d := open(t, filepath.Join(t.TempDir(), "posd.db"))
	defer d.Close()
	var ids []string
	for i := 0; i < 30; i++ {
		x := Txn{Kind: "purchase", Amount: int64(i + 1)}
		d.Create(&x)
		ids = append(ids, x.ID)
	}
	for i, id := range ids {
		d.Update(id, func(r *Txn) error { r.State = StateAuthSent; return nil })
		switch i % 3 {
		case 0:
			d.Update(id, func(r *Txn) error { r.State = StateApproved; return nil })
		case 1:
			d.Update(id, func(r *Txn) error { r.State = StateReversalPending; return nil })
		}
	}
	if d.Count(StateApproved) != 10 || d.Count(StateReversalPending) != 10 || d.Count(StateAuthSent) != 10 || d.Count(StateCreated) != 0 {
		t.Fatalf("counts %d %d %d %d", d.Count(StateApproved), d.Count(StateReversalPending), d.Count(StateAuthSent), d.Count(StateCreated))
	}
	two, _ := d.List(4, StateApproved, StateReversalPending)
	if len(two) != 4 || two[0].ID != "29" || two[1].ID != "28" || two[2].ID != "26" || two[3].ID != "25" {
		t.Fatalf("merged list newest first: %v", idsOf(two))
	}
	if l, _ := d.List(0, StateCreated); len(l) != 0 {
		t.Fatalf("created: %v", idsOf(l))
	}
}

func idsOf(l []Txn) []string {
	var out []string
	for _, r := range l {
		out = append(out, r.ID)
	}
	return out
}

func TestOutboxAndPurge(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	d, err := Open(filepath.Join(t.TempDir(), "posd.db"), &Opts{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var ids []string
	for i := 0; i < 6; i++ {
		x := Txn{Kind: "purchase", Amount: 1}
		d.Create(&x)
		ids = append(ids, x.ID)
		clk.Advance(24 * time.Hour)
	}
	// 1, 2: approved; 3: reversal pending with its job; 4..6 recent.
	for _, id := range ids[:3] {
		d.Update(id, func(r *Txn) error { r.State = StateAuthSent; return nil })
	}
	d.Update(ids[0], func(r *Txn) error { r.State = StateApproved; return nil })
	d.Update(ids[1], func(r *Txn) error { r.State = StateApproved; return nil })
	err = d.Do(func(tx *Tx) error {
		if _, err := tx.Update(ids[2], func(r *Txn) error { r.State = StateReversalPending; return nil }); err != nil {
			return err
		}
		return tx.Enqueue(&Job{Kind: JobReversal, TxnID: ids[2]})
	})
	if err != nil {
		t.Fatal(err)
	}
	jobs, _ := d.Jobs()
	if len(jobs) != 1 || jobs[0].Seq == 0 || !jobs[0].Created.Equal(clk.Now()) {
		t.Fatalf("jobs %+v", jobs)
	}
	jobs[0].Attempts, jobs[0].LastError = 3, "no response"
	d.Do(func(tx *Tx) error { return tx.PutJob(&jobs[0]) })
	if j, _ := d.Jobs(); j[0].Attempts != 3 {
		t.Fatalf("job update lost: %+v", j)
	}
	// A failing step leaves nothing behind.
	boom := errors.New("boom")
	if err := d.Do(func(tx *Tx) error {
		tx.Enqueue(&Job{Kind: JobReversal, TxnID: "x"})
		return boom
	}); err != boom {
		t.Fatal(err)
	}
	if j, _ := d.Jobs(); len(j) != 1 {
		t.Fatalf("a rolled back step left %d jobs", len(j))
	}
	// Purge what is final and older than three days: records 1 and 2.
	n, err := d.Purge(time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC), 0)
	if err != nil || n != 2 {
		t.Fatalf("purged %d %v", n, err)
	}
	if _, err := d.Get(ids[0]); !IsNotFound(err) {
		t.Fatal("purged record still there")
	}
	if _, err := d.Get(ids[2]); err != nil {
		t.Fatal("a pending reversal was purged")
	}
	if d.Count(StateApproved) != 0 || d.Count(StateReversalPending) != 1 {
		t.Fatal("counts after purge")
	}
	d.Do(func(tx *Tx) error { return tx.DeleteJob(jobs[0].Seq) })
	if j, _ := d.Jobs(); len(j) != 0 {
		t.Fatal("job not deleted")
	}
}

func TestReserveAndInsert(t *testing.T) {
	d := open(t, filepath.Join(t.TempDir(), "posd.db"))
	defer d.Close()
	var first uint64
	if err := d.Do(func(tx *Tx) error { var err error; first, err = tx.ReserveIDs(10); return err }); err != nil || first != 1 {
		t.Fatalf("reserve: %d %v", first, err)
	}
	// Create after a reservation does not reuse a reserved id.
	x := Txn{Kind: "purchase", Amount: 1}
	d.Create(&x)
	if x.ID != "11" {
		t.Fatalf("created id %s inside the reservation", x.ID)
	}
	r := Txn{ID: "3", Kind: "purchase", Amount: 5, State: StateAuthSent, STAN: 9}
	if err := d.Do(func(tx *Tx) error { return tx.Insert(&r) }); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Get("3"); got.State != StateAuthSent || got.STAN != 9 || d.Count(StateAuthSent) != 1 {
		t.Fatalf("inserted: %+v", got)
	}
	for _, bad := range []Txn{
		{ID: "3", State: StateAuthSent},  // exists
		{ID: "12", State: StateAuthSent}, // not reserved
		{ID: "4", State: StateReversed},  // created -> reversed is no transition
		{ID: "x", State: StateAuthSent},  // not an id
	} {
		b := bad
		if err := d.Do(func(tx *Tx) error { return tx.Insert(&b) }); err == nil {
			t.Errorf("inserted %+v", bad)
		}
	}
}

// An offline approval is final, but while its advice waits in the outbox
// the record is what the advice is built from: Purge keeps every record
// an outbox job names.
func TestPurgeKeepsRecordsWithJobs(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	d, err := Open(filepath.Join(t.TempDir(), "posd.db"), &Opts{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var waiting, sent Txn
	err = d.Do(func(tx *Tx) error {
		waiting = Txn{Kind: "purchase", Amount: 1, State: StateOfflineApproved}
		sent = Txn{Kind: "purchase", Amount: 2, State: StateOfflineApproved}
		if err := tx.Create(&waiting); err != nil {
			return err
		}
		if err := tx.Create(&sent); err != nil {
			return err
		}
		return tx.Enqueue(&Job{Kind: JobAdvice, TxnID: waiting.ID})
	})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(100 * 24 * time.Hour)
	if n, err := d.Purge(clk.Now(), 0); err != nil || n != 1 {
		t.Fatalf("purged %d %v", n, err)
	}
	if _, err := d.Get(waiting.ID); err != nil {
		t.Fatalf("the offline approval whose advice waits was purged: %v", err)
	}
	if _, err := d.Get(sent.ID); !IsNotFound(err) {
		t.Fatal("the forwarded one was kept")
	}
}

// The rollback of a trial firmware must find a database its predecessor
// can use. A migration that only adds keeps the file's compat, so the
// older build still opens it; one that changes what older builds read is
// refused on a trial boot (the file untouched, the trial fails and is
// rolled back) and runs on a committed one.
func TestMigrationKeepsTheFileReadableOnATrial(t *testing.T) {
	added := []byte("added_in_4")
	additive := append(slices.Clone(migrations), migration{compat: CompatVersion, run: func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket(added)
		return err
	}})
	breaking := append(slices.Clone(migrations), migration{compat: SchemaVersion + 1, run: func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket(added)
		return err
	}})
	next := SchemaVersion + 1
	run := func(d *DB, list []migration, compat int, keep bool) error {
		return d.bolt.Update(func(tx *bolt.Tx) error {
			return migrateTo(tx, tx.Bucket(bucketMeta), next, compat, list, keep)
		})
	}
	meta := func(d *DB) (schema, compat string, hasAdded bool) {
		d.bolt.View(func(tx *bolt.Tx) error {
			m := tx.Bucket(bucketMeta)
			schema, compat, hasAdded = string(m.Get(keySchema)), string(m.Get(keyCompat)), tx.Bucket(added) != nil
			return nil
		})
		return
	}
	cur := strconv.Itoa(SchemaVersion)

	// Additive, on a trial: migrated, compat unchanged; this build (the
	// predecessor) then opens the newer file.
	path := filepath.Join(t.TempDir(), "posd.db")
	d := open(t, path)
	if err := run(d, additive, CompatVersion, true); err != nil {
		t.Fatalf("additive migration on a trial: %v", err)
	}
	if s, c, ok := meta(d); s != strconv.Itoa(next) || c != strconv.Itoa(CompatVersion) || !ok {
		t.Fatalf("after the additive migration: schema %s compat %s added %t", s, c, ok)
	}
	d.Close()
	d, err := Open(path, &Opts{KeepReadable: true})
	if err != nil {
		t.Fatalf("the predecessor opening the migrated file: %v", err)
	}
	d.Close()

	// Breaking, on a trial: refused, nothing changed.
	path = filepath.Join(t.TempDir(), "posd.db")
	d = open(t, path)
	if err := run(d, breaking, next, true); !errors.Is(err, ErrTrialMigration) {
		t.Fatalf("breaking migration on a trial: %v", err)
	}
	if s, c, ok := meta(d); s != cur || c != strconv.Itoa(CompatVersion) || ok {
		t.Fatalf("after the refused migration: schema %s compat %s added %t", s, c, ok)
	}
	// On a committed boot it runs, and the predecessor refuses the file.
	if err := run(d, breaking, next, false); err != nil {
		t.Fatalf("breaking migration, committed: %v", err)
	}
	if s, c, ok := meta(d); s != strconv.Itoa(next) || c != strconv.Itoa(next) || !ok {
		t.Fatalf("after the breaking migration: schema %s compat %s added %t", s, c, ok)
	}
	d.Close()
	if _, err := Open(path, nil); !errors.Is(err, ErrSchema) {
		t.Fatalf("the predecessor opening a file it cannot read: %v", err)
	}
}

// Every migration's compat lies between its predecessors' and its own
// schema, and CompatVersion is where the list ends.
func TestMigrationCompats(t *testing.T) {
	if len(migrations)+1 != SchemaVersion {
		t.Fatalf("%d migrations for schema %d", len(migrations), SchemaVersion)
	}
	c := 1
	for i, m := range migrations {
		if m.compat < c || m.compat > i+2 {
			t.Errorf("migration %d to %d: compat %d", i+1, i+2, m.compat)
		}
		c = max(c, m.compat)
	}
	if c != CompatVersion {
		t.Errorf("the migrations end at compat %d, CompatVersion is %d", c, CompatVersion)
	}
}

// A firmware older than the file (installed by hand, or a rollback past
// a migration that raised the compat version): the engineer reads which
// firmware the file needs, and that the file was left as it was.
func TestNewerSchemaSaysWhatToDo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	open(t, path).Close()
	b, _ := bolt.Open(path, 0o600, nil)
	b.Update(func(tx *bolt.Tx) error {
		tx.Bucket(bucketMeta).Put(keyCompat, []byte("7"))
		return tx.Bucket(bucketMeta).Put(keySchema, []byte("9"))
	})
	b.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(path, nil)
	if !errors.Is(err, ErrSchema) {
		t.Fatalf("schema 9: %v", err)
	}
	for _, want := range []string{"firmware", "schema 7", "untouched"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the message does not say %q: %v", want, err)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("Open changed a file it refused")
	}
}

// A file that has records but lost its schema version (a damaged meta
// bucket) is not a fresh file: the open batch and the layout must not be
// set up again over it.
func TestRecordsWithoutSchemaVersionRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	d := open(t, path)
	if err := d.Do(func(tx *Tx) error {
		if err := tx.Create(&Txn{Kind: "purchase", Amount: 1}); err != nil {
			return err
		}
		for range 4 {
			if _, err := tx.CloseBatch(); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keySchema) })
	b.Close()
	d, err = Open(path, nil)
	if err == nil {
		batch := d.OpenBatch()
		d.Close()
		t.Fatalf("opened, open batch now %d (was 5)", batch)
	}
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("records without a schema version: %v, want ErrDamaged", err)
	}
}
