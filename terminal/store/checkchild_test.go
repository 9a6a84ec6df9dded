package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// childEnv makes the test binary a child of the tests below: "check" runs
// CheckMain on its last argument (as posd -check-db does); "use" opens the
// file with the check in a child process, as posd does, lists, writes and
// closes it, exiting 0, or 1 when Open refused it.
const childEnv = "POSD_STORE_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "check":
		os.Exit(CheckMain(os.Args[len(os.Args)-1], os.Stderr))
	case "use":
		os.Exit(useChild(os.Args[len(os.Args)-1]))
	}
	os.Exit(m.Run())
}

// selfCheck is the argv that runs the check in a child of this test.
func selfCheck(t testing.TB) []string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{"/usr/bin/env", childEnv + "=check", "GORACE=atexit_sleep_ms=0", exe, "-test.run=^$"}
}

func useChild(path string) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 9
	}
	d, err := Open(path, &Opts{Check: CheckInChild([]string{"/usr/bin/env", childEnv + "=check", "GORACE=atexit_sleep_ms=0", exe, "-test.run=^$"}, 20*time.Second)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, ErrDamaged) {
			return 1
		}
		return 8
	}
	if _, err := d.List(1000); err != nil {
		fmt.Fprintln(os.Stderr, "list:", err)
		return 7
	}
	x := Txn{Kind: "purchase", Amount: 1, Currency: "156"}
	if err := d.Create(&x); err != nil {
		fmt.Fprintln(os.Stderr, "create:", err)
	}
	if err := d.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close:", err)
	}
	return 0
}

// TestCheckInChild: a whole file passes, a damaged one is ErrDamaged with
// the child's reason and how to recover, and a child that crashes or
// hangs refuses the file too.
func TestCheckInChild(t *testing.T) {
	src := filled(t)
	if err := CheckInChild(selfCheck(t), 0)(src); err != nil {
		t.Fatalf("whole file: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "posd.db")
	os.WriteFile(empty, nil, 0o600)
	err := CheckInChild(selfCheck(t), 0)(empty)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "the file is empty") || !strings.Contains(err.Error(), "Restore") {
		t.Errorf("empty file: %v", err)
	}
	crash := CheckInChild([]string{"/bin/sh", "-c", "kill -SEGV $$", "sh"}, 0)(src)
	if !errors.Is(crash, ErrDamaged) || !strings.Contains(crash.Error(), "crashed the check") {
		t.Errorf("crashing check: %v", crash)
	}
	hang := CheckInChild([]string{"/bin/sh", "-c", "sleep 30", "sh"}, 200*time.Millisecond)(src)
	if !errors.Is(hang, ErrDamaged) || !strings.Contains(hang.Error(), "did not finish within 200ms") {
		t.Errorf("hanging check: %v", hang)
	}
	if err := CheckInChild([]string{"/nonexistent/posd"}, 0)(src); err == nil || errors.Is(err, ErrDamaged) {
		t.Errorf("no checker: %v", err)
	}
}

// TestCheckMemoryBound: the watchdog fires past its limit.
func TestCheckMemoryBound(t *testing.T) {
	stop := make(chan struct{})
	fired := make(chan struct{})
	go watchMemory(stop, 1<<20, func() { close(fired) })
	hold := make([][]byte, 0, 64)
	for i := 0; i < 64; i++ {
		hold = append(hold, make([]byte, 1<<20))
	}
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Error("64 MiB held, limit 1 MiB: the watchdog did not fire")
	}
	close(stop)
	_ = hold
}

// TestOneByteDamageNeverCrashes: one byte of a used page changed, posd's
// way of opening (the check in a child process) refuses the file or works
// with it; it never crashes or hangs. Before the check ran in a child,
// 14 of 300 such files crashed or hung the process (bbolt's check panics
// and faults in a goroutine of its own). POSD_STORE_DAMAGE files (make
// store-damage runs 2000), 60 by default.
func TestOneByteDamageNeverCrashes(t *testing.T) {
	n := 60
	if v, err := strconv.Atoi(os.Getenv("POSD_STORE_DAMAGE")); err == nil && v > 0 {
		n = v
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src := filled(t)
	whole, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	pages := len(whole) / page
	dir := t.TempDir()
	refused, opened := 0, 0
	for seed := 1; seed <= n; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 0xdb))
		b := bytes.Clone(whole)
		off := rng.IntN(pages) * page
		if seed%2 == 1 {
			off += rng.IntN(64) // a page header
		} else {
			off += rng.IntN(page)
		}
		b[off] ^= byte(1 + rng.IntN(255))
		p := filepath.Join(dir, fmt.Sprintf("posd-%d.db", seed))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, exe, "-test.run=^$", p)
		// GORACE: a race-detector binary sleeps a second at exit.
		cmd.Env = append(os.Environ(), childEnv+"=use", "GORACE=atexit_sleep_ms=0")
		t0 := time.Now()
		out, err := cmd.CombinedOutput()
		cancel()
		if el := time.Since(t0); el > 2*time.Second {
			t.Logf("seed %d took %v: %v %s", seed, el, err, firstLine(string(out), ""))
		}
		var exit *exec.ExitError
		switch {
		case err == nil:
			opened++
		case errors.As(err, &exit) && exit.ExitCode() == 1 && strings.Contains(string(out), "is damaged"):
			refused++
		case ctx.Err() != nil:
			t.Errorf("seed %d (byte %d): opening hung", seed, off)
		default:
			t.Errorf("seed %d (byte %d): %v\n%s", seed, off, err, firstLine(string(out), ""))
		}
		os.Remove(p)
	}
	t.Logf("%d files with one byte changed: %d refused, %d opened and used", n, refused, opened)
}
