package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestSDNotify(t *testing.T) {
	// Without NOTIFY_SOCKET nothing is sent and nothing fails.
	t.Setenv("NOTIFY_SOCKET", "")
	if err := sdNotify("READY=1"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "notify.sock")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	if err := sdNotify("READY=1"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	l.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := l.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "")
	if watchdogInterval() != 0 {
		t.Fatal("watchdog on without WATCHDOG_USEC")
	}
	t.Setenv("WATCHDOG_USEC", "30000000")
	if got := watchdogInterval(); got != 15*time.Second {
		t.Fatalf("interval %s", got)
	}
}

func TestCloseWithinGivesUp(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := closeWithin(ctx, func() error { <-block; return nil }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("closeWithin: %v", err)
	}
	want := errors.New("closed with an error")
	if err := closeWithin(context.Background(), func() error { return want }, slog.New(slog.DiscardHandler)); err != want {
		t.Fatalf("closeWithin error: %v", err)
	}
}
