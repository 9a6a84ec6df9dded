package ptysim

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

func TestRawBothWays(t *testing.T) {
	p, err := Open()
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	defer p.Close()
	f, err := os.OpenFile(p.SlavePath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Bytes a cooked tty would mangle: CR, ^C, ^D, 0xFF.
	msg := []byte{0x60, 0x00, '\r', 0x03, 0x04, 0xFF, '\n'}
	if _, err := p.Master.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	f.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(f, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("slave read %x, %v", got, err)
	}
	if _, err := f.Write(msg); err != nil {
		t.Fatal(err)
	}
	p.Master.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(p.Master, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("master read %x, %v", got, err)
	}
}

func TestCloseInterruptsRead(t *testing.T) {
	p, err := Open()
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := p.Master.Read(make([]byte, 8))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	p.Close()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("read ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not interrupt Read")
	}
}
