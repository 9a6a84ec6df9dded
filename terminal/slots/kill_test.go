package slots

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The crash test re-executes the test binary in the child role: it runs
// install → trial → boots → commit or rollback in a loop on the slots
// directory named by envKillChild until the parent SIGKILLs it.
const envKillChild = "POSD_SLOTS_KILL_CHILD"

// KillRuns is the number of kills: POSD_SLOTS_KILLS, default 50.
func KillRuns(t testing.TB) int {
	n := 50
	if v := os.Getenv("POSD_SLOTS_KILLS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("POSD_SLOTS_KILLS=%q", v)
		}
	}
	return n
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(envKillChild); dir != "" {
		os.Exit(killChild(dir))
	}
	os.Exit(m.Run())
}

// chunked hands out b in pieces of n bytes, so the child spends its time
// in many small writes where the kill can land.
type chunked struct {
	b []byte
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[k:]
	return k, nil
}

func killChild(dir string) int {
	ctx := context.Background()
	m, err := OpenDir(dir, Options{MaxTrialBoots: 2})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(time.Now().UnixNano())))
	fmt.Println("ready")
	for i := 0; ; i++ {
		s, err := m.Status(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child: status:", err)
			return 2
		}
		if s.Trial == nil {
			b, img := mkImage(fmt.Sprintf("%d.%d", os.Getpid(), i), 8<<10+rng.IntN(120<<10))
			bad := rng.IntN(8) == 0
			if bad {
				b = append([]byte(nil), b...)
				b[len(b)/2] ^= 1
			}
			_, err := m.Install(ctx, img, &chunked{b, 4096})
			if bad != (err != nil) || (bad && !errors.Is(err, ErrHash)) {
				fmt.Fprintln(os.Stderr, "child: install (bad image", bad, "):", err)
				return 2
			}
			if !bad {
				if err := m.TryNext(ctx); err != nil {
					fmt.Fprintln(os.Stderr, "child: try next:", err)
					return 2
				}
			}
			continue
		}
		b, err := m.Booted(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child: booted:", err)
			return 2
		}
		if !b.Trial {
			continue
		}
		switch rng.IntN(3) {
		case 0:
			err = m.Commit(ctx, b.Slot)
		case 1:
			err = m.Rollback(ctx, "health check failed")
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "child: commit/rollback:", err)
			return 2
		}
	}
}

// fileSum hashes a file independently of the code under test.
func fileSum(path string) (string, int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", 0, err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), int64(len(b)), nil
}

// CheckSlotPair asserts what must hold after any crash: the state file
// opens and decodes; a slot is committed; every slot the state calls
// installed or good holds exactly that image; the slot the next start runs
// is one of those.
func checkSlotPair(t testing.TB, dir string) Status {
	t.Helper()
	m, err := OpenDir(dir, Options{})
	if err != nil {
		t.Fatalf("state after kill: %v", err)
	}
	s, err := m.Status(context.Background())
	if err != nil {
		t.Fatalf("status after kill: %v", err)
	}
	if s.Committed == "" || s.Active == "" {
		t.Fatalf("nothing committed after kill: %+v", s)
	}
	bootable := map[string]bool{}
	for _, si := range s.Slots {
		if si.State != SlotInstalled && si.State != SlotGood {
			continue
		}
		sum, n, err := fileSum(filepath.Join(dir, si.Name, BinaryName))
		if err != nil || sum != si.SHA256 || n != si.Size {
			t.Fatalf("slot %s is %s (%s) but holds %d bytes hashing to %s (%v)", si.Name, si.State, si.Version, n, sum, err)
		}
		bootable[si.Name] = true
	}
	if !bootable[s.Active] || !bootable[s.Committed] {
		t.Fatalf("active %s / committed %s not bootable: %+v", s.Active, s.Committed, s.Slots)
	}
	if s.Trial != nil && (s.Trial.Slot == s.Committed || s.Trial.Slot != s.Active) {
		t.Fatalf("trial %+v with committed %s", s.Trial, s.Committed)
	}
	return s
}

func TestKillDuringInstallAndSwitch(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	runs := KillRuns(t)
	dir := filepath.Join(t.TempDir(), "slots")
	m, err := OpenDir(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	provision(t, m, "0")
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	seen := map[string]int{}
	for i := range runs {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envKillChild+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		if line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("run %d: child said %q: %s", i, line, stderr.String())
		}
		time.Sleep(time.Duration(rng.IntN(50000)) * time.Microsecond)
		cmd.Process.Kill()
		if err := cmd.Wait(); err == nil || stderr.Len() > 0 {
			t.Fatalf("run %d: child ended by itself (%v): %s", i, err, stderr.String())
		}
		s := checkSlotPair(t, dir)
		if s.Last != nil {
			seen[string(s.Last.Kind)]++
		}
	}
	t.Logf("%d kills; last event at each kill: %v", runs, seen)
}
