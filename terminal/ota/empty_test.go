package ota

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"posd/cmd/tms-sim/repo"
)

// TestEmptyTarget: a target signed with length 0 is fetched as no bytes
// (not refused, not an endless wait), served from the kept copy the
// second time, and a server that sends bytes for it is refused.
func TestEmptyTarget(t *testing.T) {
	e := newEnv(t, repo.Opts{})
	e.add("params/emv-0.json", nil, KindParams, 3)
	e.add("params/emv-9.json", nil, KindParams, 9)
	e.publish()
	c := e.client("T1")
	ts := mustCheck(t, c)
	p := find(t, ts, "params/emv-0.json")
	if p.Length != 0 {
		t.Fatalf("target %+v", p)
	}
	for i := range 2 {
		got, err := c.Fetch(context.Background(), p)
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("fetch %d: %q, %v", i, got, err)
		}
	}
	if n := len(e.requests("T1", e.targetPath(p.Name))); n != 1 {
		t.Fatalf("%d downloads of the empty target", n)
	}
	p9 := find(t, ts, "params/emv-9.json")
	e.repo.Tamper(e.targetPath(p9.Name), bytes.Repeat([]byte("x"), 100))
	got, err := c.Fetch(context.Background(), p9)
	refused(t, got, err, ErrTooLarge)
	for sub, want := range map[string]int{"partial": 0, "targets": 1} { // the first empty target is kept
		es, err := os.ReadDir(filepath.Join(c.o.Dir, sub))
		if err != nil || len(es) != want {
			t.Fatalf("%s holds %d files after the refusal (%v)", sub, len(es), err)
		}
	}
}
