package store

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func open(t *testing.T, path string) *DB {
	t.Helper()
	d, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	d := open(t, path)
	a := Txn{Kind: "purchase", Amount: 1234, Currency: "156"}
	if err := d.Create(&a); err != nil {
		t.Fatal(err)
	}
	b := Txn{Kind: "purchase", Amount: 500, Currency: "156"}
	d.Create(&b)
	if a.ID == b.ID || a.State != StateCreated {
		t.Fatalf("ids %q %q state %q", a.ID, b.ID, a.State)
	}
	if _, err := d.Update(a.ID, func(t *Txn) error { t.State = StateAuthSent; t.STAN = 7; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Update(a.ID, func(t *Txn) error { t.State = StateApproved; t.ResponseCode = "00"; return nil }); err != nil {
		t.Fatal(err)
	}
	// approved -> created is not a transition of the model.
	if _, err := d.Update(a.ID, func(t *Txn) error { t.State = StateCreated; return nil }); !errors.Is(err, ErrState) {
		t.Fatalf("bad transition: %v", err)
	}
	d.Close()

	d = open(t, path)
	defer d.Close()
	got, err := d.Get(a.ID)
	if err != nil || got.State != StateApproved || got.STAN != 7 || got.ResponseCode != "00" {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
	list, _ := d.List(0)
	if len(list) != 2 || list[0].ID != b.ID {
		t.Fatalf("List newest first: %+v", list)
	}
	only, _ := d.List(0, StateCreated)
	if len(only) != 1 || only[0].ID != b.ID {
		t.Fatalf("List by state: %+v", only)
	}
	if _, err := d.Get("999"); !IsNotFound(err) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := d.Get("x"); !IsNotFound(err) {
		t.Fatalf("bad id: %v", err)
	}
}

func TestSTANWraps(t *testing.T) {
	d := open(t, filepath.Join(t.TempDir(), "posd.db"))
	defer d.Close()
	d.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCounters).Put([]byte("stan"), key(999998))
	})
	for _, want := range []uint32{999999, 1, 2} {
		got, err := d.NextSTAN()
		if err != nil || got != want {
			t.Fatalf("NextSTAN = %d %v, want %d", got, err, want)
		}
	}
}

// A newer file is used as it is when its compat version says this build
// can (a firmware rolled back after a newer one only added to the
// layout), and refused otherwise, or when it says nothing of its compat.
func TestSchemaVersionChecked(t *testing.T) {
	for _, c := range []struct {
		schema, compat string // "" compat: no key (a build before compat versions)
		ok             bool
	}{
		{"99", "", false},
		{"99", "99", false},
		{"99", strconv.Itoa(SchemaVersion + 1), false},
		{"99", strconv.Itoa(SchemaVersion), true},
		{"99", "1", true},
		{"99", "x", false},
		{"3", "4", false}, // compat beyond the schema: nonsense
		{"0", "", false},
	} {
		path := filepath.Join(t.TempDir(), "posd.db")
		d := open(t, path)
		d.bolt.Update(func(tx *bolt.Tx) error {
			m := tx.Bucket(bucketMeta)
			if c.compat == "" {
				m.Delete(keyCompat)
			} else {
				m.Put(keyCompat, []byte(c.compat))
			}
			return m.Put(keySchema, []byte(c.schema))
		})
		d.Close()
		d, err := Open(path, nil)
		if c.ok != (err == nil) || !c.ok && !errors.Is(err, ErrSchema) {
			t.Errorf("schema %s compat %q: %v", c.schema, c.compat, err)
		}
		if err != nil {
			continue
		}
		// Used as it is: this build does not rewrite what it cannot know.
		d.bolt.View(func(tx *bolt.Tx) error {
			m := tx.Bucket(bucketMeta)
			if string(m.Get(keySchema)) != c.schema || string(m.Get(keyCompat)) != c.compat {
				t.Errorf("schema %s compat %q rewritten: %s %s", c.schema, c.compat, m.Get(keySchema), m.Get(keyCompat))
			}
			return nil
		})
		d.Close()
	}
}

func TestStateModel(t *testing.T) {
	for _, s := range []State{StateApproved, StateDeclined, StateFailed, StateReversed} {
		if !s.Final() {
			t.Errorf("%s not final", s)
		}
	}
	if StateReversed.CanMove(StateApproved) || StateDeclined.CanMove(StateApproved) || !StateApproved.CanMove(StateReversalPending) {
		t.Error("state model")
	}
}

// TestCounterSurvivesKill kills a process that is drawing STANs with
// SIGKILL, at a random point, and checks that no STAN it reported can be
// drawn again: each is on disk before it is used.
func TestCounterSurvivesKill(t *testing.T) {
	if os.Getenv("STORE_CRASH_CHILD") != "" {
		d, err := Open(os.Getenv("STORE_CRASH_CHILD"), nil)
		if err != nil {
			os.Exit(3)
		}
		w := bufio.NewWriter(os.Stdout)
		for {
			n, err := d.NextSTAN()
			if err != nil {
				os.Exit(4)
			}
			w.WriteString(strconv.Itoa(int(n)) + "\n")
			w.Flush()
		}
	}
	path := filepath.Join(t.TempDir(), "posd.db")
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCounterSurvivesKill$")
		cmd.Env = append(os.Environ(), "STORE_CRASH_CHILD="+path)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		last, seen := 0, 0
		stopAt := 20 + time.Now().Nanosecond()%200
		for sc.Scan() {
			last, _ = strconv.Atoi(sc.Text())
			if seen++; seen == stopAt {
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		cmd.Wait()
		if seen < stopAt {
			t.Fatalf("child stopped early after %d", seen)
		}
		d := open(t, path)
		n, err := d.NextSTAN()
		d.Close()
		if err != nil || int(n) <= last {
			t.Fatalf("round %d: after kill, next STAN %d, last used %d", round, n, last)
		}
	}
}

func BenchmarkNextSTAN(b *testing.B) {
	d, err := Open(filepath.Join(b.TempDir(), "posd.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	for b.Loop() {
		if _, err := d.NextSTAN(); err != nil {
			b.Fatal(err)
		}
	}
}

// A counter whose stored value is not one (a damaged page) is not
// started again from 1: STANs and invoice numbers would repeat.
func TestDamagedCounterNotReset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	d := open(t, path)
	if err := d.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCounters).Put([]byte("stan"), []byte{0, 0, 0x30, 0x39})
	}); err != nil {
		t.Fatal(err)
	}
	n, err := d.NextSTAN()
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("next STAN after a damaged counter: %d, %v; want ErrDamaged", n, err)
	}
	d.Close()
	if _, err := Open(path, nil); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Open of a file with a damaged counter: %v, want ErrDamaged", err)
	}
}

// An id handed out whose transaction was never written (it ended before
// its first write) is not found, saying so: nothing was charged. An id
// never handed out is just not found.
func TestGetOfAnIdNeverWritten(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "posd.db"))
	defer db.Close()
	err := db.Do(func(tx *Tx) error {
		first, err := tx.ReserveIDs(3)
		if err != nil {
			return err
		}
		return tx.Insert(&Txn{ID: strconv.FormatUint(first+1, 10), Kind: "purchase", State: StateCreated, Amount: 1, Currency: "156"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get("2"); err != nil {
		t.Fatal(err)
	}
	_, err = db.Get("1")
	if !IsNotFound(err) || !strings.Contains(err.Error(), "nothing was charged") {
		t.Fatalf("an id handed out, never written: %v", err)
	}
	_, err = db.Get("9")
	if !IsNotFound(err) || strings.Contains(err.Error(), "charged") {
		t.Fatalf("an id never handed out: %v", err)
	}
}
