// Package ptysim gives chip simulators a pseudo-terminal to stand behind:
// the simulator serves the master side, and the driver opens the slave side
// exactly as it would open a UART (board/ does it with tarm/serial). The
// slave is put in raw 8N1 mode, as cfmakeraw(3) does, so no line discipline
// (echo, CR/LF mapping, signals) touches the bytes.
package ptysim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal pair.
type PTY struct {
	// Master is the simulator's side. It is non-blocking, so Close
	// interrupts a pending Read (and its deadlines work).
	Master *os.File
	// SlavePath is the device the driver opens, e.g. /dev/pts/3.
	SlavePath string
	// slave stays open so the master never reads EIO while no driver has
	// the port open (between a Halt and the next open), nor when a
	// terminal program on the slave (picocom on the simulated service
	// console) quits: like a UART without carrier detect, the master
	// cannot see its client leave. Unlike a UART's wire, the pty does not
	// drop what the master writes while nobody reads the slave: it queues
	// it (about 18 KB on Linux, then the master's writes block) for the
	// next client.
	slave *os.File
}

// Open allocates a pseudo-terminal.
func Open() (*PTY, error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("ptysim: open: %w", err)
	}
	master, err := pollable(m)
	m.Close()
	if err != nil {
		s.Close()
		return nil, err
	}
	if err := MakeRaw(s); err != nil {
		master.Close()
		s.Close()
		return nil, err
	}
	return &PTY{Master: master, SlavePath: s.Name(), slave: s}, nil
}

// Close closes both sides; a Read pending on Master returns.
func (p *PTY) Close() error {
	return errors.Join(p.Master.Close(), p.slave.Close())
}

// pollable returns a non-blocking duplicate of f, which joins the runtime
// poller: pty.Open leaves the master blocking, where Close cannot interrupt
// a Read.
func pollable(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("ptysim: %w", err)
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.Dup(int(fd))
		if derr == nil {
			unix.CloseOnExec(nfd)
			derr = unix.SetNonblock(nfd, true)
		}
	}); err != nil {
		return nil, fmt.Errorf("ptysim: %w", err)
	}
	if derr != nil {
		if nfd >= 0 {
			unix.Close(nfd)
		}
		return nil, fmt.Errorf("ptysim: master: %w", derr)
	}
	return os.NewFile(uintptr(nfd), f.Name()), nil
}

// MakeRaw puts a tty in raw 8N1 mode.
func MakeRaw(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("ptysim: raw mode: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			serr = err
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN] = 1
		t.Cc[unix.VTIME] = 0
		serr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	}); err != nil {
		return fmt.Errorf("ptysim: raw mode: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("ptysim: raw mode: %w", serr)
	}
	return nil
}

// Serve opens a pseudo-terminal and runs serve on its master side until
// ctx is done (which closes the master, ending serve's read); wg counts
// the two goroutines it starts. link, when not nil, gets the master
// before Serve returns, so what the simulator sends right after reaches
// the port. A serve that ends on its own with an error is logged as
// who's. It returns the slave's path, which board/ opens as the chip's
// serial port.
func Serve(ctx context.Context, wg *sync.WaitGroup, log *slog.Logger, who string, link func(io.Writer), serve func(context.Context, io.ReadWriter) error) (string, error) {
	p, err := Open()
	if err != nil {
		return "", fmt.Errorf("%s: %w", who, err)
	}
	if link != nil {
		link(p.Master)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		p.Master.Close()
	}()
	go func() {
		defer wg.Done()
		defer p.Close()
		if err := serve(ctx, p.Master); err != nil && ctx.Err() == nil && log != nil {
			log.Warn(who+" pty link ended", "err", err)
		}
	}()
	return p.SlavePath, nil
}
