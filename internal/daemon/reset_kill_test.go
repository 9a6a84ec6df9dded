package daemon

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"posd/internal/config"
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
				p.kill()
				p.t.Fatalf("the child ended before saying %q; it said %q: %s", line, p.said, p.stderr.String())
			}
			p.said = append(p.said, l)
			if l == line {
				return
			}
			if l == "started" {
				p.kill()
				p.t.Fatalf("the child started without saying %q; it said %q", line, p.said)
			}
		case <-timeout:
			p.kill()
			p.t.Fatalf("the child never said %q; it said %q: %s", line, p.said, p.stderr.String())
		}
	}
}

// kill SIGKILLs the child and returns the last thing it said: where the
// kill landed ("ready", "step NAME" or "started").
func (p *resetProc) kill() string {
	p.t.Helper()
	p.cmd.Process.Kill()
	err := p.cmd.Wait()
	p.stdin.Close()
	for l := range p.lines {
		p.said = append(p.said, l)
	}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL || p.stderr.Len() > 0 {
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
