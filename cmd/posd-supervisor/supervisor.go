package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"posd/conn/clock"
	"posd/terminal/slots"
)

// process is a started posd.
type process interface {
	Signal(os.Signal) error
	Kill() error
	// Done is closed when the process has exited; ExitCode is then its
	// status (128+n when signal n ended it).
	Done() <-chan struct{}
	ExitCode() int
}

// supervisor starts posd from the slot the state picks, again and again.
// Clock, signals and process start are fields so tests control them.
type supervisor struct {
	mgr          *slots.Manager
	dir          string // the slots directory
	args         []string
	environ      []string
	health       time.Duration
	grace        time.Duration
	restartDelay time.Duration
	restartCode  int
	clock        clock.Clock
	signals      <-chan os.Signal
	start        func(path string, args, env []string) (process, error)
	log          *slog.Logger
}

// end says how a run of posd ended.
type end int

const (
	exited  end = iota // by itself
	stopped            // a forwarded SIGTERM/SIGINT
	expired            // the supervisor stopped a trial that did not commit in time
)

// run returns the supervisor's exit status.
func (s *supervisor) run(ctx context.Context) int {
	for {
		b, err := s.mgr.Booted(ctx)
		if err != nil {
			s.log.Error("no slot to run", "err", err)
			return 1
		}
		if b.RolledBack {
			s.log.Warn("rolled back", "slot", b.Slot, "version", b.Version, "reason", b.Reason)
		}
		path := filepath.Join(s.dir, b.Slot, slots.BinaryName)
		s.log.Info("starting posd", "slot", b.Slot, "version", b.Version, "trial", b.Trial, "attempt", b.Attempt, "max", b.Max)
		p, err := s.start(path, s.args, s.env(b))
		if err != nil {
			if !b.Trial {
				s.log.Error("posd did not start", "slot", b.Slot, "err", err)
				return 1
			}
			s.log.Warn("trial posd did not start", "slot", b.Slot, "attempt", b.Attempt, "err", err)
		} else {
			how, code := s.watch(ctx, p, b)
			switch {
			case how == stopped:
				s.log.Info("posd stopped", "status", code)
				return code
			case how == expired:
				s.log.Warn("trial boot failed: no commit within the health deadline", "slot", b.Slot, "attempt", b.Attempt, "max", b.Max, "health", s.health)
			case code == s.restartCode:
				s.log.Info("posd asked for a restart", "slot", b.Slot)
			case b.Trial && !s.committed(ctx, b.Slot):
				s.log.Warn("trial boot failed: posd exited before committing", "slot", b.Slot, "attempt", b.Attempt, "max", b.Max, "status", code)
			default:
				s.log.Info("posd exited", "status", code)
				return code
			}
		}
		if sig, ok := s.pause(); !ok {
			s.log.Info("signal between starts; exiting", "signal", sig)
			return 0
		}
	}
}

// watch waits for p to end, forwarding signals and enforcing the health
// deadline of a trial.
func (s *supervisor) watch(ctx context.Context, p process, b slots.Boot) (end, int) {
	var deadline, kill <-chan time.Time
	if b.Trial {
		deadline = s.clock.After(s.health)
	}
	how := exited
	for {
		select {
		case <-p.Done():
			return how, p.ExitCode()
		case sig := <-s.signals:
			s.log.Info("forwarding signal to posd", "signal", sig)
			if err := p.Signal(sig); err != nil {
				s.log.Warn("forwarding signal", "err", err)
			}
			how = stopped
		case <-deadline:
			deadline = nil
			if s.committed(ctx, b.Slot) {
				continue
			}
			if how == exited {
				how = expired
			}
			if err := p.Signal(syscall.SIGTERM); err != nil {
				s.log.Warn("stopping the trial posd", "err", err)
			}
			kill = s.clock.After(s.grace)
		case <-kill:
			kill = nil
			s.log.Warn("trial posd ignored SIGTERM; killing it", "slot", b.Slot, "grace", s.grace)
			if err := p.Kill(); err != nil {
				s.log.Warn("killing the trial posd", "err", err)
			}
		}
	}
}

// committed tells whether slot is now the committed one. An unreadable
// state counts as not committed: the trial boot fails, which is safe.
func (s *supervisor) committed(ctx context.Context, slot string) bool {
	st, err := s.mgr.Status(ctx)
	if err != nil {
		s.log.Warn("reading the slot state", "err", err)
		return false
	}
	return st.Committed == slot && st.Trial == nil
}

// pause waits restartDelay; false when a signal came meanwhile.
func (s *supervisor) pause() (os.Signal, bool) {
	var wait <-chan time.Time
	if s.restartDelay > 0 {
		wait = s.clock.After(s.restartDelay)
	} else {
		c := make(chan time.Time)
		close(c)
		wait = c
	}
	select {
	case sig := <-s.signals:
		return sig, false
	case <-wait:
		return nil, true
	}
}

// env is the environment of posd: the supervisor's, without stale slot
// variables, plus the slot it runs.
func (s *supervisor) env(b slots.Boot) []string {
	var env []string
	for _, kv := range s.environ {
		if !strings.HasPrefix(kv, "POSD_SLOT") {
			env = append(env, kv)
		}
	}
	trial := "0"
	if b.Trial {
		trial = "1"
	}
	return append(env,
		slots.EnvDir+"="+s.dir,
		slots.EnvSlot+"="+b.Slot,
		slots.EnvVersion+"="+b.Version,
		slots.EnvTrial+"="+trial,
		fmt.Sprintf("%s=%d/%d", slots.EnvBoot, b.Attempt, b.Max),
	)
}

// execProcess is a posd started with os/exec.
type execProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
	code int
}

// startExec starts path; its output is the supervisor's, and it dies with
// the supervisor where the system allows (Linux: parent-death signal).
func startExec(path string, args, env []string) (process, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &execProcess{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		cmd.Wait()
		p.code = exitCode(cmd.ProcessState)
	}()
	return p, nil
}

func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

func (p *execProcess) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }
func (p *execProcess) Kill() error                { return p.cmd.Process.Kill() }
func (p *execProcess) Done() <-chan struct{}      { return p.done }
func (p *execProcess) ExitCode() int              { <-p.done; return p.code }
