package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/metrics"
	"strings"
	"time"
)

// Exit statuses of a check run as a child process (CheckMain).
const (
	ExitCheckOK      = 0 // the file is whole
	ExitCheckDamaged = 1 // the file is damaged; stderr's first line says why
	ExitCheckInUse   = 3 // another process holds the file
)

// CheckMemory bounds the heap of a check run by CheckMain. A damaged page
// count can make bbolt's check walk billions of pages, its memory growing
// all the while; a whole database of a terminal needs a few megabytes.
const CheckMemory = 256 << 20

// CheckTimeout is how long CheckInChild gives the child when its caller
// gives no timeout: a whole database of a million records checks in a few
// seconds on the slowest supported board.
const CheckTimeout = 30 * time.Second

// CheckMain is a check process's whole work (posd -check-db FILE): Check
// the file, print why it is refused on stderr (the cause alone, one line)
// and return the exit status (ExitCheckOK, ExitCheckDamaged,
// ExitCheckInUse). While it runs, a heap larger than CheckMemory ends the
// process at once with ExitCheckDamaged.
func CheckMain(path string, stderr io.Writer) int {
	stop := make(chan struct{})
	defer close(stop)
	go watchMemory(stop, CheckMemory, func() {
		fmt.Fprintf(stderr, "checking it needed more than %d MiB: a page count in the file is wrong\n", CheckMemory>>20)
		os.Exit(ExitCheckDamaged)
	})
	err := checkFile(path, 2*time.Second)
	switch {
	case err == nil:
		return ExitCheckOK
	case errors.Is(err, ErrInUse):
		fmt.Fprintln(stderr, oneLine(err.Error()))
		return ExitCheckInUse
	default:
		fmt.Fprintln(stderr, oneLine(cause(err).Error()))
		return ExitCheckDamaged
	}
}

// watchMemory calls over when the heap's live objects pass limit.
func watchMemory(stop <-chan struct{}, limit uint64, over func()) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		metrics.Read(s)
		if s[0].Value.Kind() == metrics.KindUint64 && s[0].Value.Uint64() > limit {
			over()
			return
		}
	}
}

// CheckInChild is an Opts.Check that runs the check in a child process:
// argv (the program and its arguments, to which the file's path is
// appended) must run CheckMain, as `posd -check-db` does. A child that
// crashes, is killed or takes longer than timeout (CheckTimeout when 0)
// has met a damaged file: ErrDamaged, and the file is left as it was.
func CheckInChild(argv []string, timeout time.Duration) func(path string) error {
	if timeout <= 0 {
		timeout = CheckTimeout
	}
	return func(path string) error {
		if len(argv) == 0 {
			return errors.New("store: check: no program to run")
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, argv[0], append(argv[1:len(argv):len(argv)], path)...)
		var errOut bytes.Buffer
		cmd.Stdout = io.Discard
		cmd.Stderr = &limited{buf: &errOut, n: 4096}
		// Killed at the timeout, the child may leave a grandchild holding
		// its stderr: do not wait for that.
		cmd.WaitDelay = time.Second
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return damaged(path, fmt.Errorf("checking it did not finish within %v", timeout))
		case errors.As(err, &exit) && exit.ExitCode() == ExitCheckDamaged:
			return damaged(path, errors.New(firstLine(errOut.String(), "the check refused it")))
		case errors.As(err, &exit) && exit.ExitCode() == ExitCheckInUse:
			return fmt.Errorf("%w: %s", ErrInUse, firstLine(errOut.String(), path))
		case errors.As(err, &exit):
			// A panic (exit 2) or a fault (a signal) of bbolt's check.
			why := firstLine(errOut.String(), "no message")
			for _, p := range []string{"panic: ", "fatal error: "} {
				why = strings.TrimPrefix(why, p)
			}
			return damaged(path, fmt.Errorf("checking it crashed the check (%v): %s", exit.ProcessState, why))
		default:
			return fmt.Errorf("store: check: %w", err)
		}
	}
}

// limited keeps the first n bytes written to it and discards the rest.
type limited struct {
	buf *bytes.Buffer
	n   int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.n - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// firstLine is s's first non-empty line, at most 300 bytes, or def.
func firstLine(s, def string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return oneLine(l)
		}
	}
	return def
}

// oneLine keeps a message on one line of at most 300 bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
