package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/acquirer"
	"posd/terminal/host"
)

// The test binary doubles as the command when this variable is set.
func TestMain(m *testing.M) {
	if os.Getenv("ACQUIRER_SIM_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestCommandServesAndStopsOnSIGTERM(t *testing.T) {
	for _, dialect := range []string{"ascii87", "cup"} {
		t.Run(dialect, func(t *testing.T) { commandServes(t, dialect) })
	}
}

func commandServes(t *testing.T, dialect string) {
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-listen", "127.0.0.1:0", "-mode", "tdes",
		"-dialect", dialect, "-tpdu", "6000010000", "-journal", journal, "-log-level", "warn")
	cmd.Env = append(os.Environ(), "ACQUIRER_SIM_AS_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()

	sc := bufio.NewScanner(stderr)
	addr := ""
	for addr == "" && sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			addr = a
		}
	}
	if addr == "" {
		t.Fatal("no listening line on stderr")
	}
	go func() { // keep draining stderr
		for sc.Scan() {
		}
	}()

	c, err := host.New(&host.Opts{Addr: addr, Dialect: dialect, TPDU: []byte{0x60, 0, 1, 0, 0}, TerminalID: "T0000009", ResponseTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SignOn(context.Background(), 1); err != nil {
		t.Fatalf("sign-on through the command: %v", err)
	}
	_ = c.Close()

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	data, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 {
		t.Fatalf("journal has %d lines, want 2", len(lines))
	}
	var e acquirer.Entry
	if err := json.Unmarshal([]byte(lines[1]), &e); err != nil {
		t.Fatal(err)
	}
	if e.Direction != "out" || e.MTI != "0810" || e.TerminalID != "T0000009" || e.ResponseCode != "00" || e.STAN != "000001" ||
		e.Dialect != dialect || e.Kind != "sign_on" {
		t.Fatalf("journal line %s", lines[1])
	}
}

func TestCommandRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-mode", "des"}, {"-bdk", "zz"}, {"-tpdu", "6100010000"}, {"-dialect", "iso93"}} {
		cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "-listen", "127.0.0.1:0"}, args...)...)
		cmd.Env = append(os.Environ(), "ACQUIRER_SIM_AS_MAIN=1")
		if err := cmd.Run(); err == nil {
			t.Errorf("%v: exit status 0", args)
		}
	}
}
