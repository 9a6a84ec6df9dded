// Command posctl is the operator's tool: the cashier/ECR side of a sale,
// the field engineer's view of transactions and devices, the simulator
// controls, and offline key tools for key custodians (posctl keys).
//
// Every command except keys talks to posd's local API (--api, or POSD_API,
// default http://127.0.0.1:7070) and prints JSON on stdout. Errors are one
// line on stderr with exit status 1; a sale that ends without approval
// exits with status 3.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"posd/cmd/posctl/keyscmd"
)

const usage = `usage: posctl [--api URL] COMMAND

  sale --amount 12.34 [--currency CNY] [--wait] [--timeout 2m]
  txn list [--limit N] [--state STATE]
  txn show ID
  txn cancel ID
  reversals send
  host test           0800 echo to the acquirer
  status
  devices [selftest]
  sim cards
  sim swipe --card NAME
  keys ...            offline DUKPT / TR-31 / KCV tools (posctl keys help)
`

// exitNotApproved is the exit status of a sale that ended without approval.
const exitNotApproved = 3

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type cli struct {
	api    string
	http   *http.Client
	stdout io.Writer
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "keys" {
		return keyscmd.Run(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("posctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def := os.Getenv("POSD_API")
	if def == "" {
		def = "http://127.0.0.1:7070"
	}
	api := fs.String("api", def, "posd local API base URL")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		fmt.Fprint(stderr, usage)
		return 1
	}
	c := &cli{api: strings.TrimRight(*api, "/"), http: &http.Client{Timeout: 10 * time.Minute}, stdout: stdout}
	code, err := c.dispatch(fs.Args())
	if err != nil {
		fmt.Fprintln(stderr, "posctl:", oneLine(err.Error()))
		if code == 0 {
			code = 1
		}
	}
	return code
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (c *cli) dispatch(args []string) (int, error) {
	cmd, rest := args[0], args[1:]
	sub := ""
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		sub = rest[0]
	}
	switch {
	case cmd == "sale":
		return c.sale(rest)
	case cmd == "status" && len(rest) == 0:
		return c.show("GET", "/v1/status", nil)
	case cmd == "devices" && len(rest) == 0:
		return c.show("GET", "/v1/devices", nil)
	case cmd == "devices" && sub == "selftest" && len(rest) == 1:
		return c.selftest()
	case cmd == "host" && sub == "test" && len(rest) == 1:
		return c.show("POST", "/v1/host/echo", struct{}{})
	case cmd == "reversals" && sub == "send" && len(rest) == 1:
		return c.show("POST", "/v1/reversals/send", struct{}{})
	case cmd == "txn" && sub == "list":
		fs := flag.NewFlagSet("txn list", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		limit := fs.Int("limit", 20, "")
		state := fs.String("state", "", "")
		if err := fs.Parse(rest[1:]); err != nil {
			return 1, err
		}
		q := url.Values{"limit": {fmt.Sprint(*limit)}}
		if *state != "" {
			q.Set("state", *state)
		}
		return c.show("GET", "/v1/txns?"+q.Encode(), nil)
	case cmd == "txn" && sub == "show" && len(rest) == 2:
		return c.show("GET", "/v1/txns/"+url.PathEscape(rest[1]), nil)
	case cmd == "txn" && sub == "cancel" && len(rest) == 2:
		return c.show("POST", "/v1/txns/"+url.PathEscape(rest[1])+"/cancel", struct{}{})
	case cmd == "sim" && sub == "cards" && len(rest) == 1:
		return c.show("GET", "/v1/sim/cards", nil)
	case cmd == "sim" && sub == "swipe":
		fs := flag.NewFlagSet("sim swipe", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		card := fs.String("card", "", "")
		if err := fs.Parse(rest[1:]); err != nil || *card == "" {
			return 1, errors.New("usage: posctl sim swipe --card NAME (see posctl sim cards)")
		}
		return c.show("POST", "/v1/sim/swipe", map[string]string{"card": *card})
	}
	return 1, fmt.Errorf("unknown command %q; run posctl without arguments for help", strings.Join(args, " "))
}

type txnView struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

func final(state string) bool {
	switch state {
	case "approved", "declined", "failed", "reversed", "reversal_pending":
		return true
	}
	return false
}

func (c *cli) sale(args []string) (int, error) {
	fs := flag.NewFlagSet("sale", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	amount := fs.String("amount", "", "")
	currency := fs.String("currency", "", "")
	wait := fs.Bool("wait", false, "")
	timeout := fs.Duration("timeout", 2*time.Minute, "")
	if err := fs.Parse(args); err != nil || *amount == "" || fs.NArg() > 0 {
		return 1, errors.New("usage: posctl sale --amount 12.34 [--currency CNY] [--wait] [--timeout 2m]")
	}
	var t txnView
	raw, err := c.call("POST", "/v1/sales", map[string]string{"amount": *amount, "currency": *currency}, &t)
	if err != nil {
		return 1, err
	}
	if !*wait {
		return 0, c.print(raw)
	}
	deadline := time.Now().Add(*timeout)
	for !final(t.State) {
		left := time.Until(deadline)
		if left <= 0 {
			c.print(raw)
			return 1, fmt.Errorf("sale %s still %s after %s", t.ID, t.State, *timeout)
		}
		step := min(left, 30*time.Second).Round(time.Second) + time.Second
		raw, err = c.call("GET", "/v1/txns/"+t.ID+"?wait="+step.String(), nil, &t)
		if err != nil {
			return 1, err
		}
	}
	if err := c.print(raw); err != nil {
		return 1, err
	}
	if t.State != "approved" {
		return exitNotApproved, nil
	}
	return 0, nil
}

func (c *cli) selftest() (int, error) {
	var st []struct {
		Name string `json:"name"`
		OK   bool   `json:"ok"`
	}
	raw, err := c.call("POST", "/v1/devices/selftest", struct{}{}, &st)
	if err != nil {
		return 1, err
	}
	c.print(raw)
	var bad []string
	for _, s := range st {
		if !s.OK {
			bad = append(bad, s.Name)
		}
	}
	if len(bad) > 0 {
		return 1, fmt.Errorf("selftest failed: %s", strings.Join(bad, ", "))
	}
	return 0, nil
}

func (c *cli) show(method, path string, body any) (int, error) {
	raw, err := c.call(method, path, body, nil)
	if err != nil {
		return 1, err
	}
	return 0, c.print(raw)
}

func (c *cli) print(raw []byte) error {
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err := c.stdout.Write(out.Bytes())
	return err
}

// call does one API request and decodes the answer into v when v is not
// nil; API errors come back as their one-line message.
func (c *cli) call(method, path string, body, v any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.api+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("posd not reachable at %s: %w", c.api, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			return nil, fmt.Errorf("bad answer from posd: %w", err)
		}
	}
	return raw, nil
}
