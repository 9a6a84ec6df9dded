package console

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"posd/terminal/engauth"
)

// openPTY gives a pseudo-terminal as the simulated board serves it: a
// non-blocking master (in the runtime poller) and a raw slave, the
// engineer's terminal program.
func openPTY(t *testing.T) (master *os.File, slaveName string) {
	t.Helper()
	m, s, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer m.Close()
	defer s.Close()
	nfd, err := unix.Dup(int(m.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		t.Fatal(err)
	}
	master = os.NewFile(uintptr(nfd), m.Name())
	t.Cleanup(func() { _ = master.Close() })
	return master, s.Name()
}

// openSlave opens the slave side raw, as picocom does.
func openSlave(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.OpenFile(name, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB
	tio.Cflag |= unix.CS8
	tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	return f
}

// readUntil reads f until want has come and returns what came.
func readUntil(t *testing.T, f *os.File, want string) string {
	t.Helper()
	var got []byte
	buf := make([]byte, 512)
	_ = f.SetReadDeadline(time.Now().Add(30 * time.Second)) // turns a hang into a failure
	for !bytes.Contains(got, []byte(want)) {
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("waiting for %q: %v after %q", want, err, got)
		}
	}
	return string(got)
}

// TestPseudoTerminalHangUp: on the simulated board's pseudo-terminal,
// the engineer's terminal program closing makes the master read EIO: the
// session ends at once, audited as disconnected, and the next terminal
// program that opens the port gets a session that is logged out.
func TestPseudoTerminalHangUp(t *testing.T) {
	r := newRig(t)
	master, slaveName := openPTY(t)
	serve := func() chan error {
		done := make(chan error, 1)
		go func() { done <- r.c.Serve(context.Background(), master) }()
		return done
	}
	sl := openSlave(t, slaveName)
	done := serve()
	readUntil(t, sl, "posd> ")
	if _, err := sl.Write([]byte("login\r")); err != nil {
		t.Fatal(err)
	}
	out := readUntil(t, sl, "token: ")
	_, rest, _ := strings.Cut(out, "challenge: ")
	f := strings.Fields(rest)
	ch := engauth.Challenge{Terminal: f[1]}
	if _, err := hex.Decode(ch.Nonce[:], []byte(f[2])); err != nil {
		t.Fatal(err)
	}
	if _, err := sl.Write([]byte(r.token("eve01", engauth.RoleEngineer, ch, nil) + "\r")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, sl, prompt("eve01", engauth.RoleEngineer))
	_ = sl.Close() // picocom quits; nothing else holds the slave

	if err := <-done; !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Serve returned %v, want ErrDisconnected", err)
	}
	if !r.hasEvent("logout eve01 engineer: disconnected") {
		t.Fatalf("audit %q", r.events())
	}
	sl = openSlave(t, slaveName)
	defer sl.Close()
	done = serve()
	if _, err := sl.Write([]byte("whoami\r")); err != nil {
		t.Fatal(err)
	}
	if out := readUntil(t, sl, "not logged in"); strings.Contains(out, "eve01") {
		t.Fatalf("after plugging in again: %q", out)
	}
	_ = sl.Close()
	if err := <-done; !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Serve returned %v", err)
	}
}
