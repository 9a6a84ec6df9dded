package main

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv("TMS_SIM_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCommandStopsCleanlyRightAfterListening: a SIGTERM sent the moment
// "tms-sim listening on" is read is a clean stop (exit 0), never a kill.
func TestCommandStopsCleanlyRightAfterListening(t *testing.T) {
	for i := range 20 {
		cmd := exec.Command(os.Args[0], "-test.run=^$", "-listen", "127.0.0.1:0", "-log-level", "warn")
		cmd.Env = append(os.Environ(), "TMS_SIM_AS_MAIN=1")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stderr)
		for sc.Scan() && !strings.HasPrefix(sc.Text(), "tms-sim listening on ") {
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		go func() {
			for sc.Scan() {
			}
		}()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("stop %d right after listening: %v", i+1, err)
		}
	}
}

func TestParsePace(t *testing.T) {
	for in, want := range map[string]struct {
		chunk int64
		every time.Duration
		ok    bool
	}{
		"": {0, 0, true}, "1/5s": {1, 5 * time.Second, true}, "8192/1m": {8192, time.Minute, true},
		"0/5s": {}, "1": {}, "1/0s": {}, "x/5s": {}, "1/-5s": {}, "1/five": {},
	} {
		chunk, every, err := parsePace(in)
		if (err == nil) != want.ok || chunk != want.chunk || every != want.every {
			t.Errorf("parsePace(%q) = %d, %v, %v", in, chunk, every, err)
		}
	}
}
