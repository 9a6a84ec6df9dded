package board

import (
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"posd/conn/clock"
	"posd/drivers/ptysim"
)

const testReadTimeout = 100 * time.Millisecond

// errSpun ends a fake port's reads once a Read has looped on it far more
// often than any working wrapper would: the test then fails instead of
// spinning for ever.
var errSpun = errors.New("test: Read kept looping on end of file")

const spinLimit = 1000

// eofPort answers each read with end of file, as tarm/serial reports a
// read that returned no byte. Each read first lets wait pass on the fake
// clock: testReadTimeout for a read timeout, nothing for a line that hung
// up (a hung-up tty answers at once). After bytesAfter reads (0: never)
// it answers "x" instead.
type eofPort struct {
	clk        *clock.Fake
	wait       func(read int) time.Duration
	bytesAfter int
	err        error // when not nil: answered instead of end of file
	reads      int
}

func (p *eofPort) Read(b []byte) (int, error) {
	p.reads++
	if p.reads > spinLimit {
		return 0, errSpun
	}
	p.clk.Advance(p.wait(p.reads))
	if p.bytesAfter > 0 && p.reads > p.bytesAfter {
		return copy(b, "x"), nil
	}
	if p.err != nil {
		return 0, p.err
	}
	return 0, io.EOF
}

func (p *eofPort) Write(b []byte) (int, error) { return len(b), nil }
func (p *eofPort) Close() error                { return nil }

func newTestConsolePort(p *eofPort) *consolePort {
	return &consolePort{port: p, clock: p.clk, timeout: testReadTimeout, where: "/dev/ttyUSB0"}
}

// A console adapter unplugged (or a line that hung up) makes every read
// of its tty end at once with no byte: the port must say so, not loop on
// it at full CPU. The console takes EIO for a hang-up.
func TestConsolePortHangUp(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	p := &eofPort{clk: clk, wait: func(int) time.Duration { return 0 }}
	n, err := newTestConsolePort(p).Read(make([]byte, 16))
	if errors.Is(err, errSpun) {
		t.Fatalf("Read looped %d times on a port that hung up", p.reads-1)
	}
	if n != 0 || !errors.Is(err, ErrHungUp) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Read = %d, %v; want a hang-up (EIO)", n, err)
	}
	if p.reads > hangUpReads {
		t.Errorf("%d reads before the hang-up was seen; want %d", p.reads, hangUpReads)
	}
}

// Read timeouts (end of file once the timeout has passed) are waited
// through, however many, until bytes come.
func TestConsolePortWaitsThroughTimeouts(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	p := &eofPort{clk: clk, wait: func(int) time.Duration { return testReadTimeout }, bytesAfter: 50}
	b := make([]byte, 16)
	n, err := newTestConsolePort(p).Read(b)
	if err != nil || string(b[:n]) != "x" {
		t.Fatalf("Read = %q, %v after %d reads; want \"x\"", b[:n], err, p.reads)
	}
}

// An early end of file now and then, between real timeouts, is not a
// hang-up: only hangUpReads of them in a row are.
func TestConsolePortEarlyEOFNotInARow(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	wait := func(read int) time.Duration {
		if read%hangUpReads == 0 {
			return testReadTimeout
		}
		return 0
	}
	p := &eofPort{clk: clk, wait: wait, bytesAfter: 10 * hangUpReads}
	b := make([]byte, 16)
	n, err := newTestConsolePort(p).Read(b)
	if err != nil || string(b[:n]) != "x" {
		t.Fatalf("Read = %q, %v after %d reads; want \"x\"", b[:n], err, p.reads)
	}
}

// Errors of a device that went away pass straight through, on the first
// read.
func TestConsolePortDeviceErrors(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENXIO, syscall.ENODEV, syscall.EIO} {
		clk := clock.NewFake(time.Unix(1e9, 0))
		perr := &os.PathError{Op: "read", Path: "/dev/ttyUSB0", Err: errno}
		p := &eofPort{clk: clk, wait: func(int) time.Duration { return 0 }, err: perr}
		n, err := newTestConsolePort(p).Read(make([]byte, 16))
		if n != 0 || !errors.Is(err, errno) || p.reads != 1 {
			t.Errorf("%v: Read = %d, %v after %d reads", errno, n, err, p.reads)
		}
	}
}

// A port closed while a read waits ends that read with a closed pipe,
// which the console takes for the end of the line.
func TestConsolePortClosed(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	cp := &consolePort{clock: clk, timeout: testReadTimeout}
	p := &eofPort{clk: clk, wait: func(read int) time.Duration {
		if read == 3 {
			cp.Close()
		}
		return testReadTimeout
	}}
	cp.port = p
	if _, err := cp.Read(make([]byte, 16)); !errors.Is(err, io.ErrClosedPipe) || p.reads != 3 {
		t.Fatalf("Read = %v after %d reads; want a closed pipe after 3", err, p.reads)
	}
}

// countingPort counts reads of a real port and ends them with errSpun
// once a Read has looped on it far too often.
type countingPort struct {
	io.ReadWriteCloser
	reads int
}

func (p *countingPort) Read(b []byte) (int, error) {
	p.reads++
	if p.reads > spinLimit {
		return 0, errSpun
	}
	return p.ReadWriteCloser.Read(b)
}

// A real tty that hangs up (here the slave of a pseudo-terminal whose
// master closed, as tarm/serial opens it) ends its reads at once with
// io.EOF, as a USB-serial adapter's tty does once unplugged: the console
// port reports the hang-up.
func TestConsolePortPTYHangUp(t *testing.T) {
	pt, err := ptysim.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	port, err := OpenSerialTimeout(Serial{Port: pt.SlavePath, Baud: 115200}, consoleReadTimeout)
	if err != nil {
		pt.Close()
		t.Fatal(err)
	}
	defer port.Close()
	p := &countingPort{ReadWriteCloser: port}
	// The fake clock stands still: every end of file comes "at once".
	cp := &consolePort{port: p, clock: clock.NewFake(time.Unix(1e9, 0)), timeout: consoleReadTimeout, where: pt.SlavePath}
	pt.Close()
	n, err := cp.Read(make([]byte, 16))
	if errors.Is(err, errSpun) {
		t.Fatalf("Read looped %d times on a tty that hung up", p.reads-1)
	}
	if n != 0 || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Read = %d, %v; want a hang-up (EIO)", n, err)
	}
}

// After a hang-up the console serves the port again: the next Read opens
// the device anew (an adapter plugged back in comes back under its name
// once the old file is closed), and the dead one is closed at once.
func TestConsolePortReopens(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	dead := &closeCounter{eofPort: eofPort{clk: clk, wait: func(int) time.Duration { return 0 }}}
	fresh := &closeCounter{eofPort: eofPort{clk: clk, wait: func(int) time.Duration { return testReadTimeout }, bytesAfter: 2}}
	opens := 0
	var openErr error
	cp := newTestConsolePort(&dead.eofPort)
	cp.port = dead
	cp.open = func() (io.ReadWriteCloser, error) {
		opens++
		if openErr != nil {
			return nil, openErr
		}
		return fresh, nil
	}
	b := make([]byte, 16)
	if _, err := cp.Read(b); !errors.Is(err, ErrHungUp) {
		t.Fatalf("first Read: %v; want a hang-up", err)
	}
	if dead.closes != 1 {
		t.Fatalf("the hung-up port was closed %d times; want 1", dead.closes)
	}

	// Unplugged: the device is missing, which is still a hang-up.
	openErr = &os.PathError{Op: "open", Path: "/dev/ttyUSB0", Err: syscall.ENOENT}
	if _, err := cp.Read(b); !errors.Is(err, ErrHungUp) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Read with the device missing: %v", err)
	}
	if _, err := cp.Write([]byte("login: ")); !errors.Is(err, ErrHungUp) {
		t.Fatalf("Write with the device missing: %v", err)
	}

	// Plugged back in.
	openErr = nil
	n, err := cp.Read(b)
	if err != nil || string(b[:n]) != "x" || opens != 3 {
		t.Fatalf("Read = %q, %v after %d opens; want \"x\" after 3", b[:n], err, opens)
	}
	if err := cp.Close(); err != nil || fresh.closes != 1 {
		t.Fatalf("Close: %v, the reopened port closed %d times", err, fresh.closes)
	}
	if _, err := cp.Read(b); !errors.Is(err, io.ErrClosedPipe) || opens != 3 {
		t.Fatalf("Read after Close: %v after %d opens; want a closed pipe, no open", err, opens)
	}
}

type closeCounter struct {
	eofPort
	closes int
}

func (p *closeCounter) Close() error { p.closes++; return nil }

// writeErrPort is an eofPort whose writes fail with err.
type writeErrPort struct {
	closeCounter
	werr error
}

func (p *writeErrPort) Write([]byte) (int, error) { return 0, p.werr }

// A device that went away may fail reads or writes with ENXIO, ENODEV or
// EIO instead of ending them with no byte: the error passes through, and
// the port is closed and opened again next time as after a hang-up.
func TestConsolePortReopensAfterDeviceError(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENXIO, syscall.ENODEV, syscall.EIO} {
		for _, op := range []string{"read", "write"} {
			clk := clock.NewFake(time.Unix(1e9, 0))
			perr := &os.PathError{Op: op, Path: "/dev/ttyUSB0", Err: errno}
			dead := &writeErrPort{closeCounter: closeCounter{eofPort: eofPort{clk: clk, wait: func(int) time.Duration { return 0 }}}}
			if op == "read" {
				dead.err = perr
			} else {
				dead.werr = perr
			}
			fresh := &closeCounter{eofPort: eofPort{clk: clk, wait: func(int) time.Duration { return testReadTimeout }, bytesAfter: 1}}
			opens := 0
			cp := &consolePort{port: dead, clock: clk, timeout: testReadTimeout, where: "/dev/ttyUSB0",
				open: func() (io.ReadWriteCloser, error) { opens++; return fresh, nil }}
			b := make([]byte, 16)
			var err error
			if op == "read" {
				_, err = cp.Read(b)
			} else {
				_, err = cp.Write([]byte("$ "))
			}
			if !errors.Is(err, errno) || dead.closes != 1 {
				t.Errorf("%s %v: got %v, the port closed %d times; want the error, closed once", op, errno, err, dead.closes)
				continue
			}
			if n, err := cp.Read(b); err != nil || string(b[:n]) != "x" || opens != 1 {
				t.Errorf("%s %v: next Read = %q, %v after %d opens; want \"x\" after 1", op, errno, b[:n], err, opens)
			}
		}
	}
}

// The console as AddConsole opens it, on a real tty (a pseudo-terminal's
// slave): bytes pass both ways; when the line hangs up the read says so.
func TestAddConsolePTY(t *testing.T) {
	pt, err := ptysim.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	defer pt.Close()
	b := New("test", nil)
	// Standing still, the fake clock makes a read timeout look like a
	// hang-up: each Read below has bytes waiting or follows the hang-up.
	b.Clock = clock.NewFake(time.Unix(1e9, 0))
	b.AddConsole(Serial{Port: pt.SlavePath, Baud: 115200})
	defer b.Halt()
	con := b.Devices.Console
	if con == nil {
		t.Fatalf("no console: %+v", b.Status())
	}
	if _, err := pt.Master.Write([]byte("status\r")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 7)
	if _, err := io.ReadFull(con.RW, got); err != nil || string(got) != "status\r" {
		t.Fatalf("console read %q, %v", got, err)
	}
	if _, err := con.RW.Write([]byte("ok\r\n")); err != nil {
		t.Fatal(err)
	}
	pt.Master.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(pt.Master, got[:4]); err != nil || string(got[:4]) != "ok\r\n" {
		t.Fatalf("master read %q, %v", got[:4], err)
	}

	pt.Close()
	if _, err := con.RW.Read(got); !errors.Is(err, ErrHungUp) {
		t.Fatalf("Read after the hang-up: %v", err)
	}
	// Not read again: the freed /dev/pts name may already be another
	// pseudo-terminal's, which opening it again would take bytes from.
}

// droppingPort is closed, as a hang-up seen by a concurrent Read closes
// it, while a write on it is under way.
type droppingPort struct {
	closeCounter
	cp *consolePort
}

func (p *droppingPort) Write([]byte) (int, error) {
	p.cp.hungUp(p)
	return 0, &os.PathError{Op: "write", Path: "/dev/ttyUSB0", Err: os.ErrClosed}
}

// A write whose port a hang-up closed meanwhile reports the hang-up (the
// console audits a disconnection), not a closed file (a failed port).
func TestConsolePortWriteDuringHangUp(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	p := &droppingPort{closeCounter: closeCounter{eofPort: eofPort{clk: clk, wait: func(int) time.Duration { return 0 }}}}
	cp := &consolePort{port: p, clock: clk, timeout: testReadTimeout, where: "/dev/ttyUSB0"}
	p.cp = cp
	if _, err := cp.Write([]byte("$ ")); !errors.Is(err, ErrHungUp) || p.closes != 1 {
		t.Fatalf("Write = %v, port closed %d times; want a hang-up, closed once", err, p.closes)
	}
}
