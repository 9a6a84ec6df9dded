// Command posctl is the operator's tool: the cashier/ECR side of a sale,
// the field engineer's view of transactions and devices, the simulator
// controls, offline key tools for key custodians (posctl keys) and the
// offline replay of recorded EMV card exchanges (posctl emv).
//
// Every command except keys, emv and engineer talks to posd's local API with its
// per-boot token (found in posd's data directory: --data-dir,
// POSD_DATA_DIR, /var/lib/posd or ./run/data) and prints JSON on stdout. Errors are one
// line on stderr with exit status 1; a transaction that ends without
// approval exits with status 3, and one whose outcome is not known yet (a
// wallet refund the terminal asks its platform about again) with status 4.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"posd/cmd/posctl/emvcmd"
	"posd/cmd/posctl/keyscmd"
)

const usage = `usage: posctl [--api URL] [--data-dir DIR] COMMAND

  sale --amount 12.34 [--currency CNY] [--method qr|mpm|face [--platform P]] [--wait] [--timeout 2m]
                      --method qr: the customer shows a payment code (wallet or EMV);
                      --method mpm: the display shows the merchant's code for the
                      wallet app of --platform (unionpay, wechat, alipay) to scan;
                      --method face: face pay (consent on the keypad, liveness on the
                      camera, then the account's 6-digit payment password)
  refund --amount 12.34 [--orig ID] [--currency CNY] [--wait] [--timeout 2m]
                      money back to a card (--orig: the sale refunded)
  void ID [--wait] [--timeout 2m]
                      cancel an approved sale, refund or completion of the open batch
  preauth --amount 12.34 [--currency CNY] [--wait] [--timeout 2m]
                      reserve an amount on a card
  complete ID --amount 12.34 [--wait] [--timeout 2m]
                      turn pre-authorization ID into a debit of at most its amount
  balance [--currency CNY] [--wait] [--timeout 2m]
                      the card's available balance (PIN required)
  batch               the open batch and its totals so far
  batch close [--timeout 2m]
                      settle the open batch with the acquirer; when posd stops during
                      the close, posctl waits up to --timeout for it to come back and
                      says what the close did (exit 4 when that is not known)
  audit [--limit N]   the service console's last N audit entries, oldest first
  receipt ID|last [--copy merchant|cardholder] [--columns N] [--json]
                      a transaction's slip (a settlement's report) as the paper shows it;
                      last: the newest transaction's
  receipt print ID|last [--copy merchant|cardholder|both]
                      print it again, marked DUPLICATE (a slip that did not print)
  printer             the receipt printer: paper, cover, what did not print
  ota status          updates over the air: the parameter set and firmware in use, the last check
  ota check           check the update repository now
  ota history [--limit N]
                      what was checked, applied, installed or refused, newest first
  txn list [--limit N] [--state STATE]
  txn show ID
  txn cancel ID
  reversals send
  sync                forward the offline approvals' advices now (exit 1, saying why, when some are not sent)
  host test           0800 echo to the acquirer
  status
  devices [selftest]
  sim cards
  sim swipe --card NAME
  sim keys KEYS       type on the PIN pad: 0-9, E enter, C clear, X cancel
  sim tap --card NAME [--pull-after gpo|first-ac|second-ac]
                      hold a chip card in the contactless field
  sim insert --card NAME [--pull-after gpo|first-ac|second-ac]
                      put a chip card in the contact slot; --pull-after:
                      the card is pulled out right after that step
  sim remove              take the tapped and inserted cards away
  sim printer [--paper out|low|full] [--cover open|closed]
                      the simulated receipt printer: what it printed, its paper and cover
  sim qr --code TEXT | --card NAME | --image FILE [--to camera|scanner]
                      show a payment code (a sale with --method qr): a code, or the
                      EMV code a phone makes for deck card NAME, drawn as a QR code
                      to the camera (the default when posd reads the camera) or under
                      the scanner; or a picture of one (PNG, JPEG) to the camera
  sim phone [--platform unionpay|wechat|alipay] [--wallet URL]
                      the customer's phone scans the merchant code on the display
                      (a sale with --method mpm) and pays it at its platform
  sim face --subject NAME [--attack none|print|screen] [--action A] [--second NAME]
                      who stands in front of the camera for face pay (a sale with
                      --method face): a deck subject in person (doing what the display
                      asks), a printed photo of them, or a phone screen replaying a
                      video of them (--action: what it recorded); --second: a bystander
  face check --clip VIDEO|DIR [--challenge blink|left|right|closer|none]
                      run posd's face detection and liveness on a recorded clip (a video
                      file, or a directory of PNG/JPEG frames, ir* files the IR camera's):
                      one JSON object with decision, scores, reasons, frames, ms
  qr decode --image FILE
                      read the QR code in a picture (with posd's QR detector): its kind
                      (wechat, alipay, unionpay, emv-cpm, unknown), masked, and an EMV
                      code's data objects, card data masked
  keys ...            offline DUKPT / TR-31 / KCV / EMV key tools (posctl keys help)
  emv replay --trace FILE [--params FILE] [--capk FILE]
                      offline: run the EMV kernel against a recorded card exchange (posctl emv help)
  engineer keygen --out FILE
  engineer token --key FILE --challenge TEXT --role ROLE --id NAME --ttl 8h [--terminal TID|--group NAME]
                      offline: the engineer authority's key and console login tokens (posctl engineer help)
  help                this text

With --wait, posctl waits for the transaction's outcome and prints its record;
its exit status says what became of it:
  0  approved (any other command: done)
  1  an error; or posctl stopped waiting (--timeout, Ctrl-C) and the
     transaction, already at the host, still ran after the cancel: follow
     it with posctl txn show ID
  3  ended without approval: declined, failed, cancelled, or sent and not
     answered, so the terminal reverses it (reversal_pending, then reversed)
  4  outcome not known yet: a wallet refund whose platform did not answer; the
     terminal asks the platform again; do not repeat it (no second refund):
     follow it with posctl txn show ID; or posd stopped answering while it
     ran and did not come back before --timeout (posctl waits for a posd
     that restarts): once posd is back, posctl txn show ID tells it

posd's API needs its per-boot token, which posd writes to api-token.json in
its data directory. posctl looks in --data-dir, then $POSD_DATA_DIR, then
/var/lib/posd and ./run/data (the make run demo). The token file also names
the API address, used unless --api or $POSD_API says otherwise.
`

// The exit statuses of a transaction posctl waited for (besides 0, and 1
// for errors): exitNotApproved, it ended without approval; exitInDoubt,
// its outcome is not known yet and the terminal finds it out on its own
// (it must not be started again).
const (
	exitNotApproved = 3
	exitInDoubt     = 4
)

// defaultDataDirs are searched for the token when neither --data-dir nor
// POSD_DATA_DIR is given: the installed daemon's, then the demo's.
var defaultDataDirs = []string{"/var/lib/posd", "run/data"}

const tokenFile = "api-token.json"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type cli struct {
	api     string
	token   string
	tokErr  error
	locate  func() (api, token string, err error) // finds posd again after a restart
	http    *http.Client
	stdout  io.Writer
	stderr  io.Writer
	stopped <-chan os.Signal
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "keys" {
		return keyscmd.Run(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "emv" {
		return emvcmd.Run(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "engineer" {
		return runEngineer(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("posctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	api := fs.String("api", "", "posd local API base URL")
	dataDir := fs.String("data-dir", "", "posd's data directory (for the API token)")
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp) || (err == nil && fs.NArg() > 0 && (fs.Arg(0) == "help" || fs.Arg(0) == "--help")):
		fmt.Fprint(stdout, usage)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "posctl: %v\n%s", err, usage)
		return 1
	case fs.NArg() == 0:
		fmt.Fprint(stderr, usage)
		return 1
	}
	c := &cli{http: &http.Client{Timeout: 10 * time.Minute}, stdout: stdout, stderr: stderr}
	c.locate = func() (string, string, error) { return locate(*api, *dataDir) }
	c.api, c.token, c.tokErr = c.locate()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	c.stopped = sig
	code, err := c.dispatch(fs.Args())
	if err != nil {
		fmt.Fprintln(stderr, "posctl:", oneLine(err.Error()))
		if code == 0 {
			code = 1
		}
	}
	return code
}

// locate decides the API address and finds its token. api and dataDir are
// the flags ("" when not given).
func locate(api, dataDir string) (string, string, error) {
	if api == "" {
		api = os.Getenv("POSD_API")
	}
	var dirs []string
	switch {
	case dataDir != "":
		dirs = []string{dataDir}
	case os.Getenv("POSD_DATA_DIR") != "":
		dirs = []string{os.Getenv("POSD_DATA_DIR")}
	default:
		dirs = defaultDataDirs
	}
	var tokErr error
	for _, d := range dirs {
		raw, err := os.ReadFile(filepath.Join(d, tokenFile))
		if err != nil {
			if tokErr == nil || !errors.Is(err, fs.ErrNotExist) {
				tokErr = err
			}
			continue
		}
		var t struct {
			API   string `json:"api"`
			Token string `json:"token"`
		}
		if err := json.Unmarshal(raw, &t); err != nil || t.Token == "" {
			tokErr = fmt.Errorf("%s is not a posd token file", filepath.Join(d, tokenFile))
			continue
		}
		if api == "" {
			api = t.API
		}
		if strings.TrimRight(api, "/") != strings.TrimRight(t.API, "/") {
			tokErr = fmt.Errorf("the token in %s is for %s, not %s", d, t.API, api)
			continue
		}
		return strings.TrimRight(api, "/"), t.Token, nil
	}
	if api == "" {
		api = "http://127.0.0.1:7070"
	}
	return strings.TrimRight(api, "/"), "", fmt.Errorf("no posd API token found (%v): pass --data-dir DIR or set POSD_DATA_DIR to posd's data directory", tokErr)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// commands and their usage lines, for the errors of a malformed call.
var usages = map[string]string{
	"sale":        "posctl sale --amount 12.34 [--currency CNY] [--method qr|mpm|face [--platform P]] [--wait] [--timeout 2m]",
	"qr":          "posctl qr decode --image FILE",
	"face check":  "posctl face check --clip VIDEO|DIR [--challenge blink|left|right|closer|none]",
	"ota":         "posctl ota status|check|history [--limit N]",
	"refund":      "posctl refund --amount 12.34 [--orig ID] [--currency CNY] [--wait] [--timeout 2m]",
	"void":        "posctl void ID [--wait] [--timeout 2m]",
	"preauth":     "posctl preauth --amount 12.34 [--currency CNY] [--wait] [--timeout 2m]",
	"complete":    "posctl complete ID --amount 12.34 [--wait] [--timeout 2m]",
	"balance":     "posctl balance [--currency CNY] [--wait] [--timeout 2m]",
	"batch":       "posctl batch | posctl batch close [--timeout 2m]",
	"audit":       "posctl audit [--limit N]",
	"receipt":     "posctl receipt ID [--copy merchant|cardholder] [--columns N] [--json] | posctl receipt print ID [--copy merchant|cardholder|both]",
	"printer":     "posctl printer",
	"txn list":    "posctl txn list [--limit N] [--state STATE]",
	"txn show":    "posctl txn show ID",
	"txn cancel":  "posctl txn cancel ID",
	"reversals":   "posctl reversals send",
	"sync":        "posctl sync",
	"host":        "posctl host test",
	"status":      "posctl status",
	"devices":     "posctl devices [selftest]",
	"sim cards":   "posctl sim cards",
	"sim swipe":   "posctl sim swipe --card NAME (see posctl sim cards)",
	"sim keys":    "posctl sim keys KEYS (0-9 digits, E enter, C clear, X cancel; e.g. 1234E)",
	"sim tap":     "posctl sim tap --card NAME [--pull-after gpo|first-ac|second-ac] (see posctl sim cards)",
	"sim insert":  "posctl sim insert --card NAME [--pull-after gpo|first-ac|second-ac] (see posctl sim cards)",
	"sim remove":  "posctl sim remove",
	"sim printer": "posctl sim printer [--paper out|low|full] [--cover open|closed]",
	"sim qr":      "posctl sim qr --code TEXT | --card NAME | --image FILE [--to camera|scanner]",
	"sim phone":   "posctl sim phone [--platform unionpay|wechat|alipay] [--wallet URL]",
	"sim face":    "posctl sim face --subject NAME [--attack none|print|screen] [--action blink|left|right|closer|none] [--second NAME]",
}

func usageErr(cmd string) error {
	if u, ok := usages[cmd]; ok {
		return errors.New("usage: " + u)
	}
	return fmt.Errorf("unknown command %q; run posctl help", cmd)
}

func (c *cli) dispatch(args []string) (int, error) {
	cmd, rest := args[0], args[1:]
	sub := ""
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		sub = rest[0]
	}
	switch {
	case cmd == "sale" || cmd == "refund" || cmd == "void" || cmd == "preauth" || cmd == "complete" || cmd == "balance":
		return c.start(cmd, rest)
	case cmd == "ota" && sub == "status" && len(rest) == 1:
		return c.show("GET", "/v1/ota", nil)
	case cmd == "ota" && sub == "check" && len(rest) == 1:
		return c.show("POST", "/v1/ota/check", struct{}{})
	case cmd == "ota" && sub == "history":
		fs := flag.NewFlagSet("ota history", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		limit := fs.Int("limit", 50, "")
		if err := fs.Parse(rest[1:]); err != nil || fs.NArg() > 0 {
			return 1, usageErr("ota")
		}
		return c.show("GET", "/v1/ota/history?limit="+fmt.Sprint(*limit), nil)
	case cmd == "ota":
		return 1, usageErr("ota")
	case cmd == "qr" && sub == "decode":
		return c.qrDecode(rest[1:])
	case cmd == "qr":
		return 1, usageErr("qr")
	case cmd == "face" && sub == "check":
		return c.faceCheck(rest[1:])
	case cmd == "face":
		return 1, usageErr("face check")
	case cmd == "audit":
		fs := flag.NewFlagSet("audit", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		limit := fs.Int("limit", 50, "")
		if err := fs.Parse(rest); err != nil || fs.NArg() > 0 {
			return 1, usageErr("audit")
		}
		return c.show("GET", "/v1/audit?limit="+fmt.Sprint(*limit), nil)
	case cmd == "receipt":
		return c.receipt(rest)
	case cmd == "printer" && len(rest) == 0:
		return c.show("GET", "/v1/printer", nil)
	case cmd == "batch" && len(rest) == 0:
		return c.show("GET", "/v1/batch", nil)
	case cmd == "batch" && sub == "close":
		return c.closeBatch(rest[1:])
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
	case cmd == "sync" && len(rest) == 0:
		return c.sync()
	case cmd == "txn" && sub == "list":
		fs := flag.NewFlagSet("txn list", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		limit := fs.Int("limit", 20, "")
		state := fs.String("state", "", "")
		if err := fs.Parse(rest[1:]); err != nil || fs.NArg() > 0 {
			return 1, usageErr("txn list")
		}
		q := url.Values{"limit": {fmt.Sprint(*limit)}}
		if *state != "" {
			q.Set("state", *state)
		}
		return c.show("GET", "/v1/txns?"+q.Encode(), nil)
	case cmd == "txn" && sub == "show":
		if len(rest) != 2 {
			return 1, usageErr("txn show")
		}
		return c.show("GET", "/v1/txns/"+url.PathEscape(rest[1]), nil)
	case cmd == "txn" && sub == "cancel":
		if len(rest) != 2 {
			return 1, usageErr("txn cancel")
		}
		return c.cancelTxn(rest[1])
	case cmd == "sim" && sub == "cards":
		if len(rest) != 1 {
			return 1, usageErr("sim cards")
		}
		return c.show("GET", "/v1/sim/cards", nil)
	case cmd == "sim" && (sub == "swipe" || sub == "tap" || sub == "insert"):
		fs := flag.NewFlagSet("sim "+sub, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		card := fs.String("card", "", "")
		pull := ""
		if sub != "swipe" {
			fs.StringVar(&pull, "pull-after", "", "")
		}
		if err := fs.Parse(rest[1:]); err != nil || *card == "" || fs.NArg() > 0 {
			return 1, usageErr("sim " + sub)
		}
		req := map[string]string{"card": *card}
		if pull != "" {
			req["pull_after"] = strings.ReplaceAll(pull, "-", "_")
		}
		return c.show("POST", "/v1/sim/"+sub, req)
	case cmd == "sim" && sub == "qr":
		return c.simQR(rest[1:])
	case cmd == "sim" && sub == "face":
		return c.simFace(rest[1:])
	case cmd == "sim" && sub == "phone":
		return c.simPhone(rest[1:])
	case cmd == "sim" && sub == "printer":
		fs := flag.NewFlagSet("sim printer", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		paper := fs.String("paper", "", "")
		cover := fs.String("cover", "", "")
		if err := fs.Parse(rest[1:]); err != nil || fs.NArg() > 0 {
			return 1, usageErr("sim printer")
		}
		if *paper == "" && *cover == "" {
			return c.show("GET", "/v1/sim/printer", nil)
		}
		return c.show("POST", "/v1/sim/printer", map[string]string{"paper": *paper, "cover": *cover})
	case cmd == "sim" && sub == "remove":
		if len(rest) != 1 {
			return 1, usageErr("sim remove")
		}
		return c.show("POST", "/v1/sim/remove", struct{}{})
	case cmd == "sim" && sub == "keys":
		if len(rest) != 2 {
			return 1, usageErr("sim keys")
		}
		return c.show("POST", "/v1/sim/keys", map[string]string{"keys": rest[1]})
	case cmd == "txn" || cmd == "sim":
		if sub != "" {
			return 1, fmt.Errorf("unknown command %q; run posctl help", cmd+" "+sub)
		}
		return 1, fmt.Errorf("usage: posctl %s %s", cmd, map[string]string{"txn": "list|show ID|cancel ID", "sim": "cards|swipe|tap|insert --card NAME|remove|keys KEYS|qr|phone|face|printer"}[cmd])
	case usages[cmd] != "":
		return 1, usageErr(cmd)
	}
	return 1, fmt.Errorf("unknown command %q; run posctl help", strings.Join(args, " "))
}

// txnView is what posctl reads of a transaction's record.
type txnView struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	State   string `json:"state"`
	Failure string `json:"failure"`
	Reason  string `json:"reversal_reason"`
	// Slip is posd's word that the slip did not print, or may not have
	// (printing runs after the outcome), with how to reprint it.
	Slip *struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	} `json:"slip"`
}

// slipNote tells the cashier on stderr that t's slip did not print (or
// may not have), as posd words it; the outcome is what it is.
func (c *cli) slipNote(t txnView) {
	if t.Slip != nil && t.Slip.Message != "" {
		fmt.Fprintf(c.stderr, "posctl: %s: %s\n", t.name(), oneLine(t.Slip.Message))
	}
}

// kindNames are the cashier's words for the API's transaction kinds.
var kindNames = map[string]string{"purchase": "sale", "refund": "refund", "void": "void", "preauth": "pre-authorization",
	"completion": "completion", "balance": "balance inquiry", "settlement": "settlement"}

// name is the transaction as the cashier calls it: "refund 12".
func (t txnView) name() string {
	if n, ok := kindNames[t.Kind]; ok {
		return n + " " + t.ID
	}
	return "transaction " + t.ID
}

// inDoubt: t is a wallet refund whose outcome its platform has not told
// yet (terminal/txn: auth_sent with failure wallet_unknown). The terminal
// asks the platform again from its outbox; posd's wait returns it as it
// is, since only the platform can end it.
func inDoubt(t txnView) bool {
	return t.State == "auth_sent" && t.Failure == "wallet_unknown"
}

// settled: there is nothing more for posctl to wait for.
func settled(t txnView) bool { return final(t.State) || inDoubt(t) }

// inDoubtAdvice tells the cashier what an in-doubt outcome means for them.
func inDoubtAdvice(t txnView) string {
	again := "do not start it again"
	if t.Kind == "refund" {
		again = "do not refund again"
	}
	return fmt.Sprintf("outcome not known yet: the terminal asks the wallet platform again; %s; follow it with posctl txn show %s", again, t.ID)
}

func final(state string) bool {
	switch state {
	case "approved", "offline_approved", "declined", "failed", "reversed", "reversal_pending":
		return true
	}
	return false
}

// verbKinds are the API's transaction types of posctl's verbs.
var verbKinds = map[string]string{"sale": "purchase", "refund": "refund", "void": "void", "preauth": "preauth",
	"complete": "completion", "balance": "balance"}

// start runs the verb cmd (sale, refund, void, preauth, complete,
// balance): void and complete take the original's id first.
func (c *cli) start(cmd string, args []string) (int, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	req := map[string]string{"type": verbKinds[cmd]}
	if cmd == "void" || cmd == "complete" {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return 1, usageErr(cmd)
		}
		req["orig_id"], args = args[0], args[1:]
	}
	var amount, currency, orig *string
	if cmd != "void" && cmd != "balance" {
		amount = fs.String("amount", "", "")
	}
	if cmd != "void" && cmd != "complete" {
		currency = fs.String("currency", "", "")
	}
	if cmd == "refund" {
		orig = fs.String("orig", "", "")
	}
	var method, platform *string
	if cmd == "sale" {
		method = fs.String("method", "", "")
		platform = fs.String("platform", "", "")
	}
	wait := fs.Bool("wait", false, "")
	timeout := fs.Duration("timeout", 2*time.Minute, "")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || (amount != nil && *amount == "") || *timeout <= 0 {
		return 1, usageErr(cmd)
	}
	for k, v := range map[string]*string{"amount": amount, "currency": currency, "orig_id": orig, "method": method, "platform": platform} {
		if v != nil && *v != "" {
			req[k] = *v
		}
	}
	path := "/v1/txns"
	if cmd == "sale" {
		path = "/v1/sales"
		delete(req, "type")
	}
	var t txnView
	raw, err := c.call("POST", path, req, &t)
	if err != nil {
		return 1, err
	}
	if t.Kind == "" {
		t.Kind = verbKinds[cmd]
	}
	if !*wait {
		return 0, c.print(raw)
	}
	deadline := time.Now().Add(*timeout)
	down := false // posd stopped answering while t was in progress
	for !settled(t) {
		left := time.Until(deadline)
		select {
		case <-c.stopped:
			left = 0
		default:
		}
		if left <= 0 {
			if down {
				return c.lostTouch(t, fmt.Sprintf("no outcome after %s", *timeout))
			}
			// The cashier gave up waiting: the transaction must not go
			// on alone.
			return c.abandon(t, fmt.Sprintf("no outcome after %s", *timeout))
		}
		step := min(left, 30*time.Second).Round(time.Second) + time.Second
		raw, err = c.callInterruptible("GET", "/v1/txns/"+t.ID+"?wait="+step.String(), &t, time.Until(deadline))
		switch {
		case errors.Is(err, errInterrupted) && down:
			return c.lostTouch(t, "interrupted")
		case errors.Is(err, errInterrupted):
			return c.abandon(t, "interrupted")
		case gone(err, down):
			// posd stopped (a crash, a restart): it tells how t ended
			// once it is back, under a new API token.
			if !down {
				fmt.Fprintf(c.stderr, "posctl: %s: %s; waiting for posd to come back to tell how it ended (Ctrl-C stops waiting)\n", t.name(), oneLine(err.Error()))
				down = true
			}
			if !c.reconnect() {
				return c.lostTouch(t, "interrupted")
			}
			continue
		case err != nil:
			return 1, err
		}
		down = false
	}
	if err := c.print(raw); err != nil {
		return 1, err
	}
	c.slipNote(t)
	return c.outcome(t, ""), nil
}

// sync forwards the stored advices now and prints what still waits; an
// advice not sent is an error (exit 1) saying why.
func (c *cli) sync() (int, error) {
	var r struct {
		NotSent string `json:"not_sent"`
	}
	raw, err := c.call("POST", "/v1/sync", struct{}{}, &r)
	if err != nil {
		return 1, err
	}
	if err := c.print(raw); err != nil {
		return 1, err
	}
	if r.NotSent != "" {
		return 1, errors.New(r.NotSent)
	}
	return 0, nil
}

// reconnect waits a second and finds posd again, as a posd started again
// has it (its address, a new API token); false: the wait was interrupted.
func (c *cli) reconnect() bool {
	if !c.pause(time.Second) {
		return false
	}
	c.api, c.token, c.tokErr = c.locate()
	return true
}

// closeBatch is posctl batch close: posd settles the open batch. When
// posd stops during the close (a crash, a restart), posctl waits up to
// --timeout for it to come back and tells what the close did, as posd's
// status then says: the batch closed (0), not closed (1), or a
// settlement that got no answer, to settle again (4); posd not back:
// not known (4), with what to run.
func (c *cli) closeBatch(args []string) (int, error) {
	fs := flag.NewFlagSet("batch close", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", 2*time.Minute, "")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *timeout <= 0 {
		return 1, usageErr("batch")
	}
	var before struct {
		Open uint32 `json:"open"`
	}
	if _, err := c.call("GET", "/v1/batch", nil, &before); err != nil {
		return 1, err
	}
	var t txnView
	raw, err := c.call("POST", "/v1/batch/close", struct{}{}, &t)
	if err == nil || !gone(err, false) {
		if err != nil {
			return 1, err
		}
		if err := c.print(raw); err != nil {
			return 1, err
		}
		c.slipNote(t)
		return 0, nil
	}
	fmt.Fprintf(c.stderr, "posctl: batch close: %s; waiting for posd to come back to tell what the close did (Ctrl-C stops waiting)\n", oneLine(err.Error()))
	notKnown := func(why string) (int, error) {
		return exitInDoubt, fmt.Errorf("batch close: posd stopped answering during the close (%s): what the close did is not known here; "+
			"once posd is back, posctl status tells it: with settle_again, run posctl batch close again; posctl batch shows the open batch", why)
	}
	deadline := time.Now().Add(*timeout)
	for {
		if time.Until(deadline) <= 0 {
			return notKnown(fmt.Sprintf("not back after %s", *timeout))
		}
		if !c.reconnect() {
			return notKnown("interrupted")
		}
		var st struct {
			OpenBatch   uint32 `json:"open_batch"`
			SettleAgain *struct {
				Batch   uint32 `json:"batch"`
				Close   string `json:"close"`
				Message string `json:"message"`
			} `json:"settle_again"`
		}
		_, err := c.callInterruptible("GET", "/v1/status", &st, time.Until(deadline))
		switch {
		case errors.Is(err, errInterrupted):
			return notKnown("interrupted")
		case gone(err, true):
			continue
		case err != nil:
			return 1, err
		case st.SettleAgain != nil:
			return exitInDoubt, fmt.Errorf("batch close: posd is back: %s (batch %d, settlement %s): run posctl batch close",
				oneLine(st.SettleAgain.Message), st.SettleAgain.Batch, st.SettleAgain.Close)
		case st.OpenBatch != before.Open:
			fmt.Fprintf(c.stderr, "posctl: batch close: posd is back: batch %d was closed (the open batch is now %d); "+
				"posctl txn list shows its settlement\n", before.Open, st.OpenBatch)
			return 0, nil
		default:
			return 1, fmt.Errorf("batch close: posd is back: batch %d was not closed: run posctl batch close again", before.Open)
		}
	}
}

// unreachableError: posd did not answer at all (not running, or its
// connection dropped).
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// gone says whether err means posd is not there to answer: unreachable,
// shutting down (a restart, a stop), or, once it was (down), without a
// token yet or refusing the old one (a posd started again has a new
// token).
func gone(err error, down bool) bool {
	var ue *unreachableError
	if errors.As(err, &ue) {
		return true
	}
	var ae *apiError
	if errors.As(err, &ae) && ae.ShuttingDown {
		return true
	}
	if !down || err == nil {
		return false
	}
	return ae == nil || ae.Status == http.StatusUnauthorized
}

// pause waits d, or less when the cashier stops posctl (false).
func (c *cli) pause(d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-c.stopped:
		return false
	}
}

// lostTouch ends a wait for t that posd stopped answering: its outcome
// is not known here (exit 4), and it says how to learn it.
func (c *cli) lostTouch(t txnView, why string) (int, error) {
	return exitInDoubt, fmt.Errorf("%s: posd stopped answering while it was in progress (%s): its outcome is not known here; "+
		"once posd is back, posctl txn show %s tells it (a request the host did not answer is reversed when posd starts again)", t.name(), why, t.ID)
}

// outcome is the exit status of t, settled, and says on stderr what an
// in-doubt one means; why, when not "", is why posctl stopped waiting,
// and its outcome is told whatever it is.
func (c *cli) outcome(t txnView, why string) int {
	say := func(what string) {
		if why != "" {
			fmt.Fprintf(c.stderr, "posctl: %s: %s; %s\n", t.name(), why, what)
		}
	}
	switch {
	case inDoubt(t):
		if why == "" {
			fmt.Fprintf(c.stderr, "posctl: %s: %s\n", t.name(), inDoubtAdvice(t))
		}
		say(inDoubtAdvice(t))
		return exitInDoubt
	case t.State == "approved" || t.State == "offline_approved":
		say("it was approved before the cancel")
		return 0
	case (t.State == "reversal_pending" || t.State == "reversed") && t.Reason == "cancelled at the terminal":
		say(fmt.Sprintf("cancelled: it was approved as the cancel came, and the terminal reverses it (%s)", t.State))
	case t.State == "reversal_pending" || t.State == "reversed":
		// The request was out and its answer never came (or could not
		// be trusted): not approved, whatever the cancel did.
		what := "the host did not answer"
		if t.Reason != "" && t.Reason != "no response" {
			what = "it could not complete (" + t.Reason + ")"
		}
		if t.State == "reversed" {
			say(fmt.Sprintf("not approved: %s, and it has been reversed", what))
			break
		}
		say(fmt.Sprintf("not approved: %s, so the terminal reverses it; follow it with posctl txn show %s", what, t.ID))
	case t.State == "failed" && t.Failure == "cancelled":
		say("cancelled")
	default:
		what := t.State
		if t.Failure != "" {
			what += ", " + t.Failure
		}
		say(fmt.Sprintf("it ended without approval (%s)", what))
	}
	return exitNotApproved
}

var errInterrupted = errors.New("interrupted")

// callInterruptible is call, given up when posctl is interrupted or after
// max (the request itself may wait less).
func (c *cli) callInterruptible(method, path string, v any, max time.Duration) ([]byte, error) {
	type res struct {
		raw []byte
		err error
	}
	ch := make(chan res, 1)
	ctx, cancel := context.WithTimeout(context.Background(), max+5*time.Second)
	defer cancel()
	go func() {
		raw, err := c.callCtx(ctx, method, path, nil, v)
		ch <- res{raw, err}
	}()
	select {
	case r := <-ch:
		return r.raw, r.err
	case <-c.stopped:
		cancel()
		<-ch
		return nil, errInterrupted
	}
}

// abandon cancels t because the cashier stopped waiting, and reports how
// it ended (see outcome): still running because the request was already
// out is an error (exit 1) saying how to follow it.
func (c *cli) abandon(t txnView, why string) (int, error) {
	follow := "follow it with posctl txn show " + t.ID
	refused := false
	if _, err := c.call("POST", "/v1/txns/"+t.ID+"/cancel", struct{}{}, nil); err != nil {
		var ae *apiError
		if !errors.As(err, &ae) || ae.Status != http.StatusConflict {
			return 1, fmt.Errorf("%s: %s and it could not be cancelled: %w; %s", t.name(), why, err, follow)
		}
		// Ended, or too far along to be stopped: its record says which.
		refused = true
	}
	raw, err := c.call("GET", "/v1/txns/"+t.ID+"?wait=10s", nil, &t)
	if err != nil {
		return 1, fmt.Errorf("%s: %s; could not read how it ended: %w; %s", t.name(), why, err, follow)
	}
	if err := c.print(raw); err != nil {
		return 1, err
	}
	c.slipNote(t)
	if !settled(t) {
		if refused {
			return 1, fmt.Errorf("%s: %s; it had gone to the host and can no longer be cancelled: still running (%s); %s", t.name(), why, t.State, follow)
		}
		// The request is out: the cancel reverses an approval once the
		// outcome is in, it cannot stop it now.
		return 1, fmt.Errorf("%s: %s; cancel asked, but it is still running (%s): an approval is reversed; %s", t.name(), why, t.State, follow)
	}
	return c.outcome(t, why), nil
}

// cancelTxn is posctl txn cancel: a cancel posd refuses is told by what
// became of the transaction.
func (c *cli) cancelTxn(id string) (int, error) {
	raw, err := c.call("POST", "/v1/txns/"+url.PathEscape(id)+"/cancel", struct{}{}, nil)
	var ae *apiError
	if err == nil || !errors.As(err, &ae) || ae.Status != http.StatusConflict {
		if err != nil {
			return 1, err
		}
		return 0, c.print(raw)
	}
	var t txnView
	if _, gerr := c.call("GET", "/v1/txns/"+url.PathEscape(id), nil, &t); gerr != nil {
		return 1, fmt.Errorf("transaction %s could not be cancelled, and its record could not be read: %w", id, gerr)
	}
	switch {
	case inDoubt(t):
		return 1, fmt.Errorf("%s cannot be cancelled: %s", t.name(), inDoubtAdvice(t))
	case final(t.State):
		return 1, fmt.Errorf("%s has ended (%s): nothing to cancel", t.name(), t.State)
	case t.State == "auth_sent":
		return 1, fmt.Errorf("%s has gone to the host and can no longer be cancelled; follow it with posctl txn show %s", t.name(), t.ID)
	}
	return 1, fmt.Errorf("%s cannot be cancelled now (%s); follow it with posctl txn show %s", t.name(), t.State, t.ID)
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
// apiError is posd's refusal of a call: its HTTP status, for the callers
// that decide on it, and its message.
type apiError struct {
	Status int
	Msg    string
	// ShuttingDown: posd answered that it is shutting down (code
	// "shutting_down": a 503 with the awaited transaction's record, as
	// GET /v1/txns/ID?wait= does when posd stops before the transaction
	// ends).
	ShuttingDown bool
}

// codeShuttingDown is the "code" of posd's answer that it is shutting
// down.
const codeShuttingDown = "shutting_down"

func (e *apiError) Error() string { return e.Msg }

func (c *cli) call(method, path string, body, v any) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	return c.callCtx(ctx, method, path, body, v)
}

func (c *cli) callCtx(ctx context.Context, method, path string, body, v any) ([]byte, error) {
	if c.token == "" {
		return nil, c.tokErr
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.api+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &unreachableError{fmt.Errorf("posd not reachable at %s: %w", c.api, errors.Unwrap(err))}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string          `json:"error"`
			Code  string          `json:"code"`
			Txn   json.RawMessage `json:"txn"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			// posd going down, not a refusal: its code says so; a posd
			// from before the code says it by a 503 with a transaction,
			// which no other error answer carries.
			down := e.Code == codeShuttingDown ||
				(resp.StatusCode == http.StatusServiceUnavailable && len(e.Txn) > 0 && string(e.Txn) != "null")
			return nil, &apiError{Status: resp.StatusCode, Msg: e.Error, ShuttingDown: down}
		}
		return nil, &apiError{Status: resp.StatusCode, Msg: fmt.Sprintf("%s %s: %s", method, path, resp.Status)}
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			return nil, fmt.Errorf("bad answer from posd: %w", err)
		}
	}
	return raw, nil
}
