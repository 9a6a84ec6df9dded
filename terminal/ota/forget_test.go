package ota

import (
	"os"
	"path/filepath"
	"testing"
)

// TestForgetKeepsTheTrust: Forget removes the downloads and the polling
// schedule, keeps the roots learned and the trusted metadata, and can be
// run again (a reset killed halfway runs it again at the next start).
func TestForgetKeepsTheTrust(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ota")
	gone := []string{"targets/params%2Fparams-1.json", "partial/00ff-12", pollFile}
	kept := []string{"roots/2.root.json", "metadata/root.json", "metadata/targets.json", floorFile, seenFile}
	for _, name := range append(gone, kept...) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := Forget(dir); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range gone {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s kept: %v", name, err)
		}
	}
	for _, name := range kept {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := Forget(filepath.Join(t.TempDir(), "none")); err != nil {
		t.Errorf("no directory: %v", err)
	}
}
