package durable

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// version is the content of write n: large enough that a kill often
// lands in the middle of one.
func version(n int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("%08d", n)), 64<<10)
}

// TestWriteFileSurvivesKill kills, with SIGKILL at a random point, a
// process that replaces a secret file over and over, and checks that the
// file holds one whole version, no older than the last one the process
// reported, that every temporary file left is the owner's alone, and
// that RemoveStale takes them away.
func TestWriteFileSurvivesKill(t *testing.T) {
	if p := os.Getenv("DURABLE_KILL_CHILD"); p != "" {
		w := bufio.NewWriter(os.Stdout)
		for n := 1; ; n++ {
			if err := WriteFile(p, version(n), 0o600); err != nil {
				os.Exit(3)
			}
			fmt.Fprintln(w, n)
			w.Flush()
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWriteFileSurvivesKill$")
		cmd.Env = append(os.Environ(), "DURABLE_KILL_CHILD="+path)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		last, seen := 0, 0
		stopAt := 3 + time.Now().Nanosecond()%20
		for sc.Scan() {
			fmt.Sscan(sc.Text(), &last)
			if seen++; seen == stopAt {
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		cmd.Wait()
		if seen < stopAt {
			t.Fatalf("child stopped early after %d", seen)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		fmt.Sscanf(string(b[:8]), "%d", &got)
		if got < last || !bytes.Equal(b, version(got)) {
			t.Fatalf("round %d: the file is not one whole version at least %d (%d bytes, starts %q)", round, last, len(b), b[:8])
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("round %d: %s has mode %v", round, e.Name(), fi.Mode())
			}
		}
		if _, err := RemoveStale(dir); err != nil {
			t.Fatal(err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Fatalf("round %d: left after RemoveStale: %v", round, ents)
		}
	}
}
