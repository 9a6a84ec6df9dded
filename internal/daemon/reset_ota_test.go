package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFactoryResetForgetsTheUpdateState: a factory reset erases the
// updates' downloads and their polling schedule (the backoff of earlier
// failed checks: a reset terminal, with no parameters, checks at once)
// and keeps their trust: the roots learned, the trusted metadata, the
// expiry floor and the last check's time (the root of trust never rolls
// back to the pinned one).
func TestFactoryResetForgetsTheUpdateState(t *testing.T) {
	r := newConsoleRig(t)
	r.requestReset()
	dir := filepath.Join(r.dir, otaDir)
	gone := []string{"targets/params%2Fparams-1.json", "partial/00ff-12", "poll-state"}
	kept := []string{"roots/2.root.json", "metadata/root.json", "metadata/timestamp.json", "expiry-floor", "last-check"}
	for _, name := range append(gone, kept...) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(`{"v":1}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d := r.open()
	closeDaemon(t, d)
	for _, name := range gone {
		if exists(t, filepath.Join(dir, name)) {
			t.Errorf("ota/%s survived the factory reset", name)
		}
	}
	for _, name := range kept {
		if !exists(t, filepath.Join(dir, name)) {
			t.Errorf("ota/%s was erased by the factory reset", name)
		}
	}
}
