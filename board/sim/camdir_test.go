package sim

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// The scene directories of a posd that is gone are swept; those of a
// running one, and any without an owner, stay.
func TestSweepCameraDirs(t *testing.T) {
	root := t.TempDir()
	mk := func(name, owner string) string {
		dir := filepath.Join(root, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "frame000.png"), []byte("png"), 0o600); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			if err := os.WriteFile(filepath.Join(dir, cameraOwnerFile), []byte(owner), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	dead := mk(cameraDirPrefix+"1", "4001")
	live := mk(cameraDirPrefix+"2", "4002")
	unowned := mk(cameraDirPrefix+"3", "")
	junk := mk(cameraDirPrefix+"4", "not a pid")
	other := mk("someone-else-1", "4001")
	alive := func(pid int) bool { return pid == 4002 }
	if n := sweepCameraDirs(root, alive); n != 1 {
		t.Fatalf("swept %d, want 1", n)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Fatalf("the dead posd's scene stays: %v", err)
	}
	for _, d := range []string{live, unowned, junk, other} {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("%s swept: %v", d, err)
		}
	}
	if !processAlive(os.Getpid()) {
		t.Fatal("this process is not alive")
	}
	if processAlive(1 << 30) {
		t.Fatalf("pid %s alive", strconv.Itoa(1<<30))
	}
}
