package pn532

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"time"
)

// chipLine is a scripted HSU line: the chip answers each command frame the
// host writes, except the first, whose ACK and response it sends late —
// just as the host's next frame goes out.
type chipLine struct {
	mu       sync.Mutex
	in       []byte
	deadline time.Time
	writes   int
	version  byte
	staleOut bool
}

func (l *chipLine) SetReadDeadline(t time.Time) error {
	l.mu.Lock()
	l.deadline = t
	l.mu.Unlock()
	return nil
}

func (l *chipLine) Read(b []byte) (int, error) {
	for {
		l.mu.Lock()
		if len(l.in) > 0 {
			n := copy(b, l.in)
			l.in = l.in[n:]
			l.mu.Unlock()
			return n, nil
		}
		dl := l.deadline
		l.mu.Unlock()
		if !dl.IsZero() && !time.Now().Before(dl) {
			return 0, os.ErrDeadlineExceeded
		}
		time.Sleep(time.Millisecond)
	}
}

func (l *chipLine) answer(ver byte) []byte {
	out := AppendACK(nil)
	out, _ = AppendFrame(out, TFIChip, []byte{CmdGetFirmwareVersion + 1, 0x32, ver, 0x06, 0x07})
	return out
}

func (l *chipLine) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	isACK := bytes.HasSuffix(b, ackFrame[:]) && len(b) <= len(HSUWakeUp)+len(ackFrame)
	switch {
	case l.writes == 1:
		// The first command: the chip is slow, nothing yet.
	case !l.staleOut:
		// Whatever the host sends next, the late ACK and response of the
		// first command (version 1) are on the line first.
		l.staleOut = true
		l.in = append(l.in, l.answer(1)...)
		if !isACK {
			l.version++
			l.in = append(l.in, l.answer(l.version)...)
		}
	case !isACK:
		l.version++
		l.in = append(l.in, l.answer(l.version)...)
	}
	return len(b), nil
}

// TestLateACKIsNotTakenForTheResend: the chip acknowledges the first
// command after the ACK timeout. The driver must not read that late ACK
// and response as the answer to its resend, nor leave them for the next
// command (two commands with the same code cannot be told apart).
func TestLateACKIsNotTakenForTheResend(t *testing.T) {
	line := &chipLine{version: 1}
	o := DefaultOpts
	o.SkipInit = true
	o.ACKTimeout = 20 * time.Millisecond
	o.ResponseTimeout = time.Second
	d, err := New(NewHSU(line), &o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Halt()
	ctx := context.Background()
	fw, err := d.FirmwareVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fw.Ver != 2 {
		t.Fatalf("first command answered with version %d, want the resend's 2 (1 is the stale answer)", fw.Ver)
	}
	fw, err = d.FirmwareVersion(ctx)
	if err != nil || fw.Ver != 3 {
		t.Fatalf("next command: version %d, %v; want 3", fw.Ver, err)
	}
}
