package acquirer_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/acquirer"
	"posd/terminal/host"
	"posd/terminal/wiresec"
)

// TestEchoToTerminal: the simulator sends its echo test to a terminal
// over the connection the terminal opened (ascii87 0800 DE70 301, cup
// 0820 60.3 301) and the terminal (host.Client) answers it "00", also
// while a purchase of its own waits for a slow answer, which it still
// gets. Both lines are in the journal.
func TestEchoToTerminal(t *testing.T) {
	for _, d := range host.DialectNames() {
		t.Run(d, func(t *testing.T) {
			r := startServer(t, d, wiresec.ModeAES, nil, withDelays(testLateDelay, time.Second))
			c, err := host.New(&host.Opts{
				Addr: r.addr, Dialect: d, ResponseTimeout: 30 * time.Second,
				TerminalID: "T0000001", MerchantID: "M00000000000001",
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if _, err := r.srv.Echo(ctx, "T0000001"); !errors.Is(err, acquirer.ErrNoTerminal) {
				t.Fatalf("echo before the terminal connected: %v", err)
			}
			if err := c.SignOn(ctx, 1); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"ascii87": "0810", "cup": "0830"}[d]
			resp, err := r.srv.Echo(ctx, "T0000001")
			if err != nil || resp.ResponseCode != "00" || resp.MTI != want || resp.TerminalID != "T0000001" || resp.Kind != host.KindEcho {
				t.Fatalf("echo to an idle terminal: %+v, %v", resp, err)
			}

			// A slow purchase (amount ending in 98) in flight.
			tm := newTerminal(t, wiresec.ModeAES)
			done := make(chan error, 1)
			go func() {
				res, err := c.Purchase(ctx, purchase(2, 1098), tm.session(t))
				if err == nil && !res.Approved() {
					err = errors.New("declined " + res.ResponseCode)
				}
				done <- err
			}()
			for !hasLine(t, r, "in", "purchase") {
				select {
				case err := <-done:
					t.Fatalf("purchase ended before the echo: %v", err)
				case <-ctx.Done():
					t.Fatal("the purchase never reached the simulator")
				case <-time.After(5 * time.Millisecond):
				}
			}
			resp2, err := r.srv.Echo(ctx, "T0000001")
			if err != nil || resp2.ResponseCode != "00" || resp2.STAN == resp.STAN {
				t.Fatalf("echo with a purchase in flight: %+v (first %d), %v", resp2, resp.STAN, err)
			}
			if err := <-done; err != nil {
				t.Fatalf("purchase in flight during the echo: %v", err)
			}
			n := 0
			for _, e := range r.journal.entries(t) {
				if e.Kind == string(host.KindEcho) && e.TerminalID == "T0000001" && (e.Direction == "out" && e.ResponseCode == "" || e.Direction == "in" && e.ResponseCode == "00") {
					n++
				}
			}
			if n != 4 { // two echoes of the host: each its "out" and "in" line
				t.Errorf("%d journal lines of the host's echoes, want 4:\n%s", n, r.journal.String())
			}
		})
	}
}

func hasLine(t *testing.T, r *rig, dir, kind string) bool {
	for _, e := range r.journal.entries(t) {
		if e.Direction == dir && e.Kind == kind {
			return true
		}
	}
	return false
}

// TestControlEcho: POST /v1/echo {"terminal": TID} sends the echo test
// and shows the terminal's answer; an unknown terminal is 404.
func TestControlEcho(t *testing.T) {
	r := startServer(t, "ascii87", wiresec.ModeAES, nil)
	c := newClient(t, "ascii87", r.addr, nil)
	if err := c.SignOn(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	ctl := startControl(t, r)
	if st, body := ctl.do(http.MethodPost, "/v1/echo", "application/json", `{"terminal":"T0000002"}`); st != http.StatusNotFound {
		t.Fatalf("echo to an unknown terminal: %d %v", st, body)
	}
	st, body := ctl.do(http.MethodPost, "/v1/echo", "application/json", `{"terminal":"T0000001"}`)
	if st != http.StatusOK || body["response_code"] != "00" || body["mti"] != "0810" || body["terminal"] != "T0000001" {
		t.Fatalf("echo: %d %v", st, body)
	}
	if st, _ := ctl.do(http.MethodPost, "/v1/echo", "application/json", `{"terminal":"T0000001","x":1}`); st != http.StatusBadRequest {
		t.Fatalf("unknown field: %d", st)
	}
}

// FuzzParseEchoSpec: the body of POST /v1/echo is read without panic, and
// what it accepts is a terminal id of 1 to 8 printable characters.
func FuzzParseEchoSpec(f *testing.F) {
	for _, s := range []string{`{"terminal":"T0000001"}`, `{"terminal":""}`, `{}`, `{"terminal":"T1"} {}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tid, err := acquirer.ParseEchoSpec(body)
		if err != nil {
			if !errors.Is(err, acquirer.ErrControl) {
				t.Fatalf("error not ErrControl: %v", err)
			}
			return
		}
		if tid == "" || len(tid) > 8 || strings.TrimRight(tid, " ") != tid {
			t.Fatalf("accepted terminal %q", tid)
		}
		for i := 0; i < len(tid); i++ {
			if tid[i] < 0x20 || tid[i] > 0x7E {
				t.Fatalf("accepted terminal %q", tid)
			}
		}
	})
}
