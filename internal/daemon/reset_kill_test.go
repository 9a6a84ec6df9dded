package daemon

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"posd/internal/config"
	"posd/terminal/console"
	"posd/terminal/store"
)

// The factory reset's crash tests kill posd for real: the test binary is
// run again as TestHelperFactoryReset with envResetChild set to a
// configuration, and starts posd on its data directory (Open, as posd
// does), telling its parent on stdout "ready" before Open, "step NAME"
// after each step of the reset (resetHooks) and "started" once Open
// returned. With envResetStop naming a step it waits there; it never ends
// by itself: the parent SIGKILLs it (it exits when its stdin closes, so
// that a parent that died leaves no child behind).
const (
	envResetChild = "POSD_RESET_CHILD"
	envResetStop  = "POSD_RESET_STOP"
)

// TestHelperFactoryReset is the child of the crash tests (see
// envResetChild); it does nothing in a normal test run.
func TestHelperFactoryReset(t *testing.T) {
	raw := os.Getenv(envResetChild)
	if raw == "" {
		t.Skip("the crash tests' child process")
	}
	os.Exit(resetChild(raw, os.Getenv(envResetStop)))
}

func resetChild(raw, stop string) int {
	cfg, err := config.Parse([]byte(raw))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	wait := func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}
	hooks := resetHooks{step: func(name string) {
		fmt.Printf("step %s\n", name)
		if name == stop {
			wait()
		}
	}}
	fmt.Println("ready")
	if _, err := Open(context.Background(), cfg, "test", nil, func(o *options) { o.reset = hooks }); err != nil {
		fmt.Fprintln(os.Stderr, "child: start:", err)
		return 2
	}
	fmt.Println("started")
	wait()
	return 3
}

// resetProc is a child started by startReset.
type resetProc struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  *os.File // the parent's end
	lines  chan string
	said   []string // lines read so far
	stderr bytes.Buffer
}

// startReset starts posd with cfg (JSON) in a child process, stopping at
// step stop ("": nowhere), and waits for it to say it is ready.
func startReset(t testing.TB, cfg, stop string) *resetProc {
	t.Helper()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &resetProc{t: t, stdin: inW, lines: make(chan string, 64)}
	p.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperFactoryReset$")
	p.cmd.Env = append(os.Environ(), envResetChild+"="+cfg, envResetStop+"="+stop)
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = inR, outW, &p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	err = p.cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		t.Fatal(err)
	}
	go func() {
		defer close(p.lines)
		defer outR.Close()
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	p.waitFor("ready")
	return p
}

// waitFor waits until the child says line.
func (p *resetProc) waitFor(line string) {
	p.t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.end()
				p.t.Fatalf("the child ended before saying %q; it said %q: %s", line, p.said, p.stderr.String())
			}
			p.said = append(p.said, l)
			if l == line {
				return
			}
			if l == "started" {
				p.end()
				p.t.Fatalf("the child started without saying %q; it said %q", line, p.said)
			}
		case <-timeout:
			p.end()
			p.t.Fatalf("the child never said %q; it said %q: %s", line, p.said, p.stderr.String())
		}
	}
}

// end SIGKILLs the child (if it still runs), waits for it and for the
// rest of what it said, and reports whether the SIGKILL ended it.
func (p *resetProc) end() (killed bool, err error) {
	p.cmd.Process.Kill()
	err = p.cmd.Wait()
	p.stdin.Close()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				ws, sig := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
				return sig && ws.Signaled() && ws.Signal() == syscall.SIGKILL, err
			}
			p.said = append(p.said, l)
		case <-timeout:
			return false, fmt.Errorf("its stdout is still open after it ended: %w", err)
		}
	}
}

// kill SIGKILLs the child and returns the last thing it said: where the
// kill landed ("ready", "step NAME" or "started").
func (p *resetProc) kill() string {
	p.t.Helper()
	if killed, err := p.end(); !killed || p.stderr.Len() > 0 {
		p.t.Fatalf("the child was not killed but ended (%v) having said %q: %s", err, p.said, p.stderr.String())
	}
	return p.said[len(p.said)-1]
}

// killAt starts posd on the rig's data directory in a child and kills it
// right after step of the factory reset.
func (r *consoleRig) killAt(step string) {
	r.t.Helper()
	p := startReset(r.t, r.raw, step)
	p.waitFor("step " + step)
	if got := p.kill(); got != "step "+step {
		r.t.Fatalf("killed after %q, not after step %s", got, step)
	}
}

// copyDir copies the directory tree src to dst (made), keeping hard links
// between its files.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	inodes := map[uint64]string{}
	err := filepath.WalkDir(src, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		fi, err := e.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			return os.MkdirAll(to, fi.Mode().Perm())
		case fi.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(l, to)
		case !fi.Mode().IsRegular():
			return nil
		}
		ino := fi.Sys().(*syscall.Stat_t).Ino
		if first, ok := inodes[ino]; ok {
			return os.Link(first, to)
		}
		inodes[ino] = to
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// resetKills is the number of random kills: POSD_RESET_KILLS, default 30 (make reset-soak runs 500).
func resetKills(t testing.TB) int {
	n := 30
	if v := os.Getenv("POSD_RESET_KILLS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("POSD_RESET_KILLS=%q", v)
		}
	}
	return n
}

// resetSeed seeds the random kills: POSD_RESET_SEED, or the time.
func resetSeed(t testing.TB) uint64 {
	if v := os.Getenv("POSD_RESET_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("POSD_RESET_SEED=%q", v)
		}
		return s
	}
	return uint64(time.Now().UnixNano())
}

// resetBefore is what a data directory held before its factory reset.
type resetBefore struct {
	record string            // a record's id in posd.db
	erased map[string][]byte // the files the reset erases, by name
}

// TestFactoryResetKills: posd is SIGKILLed at random points of the
// factory reset it carries out at start, sometimes again and again in
// the same reset. After each kill the data directory (a copy of it, with
// its hard links, so that further kills can land in the same reset) is
// opened as posd opens it: the reset completes, the console's audit
// trail of before it is there exactly once and not lost, the erased
// files' old contents are gone (the advice key slots overwritten), the
// record of before is gone and the new database takes records; and posd
// starts on it and its console lists the trail. The delays are drawn
// from POSD_RESET_SEED (logged; the same delays for the same number of
// CPUs), the kills' timing is not replayed; POSD_RESET_KILLS sets the
// number of kills (30). The kills run in parallel, one chain of resets
// per CPU (up to 4): most of a kill's time is the child's start (with
// gocv, loading OpenCV's shared libraries).
func TestFactoryResetKills(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	kills := resetKills(t)
	seed := resetSeed(t)
	t.Logf("seed %d (POSD_RESET_SEED=%d draws the same delays)", seed, seed)

	base := newConsoleRig(t)
	var before resetBefore
	before.record = base.requestReset()
	before.erased = map[string][]byte{}
	for _, name := range resetErases {
		if b, err := os.ReadFile(filepath.Join(base.dir, name)); err == nil {
			before.erased[name] = b
		}
	}
	// A second name for the advice key slots' file: what the reset
	// leaves in its blocks, not only whether the name is gone.
	slots := filepath.Join(base.dir, adviceSlotsFile)
	if err := os.Link(slots, slots+".seen"); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	var (
		mu     sync.Mutex
		dirs   int
		landed = map[string]int{}
	)
	fresh := func(t *testing.T) *consoleRig {
		mu.Lock()
		dirs++
		dir := filepath.Join(work, strconv.Itoa(dirs), "data")
		mu.Unlock()
		r := base.at(t, dir)
		copyDir(t, base.dir, r.dir)
		return r
	}
	check := func(t *testing.T, r *consoleRig, at string) {
		t.Helper()
		mu.Lock()
		landed[at]++
		mu.Unlock()
		dir := filepath.Join(r.dir+"-check", "data")
		copyDir(t, r.dir, dir)
		defer os.RemoveAll(filepath.Dir(dir))
		checkAfterKill(t, dir, before, at)
	}

	// How long the reset takes from "ready" to its last step (the
	// median of three).
	var spans []time.Duration
	for range 3 {
		r := fresh(t)
		p := startReset(t, r.raw, "done")
		start := time.Now()
		p.waitFor("step done")
		spans = append(spans, time.Since(start))
		check(t, r, p.kill())
	}
	slices.Sort(spans)
	span := spans[1]
	t.Logf("a reset takes %v", span)

	workers := min(runtime.GOMAXPROCS(0), 4)
	last := make([]string, workers)
	t.Run("kills", func(t *testing.T) {
		for w := range workers {
			n := kills / workers
			if w < kills%workers {
				n++
			}
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			t.Run(strconv.Itoa(w), func(t *testing.T) {
				t.Parallel()
				for i := 0; i < n; {
					r := fresh(t)
					last[w] = r.dir
					for {
						p := startReset(t, r.raw, "")
						time.Sleep(time.Duration(rng.Int64N(int64(span))))
						at := p.kill()
						i++
						check(t, r, at)
						// Again in the same directory, unless the reset
						// completed; or, at random, in a new one.
						if i >= n || at == "started" || at == "step done" || rng.IntN(2) == 0 {
							break
						}
					}
				}
			})
		}
	})
	var where []string
	for at, n := range landed {
		where = append(where, fmt.Sprintf("%s %d", at, n))
	}
	slices.Sort(where)
	t.Logf("%d kills in %d resets, %d at a time; the kills came after: %s", kills+len(spans), dirs, workers, strings.Join(where, ", "))
	if t.Failed() {
		return
	}

	// posd starts where the last kill left the reset, and its console
	// lists the trail.
	r := base.at(t, last[0])
	d, out := r.auditAfter()
	defer closeDaemon(t, d)
	keptTrail(t, out, "fay admin login")
}

// checkAfterKill opens the data directory dir, left by a posd killed
// after it said landed, as posd opens it, and checks what must hold after
// a factory reset: see TestFactoryResetKills.
func checkAfterKill(tt testing.TB, dir string, before resetBefore, landed string) {
	tt.Helper()
	t := labelled{tt, fmt.Sprintf("killed after %q: ", landed)}
	log := slog.New(slog.DiscardHandler)
	if err := prepareDataDir(dir, log); err != nil {
		t.Fatalf("%v", err)
	}
	reset, err := eraseIfReset(dir, nil, resetHooks{})
	if err != nil {
		t.Fatalf("the reset: %v", err)
	}
	db, err := openDB(dir, options{}, false, reset, log)
	if err != nil {
		t.Fatalf("opening posd.db: %v", err)
	}
	if _, err := db.Get(before.record); err == nil {
		t.Errorf("record %s survived the factory reset", before.record)
	}
	x := store.Txn{Kind: "purchase", Amount: 2, Currency: "156", State: store.StateFailed}
	if err := db.Create(&x); err != nil {
		t.Errorf("a record after the reset: %v", err)
	} else if _, err := db.Get(x.ID); err != nil {
		t.Errorf("the record after the reset: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	entries, unreadable, err := console.ReadAuditFile(filepath.Join(dir, "posd.db"), 2*time.Second)
	if err != nil || unreadable > 0 {
		t.Fatalf("the audit log: %v (%d unreadable)", err, unreadable)
	}
	keptTrail(t, auditText(entries))
	for _, name := range []string{resetMarker, resetAuditFile} {
		if exists(t, filepath.Join(dir, name)) {
			t.Errorf("%s is still there after the reset", name)
		}
	}
	for name, old := range before.erased {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil && bytes.Equal(b, old) {
			t.Errorf("%s survived the factory reset", name)
		}
	}
	slots := filepath.Join(dir, adviceSlotsFile)
	old, err := os.ReadFile(slots + ".seen")
	if err != nil || len(old) == 0 || !bytes.Equal(old, make([]byte, len(old))) {
		t.Errorf("the advice key slots were not overwritten (%d bytes, %v)", len(old), err)
	}
	if fi, err := os.Stat(slots); err == nil {
		if seen, err := os.Stat(slots + ".seen"); err == nil && os.SameFile(fi, seen) {
			t.Errorf("the advice key slots' file survived the factory reset")
		}
	}
}

// labelled says what its messages are about.
type labelled struct {
	testing.TB
	label string
}

func (l labelled) Errorf(format string, args ...any) {
	l.TB.Helper()
	l.TB.Errorf(l.label+format, args...)
}

func (l labelled) Fatalf(format string, args ...any) {
	l.TB.Helper()
	l.TB.Fatalf(l.label+format, args...)
}

// auditText is the audit log as the console's audit command lists it.
func auditText(entries []console.AuditEntry) string {
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "%s %s %s %s", e.Time.UTC().Format(time.RFC3339), orDash(e.Engineer), orDash(e.Role), e.Event)
		if e.Detail != "" {
			fmt.Fprintf(&b, ": %s", e.Detail)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
