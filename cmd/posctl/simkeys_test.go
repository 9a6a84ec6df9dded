package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"posd/board/sim"
	"posd/internal/api"
	"posd/internal/config"
	"posd/internal/daemon"
	"posd/terminal/pin"
)

// posctl sim keys types, through posd's local API and the sim board's
// keypad simulator and driver, into a PIN entry reading the daemon's PIN
// pad: the PIN it hands over is the one typed. Another run cancels.
func TestSimKeysReachPINEntry(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir, cfg.API.Listen = dir, "127.0.0.1:0"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sb, err := sim.Open(ctx, sim.Opts{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Halt()
	d := &daemon.Daemon{Config: cfg, Board: sb.Board, Sim: sb, Log: slog.New(slog.DiscardHandler)}
	srv, err := api.Start(d)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background(), nil)
	e, err := pin.New(nil)
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		keys, pin string
		err       error
	}{{"2580E", "2580", nil}, {"9X", "", pin.ErrCancelled}} {
		type cliResult struct {
			code int
			out  string
		}
		typed := make(chan cliResult, 1)
		var got string
		_, err := e.Read(ctx, d.PINPad(), func(p pin.Progress) {
			if p.State == pin.StateStart {
				// The customer types while the entry reads.
				go func() {
					out, errb, code := runCLI(t, "--data-dir", dir, "sim", "keys", c.keys)
					typed <- cliResult{code, out + errb}
				}()
			}
		}, func(digits []byte) ([]byte, error) {
			got = string(digits)
			return nil, nil
		})
		r := <-typed
		if r.code != 0 || !strings.Contains(r.out, `"typed": `) {
			t.Fatalf("posctl sim keys %s: exit %d, %s", c.keys, r.code, r.out)
		}
		if err != c.err || got != c.pin {
			t.Fatalf("posctl sim keys %s: entry ended with %v, PIN as typed: %v", c.keys, err, got == c.pin)
		}
	}

	// A key string posd refuses: exit 1, the reason on stderr.
	_, errb, code := runCLI(t, "--data-dir", dir, "sim", "keys", "12#4E")
	if code != 1 || !strings.Contains(errb, "character 3 is not a key") {
		t.Fatalf("bad key string: exit %d, %s", code, errb)
	}
}
