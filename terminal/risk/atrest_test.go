package risk

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"posd/terminal/store"
)

// TestNoCardDataAtRest runs every path that sees a PAN (hotlist load,
// checks refused and allowed, online and offline, records) and then looks
// for the PANs in the raw database file and the log: not their digits, not
// their packed BCD, not a plain hash of them, not the card ids.
func TestNoCardDataAtRest(t *testing.T) {
	r := DefaultRules()
	r.Offline.Magstripe = true
	f := newFixture(t, r)
	all := []string{panA, panB, panC, "6212260200000000001"}
	f.loadHotlist(1, panA)
	for i, pan := range all {
		for _, entry := range []EntryMode{EntrySwipe, EntryInsert, EntryTap} {
			for _, amount := range []int64{100, 200000, 100_000_01} {
				tx := sale(amount, entry, pan)
				f.check(tx)
				f.check(tx.offline())
				f.record(tx, true)
				f.record(tx.as(TypePreauth), i%2 == 0)
			}
		}
		f.check(sale(100, EntryTap, pan[:11])) // refused: too short
	}
	f.e.Prune(context.Background())
	if err := f.db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	logs := f.logs.Bytes()
	if !bytes.Contains(logs, []byte(`"rule":"hotlist"`)) {
		t.Fatalf("nothing logged? %s", logs)
	}
	for _, pan := range all {
		id, _ := f.e.Card([]byte(pan))
		plain := sha256.Sum256([]byte(pan))
		bcd := pan
		if len(bcd)%2 == 1 {
			bcd += "f"
		}
		packed, _ := hex.DecodeString(bcd)
		forbidden := map[string][]byte{
			"digits": []byte(pan), "middle digits": []byte(pan[6 : len(pan)-4]), "BCD": packed, "plain SHA-256": plain[:],
			"plain SHA-256 hex": []byte(hex.EncodeToString(plain[:])), "card id hex": []byte(hex.EncodeToString(id[:])),
		}
		for what, b := range forbidden {
			if bytes.Contains(logs, b) {
				t.Errorf("log holds the %s of a PAN", what)
			}
			if what != "card id hex" && bytes.Contains(raw, b) {
				t.Errorf("database holds the %s of a PAN", what)
			}
		}
	}
}

// TestRecordSurvivesKill kills a process that is recording approvals with
// SIGKILL at a random point, and checks that every approval it reported as
// recorded is counted after the restart, and that the database opens
// cleanly. The child does not wait for the parent: between the line the
// parent reads and the signal it may record more (under load, several),
// so more than reported is no fault; fewer is.
func TestRecordSurvivesKill(t *testing.T) {
	if path := os.Getenv("RISK_CRASH_CHILD"); path != "" {
		db, err := store.Open(path, nil)
		if err != nil {
			os.Exit(3)
		}
		e, err := New(onlyVelocity(24*time.Hour, 1_000_000, 0), Opts{DB: db.Bolt(), HashKey: testKey()})
		if err != nil {
			os.Exit(4)
		}
		w := bufio.NewWriter(os.Stdout)
		for i := 1; ; i++ {
			if err := e.Record(context.Background(), sale(100, EntryTap, panA), true); err != nil {
				os.Exit(5)
			}
			w.WriteString(strconv.Itoa(i) + "\n")
			w.Flush()
		}
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := t.TempDir() + "/posd.db"
	total := 0
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRecordSurvivesKill$")
		cmd.Env = append(os.Environ(), "RISK_CRASH_CHILD="+path)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		last, stopAt := 0, 5+time.Now().Nanosecond()%40
		for sc.Scan() {
			if last, _ = strconv.Atoi(sc.Text()); last == stopAt {
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		cmd.Wait()
		if last != stopAt {
			t.Fatalf("round %d: the child stopped after %d records", round, last)
		}
		total += last
		db, err := store.Open(path, nil)
		if err != nil {
			t.Fatalf("round %d: database after kill: %v", round, err)
		}
		var n int
		err = db.Bolt().View(func(tx *bolt.Tx) error {
			h, _ := NewHasher(testKey())
			card, _ := h.Card([]byte(panA))
			n, _, err = velocitySince(tx, card, time.Now().Add(-24*time.Hour))
			return err
		})
		db.Close()
		if err != nil || n < total {
			t.Fatalf("round %d: %d recorded, %d reported (%v)", round, n, total, err)
		}
		total = n
	}
}
