package sim

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestScanner: a code shown to the simulated scanner reaches the real
// driver over the pseudo-terminal; the self-test's symbol never reaches a
// reader, even one waiting while the self-test runs.
func TestScanner(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var logs lockedBuffer
	b, err := Open(ctx, Opts{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Halt()
	d := b.Devices.Scanner
	if d == nil {
		t.Fatalf("no scanner: %+v", b.Status())
	}
	const code = "284512345678901234"
	type result struct {
		text, sym string
		err       error
	}
	got := make(chan result, 8)
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		for {
			sc, err := d.Read(rctx)
			if rctx.Err() != nil {
				return
			}
			got <- result{sc.Text, sc.Symbology, err}
		}
	}()
	for range 3 {
		for _, s := range b.SelfTest(ctx) {
			if s.Name == "scanner" && (!s.OK || !strings.Contains(s.Detail, "read back")) {
				t.Fatalf("scanner self-test: %+v", s)
			}
		}
	}
	if err := b.ShowCode(code); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.err != nil || r.text != code || r.sym != "]Q1" {
			t.Fatalf("read %q %q %v, want the shown code", r.text, r.sym, r.err)
		}
	case <-ctx.Done():
		t.Fatal("shown code not read")
	}
	stop()
	if strings.Contains(logs.String(), code) {
		t.Fatal("a payment code reached the logs")
	}
}
