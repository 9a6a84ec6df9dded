package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/board/sim"
	"posd/crypto/dukpt"
	"posd/internal/testhex"
	"posd/terminal/pin"
	"posd/terminal/wiresec"
)

// syncBuffer is a log sink the board's goroutines may write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSimKeysNeedsTheSimBoard(t *testing.T) {
	_, h := newTestAPI(t)
	code, _, body := do(h, call{"POST", "/v1/sim/keys", `{"keys":"1234E"}`, nil})
	if code != 404 || !strings.Contains(errorOf(t, body), "not the simulated board") {
		t.Fatalf("%d %s", code, body)
	}
}

// POST /v1/sim/keys types on the sim board's PIN pad, through the real
// keypad driver, into a PIN entry reading the daemon's PIN pad: the host
// opens the AES DUKPT PIN block (published test BDK) to the typed PIN.
// Bad key strings are 400 and no answer or log line repeats the keys.
func TestSimKeysReachPINEntry(t *testing.T) {
	a, h := newTestAPI(t)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // its digits could spell the PIN by chance
			}
			return a
		}}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sb, err := sim.Open(ctx, sim.Opts{DataDir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Halt()
	a.d.Sim, a.d.Board, a.d.Log = sb, sb.Board, log

	const secret = "1357"
	for _, c := range []struct{ body, want string }{
		{`{"keys":"` + secret + `a"}`, "character 5 is not a key"},
		{`{"keys":""}`, "empty"},
		{`{"keys":"` + strings.Repeat("1", sim.MaxKeys+1) + `"}`, "at most 64"},
		{`{"keys":` + secret + `}`, `want {"keys":"1234E"}`},
		{`{"keys" ` + secret + `}`, `want {"keys":"1234E"}`},
		{`{"keys":"` + secret + `E","pin":"` + secret + `"}`, `want {"keys":"1234E"}`},
		{`{"keys":"` + secret + `E"} ` + secret, `want {"keys":"1234E"}`},
	} {
		code, _, body := do(h, call{"POST", "/v1/sim/keys", c.body, nil})
		msg := errorOf(t, body)
		if code != 400 || !strings.Contains(msg, c.want) || strings.Contains(msg, secret) || strings.Contains(msg, "111") {
			t.Errorf("%s: %d %s", c.body, code, body)
		}
	}

	// The terminal's session for the first KSN of the test key.
	bdk := testhex.Must("FEDCBA9876543210F1F1F1F1F1F1F1F1")
	iksn := testhex.Must("123456789012345600000000")
	ik, err := dukpt.AESDeriveIK(bdk, iksn)
	if err != nil {
		t.Fatal(err)
	}
	o, err := dukpt.NewAESOriginator(ik, iksn)
	if err != nil {
		t.Fatal(err)
	}
	ksn, key, err := o.Next()
	if err != nil {
		t.Fatal(err)
	}
	sess, err := wiresec.ForTerminal(wiresec.ModeAES, ksn, key)
	if err != nil {
		t.Fatal(err)
	}
	const pan = "4761739001010010"
	e, err := pin.New(&pin.Opts{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	prompted := make(chan struct{})
	type result struct {
		blk []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		blk, err := e.Read(ctx, a.d.PINPad(), func(p pin.Progress) {
			if p.State == pin.StateStart {
				close(prompted)
			}
		}, pin.OnlinePIN(sess, pan))
		done <- result{blk, err}
	}()
	<-prompted
	code, _, body := do(h, call{"POST", "/v1/sim/keys", `{"keys":"` + secret + `E"}`, nil})
	var typed struct{ Typed int }
	if code != 200 || json.Unmarshal([]byte(body), &typed) != nil || typed.Typed != 5 || strings.Contains(body, secret) {
		t.Fatalf("typing: %d %s", code, body)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	host, err := wiresec.ForHost(wiresec.ModeAES, bdk, ksn)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := host.DecryptPIN(res.blk, pan); err != nil || got != secret {
		t.Fatalf("the host does not find the typed PIN: %v", err)
	}
	// The PIN as a number of its own: random temporary paths in the log
	// ("/tmp/posd-sim-camera-2845411357") may hold its digits.
	if out := logs.String(); regexp.MustCompile(`(^|\D)`+secret+`(\D|$)`).MatchString(out) || !strings.Contains(out, "PIN entry ended") {
		t.Fatalf("log:\n%s", out)
	}

	// A halted PIN pad: 503.
	if err := sb.Devices.Keypad.Halt(); err != nil {
		t.Fatal(err)
	}
	if code, _, body := do(h, call{"POST", "/v1/sim/keys", `{"keys":"1"}`, nil}); code != 503 || !strings.Contains(errorOf(t, body), "PIN pad unavailable") {
		t.Fatalf("halted PIN pad: %d %s", code, body)
	}
}
