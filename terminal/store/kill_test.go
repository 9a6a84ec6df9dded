package store

import (
	"bufio"
	"encoding/json"
	"fmt"
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

// consistent checks that the state index and counts agree with the
// records, and returns the records' count.
func consistent(t *testing.T, d *DB) int {
	t.Helper()
	n := 0
	err := d.bolt.View(func(tx *bolt.Tx) error {
		byRecord := map[State]int{}
		if err := tx.Bucket(bucketTxns).ForEach(func(k, v []byte) error {
			var r Txn
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if tx.Bucket(bucketByState).Get(stateKey(r.State, binaryKey(k))) == nil {
				return fmt.Errorf("record %s (%s) is not in the state index", r.ID, r.State)
			}
			byRecord[r.State]++
			n++
			return nil
		}); err != nil {
			return err
		}
		t := &Tx{tx: tx}
		idx := 0
		tx.Bucket(bucketByState).ForEach(func(_, _ []byte) error { idx++; return nil })
		for _, s := range states {
			if t.Count(s) != byRecord[s] {
				return fmt.Errorf("count of %s is %d, the records say %d", s, t.Count(s), byRecord[s])
			}
		}
		if idx != n || t.Len() != n {
			return fmt.Errorf("%d records, %d index entries, Len %d", n, idx, t.Len())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func binaryKey(k []byte) uint64 {
	var n uint64
	for _, c := range k {
		n = n<<8 | uint64(c)
	}
	return n
}

// TestPurgeAndUpdatesSurviveKill kills, with SIGKILL at a random point, a
// process that commits batches of sales (creates and updates in one
// step) and purges them, and checks after each kill that the file opens
// (its free pages zeroed) with its index and counts agreeing with its
// records, and that no step it reported is lost.
func TestPurgeAndUpdatesSurviveKill(t *testing.T) {
	if p := os.Getenv("STORE_PURGE_CHILD"); p != "" {
		d, err := Open(p, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		w := bufio.NewWriter(os.Stdout)
		for i := 0; ; i++ {
			var last string
			err := d.Do(func(tx *Tx) error {
				for range 20 {
					r := Txn{Kind: "purchase", State: StateAuthSent, Amount: 1, MaskedPAN: "476173******0010",
						Error: strings.Repeat("e", 200)}
					if err := tx.Create(&r); err != nil {
						return err
					}
					if _, err := tx.Update(r.ID, func(r *Txn) error { r.State = StateApproved; return nil }); err != nil {
						return err
					}
					last = r.ID
				}
				if i%3 == 2 {
					_, err := tx.CloseBatch()
					return err
				}
				return nil
			})
			if err != nil {
				os.Exit(4)
			}
			if i%5 == 4 {
				if _, err := d.Purge(time.Now().Add(time.Hour), 0); err != nil {
					os.Exit(5)
				}
			}
			w.WriteString(last + "\n")
			w.Flush()
		}
	}
	path := filepath.Join(t.TempDir(), "posd.db")
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPurgeAndUpdatesSurviveKill$")
		cmd.Env = append(os.Environ(), "STORE_PURGE_CHILD="+path)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		last, seen := "", 0
		stopAt := 5 + time.Now().Nanosecond()%40
		for sc.Scan() {
			last = sc.Text()
			if seen++; seen == stopAt {
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		cmd.Wait()
		if seen < stopAt {
			t.Fatalf("child stopped early after %d", seen)
		}
		d, err := Open(path, nil)
		if err != nil {
			t.Fatalf("round %d: open after kill: %v", round, err)
		}
		consistent(t, d)
		var next uint64
		d.Do(func(tx *Tx) error { next, _ = tx.ReserveIDs(1); return nil })
		if n, _ := strconv.ParseUint(last, 10, 64); next <= n {
			t.Fatalf("round %d: id %d handed out again after kill (last reported %d)", round, next, n)
		}
		d.Close()
	}
}
