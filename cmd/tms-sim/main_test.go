package main

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
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
