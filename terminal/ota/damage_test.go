package ota

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"posd/cmd/tms-sim/repo"
)

// damages are what a power cut can leave of a file written without
// fsync: nothing, a zero-length file, the first half, or bytes that are
// not the file's.
var damages = map[string]func([]byte) []byte{
	"zero-length": func([]byte) []byte { return []byte{} },
	"truncated":   func(b []byte) []byte { return b[:len(b)/2] },
	"zeros":       func(b []byte) []byte { return make([]byte, len(b)) },
	"not json":    func([]byte) []byte { return []byte("\x00\x01{") },
}

// TestDamagedLocalMetadata: after a power cut any kept metadata file may
// be empty, truncated or garbage. The next start never crashes, never
// stays stuck, and never trusts less than it trusted before: a damaged
// root.json is neither trusted nor a reason to start over from the pinned
// root (the root the terminal had learned is kept durably beside it).
func TestDamagedLocalMetadata(t *testing.T) {
	for _, role := range []string{"root", "timestamp", "snapshot", "targets"} {
		for dname, damage := range damages {
			t.Run(role+"/"+dname, func(t *testing.T) {
				e := newEnv(t, repo.Opts{})
				c := e.client("T1") // pins root 1
				mustCheck(t, c)
				// The root is rotated twice: the terminal trusts root 3.
				if err := e.repo.RotateKeys(repo.Rotation{Roles: []string{repo.Root, repo.Timestamp}}); err != nil {
					t.Fatal(err)
				}
				if err := e.repo.RotateKeys(repo.Rotation{Roles: []string{repo.Root, repo.Timestamp}}); err != nil {
					t.Fatal(err)
				}
				e.add("params/emv-2.json", bundleJSON(2), KindParams, 2)
				e.publish()
				mustCheck(t, c)

				p := filepath.Join(c.o.Dir, "metadata", role+".json")
				if err := os.WriteFile(p, damage(mustRead(t, p)), 0o644); err != nil {
					t.Fatal(err)
				}
				// The TMS no longer serves the old roots (it need not: every
				// terminal it serves learned them): a terminal that fell back
				// to the pinned root could not follow the chain any more.
				e.repo.Override("/metadata/2.root.json", http.NotFoundHandler())
				e.repo.Override("/metadata/3.root.json", http.NotFoundHandler())

				restarted := e.client("T1", func(o *Opts) { o.Dir = c.o.Dir; o.Root = c.o.Root }) // still pins root 1
				ts, err := restarted.Check(context.Background())
				if err != nil || len(ts) != 1 {
					t.Fatalf("check after a damaged %s.json: %v, %v", role, ts, err)
				}
				kept, err := verifiedRoot(mustRead(t, filepath.Join(c.o.Dir, "metadata", "root.json")))
				if err != nil || kept.Signed.Version != 3 {
					t.Fatalf("root.json after the check: %v, %v", kept, err)
				}
			})
		}
	}
}

// TestDamagedLocalMetadataOffline: a damaged file found while the TMS is
// unreachable is a transient failure, and the check after it succeeds.
func TestDamagedLocalMetadataOffline(t *testing.T) {
	for _, role := range []string{"root", "timestamp", "snapshot", "targets"} {
		t.Run(role, func(t *testing.T) {
			e := newEnv(t, repo.Opts{})
			e.add("params/emv-2.json", bundleJSON(2), KindParams, 2)
			e.publish()
			c := e.client("T1")
			mustCheck(t, c)
			p := filepath.Join(c.o.Dir, "metadata", role+".json")
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			down := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "down", http.StatusServiceUnavailable)
			})
			for _, f := range []string{"/metadata/timestamp.json", "/metadata/2.root.json"} {
				e.repo.Override(f, down)
			}
			restarted := e.client("T1", func(o *Opts) { o.Dir = c.o.Dir; o.Root = c.o.Root })
			if _, err := restarted.Check(context.Background()); !errors.Is(err, ErrUnreachable) || Refused(err) {
				t.Fatalf("offline check after a damaged %s.json: %v", role, err)
			}
			e.repo.Restore("/metadata/timestamp.json")
			e.repo.Restore("/metadata/2.root.json")
			if ts := mustCheck(t, restarted); len(ts) != 1 {
				t.Fatalf("targets %v", ts)
			}
		})
	}
}

// TestStaleTemporaryFiles: a process killed while it wrote a file leaves
// the temporary file it was going to rename (go-tuf's tuf_tmp*, the
// client's own *.tmp*). A start removes them: a terminal that crashes
// again and again does not fill its disk with them.
func TestStaleTemporaryFiles(t *testing.T) {
	e := newEnv(t, repo.Opts{})
	c := e.client("T1")
	mustCheck(t, c)
	stale := []string{
		filepath.Join(c.o.Dir, "metadata", "tuf_tmp12345"),
		filepath.Join(c.o.Dir, rootsDir, "2.root.json.tmp678"),
		filepath.Join(c.o.Dir, "expiry-floor.tmp9"),
		filepath.Join(c.o.Dir, "poll-state.tmp1"),
		filepath.Join(c.o.Dir, "last-check.tmp2"),
	}
	for _, p := range stale {
		if err := os.WriteFile(p, []byte("{\"signed\":"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	restarted := e.client("T1", func(o *Opts) { o.Dir = c.o.Dir })
	mustCheck(t, restarted)
	for _, p := range stale {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after a start: %v", filepath.Base(p), err)
		}
	}
}

// TestPlantedRootNotTrusted: a root.json written into the directory by
// someone other than the client (a file-write flaw, a swapped storage
// card) is self-signed by keys of its author's choosing. The terminal
// trusts only roots that chain from its pinned root, so a repository
// signed with those keys is refused, wherever the file was planted.
func TestPlantedRootNotTrusted(t *testing.T) {
	for _, where := range []string{"metadata/root.json", "root.json", "roots/2.root.json"} {
		t.Run(where, func(t *testing.T) {
			e := newEnv(t, repo.Opts{})
			c := e.client("T1")
			mustCheck(t, c)
			// The attacker's repository: its own keys, root version 2.
			evil := newEnv(t, repo.Opts{})
			if err := evil.repo.RotateKeys(repo.Rotation{}); err != nil {
				t.Fatal(err)
			}
			evil.add("params/emv-9.json", bundleJSON(9), KindParams, 9)
			evil.publish()
			p := filepath.Join(c.o.Dir, filepath.FromSlash(where))
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, evil.repo.RootJSON(), 0o644); err != nil {
				t.Fatal(err)
			}
			restarted := evil.client("T1", func(o *Opts) { o.Dir = c.o.Dir; o.Root = c.o.Root })
			ts, err := restarted.Check(context.Background())
			refused(t, ts, err, ErrBadSignature)
		})
	}
}
