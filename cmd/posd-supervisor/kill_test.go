//go:build unix

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"posd/terminal/slots"
)

// killRuns is POSD_SLOTS_KILLS, default 50.
func killRuns(t testing.TB) int {
	n := 50
	if v := os.Getenv("POSD_SLOTS_KILLS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("POSD_SLOTS_KILLS=%q", v)
		}
	}
	return n
}

// checkSlotPair asserts, hashing the files itself, what must hold after a
// power cut: the state opens; a slot is committed; every slot the state
// calls installed or good holds exactly its image; the slot the next start
// runs is one of them.
func checkSlotPair(t testing.TB, dir string) slots.Status {
	t.Helper()
	m, err := slots.OpenDir(dir, slots.Options{})
	if err != nil {
		t.Fatalf("state after kill: %v", err)
	}
	st, err := m.Status(t.Context())
	if err != nil {
		t.Fatalf("status after kill: %v", err)
	}
	bootable := map[string]bool{}
	for _, si := range st.Slots {
		if si.State != slots.SlotInstalled && si.State != slots.SlotGood {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, si.Name, slots.BinaryName))
		sum := sha256.Sum256(b)
		if err != nil || hex.EncodeToString(sum[:]) != si.SHA256 || int64(len(b)) != si.Size {
			t.Fatalf("slot %s is %s (%s) but its binary does not match (%v)", si.Name, si.State, si.Version, err)
		}
		bootable[si.Name] = true
	}
	if st.Committed == "" || !bootable[st.Committed] || !bootable[st.Active] {
		t.Fatalf("after kill: committed %q active %q, bootable %v", st.Committed, st.Active, bootable)
	}
	return st
}

// TestKillSupervisorDuringSwitch SIGKILLs the supervisor and its posd (the
// whole process group, as a power cut would) at random points while it
// counts trial boots, stops trials past their deadline, rolls back, and
// while posd commits or rolls back itself.
func TestKillSupervisorDuringSwitch(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	runs := killRuns(t)
	r := newRig(t)
	r.bin = build(t, &supBuild, "posd-supervisor", ".")
	r.provision("exit0", "0")
	modes := []string{"exit0", "fail", "hang", "unhealthy", "restart-once", "serve"}
	rng := rand.New(rand.NewPCG(2, uint64(time.Now().UnixNano())))
	events := map[string]int{}
	for i := range runs {
		if st := r.status(); st.Trial == nil {
			r.update(modes[rng.IntN(len(modes))], fmt.Sprint(i+1))
		}
		s := r.start("-health", "60ms", "-grace", "40ms", "-trial-boots", "2")
		started := false
		for !started {
			select {
			case l := <-s.seen:
				started = strings.Contains(l, "starting posd")
			case <-s.done:
				// A posd that exits at once (exit0 committed) can end the
				// supervisor before this loop reads its line: both cases
				// are then ready and select picks either.
				if !strings.Contains(s.log(), "starting posd") {
					t.Fatalf("run %d: supervisor ended before starting posd:\n%s", i, s.log())
				}
				started = true
			case <-time.After(20 * time.Second):
				t.Fatalf("run %d: supervisor did not start posd:\n%s", i, s.log())
			}
		}
		time.Sleep(time.Duration(rng.IntN(100000)) * time.Microsecond)
		s.killGroup()
		<-s.done
		if st := checkSlotPair(t, r.dir); st.Last != nil {
			events[string(st.Last.Kind)]++
		}
	}
	t.Logf("%d kills; last event at each kill: %v", runs, events)
}
