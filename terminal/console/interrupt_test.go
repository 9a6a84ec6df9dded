package console

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"posd/terminal/engauth"
)

// blockUntilCancelled makes the fake daemon's calls wait for their
// context, saying on started when they begin and on ended how they ended.
func blockUntilCancelled(started chan<- string, ended chan<- error) func(context.Context, string) error {
	return func(ctx context.Context, name string) error {
		started <- name
		<-ctx.Done()
		ended <- ctx.Err()
		return ctx.Err()
	}
}

// selftestRunning serves a console where engineer eve01 runs a self test
// that lasts until its context is cancelled (which ended then says).
func selftestRunning(t *testing.T) (*rig, *port, chan error) {
	t.Helper()
	r := newRig(t)
	started, ended := make(chan string, 1), make(chan error, 1)
	r.term.hold = blockUntilCancelled(started, ended)
	p := r.serve()
	r.login(p, "eve01", engauth.RoleEngineer)
	p.send("selftest\r")
	<-started
	return r, p, ended
}

// TestCtrlCInterruptsACommand: a command waiting on the daemon (a long
// self test) is interrupted by Ctrl-C: its context is cancelled, the
// prompt comes back, and the interruption is audited.
func TestCtrlCInterruptsACommand(t *testing.T) {
	r, p, ended := selftestRunning(t)
	pr := prompt("eve01", engauth.RoleEngineer)
	p.send("\x03")
	out := p.expect(pr)
	if !strings.Contains(out, "^C\r\nselftest interrupted\r\n") {
		t.Fatalf("after Ctrl-C: %q", out)
	}
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("the self test's context ended with %v", err)
	}
	if !r.hasEvent("command eve01 engineer: selftest: interrupted") {
		t.Fatalf("audit %q", r.events())
	}
	if out := p.cmd("whoami", pr); !strings.Contains(out, "eve01 (engineer)") {
		t.Fatalf("after the interruption: %q", out)
	}
}

// TestCtrlCDropsWhatWasTypedBeforeIt: what was typed while the command
// ran, before Ctrl-C, is discarded (as a terminal flushes its input on
// an interrupt); what follows Ctrl-C is kept.
func TestCtrlCDropsWhatWasTypedBeforeIt(t *testing.T) {
	_, p, ended := selftestRunning(t)
	pr := prompt("eve01", engauth.RoleEngineer)
	p.send("log")
	p.send("ou\x03whoami\r")
	p.expect("selftest interrupted")
	<-ended
	out := p.expect(pr)
	out += p.expect(pr)
	if !strings.Contains(out, "whoami\r\neve01 (engineer)") || strings.Contains(out, "logged out") || strings.Contains(out, "unknown") {
		t.Fatalf("after Ctrl-C: %q", out)
	}
}

// TestCtrlCOnACallThatIgnoresIt: a query whose daemon call does not heed
// its context is left behind; the prompt comes back at once. The next
// query waits for it to end (and Ctrl-C stops that wait too).
func TestCtrlCOnACallThatIgnoresIt(t *testing.T) {
	r := newRig(t)
	started, release := make(chan string, 4), make(chan struct{})
	first := true
	r.term.hold = func(_ context.Context, name string) error {
		started <- name
		r.term.mu.Lock()
		wait := first
		first = false
		r.term.mu.Unlock()
		if wait {
			<-release
		}
		return nil
	}
	p := r.serve()
	pr := prompt("eve01", engauth.RoleEngineer)
	r.login(p, "eve01", engauth.RoleEngineer)
	p.send("status\r")
	<-started
	p.send("\x03")
	if out := p.expect(pr); !strings.Contains(out, "status interrupted") {
		t.Fatalf("after Ctrl-C: %q", out)
	}
	if out := p.cmd("whoami", pr); !strings.Contains(out, "eve01 (engineer)") {
		t.Fatalf("whoami: %q", out)
	}
	// The next query waits for the one left behind; Ctrl-C stops waiting.
	p.send("devices\r")
	p.expect("waiting for the interrupted status to end")
	p.send("\x03")
	if out := p.expect(pr); !strings.Contains(out, "devices interrupted") {
		t.Fatalf("Ctrl-C while waiting: %q", out)
	}
	p.send("status\r")
	p.expect("waiting for the interrupted status to end")
	close(release)
	if out := p.expect(pr); !strings.Contains(out, "terminal ready; last card 476173******0010") {
		t.Fatalf("status after the wait: %q", out)
	}
	if got := r.term.callList(); strings.Count(strings.Join(got, ","), "devices") != 0 {
		t.Fatalf("calls %q: devices ran though interrupted while waiting", got)
	}
}

// TestTypeAheadWhileACommandRuns: lines typed while a command runs are
// read after it, in order.
func TestTypeAheadWhileACommandRuns(t *testing.T) {
	r := newRig(t)
	started, release := make(chan string, 1), make(chan struct{})
	r.term.hold = func(context.Context, string) error { started <- ""; <-release; return nil }
	p := r.serve()
	pr := prompt("eve01", engauth.RoleEngineer)
	r.login(p, "eve01", engauth.RoleEngineer)
	p.send("selftest\r")
	<-started
	p.send("who")
	p.send("ami\r")
	close(release)
	out := p.expect(pr)
	out += p.expect(pr)
	if !strings.Contains(out, "selftest passed") || !strings.Contains(out, "whoami\r\neve01 (engineer)") {
		t.Fatalf("type-ahead: %q", out)
	}
}

// hangUp closes the client side and returns what Serve returned.
func (p *port) hangUp() error {
	p.t.Helper()
	p.stopped = true
	_ = p.client.Close()
	err := <-p.done
	p.cancel()
	<-p.readEnd
	return err
}

// TestHangUpDuringACommand: the other side hanging up (EOF) while a
// command waits on the daemon ends the command and the session at once,
// audited as disconnected.
func TestHangUpDuringACommand(t *testing.T) {
	r, p, ended := selftestRunning(t)
	if err := p.hangUp(); !errors.Is(err, ErrIO) || !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Serve returned %v, want ErrDisconnected (an ErrIO)", err)
	}
	if err := <-ended; err == nil {
		t.Fatal("the self test's context did not end")
	}
	for _, want := range []string{"logout eve01 engineer: disconnected", "console_stop  : disconnected"} {
		if !r.hasEvent(want) {
			t.Fatalf("no %q in audit %q", want, r.events())
		}
	}
}

// TestHangUpAtThePrompt: EOF at the prompt ends the session, audited as
// disconnected; a new Serve starts logged out.
func TestHangUpAtThePrompt(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	r.login(p, "eve01", engauth.RoleEngineer)
	if err := p.hangUp(); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Serve returned %v, want ErrDisconnected", err)
	}
	if !r.hasEvent("logout eve01 engineer: disconnected") {
		t.Fatalf("audit %q", r.events())
	}
	q := r.serve()
	if out := q.cmd("whoami", "posd> "); !strings.Contains(out, "not logged in") {
		t.Fatalf("after a new plug-in: %q", out)
	}
}

// TestBreakLogsOut: on a UART nothing reads end of file when the laptop
// is unplugged; its adapter losing power holds the line low, a BREAK,
// which a raw port reads as NUL. A logged-in session is logged out at
// once (the next person at the port needs a login of their own), at the
// prompt as while a command runs.
func TestBreakLogsOut(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	r.login(p, "eve01", engauth.RoleEngineer)
	p.send("stat\x00")
	if out := p.expect("posd> "); !strings.Contains(out, "BREAK on the line (a NUL byte: the adapter unplugged or powered off, or Ctrl-@): logged out") {
		t.Fatalf("after a break: %q", out)
	}
	if !r.hasEvent("logout eve01 engineer: disconnected (break)") {
		t.Fatalf("audit %q", r.events())
	}
	if out := p.cmd("whoami", "posd> "); !strings.Contains(out, "not logged in") {
		t.Fatalf("after a break: %q", out)
	}

	started, ended := make(chan string, 1), make(chan error, 1)
	r.term.hold = blockUntilCancelled(started, ended)
	r.login(p, "eve01", engauth.RoleEngineer)
	p.send("selftest\r")
	<-started
	p.send("\x00\xff")
	if out := p.expect("posd> "); !strings.Contains(out, "selftest interrupted") || !strings.Contains(out, "BREAK on the line (a NUL byte: the adapter unplugged or powered off, or Ctrl-@): logged out") {
		t.Fatalf("a break during a command: %q", out)
	}
	<-ended
	if out := p.cmd("whoami", "posd> "); !strings.Contains(out, "not logged in") {
		t.Fatalf("after a break: %q", out)
	}
}

// hungUpPort is a port whose other side is gone: every Read is end of
// file, after the bytes in in (if any).
type hungUpPort struct {
	in  *strings.Reader
	out strings.Builder
}

func (h *hungUpPort) Read(p []byte) (int, error)  { return h.in.Read(p) }
func (h *hungUpPort) Write(p []byte) (int, error) { return h.out.Write(p) }

// TestHangUpsDoNotFloodTheAudit: a port that hangs up at once every time
// it is served again (a pseudo-terminal nobody holds, a USB adapter
// pulled out; the daemon serves it again every minute at most) writes
// one console_start and one console_stop, not a pair a minute that would
// push every real entry out of the audit log in a week. A Serve that
// reads something is audited again.
func TestHangUpsDoNotFloodTheAudit(t *testing.T) {
	r := newRig(t)
	port := &hungUpPort{in: strings.NewReader("")}
	for range 5 {
		if err := r.c.Serve(context.Background(), port); !errors.Is(err, ErrDisconnected) {
			t.Fatalf("Serve returned %v", err)
		}
	}
	count := func() (starts, stops int) {
		for _, e := range r.events() {
			starts += strings.Count(e, "console_start")
			stops += strings.Count(e, "console_stop")
		}
		return starts, stops
	}
	if starts, stops := count(); starts != 1 || stops != 1 {
		t.Fatalf("%d console_start and %d console_stop for 5 hang-ups: %q", starts, stops, r.events())
	}
	port.in = strings.NewReader("whoami\r")
	if err := r.c.Serve(context.Background(), port); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Serve returned %v", err)
	}
	if starts, stops := count(); starts != 2 || stops != 2 {
		t.Fatalf("%d console_start and %d console_stop after a Serve that read a line: %q", starts, stops, r.events())
	}
	if !strings.Contains(port.out.String(), "not logged in") {
		t.Fatalf("the line was not read: %q", port.out.String())
	}
}

// signalHandler is a slog handler that signals each message on ch.
type signalHandler struct{ ch chan<- string }

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) Handle(_ context.Context, rec slog.Record) error {
	select {
	case h.ch <- rec.Message:
	default:
	}
	return nil
}
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h signalHandler) WithGroup(string) slog.Handler      { return h }

// TestServeWaitsForAQueryLeftBehind: Serve does not return while a query
// it left behind after Ctrl-C still runs in the daemon (which closes its
// devices and database once Serve returned).
func TestServeWaitsForAQueryLeftBehind(t *testing.T) {
	r := newRig(t)
	logged := make(chan string, 16)
	c, err := New(Opts{Terminal: r.term, Verifier: &engauth.Verifier{Key: r.pub, Terminal: tid, Clock: r.clk},
		TerminalID: tid, DB: r.db, Clock: r.clk, Rand: r.rnd, Logger: slog.New(signalHandler{logged})})
	if err != nil {
		t.Fatal(err)
	}
	r.c = c
	started, release := make(chan string, 1), make(chan struct{})
	var ended atomic.Bool
	r.term.hold = func(context.Context, string) error {
		started <- ""
		<-release
		ended.Store(true)
		return nil
	}
	p := r.serveOn(c)
	r.login(p, "eve01", engauth.RoleEngineer)
	p.send("status\r")
	<-started
	p.send("\x03")
	p.expect("status interrupted")
	p.stopped = true
	p.cancel()
	deadline := time.After(30 * time.Second) // turns a hang into a failure
	for waiting := false; !waiting; {
		select {
		case msg := <-logged:
			waiting = strings.Contains(msg, "waiting for an interrupted query")
		case err := <-p.done:
			t.Fatalf("Serve returned (%v) while the status query still ran", err)
		case <-deadline:
			t.Fatal("Serve did not say it waits for the interrupted query")
		}
	}
	close(release)
	<-p.done
	if !ended.Load() {
		t.Fatal("Serve returned before the query")
	}
	_ = p.client.Close()
	<-p.readEnd
}

// readConn reads c one byte at a time until want has come.
func readConn(t *testing.T, c net.Conn, want string) string {
	t.Helper()
	var got []byte
	b := make([]byte, 1)
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second)) // turns a hang into a failure
	for !bytes.HasSuffix(got, []byte(want)) {
		if _, err := c.Read(b); err != nil {
			t.Fatalf("waiting for %q: %v after %q", want, err, got)
		}
		got = append(got, b[0])
	}
	return string(got)
}

// TestOutputNotReadLogsOut: output that nobody reads for the idle
// timeout (the terminal program gone, the pseudo-terminal's slave still
// held open: no hang-up to see) logs the session out, so that whoever
// opens the port next, when the output drains, does not inherit it.
func TestOutputNotReadLogsOut(t *testing.T) {
	r := newRig(t)
	srv, cli := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.c.Serve(ctx, srv) }()
	defer func() {
		cancel()
		<-done
		_ = cli.Close()
	}()
	readConn(t, cli, "posd> ")
	if _, err := cli.Write([]byte("login\r")); err != nil {
		t.Fatal(err)
	}
	out := readConn(t, cli, "token: ")
	_, rest, _ := strings.Cut(out, "challenge: ")
	f := strings.Fields(rest)
	ch := engauth.Challenge{Terminal: f[1]}
	if _, err := hex.Decode(ch.Nonce[:], []byte(f[2])); err != nil {
		t.Fatal(err)
	}
	tok := r.token("eve01", engauth.RoleEngineer, ch, nil)
	go func() { _, _ = cli.Write([]byte(tok + "\r")) }()
	readConn(t, cli, prompt("eve01", engauth.RoleEngineer))
	go func() { _, _ = cli.Write([]byte("help\r")) }()
	readConn(t, cli, "help\r\n")
	readConn(t, cli, "commands") // the help text is being written
	r.clk.Advance(6 * time.Minute)
	out = readConn(t, cli, "> ")
	if !strings.Contains(out, "logged out") || strings.HasSuffix(out, prompt("eve01", engauth.RoleEngineer)) {
		t.Fatalf("after output unread for 6 minutes: %q", out)
	}
	if !r.hasEvent("logout eve01 engineer: disconnected (output not read)") {
		t.Fatalf("audit %q", r.events())
	}
}

// TestAbortsAreAudited: Ctrl-C at a command's own prompt is an outcome
// of that command, audited as the factory reset's cancellation already
// was.
func TestAbortsAreAudited(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	pe := prompt("eve01", engauth.RoleEngineer)
	r.login(p, "eve01", engauth.RoleEngineer)
	p.send("restart\r")
	p.expect("type RESTART to confirm: ")
	p.send("RES\x03")
	p.expect("restart cancelled")
	p.expect(pe)
	p.logout()
	pc := prompt("cara1", engauth.RoleCustodian)
	r.login(p, "cara1", engauth.RoleCustodian)
	p.send("key load\r")
	p.expect("key block: ")
	p.send("\x03")
	p.expect("key load abandoned")
	p.expect(pc)
	for _, want := range []string{"restart eve01 engineer: cancelled", "key_load cara1 custodian: abandoned"} {
		if !r.hasEvent(want) {
			t.Errorf("no %q in audit %q", want, r.events())
		}
	}
}

// TestTypeAheadBounded: a flood typed while a command runs is dropped
// whole, said once; the console reads on.
func TestTypeAheadBounded(t *testing.T) {
	r := newRig(t)
	started, release := make(chan string, 1), make(chan struct{})
	r.term.hold = func(context.Context, string) error { started <- ""; <-release; return nil }
	p := r.serve()
	pr := prompt("eve01", engauth.RoleEngineer)
	r.login(p, "eve01", engauth.RoleEngineer)
	p.send("selftest\r")
	<-started
	p.send(strings.Repeat("A", 3000))
	p.send(strings.Repeat("B", 3000) + "\rwhoami\r")
	// A write the reader takes only once it handed the session every
	// chunk before it: the whole flood reached the session while the
	// command ran. (A backspace: harmless wherever it lands.)
	p.send("\x7f")
	close(release)
	out := p.expect(pr)
	if !strings.Contains(out, "selftest passed") || !strings.Contains(out, "more than 4096 bytes: ignored") {
		t.Fatalf("after a flood: %q", out)
	}
	if out := p.cmd("whoami", pr); strings.Contains(out, "A") || strings.Contains(out, "B") || !strings.Contains(out, "eve01 (engineer)") {
		t.Fatalf("after a flood: %q", out)
	}
}

// A device that went away (a USB-serial adapter unplugged: ENXIO, ENODEV)
// is a hang-up like EOF and EIO: the session ends disconnected and the
// port is served again soon; other errors are not.
func TestHungUpErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{io.EOF, true}, {syscall.EIO, true}, {syscall.EPIPE, true}, {io.ErrClosedPipe, true},
		{&os.PathError{Op: "read", Path: "/dev/ttyUSB0", Err: syscall.ENXIO}, true},
		{&os.PathError{Op: "read", Path: "/dev/ttyUSB0", Err: syscall.ENODEV}, true},
		{syscall.EINVAL, false}, {errors.New("parity"), false},
	} {
		if got := hungUp(c.err); got != c.want {
			t.Errorf("hungUp(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
