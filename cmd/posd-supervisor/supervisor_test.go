//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"posd/board/rauc"
	"posd/terminal/slots"
)

// board/rauc satisfies the backend interfaces of terminal/slots without
// importing it (board sits below terminal); the wiring passes it as is.
var (
	_ slots.Updater      = (*rauc.Backend)(nil)
	_ slots.BootReporter = (*rauc.Backend)(nil)
)

// The end-to-end tests run the supervisor as a child: the test binary
// re-executed with envSupervisor set runs main's run with its arguments.
const envSupervisor = "POSD_SUPERVISOR_TEST_MAIN"

// built are binaries the tests build once: the fake posd, and the
// supervisor without the race detector for the crash test (which needs
// many quick starts, not race checks).
type built struct {
	once sync.Once
	bin  string
	err  error
}

var (
	buildDir            string
	fakeBuild, supBuild built
	fakeBytes           []byte
)

func TestMain(m *testing.M) {
	if os.Getenv(envSupervisor) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

var buildDirOnce sync.Once

// build compiles pkg (relative to this package) once into name.
func build(t testing.TB, b *built, name, pkg string) string {
	t.Helper()
	b.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			b.err = err
			return
		}
		buildDirOnce.Do(func() { buildDir, err = os.MkdirTemp("", "posd-supervisor-test") })
		if err != nil || buildDir == "" {
			b.err = fmt.Errorf("temp dir: %v", err)
			return
		}
		out := filepath.Join(buildDir, name)
		cmd := exec.Command(goBin, "build", "-ldflags=-s -w", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if o, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, o)
			return
		}
		b.bin = out
	})
	if b.err != nil {
		t.Fatalf("building %s: %v", name, b.err)
	}
	return b.bin
}

// fakePosd is testdata/fakeposd's executable.
func fakePosd(t testing.TB) []byte {
	t.Helper()
	path := build(t, &fakeBuild, "fakeposd", "./testdata/fakeposd")
	if fakeBytes == nil {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fakeBytes = b
	}
	return fakeBytes
}

// image is the fake posd that behaves as mode and says it is version.
func image(t testing.TB, mode, version string) ([]byte, slots.Image) {
	b := append(append([]byte(nil), fakePosd(t)...), fmt.Sprintf("\n#FAKEPOSD:%s:%s\n", mode, version)...)
	s := sha256.Sum256(b)
	return b, slots.Image{Version: version, SHA256: hex.EncodeToString(s[:]), Size: int64(len(b))}
}

type rig struct {
	t    testing.TB
	bin  string // the supervisor: "" runs this test binary in the supervisor role
	root string
	dir  string
	log  string
	mark string
	m    *slots.Manager
}

func newRig(t testing.TB) *rig {
	root := t.TempDir()
	r := &rig{t: t, root: root, dir: filepath.Join(root, "slots"), log: filepath.Join(root, "posd.log"), mark: filepath.Join(root, "marks")}
	os.Mkdir(r.mark, 0o755)
	var err error
	if r.m, err = slots.OpenDir(r.dir, slots.Options{}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) provision(mode, version string) {
	r.t.Helper()
	b, img := image(r.t, mode, version)
	if err := r.m.Provision(context.Background(), img, bytes.NewReader(b)); err != nil {
		r.t.Fatal(err)
	}
}

// update installs mode/version and starts its trial.
func (r *rig) update(mode, version string) {
	r.t.Helper()
	b, img := image(r.t, mode, version)
	if _, err := r.m.Install(context.Background(), img, bytes.NewReader(b)); err != nil {
		r.t.Fatal(err)
	}
	if err := r.m.TryNext(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) status() slots.Status {
	r.t.Helper()
	s, err := r.m.Status(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// lines are the fake posd's log lines without their pid.
func (r *rig) lines() []string {
	b, _ := os.ReadFile(r.log)
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if _, rest, ok := strings.Cut(l, " "); ok {
			out = append(out, rest)
		}
	}
	return out
}

func (r *rig) waitLine(prefix string, n int) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		k := 0
		for _, l := range r.lines() {
			if strings.HasPrefix(l, prefix) {
				k++
			}
		}
		if k >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.t.Fatalf("no %d× %q in the posd log:\n%s", n, prefix, strings.Join(r.lines(), "\n"))
}

// sup is a running supervisor child.
type sup struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr []string
	seen   chan string
	done   chan struct{}
	code   int
}

func (r *rig) start(flags ...string) *sup {
	r.t.Helper()
	args := append([]string{"-root", r.root, "-restart-delay", "0"}, flags...)
	args = append(args, "--", "-log", r.log, "-mark", r.mark)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), envSupervisor+"=1", "GORACE=atexit_sleep_ms=0")
	if r.bin != "" {
		cmd = exec.Command(r.bin, args...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, err := cmd.StderrPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	s := &sup{cmd: cmd, seen: make(chan string, 1000), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.mu.Lock()
			s.stderr = append(s.stderr, sc.Text())
			s.mu.Unlock()
			select {
			case s.seen <- sc.Text():
			default:
			}
		}
		cmd.Wait()
		s.code = exitCode(cmd.ProcessState)
		close(s.done)
	}()
	r.t.Cleanup(func() { s.killGroup(); <-s.done })
	return s
}

func (s *sup) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.stderr, "\n")
}

func (s *sup) killGroup() { syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL) }

func (s *sup) wait(t testing.TB) int {
	t.Helper()
	select {
	case <-s.done:
		return s.code
	case <-time.After(30 * time.Second):
		t.Fatalf("supervisor still running:\n%s", s.log())
		return -1
	}
}

func TestSeedRunForwardSIGTERM(t *testing.T) {
	r := newRig(t)
	b, _ := image(t, "serve", "1.0")
	seed := filepath.Join(r.root, "posd-1.0")
	os.WriteFile(seed, b, 0o755)
	s := r.start("-seed", seed, "-seed-version", "1.0", "-trial-boots", "4")
	r.waitLine("start slot=a version=1.0 env_version=1.0 trial=false boot=0/0 mode=serve args=-log,", 1)
	s.cmd.Process.Signal(syscall.SIGTERM)
	if code := s.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, s.log())
	}
	if l := r.lines(); len(l) != 2 || l[1] != "stop terminated" {
		t.Fatalf("posd log %q", l)
	}
	st := r.status()
	if st.Committed != "a" || st.CommittedVersion != "1.0" || st.MaxTrialBoots != 4 {
		t.Fatalf("status %+v", st)
	}
	// Seeding again changes nothing.
	s = r.start("-seed", seed, "-seed-version", "other")
	r.waitLine("start slot=a version=1.0", 2)
	s.cmd.Process.Signal(syscall.SIGINT)
	if code := s.wait(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if st := r.status(); st.CommittedVersion != "1.0" {
		t.Fatalf("status %+v", st)
	}
}

func TestRestartCode(t *testing.T) {
	r := newRig(t)
	r.provision("restart-once", "1")
	s := r.start()
	r.waitLine("start slot=a version=1", 2)
	s.cmd.Process.Signal(syscall.SIGTERM)
	if code := s.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, s.log())
	}
	if got := strings.Join(r.lines(), "|"); !strings.Contains(got, "restart|") || !strings.HasSuffix(got, "stop terminated") {
		t.Fatalf("posd log %s", got)
	}
}

func TestCommittedPosdExitStatus(t *testing.T) {
	r := newRig(t)
	r.provision("fail", "1")
	if code := r.start().wait(t); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if n := len(r.lines()); n != 1 {
		t.Fatalf("%d starts", n)
	}
}

func TestTrialCommits(t *testing.T) {
	r := newRig(t)
	r.provision("serve", "1")
	r.update("serve", "2")
	s := r.start()
	r.waitLine("commit", 1)
	st := r.status()
	if st.Committed != "b" || st.CommittedVersion != "2" || st.Trial != nil || st.Last.Kind != slots.EventCommit {
		t.Fatalf("status %+v", st)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	if code := s.wait(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	l := r.lines()
	if len(l) != 3 || !strings.HasPrefix(l[0], "start slot=b version=2 env_version=2 trial=true boot=1/3") {
		t.Fatalf("posd log %q", l)
	}
}

func TestFailingTrialRollsBack(t *testing.T) {
	r := newRig(t)
	r.provision("serve", "1")
	r.update("fail", "2")
	s := r.start()
	r.waitLine("start slot=a version=1", 1)
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.wait(t)
	var starts []string
	for _, l := range r.lines() {
		if strings.HasPrefix(l, "start") {
			starts = append(starts, strings.Join(strings.Fields(l)[1:6], " "))
		}
	}
	want := []string{
		"slot=b version=2 env_version=2 trial=true boot=1/3",
		"slot=b version=2 env_version=2 trial=true boot=2/3",
		"slot=b version=2 env_version=2 trial=true boot=3/3",
		"slot=a version=1 env_version=1 trial=false boot=0/0",
	}
	if strings.Join(starts, "\n") != strings.Join(want, "\n") {
		t.Fatalf("starts\n%s\nwant\n%s", strings.Join(starts, "\n"), strings.Join(want, "\n"))
	}
	st := r.status()
	if st.Committed != "a" || st.Trial != nil || st.Last.Kind != slots.EventRollback || !strings.Contains(st.Last.Reason, "3 trial boots") {
		t.Fatalf("status %+v last %+v", st, st.Last)
	}
	if !strings.Contains(s.log(), "rolled back") {
		t.Fatalf("supervisor log:\n%s", s.log())
	}
}

func TestTrialWithoutCommitPastHealthDeadline(t *testing.T) {
	for _, mode := range []string{"hang", "stubborn"} {
		t.Run(mode, func(t *testing.T) {
			r := newRig(t)
			r.provision("serve", "1")
			r.update(mode, "2")
			s := r.start("-health", "300ms", "-grace", "300ms")
			r.waitLine("start slot=a version=1", 1)
			s.cmd.Process.Signal(syscall.SIGTERM)
			s.wait(t)
			got := strings.Join(r.lines(), "\n")
			if strings.Count(got, "start slot=b") != 3 || strings.Count(got, "start slot=a") != 1 {
				t.Fatalf("posd log\n%s", got)
			}
			if mode == "hang" && strings.Count(got, "stop terminated") != 4 {
				t.Fatalf("posd log\n%s", got)
			}
			if mode == "stubborn" && !strings.Contains(s.log(), "ignored SIGTERM") {
				t.Fatalf("supervisor log\n%s", s.log())
			}
			if st := r.status(); st.Committed != "a" || st.Last.Kind != slots.EventRollback {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

func TestUnhealthyTrialRollsItselfBack(t *testing.T) {
	r := newRig(t)
	r.provision("serve", "1")
	r.update("unhealthy", "2")
	s := r.start()
	r.waitLine("start slot=a version=1", 1)
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.wait(t)
	got := strings.Join(r.lines(), "\n")
	if strings.Count(got, "start slot=b") != 1 || !strings.Contains(got, "\nrollback\n") {
		t.Fatalf("posd log\n%s", got)
	}
	if st := r.status(); st.Committed != "a" || st.Last.Reason != "self-test failed" {
		t.Fatalf("status %+v", st.Last)
	}
}

func TestStatusFlag(t *testing.T) {
	r := newRig(t)
	r.provision("serve", "1")
	var out, errb bytes.Buffer
	if code := run([]string{"-root", r.root, "-status"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var st slots.Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || st.Active != "a" || st.ActiveVersion != "1" {
		t.Fatalf("%v %s", err, out.String())
	}
	if code := run([]string{}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("no -root: exit %d", code)
	}
}
