//go:build linux

package pn532sim

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"github.com/creack/pty"
)

// ServePTY opens a pseudo-terminal, serves the HSU side of the chip on its
// master until ctx is done or Close is called, and returns the path of the
// slave for the host (board/ opens it like a serial port). The slave is put
// in raw mode.
func (s *Sim) ServePTY(ctx context.Context) (string, error) {
	ptmx0, tty, err := pty.Open()
	if err != nil {
		return "", fmt.Errorf("pn532sim: open pty: %w", err)
	}
	// pty.Open leaves the master in blocking mode, where Close cannot
	// interrupt a pending Read. Serve a non-blocking duplicate instead.
	ptmx, err := pollable(ptmx0)
	_ = ptmx0.Close()
	if err != nil {
		_ = tty.Close()
		return "", err
	}
	if err := makeRaw(tty); err != nil {
		_ = ptmx.Close()
		_ = tty.Close()
		return "", err
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer stop()
		defer cancel()
		if err := s.Serve(ctx, ptmx); err != nil {
			s.log.Debug("pn532sim pty serve ended", "err", err)
		}
		_ = ptmx.Close()
		_ = tty.Close()
	}()
	return tty.Name(), nil
}

func pollable(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("pn532sim: pty: %w", err)
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = syscall.Dup(int(fd))
		if derr == nil {
			syscall.CloseOnExec(nfd)
			derr = syscall.SetNonblock(nfd, true)
		}
	}); err != nil {
		return nil, fmt.Errorf("pn532sim: pty: %w", err)
	}
	if derr != nil {
		if nfd >= 0 {
			_ = syscall.Close(nfd)
		}
		return nil, fmt.Errorf("pn532sim: pty: %w", derr)
	}
	return os.NewFile(uintptr(nfd), f.Name()), nil
}

func makeRaw(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("pn532sim: pty raw mode: %w", err)
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		var t syscall.Termios
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCGETS, uintptr(unsafe.Pointer(&t))); e != 0 {
			serr = e
			return
		}
		t.Iflag &^= syscall.IGNBRK | syscall.BRKINT | syscall.PARMRK | syscall.ISTRIP | syscall.INLCR | syscall.IGNCR | syscall.ICRNL | syscall.IXON
		t.Oflag &^= syscall.OPOST
		t.Lflag &^= syscall.ECHO | syscall.ECHONL | syscall.ICANON | syscall.ISIG | syscall.IEXTEN
		t.Cflag &^= syscall.CSIZE | syscall.PARENB
		t.Cflag |= syscall.CS8
		t.Cc[syscall.VMIN] = 1
		t.Cc[syscall.VTIME] = 0
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCSETS, uintptr(unsafe.Pointer(&t))); e != 0 {
			serr = e
		}
	})
	if err != nil {
		return fmt.Errorf("pn532sim: pty raw mode: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("pn532sim: pty raw mode: %w", serr)
	}
	return nil
}
