package store

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// idChild sells in a loop as the sale engine does (a block of ids
// reserved, one commit per sale), printing each id once committed; on
// SIGTERM it stops cleanly: gives back the unused ids and closes.
func idChild(path, mark string) {
	d, err := Open(path, &Opts{Mark: mark})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	w := bufio.NewWriter(os.Stdout)
	var next, end uint64
	for {
		select {
		case <-term:
			if err := d.Do(func(tx *Tx) error { _, err := tx.ReleaseIDs(next, end); return err }); err != nil {
				os.Exit(4)
			}
			if err := d.Close(); err != nil {
				os.Exit(5)
			}
			os.Exit(0)
		default:
		}
		err := d.Do(func(tx *Tx) error {
			if next >= end {
				first, err := tx.ReserveIDs(1000)
				if err != nil {
					return err
				}
				next, end = first, first+1000
			}
			r := Txn{ID: strconv.FormatUint(next, 10), Kind: "purchase", State: StateAuthSent, Amount: 1, Currency: "156"}
			if err := tx.AssignNumbers(&r); err != nil {
				return err
			}
			return tx.Insert(&r)
		})
		if err != nil {
			os.Exit(6)
		}
		w.WriteString(strconv.FormatUint(next, 10) + "\n")
		w.Flush()
		next++
	}
}

// TestIDsAfterKillAndTerm runs a selling process and stops it with
// SIGTERM (clean: the next id is the one after the last sold) and with
// SIGKILL (the next id is past every id stored and skips at most the
// reservation and the mark's reserve).
func TestIDsAfterKillAndTerm(t *testing.T) {
	if p := os.Getenv("STORE_ID_CHILD"); p != "" {
		idChild(p, os.Getenv("STORE_ID_MARK"))
		return
	}
	dir := t.TempDir()
	path, mark := filepath.Join(dir, "posd.db"), filepath.Join(dir, MarkFile)
	for round, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, syscall.SIGTERM, syscall.SIGKILL} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestIDsAfterKillAndTerm$")
		cmd.Env = append(os.Environ(), "STORE_ID_CHILD="+path, "STORE_ID_MARK="+mark)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var last uint64
		seen, stopAt := 0, 3+time.Now().Nanosecond()%20
		for sc.Scan() {
			n, err := strconv.ParseUint(sc.Text(), 10, 64)
			if err != nil {
				t.Fatalf("child said %q", sc.Text())
			}
			last = n
			if seen++; seen == stopAt {
				cmd.Process.Signal(sig)
			}
		}
		err := cmd.Wait()
		if seen < stopAt {
			t.Fatalf("round %d: child stopped early after %d: %v", round, seen, err)
		}
		if sig == syscall.SIGTERM && err != nil {
			t.Fatalf("round %d: the clean stop failed: %v", round, err)
		}
		d, err := Open(path, &Opts{Mark: mark})
		if err != nil {
			t.Fatalf("round %d: open: %v", round, err)
		}
		var next, stored uint64
		d.Do(func(tx *Tx) error {
			if k, _ := tx.tx.Bucket(bucketTxns).Cursor().Last(); len(k) == 8 {
				stored = binary.BigEndian.Uint64(k)
			}
			next, err = tx.ReserveIDs(1)
			return err
		})
		d.Close()
		switch {
		case sig == syscall.SIGTERM && (next != last+1 || stored != last):
			t.Errorf("round %d: after SIGTERM the next id is %d, the last sold %d (stored up to %d)", round, next, last, stored)
		case sig == syscall.SIGKILL && (next <= stored || next > last+1000+MarkReserve+1):
			t.Errorf("round %d: after SIGKILL the next id is %d, the last sold %d (stored up to %d)", round, next, last, stored)
		}
		// The id taken to look is given back for the next round.
		d, err = Open(path, &Opts{Mark: mark})
		if err != nil {
			t.Fatal(err)
		}
		d.Do(func(tx *Tx) error { _, err := tx.ReleaseIDs(next, next+1); return err })
		d.Close()
	}
}
