package ota

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"posd/cmd/tms-sim/repo"
)

// The kill test re-executes the test binary in the child role: it checks
// the repository and fetches one target, from the directory and server
// named by envKillChild, until the parent SIGKILLs it.
const envKillChild = "POSD_OTA_KILL_CHILD"

type killJob struct {
	URL, Dir, Root, Target string
	// Checks: check again and again, each time as a fresh start, instead
	// of fetching Target.
	Checks bool
}

func TestMain(m *testing.M) {
	if job := os.Getenv(envKillChild); job != "" {
		os.Exit(killChild(job))
	}
	os.Exit(m.Run())
}

func killChild(job string) int {
	var j killJob
	if err := json.Unmarshal([]byte(job), &j); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	root, err := os.ReadFile(j.Root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	if j.Checks {
		fmt.Println("ready")
		for {
			c, err := New(Opts{BaseURL: j.URL, TerminalID: "T1", Root: root, Dir: j.Dir})
			if err != nil {
				fmt.Fprintln(os.Stderr, "child:", err)
				return 2
			}
			if _, err := c.Check(context.Background()); err != nil {
				fmt.Fprintln(os.Stderr, "child: check:", err)
				return 2
			}
		}
	}
	c, err := New(Opts{BaseURL: j.URL, TerminalID: "T1", Root: root, Dir: j.Dir, MinFree: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	fmt.Println("ready")
	ts, err := c.Check(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: check:", err)
		return 2
	}
	for _, t := range ts {
		if t.Name == j.Target {
			if _, err := c.Fetch(context.Background(), t); err != nil {
				fmt.Fprintln(os.Stderr, "child: fetch:", err)
				return 2
			}
			return 0
		}
	}
	fmt.Fprintln(os.Stderr, "child: no target", j.Target)
	return 2
}

// slowly serves data with Range support, in small pieces with pauses:
// the child spends its time in many small writes where the kill can
// land.
func slowly(data []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "", time.Time{}, &slowReader{r: bytes.NewReader(data)})
	})
}

type slowReader struct{ r *bytes.Reader }

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(2 * time.Millisecond)
	return s.r.Read(p[:min(len(p), 8<<10)])
}

func (s *slowReader) Seek(off int64, whence int) (int64, error) { return s.r.Seek(off, whence) }

// TestKillDuringFetch: the process is SIGKILLed at random points of a
// check and a download, again and again, each start resuming the last.
// After every kill the directory holds no kept copy of the target but a
// verified one and a partial download no longer than the target; each
// resumed download asks for the bytes after the partial file only; and a
// last start fetches the exact target.
func TestKillDuringFetch(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	runs := 10
	if v := os.Getenv("POSD_OTA_KILLS"); v != "" {
		var err error
		if runs, err = strconv.Atoi(v); err != nil || runs < 1 {
			t.Fatalf("POSD_OTA_KILLS=%q", v)
		}
	}
	e := newEnv(t, repo.Opts{})
	img := make([]byte, 4<<20)
	fill := rand.NewChaCha8([32]byte{3, 4})
	fill.Read(img)
	e.add("firmware/posd-7.img", img, KindFirmware, 7)
	e.publish()
	sum := sha256.Sum256(img)
	tp := e.targetPath("firmware/posd-7.img")
	e.repo.Override(tp, slowly(img))
	dir := t.TempDir()
	root := filepath.Join(t.TempDir(), "root.json")
	if err := os.WriteFile(root, e.repo.RootJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	job, _ := json.Marshal(killJob{URL: e.srv.URL, Dir: dir, Root: root, Target: "firmware/posd-7.img"})
	partial := filepath.Join(dir, "partial", partialName(hex.EncodeToString(sum[:]), int64(len(img))))
	keep := filepath.Join(dir, "targets", "firmware%2Fposd-7.img")
	rng := rand.New(rand.NewPCG(5, uint64(time.Now().UnixNano())))
	resumed := 0
	for i := range runs {
		var had int64
		if st, err := os.Stat(partial); err == nil {
			had = st.Size()
		}
		before := len(e.requests("T1", tp))
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envKillChild+"="+string(job))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("run %d: child said %q: %s", i, line, stderr.String())
		}
		time.Sleep(time.Duration(rng.IntN(150000)) * time.Microsecond)
		cmd.Process.Kill()
		if err := cmd.Wait(); err == nil || stderr.Len() > 0 {
			t.Fatalf("run %d: child ended by itself (%v): %s", i, err, stderr.String())
		}
		if st, err := os.Stat(partial); err == nil && st.Size() > int64(len(img)) {
			t.Fatalf("run %d: partial file of %d bytes, target %d", i, st.Size(), len(img))
		}
		if b, err := os.ReadFile(keep); err == nil && !bytes.Equal(b, img) {
			t.Fatalf("run %d: kept copy of %d bytes is not the target", i, len(b))
		}
		// (The server logs a request when it ends: after the kill.)
		var qs []repo.Request
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if qs = e.requests("T1", tp); len(qs) > before {
				break
			}
		}
		for _, q := range qs[before:] {
			want := ""
			if had > 0 {
				want = "bytes=" + strconv.FormatInt(had, 10) + "-"
				resumed++
			}
			if q.Range != want {
				t.Fatalf("run %d: the download asked for range %q with %d bytes kept", i, q.Range, had)
			}
		}
	}
	e.repo.Restore(tp)
	c := e.client("T1", func(o *Opts) { o.Dir = dir })
	fw := find(t, mustCheck(t, c), "firmware/posd-7.img")
	got, err := c.Fetch(context.Background(), fw)
	if err != nil || !bytes.Equal(got, img) {
		t.Fatalf("fetch after %d kills: %d bytes, %v", runs, len(got), err)
	}
	t.Logf("%d kills, %d resumed downloads", runs, resumed)
}

// TestKillDuringCheck: the process is SIGKILLed at random points of
// checks (each a fresh start) while the repository publishes new
// versions and rotates its root keys. After every kill a start with the
// pinned root checks successfully and keeps the newest root in its chain,
// and no temporary file is left in the directory.
func TestKillDuringCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	runs := 10
	if v := os.Getenv("POSD_OTA_KILLS"); v != "" {
		var err error
		if runs, err = strconv.Atoi(v); err != nil || runs < 1 {
			t.Fatalf("POSD_OTA_KILLS=%q", v)
		}
	}
	e := newEnv(t, repo.Opts{})
	e.publish()
	dir := t.TempDir()
	pinned := e.repo.RootJSON()
	root := filepath.Join(t.TempDir(), "root.json")
	if err := os.WriteFile(root, pinned, 0o600); err != nil {
		t.Fatal(err)
	}
	job, _ := json.Marshal(killJob{URL: e.srv.URL, Dir: dir, Root: root, Checks: true})
	rng := rand.New(rand.NewPCG(6, uint64(time.Now().UnixNano())))
	for i := range runs {
		if i%3 == 1 {
			if err := e.repo.RotateKeys(repo.Rotation{Roles: []string{repo.Root, repo.Timestamp}}); err != nil {
				t.Fatal(err)
			}
		}
		e.add(fmt.Sprintf("params/emv-%d.json", i), bundleJSON(i+1), KindParams, i+1)
		e.publish()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envKillChild+"="+string(job))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("run %d: child said %q: %s", i, line, stderr.String())
		}
		time.Sleep(time.Duration(rng.IntN(150000)) * time.Microsecond)
		cmd.Process.Kill()
		if err := cmd.Wait(); err == nil || stderr.Len() > 0 {
			t.Fatalf("run %d: child ended by itself (%v): %s", i, err, stderr.String())
		}
		c := e.client("T1", func(o *Opts) { o.Dir, o.Root = dir, pinned })
		if ts := mustCheck(t, c); len(ts) != i+1 {
			t.Fatalf("run %d: %d targets offered", i, len(ts))
		}
		if want := e.repo.Version(repo.Root); want > 1 {
			kept, err := verifiedRoot(mustRead(t, filepath.Join(dir, rootsDir, strconv.FormatInt(want, 10)+".root.json")))
			if err != nil || kept.Signed.Version != want {
				t.Fatalf("run %d: kept root %v (%v), want version %d", i, kept, err, want)
			}
		}
		for _, sub := range []string{".", "metadata", rootsDir} {
			es, _ := os.ReadDir(filepath.Join(dir, sub))
			for _, e := range es {
				if strings.Contains(e.Name(), "tmp") {
					t.Fatalf("run %d: %s left in %s", i, e.Name(), sub)
				}
			}
		}
	}
}
