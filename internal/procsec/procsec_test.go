//go:build linux

package procsec

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The test runs NoCoreDumps in a child (this test binary again), so the
// test process itself stays as it was.
func TestNoCoreDumps(t *testing.T) {
	if os.Getenv("PROCSEC_CHILD") == "1" {
		if err := NoCoreDumps(); err != nil {
			t.Fatal(err)
		}
		if d, err := Dumpable(); err != nil || d {
			t.Fatalf("dumpable after NoCoreDumps: %v, %v", d, err)
		}
		var rl unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_CORE, &rl); err != nil || rl.Cur != 0 || rl.Max != 0 {
			t.Fatalf("core limit after NoCoreDumps: %+v, %v", rl, err)
		}
		// A child started now inherits the zero limit.
		out, err := exec.Command("sh", "-c", "ulimit -c; ulimit -H -c").CombinedOutput()
		if err != nil || strings.Fields(string(out))[0] != "0" || strings.Fields(string(out))[1] != "0" {
			t.Fatalf("a child's core limits: %q, %v", out, err)
		}
		return
	}
	if d, err := Dumpable(); err != nil || !d {
		t.Skipf("the test process is not dumpable to begin with (%v, %v)", d, err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoCoreDumps$", "-test.v")
	cmd.Env = append(os.Environ(), "PROCSEC_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
