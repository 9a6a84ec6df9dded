package store

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// numbers are what a transaction shows the host and the customer.
type numbers struct {
	id      uint64
	stan    uint32
	invoice uint32
	batch   uint32
}

// markRig opens posd.db with the counters' mark the way posd does, and
// sells the way the sale engine does: a block of record ids reserved at
// each start, then one commit per sale drawing its STAN and invoice.
type markRig struct {
	t          *testing.T
	path, mark string
	d          *DB
	next, end  uint64
}

func newMarkRig(t *testing.T) *markRig {
	dir := t.TempDir()
	r := &markRig{t: t, path: filepath.Join(dir, "posd.db"), mark: filepath.Join(dir, MarkFile)}
	r.open()
	return r
}

func (r *markRig) open() {
	r.t.Helper()
	d, err := Open(r.path, &Opts{Mark: r.mark})
	if err != nil {
		r.t.Fatal(err)
	}
	r.d, r.next, r.end = d, 0, 0
}

func (r *markRig) sale(kind string) numbers {
	r.t.Helper()
	if r.next >= r.end {
		err := r.d.Do(func(tx *Tx) error {
			first, err := tx.ReserveIDs(1000)
			r.next, r.end = first, first+1000
			return err
		})
		if err != nil {
			r.t.Fatal(err)
		}
	}
	var n numbers
	n.id = r.next
	r.next++
	err := r.d.Do(func(tx *Tx) error {
		rec := Txn{ID: strconv.FormatUint(n.id, 10), Kind: kind, State: StateAuthSent, Amount: 100, Currency: "156"}
		var err error
		if rec.STAN, err = tx.NextSTAN(); err != nil {
			return err
		}
		if kind != "settlement" {
			if err := tx.AssignNumbers(&rec); err != nil {
				return err
			}
		} else {
			rec.Batch = tx.OpenBatch()
			if _, err := tx.CloseBatch(); err != nil {
				return err
			}
		}
		n.stan, n.invoice, n.batch = rec.STAN, rec.Invoice, rec.Batch
		return tx.Insert(&rec)
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return n
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

// TestRestoredCopyRepeatsNoNumber: the acquirer's audit. posd.db is
// copied aside, two sales and a batch close are made, posd stops, the
// copy is put back: the next sale's record id, STAN and invoice number
// and its batch are none that the lost transactions had (the host
// approved them, the customers have slips with them, the batch was
// settled), and Open says the database was behind.
func TestRestoredCopyRepeatsNoNumber(t *testing.T) {
	r := newMarkRig(t)
	r.sale("purchase")
	r.d.Close()
	backup := r.path + ".backup"
	copyFile(t, r.path, backup)

	r.open()
	if r.d.Behind() || len(r.d.Moved()) != 0 {
		t.Fatalf("a clean restart moved counters: %+v", r.d.Moved())
	}
	lost := []numbers{r.sale("purchase"), r.sale("purchase"), r.sale("settlement")}
	r.d.Close()

	copyFile(t, backup, r.path)
	r.open()
	defer r.d.Close()
	if !r.d.Behind() {
		t.Errorf("the restored copy is not reported behind: %+v", r.d.Moved())
	}
	got := r.sale("purchase")
	for _, l := range lost {
		if got.id == l.id {
			t.Errorf("record id %d again", got.id)
		}
		if got.stan == l.stan {
			t.Errorf("STAN %06d again", got.stan)
		}
		if l.invoice != 0 && got.invoice == l.invoice {
			t.Errorf("invoice %06d again", got.invoice)
		}
	}
	if settled := lost[2].batch; got.batch <= settled {
		t.Errorf("the sale went into batch %d; batch %d was settled already", got.batch, settled)
	}
	var names []string
	for _, m := range r.d.Moved() {
		names = append(names, m.Counter)
	}
	for _, want := range []string{"batch", "ids", "invoice", "stan"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s not reported moved: %+v", want, r.d.Moved())
		}
	}
}

// TestUncleanStopSkipsReservation: posd stopped without closing the
// database (power cut, kill -9): its files are as they were mid-run. The
// next start skips what the mark reserved, reports nothing behind, and
// repeats no number; nor does a copy of the database from just before.
func TestUncleanStopSkipsReservation(t *testing.T) {
	r := newMarkRig(t)
	first := r.sale("purchase")
	older := r.path + ".older"
	copyFile(t, r.path, older)
	last := r.sale("purchase")
	// The files as a power cut leaves them.
	db, mark := r.path+".cut", r.mark+".cut"
	copyFile(t, r.path, db)
	copyFile(t, r.mark, mark)
	r.d.Close()

	copyFile(t, db, r.path)
	copyFile(t, mark, r.mark)
	r.open()
	if r.d.Behind() || len(r.d.Moved()) == 0 {
		t.Errorf("after an unclean stop: behind %v, moved %+v", r.d.Behind(), r.d.Moved())
	}
	got := r.sale("purchase")
	if got.stan <= last.stan || got.invoice <= last.invoice || got.stan > last.stan+MarkReserve+1 {
		t.Errorf("after an unclean stop: %+v, the last sale before it %+v", got, last)
	}
	r.d.Close()

	copyFile(t, older, r.path)
	r.open()
	defer r.d.Close()
	again := r.sale("purchase")
	for _, n := range []numbers{first, last, got} {
		if again.stan == n.stan || again.invoice == n.invoice || again.id == n.id {
			t.Errorf("an older copy after an unclean stop repeats %+v: %+v", n, again)
		}
	}
}

// TestMarkCostsOneWritePerReserve: the mark is written when a counter
// passes it, MarkReserve values ahead, not at every sale.
func TestMarkCostsOneWritePerReserve(t *testing.T) {
	r := newMarkRig(t)
	defer r.d.Close()
	r.sale("purchase")
	fi, err := os.Stat(r.mark)
	if err != nil {
		t.Fatal(err)
	}
	writes := 0
	last := fi.ModTime()
	ino := inode(fi)
	for range MarkReserve - 1 {
		r.sale("purchase")
		fi, _ := os.Stat(r.mark)
		if i := inode(fi); i != ino || !fi.ModTime().Equal(last) {
			writes++
			ino, last = i, fi.ModTime()
		}
	}
	if writes != 0 {
		t.Errorf("%d writes of the mark in %d sales after the first", writes, MarkReserve-1)
	}
	r.sale("purchase")
	if fi, _ := os.Stat(r.mark); inode(fi) == ino {
		t.Error("the mark was not written when the reservation ran out")
	}
}

// TestMarkDamaged: a mark that does not decode stops Open (ErrMark),
// the database untouched; a missing one is made again from the database.
func TestMarkDamaged(t *testing.T) {
	r := newMarkRig(t)
	n := r.sale("purchase")
	r.d.Close()
	os.WriteFile(r.mark, []byte(`{"counters":`), 0o600)
	if d, err := Open(r.path, &Opts{Mark: r.mark}); !errors.Is(err, ErrMark) {
		if d != nil {
			d.Close()
		}
		t.Fatalf("damaged mark: %v", err)
	}
	os.Remove(r.mark)
	r.open()
	defer r.d.Close()
	if got := r.sale("purchase"); got.stan != n.stan+1 {
		t.Errorf("after the mark was made again: %+v, before %+v", got, n)
	}
	if _, err := os.Stat(r.mark); err != nil {
		t.Errorf("the mark was not made again: %v", err)
	}
}

func TestBatchLinear(t *testing.T) {
	for _, c := range []struct {
		n    uint32
		near uint64
		want uint64
	}{
		{1, 0, 1}, {3, 5, 3}, {999999, 999999, 999999}, {1, 999999, 1000000}, {999999, 1000000, 999999},
		{2, 2*batchWrap + 1, 2*batchWrap + 2}, {0, 0, 1},
	} {
		if got := batchLinear(c.n, c.near); got != c.want {
			t.Errorf("batchLinear(%d, %d) = %d, want %d", c.n, c.near, got, c.want)
		}
		if c.n != 0 && batchNumber(c.want) != c.n {
			t.Errorf("batchNumber(%d) = %d, want %d", c.want, batchNumber(c.want), c.n)
		}
	}
}

// inode is the file's inode number: the mark is replaced (renamed over)
// at each write.
func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// FuzzMark: whatever the mark file holds, Open either refuses it
// (ErrMark) or opens, and a sale after it never panics.
func FuzzMark(f *testing.F) {
	f.Add([]byte(`{"counters":{"stan":{"max":172,"low":73},"batch":{"max":1000000,"low":999999}}}`))
	f.Add([]byte(`{"counters":{"ids":{"max":18446744073709551615,"low":0}}}`))
	f.Add([]byte(`{"counters":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		dir := t.TempDir()
		path, mark := filepath.Join(dir, "posd.db"), filepath.Join(dir, MarkFile)
		if err := os.WriteFile(mark, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		d, err := Open(path, &Opts{Mark: mark})
		if err != nil {
			if !errors.Is(err, ErrMark) {
				t.Fatalf("not ErrMark: %v", err)
			}
			return
		}
		defer d.Close()
		d.Do(func(tx *Tx) error {
			if _, err := tx.NextSTAN(); err != nil {
				return err
			}
			if _, err := tx.ReserveIDs(1000); err != nil {
				return err
			}
			_, err := tx.CloseBatch()
			return err
		})
	})
}

// stop stops the way posd does when it stops cleanly: the sale engine
// gives back the ids of its block it did not hand out, then the database
// is closed.
func (r *markRig) stop() {
	r.t.Helper()
	if err := r.d.Do(func(tx *Tx) error {
		_, err := tx.ReleaseIDs(r.next, r.end)
		return err
	}); err != nil {
		r.t.Fatal(err)
	}
	if err := r.d.Close(); err != nil {
		r.t.Fatal(err)
	}
}

// markOf is counter name's entry in the mark file.
func markOf(t *testing.T, path, name string) markEntry {
	t.Helper()
	m, err := loadMark(path)
	if err != nil {
		t.Fatal(err)
	}
	return m.m[name]
}

// TestCleanStopGivesBackUnusedIDs: a clean stop gives back the record ids
// reserved and not handed out, so the next start continues at the next
// id (the mark lowered to the last one used); an unclean one still skips
// at most the reserve; a restored copy still repeats no id.
func TestCleanStopGivesBackUnusedIDs(t *testing.T) {
	r := newMarkRig(t)
	var last numbers
	for range 3 {
		last = r.sale("purchase")
	}
	r.stop()
	if e := markOf(t, r.mark, CounterIDs); e.Max != last.id || e.Low != last.id {
		t.Errorf("after a clean stop the mark holds ids %+v, the last id used is %d", e, last.id)
	}
	backup := r.path + ".backup"
	copyFile(t, r.path, backup)
	r.open()
	if len(r.d.Moved()) != 0 {
		t.Errorf("a clean restart moved counters: %+v", r.d.Moved())
	}
	got := r.sale("purchase")
	if got.id != last.id+1 {
		t.Errorf("after a clean stop the next id is %d, want %d", got.id, last.id+1)
	}
	lost := r.sale("purchase")
	r.stop()
	r.open()
	if again := r.sale("purchase"); again.id != lost.id+1 {
		t.Errorf("after a second clean stop the next id is %d, want %d", again.id, lost.id+1)
	}
	r.stop()

	// A restored copy from before the last sales repeats none of them.
	copyFile(t, backup, r.path)
	r.open()
	if !r.d.Behind() {
		t.Errorf("the restored copy is not reported behind: %+v", r.d.Moved())
	}
	if again := r.sale("purchase"); again.id <= lost.id+1 {
		t.Errorf("the restored copy hands out id %d again", again.id)
	}
	// An unclean stop (nothing given back, the mark as it was) skips at
	// most the reserve and the mark's reserve.
	before := r.next - 1
	db, mark := r.path+".cut", r.mark+".cut"
	copyFile(t, r.path, db)
	copyFile(t, r.mark, mark)
	r.d.Close()
	copyFile(t, db, r.path)
	copyFile(t, mark, r.mark)
	r.open()
	defer r.d.Close()
	if got := r.sale("purchase"); got.id <= before || got.id > before+1000+MarkReserve+1 {
		t.Errorf("after an unclean stop the next id is %d, the last used %d", got.id, before)
	}
}

// TestReleaseIDsOnlyTheLastBlock: ids are given back only while they are
// the last reserved and none of them is stored.
func TestReleaseIDsOnlyTheLastBlock(t *testing.T) {
	r := newMarkRig(t)
	defer r.d.Close()
	r.sale("purchase")
	seq := func() (s uint64) {
		r.d.View(func(tx *Tx) error { s = tx.tx.Bucket(bucketTxns).Sequence(); return nil })
		return s
	}
	release := func(next, end uint64) bool {
		var ok bool
		if err := r.d.Do(func(tx *Tx) (err error) { ok, err = tx.ReleaseIDs(next, end); return err }); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	var first uint64
	if err := r.d.Do(func(tx *Tx) (err error) { first, err = tx.ReserveIDs(10); return err }); err != nil {
		t.Fatal(err)
	}
	if release(r.next, r.end) || seq() != first+9 {
		t.Errorf("a block reserved before another was given back: sequence %d", seq())
	}
	if !release(first, first+10) || seq() != first-1 {
		t.Errorf("the last block was not given back: sequence %d, want %d", seq(), first-1)
	}
	// Now the first block is the last reserved again; id 1 is stored.
	if release(1, r.end) || release(r.end, r.end) || release(0, r.end) || seq() != r.end-1 {
		t.Errorf("ids given back that were stored, or none: sequence %d", seq())
	}
	if !release(r.next, r.end) || seq() != r.next-1 {
		t.Errorf("the unused part of the first block was not given back: sequence %d", seq())
	}
}

// cutDir is the data directory as a power cut leaves it mid-run: the
// database, the mark and the last commit's counters (SeenSuffix), copied
// without closing the database.
type cutDir struct{ db, mark, seen string }

func (r *markRig) cut(name string) cutDir {
	r.t.Helper()
	c := cutDir{r.path + "." + name, r.mark + "." + name, r.mark + SeenSuffix + "." + name}
	copyFile(r.t, r.path, c.db)
	copyFile(r.t, r.mark, c.mark)
	copyIfAny(r.t, r.mark+SeenSuffix, c.seen)
	return c
}

// putBack puts the cut's files in place, the database from db.
func (r *markRig) putBack(c cutDir, db string) {
	r.t.Helper()
	copyFile(r.t, db, r.path)
	copyFile(r.t, c.mark, r.mark)
	copyIfAny(r.t, c.seen, r.mark+SeenSuffix)
}

// copyIfAny copies from to to, or removes to when from is missing.
func copyIfAny(t *testing.T, from, to string) {
	t.Helper()
	if _, err := os.Stat(from); errors.Is(err, os.ErrNotExist) {
		if err := os.Remove(to); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return
	}
	copyFile(t, from, to)
}

// TestOlderCopyAfterUncleanStopIsBehind: the field engineer's restore
// after a power cut. posd.db is copied two sales before the cut, inside
// one reservation of the mark (the mark was last written before the
// copy); the copy is put back in the data directory as the cut left it.
// Open reports it behind (sales after the copy are missing), not merely
// an unclean stop; the database the cut left itself is not behind.
func TestOlderCopyAfterUncleanStopIsBehind(t *testing.T) {
	r := newMarkRig(t)
	r.sale("purchase")
	older := r.path + ".older"
	copyFile(t, r.path, older)
	r.sale("purchase")
	last := r.sale("purchase")
	c := r.cut("cut")
	r.d.Close()

	r.putBack(c, older)
	r.open()
	if !r.d.Behind() {
		t.Errorf("an older copy after an unclean stop is not reported behind: %+v", r.d.Moved())
	}
	if r.d.NewDatabase() {
		t.Error("an older copy reported as a new database")
	}
	got := r.sale("purchase")
	if got.stan <= last.stan || got.invoice <= last.invoice {
		t.Errorf("after the older copy %+v, the last sale before the cut %+v", got, last)
	}
	r.d.Close()

	r.putBack(c, c.db)
	r.open()
	defer r.d.Close()
	if r.d.Behind() || len(r.d.Moved()) == 0 {
		t.Errorf("the database the cut left: behind %v, moved %+v", r.d.Behind(), r.d.Moved())
	}
}

// TestOlderCopyOneSaleBackIsBehind: a copy one commit older than the
// database the cut left is told too.
func TestOlderCopyOneSaleBackIsBehind(t *testing.T) {
	r := newMarkRig(t)
	r.sale("purchase")
	r.sale("purchase")
	older := r.path + ".older"
	copyFile(t, r.path, older)
	r.sale("purchase")
	c := r.cut("cut")
	r.d.Close()

	r.putBack(c, older)
	r.open()
	defer r.d.Close()
	if !r.d.Behind() {
		t.Errorf("a copy one sale older is not reported behind: %+v", r.d.Moved())
	}
}

// TestSeenDamagedIsIgnored: the last commit's counters are written
// without fsync; a power cut may leave them torn or empty. Open then
// judges by the mark alone (an unclean stop, not behind) and starts.
func TestSeenDamagedIsIgnored(t *testing.T) {
	for name, raw := range map[string][]byte{"empty": nil, "torn": []byte("posd-seen 1\nstan 7\n"), "garbage": {0xff, 0, 1}} {
		t.Run(name, func(t *testing.T) {
			r := newMarkRig(t)
			r.sale("purchase")
			r.sale("purchase")
			c := r.cut("cut")
			r.d.Close()
			if err := os.WriteFile(c.seen, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			r.putBack(c, c.db)
			r.open()
			defer r.d.Close()
			if r.d.Behind() || len(r.d.Moved()) == 0 {
				t.Errorf("behind %v, moved %+v", r.d.Behind(), r.d.Moved())
			}
		})
	}
}

// TestNewDatabaseIsNotBehind: the engineer removed posd.db and its
// marker to start with an empty database. Its counters continue past the
// mark; Open says it is a new database, not an older copy, after a clean
// stop and after an unclean one.
func TestNewDatabaseIsNotBehind(t *testing.T) {
	for _, clean := range []bool{true, false} {
		t.Run(map[bool]string{true: "clean", false: "unclean"}[clean], func(t *testing.T) {
			r := newMarkRig(t)
			r.sale("purchase")
			last := r.sale("purchase")
			if clean {
				r.d.Close()
			} else {
				c := r.cut("cut")
				r.d.Close()
				r.putBack(c, c.db)
			}
			for _, p := range []string{r.path, r.path + MarkerSuffix} {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			}
			r.open()
			defer r.d.Close()
			if r.d.Behind() || !r.d.NewDatabase() || len(r.d.Moved()) == 0 {
				t.Errorf("behind %v, new %v, moved %+v", r.d.Behind(), r.d.NewDatabase(), r.d.Moved())
			}
			if got := r.sale("purchase"); got.stan <= last.stan || got.invoice <= last.invoice {
				t.Errorf("the new database's sale %+v, the last before %+v", got, last)
			}
		})
	}
}

// TestSeenWrittenInPlace: the last commit's values are written over the
// file in place; a shorter write than the one before reads back as
// itself, not with the earlier write's tail.
func TestSeenWrittenInPlace(t *testing.T) {
	c := &counterMark{seenPath: filepath.Join(t.TempDir(), MarkFile+SeenSuffix)}
	c.writeSeen(map[string]uint64{"stan": 123456789, "invoice": 987654321, "ids": 100000})
	c.seen = nil
	c.writeSeen(map[string]uint64{"stan": 7})
	got := readSeen(c.seenPath)
	if len(got) != 1 || got["stan"] != 7 {
		t.Errorf("read back %v, want stan 7 alone", got)
	}
	raw, err := os.ReadFile(c.seenPath)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		torn := slices.Clone(raw)
		torn[i] ^= 0x20
		if s := readSeen(writeTemp(t, torn)); s != nil && s["stan"] != 7 {
			t.Fatalf("byte %d changed: read %v", i, s)
		}
	}
}

func writeTemp(t *testing.T, raw []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzSeen: whatever the file of the last commit's values holds, it
// decodes to values that encode back to the same values, or to none.
func FuzzSeen(f *testing.F) {
	f.Add(encodeSeen(map[string]uint64{"stan": 172, "invoice": 73, "ids": 2000, "batch": 1000000}))
	f.Add(encodeSeen(nil))
	f.Add([]byte(seenHeader + "stan 1\ncrc 00000000\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := parseSeen(raw)
		if got == nil {
			return
		}
		if again := parseSeen(encodeSeen(got)); !maps.Equal(again, got) {
			t.Fatalf("%q: %v, encoded again %v", raw, got, again)
		}
	})
}

// TestMarkBehindSurvivesKill kills, with SIGKILL at a random point, a
// process selling with the counters' mark. The database the kill left is
// never reported behind (what is written next to the mark after a
// commit never runs ahead of the database), its next STAN follows the
// last one the process reported; the copy of posd.db taken before the
// process started, put in its place, is reported behind.
func TestMarkBehindSurvivesKill(t *testing.T) {
	if dir := os.Getenv("STORE_MARK_CHILD"); dir != "" {
		d, err := Open(filepath.Join(dir, "posd.db"), &Opts{Mark: filepath.Join(dir, MarkFile)})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		w := bufio.NewWriter(os.Stdout)
		for {
			var stan uint32
			err := d.Do(func(tx *Tx) error {
				var err error
				if stan, err = tx.NextSTAN(); err != nil {
					return err
				}
				_, err = tx.NextInvoice()
				return err
			})
			if err != nil {
				os.Exit(4)
			}
			fmt.Fprintln(w, stan)
			w.Flush()
		}
	}
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	open := func(dir string) *DB {
		t.Helper()
		d, err := Open(filepath.Join(dir, "posd.db"), &Opts{Mark: filepath.Join(dir, MarkFile)})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// A first sale: a database that never took a counter is a new one,
	// not an older copy (TestNewDatabaseIsNotBehind).
	d := open(dir)
	if err := d.Do(func(tx *Tx) error { _, err := tx.NextSTAN(); return err }); err != nil {
		t.Fatal(err)
	}
	d.Close()
	for round := range 4 {
		before := filepath.Join(root, "before.db")
		copyFile(t, filepath.Join(dir, "posd.db"), before)
		cmd := exec.Command(os.Args[0], "-test.run=^TestMarkBehindSurvivesKill$")
		cmd.Env = append(os.Environ(), "STORE_MARK_CHILD="+dir)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var last uint64
		seen, stopAt := 0, 2+time.Now().Nanosecond()%60
		for sc.Scan() {
			last, _ = strconv.ParseUint(sc.Text(), 10, 32)
			if seen++; seen == stopAt {
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		cmd.Wait()
		if seen < stopAt {
			t.Fatalf("child stopped early after %d", seen)
		}

		// The older copy, in a copy of the data directory the kill left.
		other := filepath.Join(root, fmt.Sprintf("copy%d", round))
		if err := os.Mkdir(other, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"posd.db" + MarkerSuffix, MarkFile, MarkFile + SeenSuffix} {
			copyIfAny(t, filepath.Join(dir, name), filepath.Join(other, name))
		}
		copyFile(t, before, filepath.Join(other, "posd.db"))
		o := open(other)
		if !o.Behind() {
			t.Errorf("round %d: the copy from before %d sales is not behind: %+v", round, seen, o.Moved())
		}
		o.Close()

		d := open(dir)
		if d.Behind() {
			t.Errorf("round %d: the database the kill left is reported behind: %+v", round, d.Moved())
		}
		var next uint32
		if err := d.Do(func(tx *Tx) (err error) { next, err = tx.NextSTAN(); return err }); err != nil {
			t.Fatal(err)
		}
		if uint64(next) <= last {
			t.Errorf("round %d: STAN %d after the kill; the child reported %d", round, next, last)
		}
		d.Close()
	}
}
