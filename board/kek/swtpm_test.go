package kek

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2/transport"
)

// The tests below run the TPM source against swtpm, the TPM 2.0 simulator
// of Debian's swtpm package, one process per test on free loopback ports.
// swtpm speaks the TPM simulator protocol on its server port (each command
// framed as TPM_SEND_COMMAND, locality, length; each response as length,
// bytes, a 32-bit trailer) and its own control protocol on the control
// port, used here only to shut it down so its state is saved.

const (
	mssimSendCommand = 8  // TPM_SEND_COMMAND
	mssimSessionEnd  = 20 // TPM_SESSION_END
	swtpmCtrlStop    = 3  // swtpm control channel: CMD_SHUTDOWN
)

// swtpmWait bounds how long a test waits for swtpm to start, answer or
// stop; generous for a loaded machine, never reached when things work.
const swtpmWait = 60 * time.Second

// swtpmPath returns the swtpm binary or skips the test.
func swtpmPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("swtpm")
	if err != nil {
		t.Skip("swtpm (TPM 2.0 simulator) is not installed, so the TPM-sealed KEK is not tested: " +
			"scripts/setup.sh installs it (Debian packages swtpm and swtpm-tools)")
	}
	return p
}

type swtpm struct {
	t        *testing.T
	cmdAddr  string
	ctrlAddr string
	proc     *exec.Cmd
	exited   chan struct{}
	out      *lockedBuffer
	stopOnce sync.Once
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startSwtpm runs swtpm with its state in stateDir until the test ends
// (or stop). Ports are picked free just before the start; if another
// process takes one in between, swtpm exits and the start is retried.
func startSwtpm(t *testing.T, stateDir string) *swtpm {
	t.Helper()
	bin := swtpmPath(t)
	var last string
	for attempt := 0; attempt < 5; attempt++ {
		cmdPort := freePort(t)
		ctrlPort := freePort(t)
		if cmdPort == ctrlPort {
			continue
		}
		s := &swtpm{
			t:        t,
			cmdAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(cmdPort)),
			ctrlAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ctrlPort)),
			exited:   make(chan struct{}),
			out:      &lockedBuffer{},
		}
		s.proc = exec.Command(bin, "socket", "--tpm2",
			"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", cmdPort),
			"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", ctrlPort),
			"--flags", "not-need-init,startup-clear",
			"--tpmstate", "dir="+stateDir)
		s.proc.Stdout, s.proc.Stderr = s.out, s.out
		if err := s.proc.Start(); err != nil {
			t.Fatalf("starting swtpm: %v", err)
		}
		go func() {
			s.proc.Wait()
			close(s.exited)
		}()
		if err := s.waitReady(); err != nil {
			last = fmt.Sprintf("%v; swtpm said: %q", err, s.out.String())
			s.kill()
			continue
		}
		t.Cleanup(s.stop)
		return s
	}
	t.Fatalf("swtpm did not start: %s", last)
	return nil
}

// waitReady waits until the control port answers; swtpm has then bound
// both of its ports.
func (s *swtpm) waitReady() error {
	deadline := time.Now().Add(swtpmWait)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return errors.New("swtpm exited")
		default:
		}
		c, err := net.DialTimeout("tcp", s.ctrlAddr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("swtpm did not listen in time")
}

func (s *swtpm) kill() {
	s.proc.Process.Kill()
	<-s.exited
}

// stop shuts swtpm down through its control port, which saves its state,
// and waits for it to exit.
func (s *swtpm) stop() {
	s.stopOnce.Do(func() {
		err := s.ctrl(swtpmCtrlStop)
		if err != nil {
			s.proc.Process.Signal(syscall.SIGTERM)
		}
		select {
		case <-s.exited:
		case <-time.After(swtpmWait):
			s.t.Errorf("swtpm did not stop (control: %v); killing it", err)
			s.kill()
		}
	})
}

func (s *swtpm) ctrl(cmd uint32) error {
	c, err := net.DialTimeout("tcp", s.ctrlAddr, swtpmWait)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(swtpmWait))
	if err := binary.Write(c, binary.BigEndian, cmd); err != nil {
		return err
	}
	var res uint32
	if err := binary.Read(c, binary.BigEndian, &res); err != nil {
		return err
	}
	if res != 0 {
		return fmt.Errorf("control command %d: result %#x", cmd, res)
	}
	return nil
}

// open is an OpenFunc connecting to this swtpm's server port.
func (s *swtpm) open(ctx context.Context, _ string) (transport.TPMCloser, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.cmdAddr)
	if err != nil {
		return nil, err
	}
	return &mssim{c: c}, nil
}

// mssim is a transport.TPMCloser over the TPM simulator protocol.
type mssim struct{ c net.Conn }

func (m *mssim) Send(cmd []byte) ([]byte, error) {
	m.c.SetDeadline(time.Now().Add(swtpmWait))
	req := make([]byte, 9, 9+len(cmd))
	binary.BigEndian.PutUint32(req[0:], mssimSendCommand)
	req[4] = 0 // locality
	binary.BigEndian.PutUint32(req[5:], uint32(len(cmd)))
	if _, err := m.c.Write(append(req, cmd...)); err != nil {
		return nil, err
	}
	var n uint32
	if err := binary.Read(m.c, binary.BigEndian, &n); err != nil {
		return nil, err
	}
	if n > 1<<16 {
		return nil, fmt.Errorf("simulator response of %d bytes", n)
	}
	rsp := make([]byte, n)
	if _, err := io.ReadFull(m.c, rsp); err != nil {
		return nil, err
	}
	var trailer uint32
	if err := binary.Read(m.c, binary.BigEndian, &trailer); err != nil {
		return nil, err
	}
	if trailer != 0 {
		return nil, fmt.Errorf("simulator trailer %#x", trailer)
	}
	return rsp, nil
}

func (m *mssim) Close() error {
	m.c.SetDeadline(time.Now().Add(time.Second))
	binary.Write(m.c, binary.BigEndian, uint32(mssimSessionEnd))
	return m.c.Close()
}
