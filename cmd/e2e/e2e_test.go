// Package e2e runs the walking skeleton end to end: acquirer-sim, posd on the
// simulated board and posctl as separate processes on loopback, exactly as a
// field engineer would run them, and checks what each of them left behind.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"posd/board/sim/deck"
)

var binDir string

// goBin is the go command that built the binaries (firmware builds of
// other flavours use it too).
var goBin string

// buildTags are the build tags of this test binary (see tags_*_test.go).
var buildTags = ""

// TestMain builds the binaries every test runs. The longest tests (those
// over about 10 s) call t.Parallel: each has its own ports, directories
// and processes, and spends most of its time waiting on them (a host
// timeout, a restart, a camera's frames), so two of them at a time
// shorten the package's run by minutes without racing for the CPU.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "posd-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// go test puts its own toolchain first on PATH.
	gobin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The binaries are built with the tags this test was built with, so
	// `go test -tags nocv ./cmd/e2e` runs the pure-Go daemon.
	cmd := exec.Command(gobin, "build", "-tags", buildTags, "-o", dir+"/", "posd/cmd/posd", "posd/cmd/posctl", "posd/cmd/acquirer-sim", "posd/cmd/tms-sim", "posd/cmd/posd-supervisor")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building binaries:", err)
		os.Exit(1)
	}
	binDir, goBin = dir, gobin
	if suiteDialect != "" && !slices.Contains(dialects, suiteDialect) {
		fmt.Fprintf(os.Stderr, "POSD_E2E_DIALECT=%q: want one of %v\n", suiteDialect, dialects)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t testing.TB) string {
	t.Helper()
	// Not port 0: the kernel takes ports for outgoing connections (and
	// other tests' listeners) from the same ephemeral range, so a port it
	// just gave and took back can be another socket's before the process
	// this is for binds it (CI: the demo's wallet port "already in use").
	// Below the ephemeral range only explicit binds compete.
	portMu.Lock()
	defer portMu.Unlock()
	for range 1000 {
		p := 10000 + rand.IntN(22000) // 10000-31999, under Linux's 32768-60999
		if portsGiven[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		portsGiven[p] = true
		return l.Addr().String()
	}
	t.Fatal("no free port under the ephemeral range")
	return ""
}

var (
	portMu     sync.Mutex
	portsGiven = map[int]bool{} // never handed out twice by this process
)

type proc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	exited chan struct{} // closed once the process is gone and err is set
	err    error         // how it ended
}

func (p *proc) stop(t testing.TB) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.err // stopped already (a deferred stop after a failure)
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(20 * time.Second):
		// A Go program dumps its goroutines on SIGQUIT: show where it hangs.
		p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
		t.Fatalf("%s did not stop on SIGTERM:\n%s", p.cmd.Path, p.stderr)
		return nil
	}
}

// start runs a binary, collecting stderr, and waits until ready() holds.
func start(t testing.TB, name string, args []string, ready func(stderr string) bool) *proc {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name), withSuiteDialect(name, args)...)
	pr, pw, _ := os.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	p := &proc{cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	collected := make(chan struct{})
	var buf bytes.Buffer
	readyCh := make(chan struct{})
	go func() {
		defer close(collected)
		isReady := false
		for l := range lines {
			buf.WriteString(l + "\n")
			if !isReady && ready(buf.String()) {
				isReady = true
				close(readyCh)
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		<-collected
		p.stderr, p.err = &buf, err
		close(p.exited)
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case <-readyCh:
	case <-p.exited:
		t.Fatalf("%s exited early: %v\n%s", name, p.err, p.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s not ready", name)
	}
	return p
}

type env struct {
	t       testing.TB
	api     string
	journal string
	dataDir string
	// dialect, when set, is the one every dialect-tagged journal line
	// must carry (newEnv sets it: the test's choice or suiteDialect).
	dialect string
}

func (e *env) posctl(args ...string) (string, int) {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "posctl"), append([]string{"--api", "http://" + e.api}, args...)...)
	cmd.Env = append(os.Environ(), "POSD_DATA_DIR="+e.dataDir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	if code != 0 && code != 3 {
		return strings.TrimSpace(errb.String()), code
	}
	return out.String(), code
}

// posctlRun is what a posctl run printed (stdout and stderr) and its
// exit status.
type posctlRun struct {
	out  string
	code int
}

// posctlAsync runs posctl with args in the background (a sale that waits
// for its outcome while the test presents a card); its result arrives on
// the channel.
func (e *env) posctlAsync(args ...string) chan posctlRun {
	ch := make(chan posctlRun, 1)
	go func() {
		cmd := exec.Command(filepath.Join(binDir, "posctl"), append([]string{"--api", "http://" + e.api}, args...)...)
		cmd.Env = append(os.Environ(), "POSD_DATA_DIR="+e.dataDir)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		ch <- posctlRun{out.String(), code}
	}()
	return ch
}

type txnView struct {
	ID           string `json:"id"`
	State        string `json:"state"`
	Amount       string `json:"amount"`
	MaskedPAN    string `json:"masked_pan"`
	STAN         string `json:"stan"`
	ResponseCode string `json:"response_code"`
	AuthCode     string `json:"auth_code"`
	Failure      string `json:"failure"`
	Error        string `json:"error"`
}

// runResult is a transaction run in the background: its record and
// posctl's exit status.
type runResult struct {
	v    txnView
	code int
}

// sale runs `posctl sale --wait` and, once the sale waits for a card,
// presents the cards (see presentArgs) one after the other.
func (e *env) sale(amount string, cards ...string) (txnView, int) {
	e.t.Helper()
	return e.run([]string{"sale", "--amount", amount}, cards...)
}

// run runs the posctl verb of args (sale, refund, preauth, balance) with
// --wait and presents cards like sale.
func (e *env) run(args []string, cards ...string) (txnView, int) {
	e.t.Helper()
	ch := e.posctlAsync(append(args, "--wait", "--timeout", "60s")...)
	// Wait until posd has the sale open, then swipe.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ := e.posctl("status")
		var st map[string]any
		json.Unmarshal([]byte(out), &st)
		if s, _ := st["active_sale"].(string); s != "" {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("sale never became active: %s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := e.display(); d.Phase != "card" {
		e.t.Errorf("customer display while waiting for a card: %+v", d)
	}
	for i, card := range cards {
		if i > 0 {
			// The previous card was unreadable, or a chip card was
			// swiped: wait for the display to ask for a card again.
			deadline := time.Now().Add(20 * time.Second)
			for d := e.display(); !strings.Contains(d.Title, "again") && !strings.Contains(strings.Join(d.Lines, "|"), "please insert it"); d = e.display() {
				if time.Now().After(deadline) {
					e.t.Fatalf("display never asked for the card again: %+v", d)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		if out, code := e.posctl(presentArgs(card)...); code != 0 {
			e.t.Fatalf("present %s: %d %s", card, code, out)
		}
	}
	r := <-ch
	// The record is the first JSON value: a note on stderr may follow it
	// (a slip that did not print).
	var v txnView
	if err := json.NewDecoder(strings.NewReader(r.out)).Decode(&v); err != nil {
		e.t.Fatalf("sale output %q: %v", r.out, err)
	}
	return v, r.code
}

// presentArgs are posctl's arguments presenting card: "qr:CODE" shows a
// payment code (to the camera when posd reads it), "scan:CODE" under the
// scanner, "cpm:NAME" the EMV code a phone makes for deck card NAME;
// "NAME" swipes it,
// "tap:NAME" and "insert:NAME" present the chip, "insert:NAME:first-ac"
// pulls the card out after that step.
func presentArgs(card string) []string {
	if code, ok := strings.CutPrefix(card, "qr:"); ok {
		return []string{"sim", "qr", "--code", code}
	}
	if code, ok := strings.CutPrefix(card, "scan:"); ok {
		return []string{"sim", "qr", "--code", code, "--to", "scanner"}
	}
	if name, ok := strings.CutPrefix(card, "cpm:"); ok {
		return []string{"sim", "qr", "--card", name}
	}
	f := strings.Split(card, ":")
	if len(f) == 1 {
		return []string{"sim", "swipe", "--card", card}
	}
	args := []string{"sim", f[0], "--card", f[1]}
	if len(f) > 2 {
		args = append(args, "--pull-after", f[2])
	}
	return args
}

type screen struct {
	Phase string   `json:"phase"`
	Title string   `json:"title"`
	Lines []string `json:"lines"`
}

// display reads the customer display the kiosk page shows.
func (e *env) display() screen {
	e.t.Helper()
	resp, err := http.Get("http://" + e.api + "/display.json")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var s screen
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// journalLine is one line of acquirer-sim's journal. Kind (purchase,
// reversal, echo, ...) is the same in every dialect; MTIs are not.
type journalLine struct {
	Direction    string `json:"direction"`
	Dialect      string `json:"dialect"`
	Kind         string `json:"kind"`
	MTI          string `json:"mti"`
	STAN         string `json:"stan"`
	OrigSTAN     string `json:"orig_stan"`
	KSN          string `json:"ksn"`
	MaskedPAN    string `json:"masked_pan"`
	ResponseCode string `json:"response_code"`
	MACOK        *bool  `json:"mac_ok"`
	Duplicate    bool   `json:"duplicate"`
	Note         string `json:"note"`
}

// dialects are the host dialects the end-to-end suite runs with, on both
// sides: ISO 8583:1987 ASCII and the China UnionPay-style one.
var dialects = []string{"ascii87", "cup"}

// suiteDialect is the host dialect of every test that does not loop over
// dialects itself: POSD_E2E_DIALECT, or "" for the default (ascii87).
// make e2e-cup runs the whole suite with the UnionPay-style one; a test
// that names a dialect keeps it.
var suiteDialect = os.Getenv("POSD_E2E_DIALECT")

// withSuiteDialect adds -dialect to acquirer-sim's arguments when the
// suite runs in another dialect and the test did not choose one.
func withSuiteDialect(name string, args []string) []string {
	if name != "acquirer-sim" || suiteDialect == "" || slices.Contains(args, "-dialect") {
		return args
	}
	return append(args[:len(args):len(args)], "-dialect", suiteDialect)
}

// count tallies journal lines by "direction kind".
func count(lines []journalLine) map[string]int {
	m := map[string]int{}
	for _, l := range lines {
		m[l.Direction+" "+l.Kind]++
	}
	return m
}

func (e *env) journalLines() ([]journalLine, string) {
	e.t.Helper()
	raw, err := os.ReadFile(e.journal)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []journalLine
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if l == "" {
			continue
		}
		var j journalLine
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			e.t.Fatalf("journal line %q: %v", l, err)
		}
		if e.dialect != "" && j.Dialect != "" && j.Dialect != e.dialect {
			e.t.Fatalf("journal line in dialect %q, the test runs %q: %+v", j.Dialect, e.dialect, j)
		}
		out = append(out, j)
	}
	return out, string(raw)
}

func writeConfig(t testing.TB, dir string, cfg map[string]any) string {
	t.Helper()
	if h, ok := cfg["host"].(map[string]any); ok && suiteDialect != "" {
		if _, set := h["dialect"]; !set {
			h["dialect"] = suiteDialect
		}
	}
	b, _ := json.Marshal(cfg)
	p := filepath.Join(dir, "posd.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// secrets are strings that must never appear in logs, journal or database.
func secrets() []string {
	var s []string
	for _, c := range deck.Cards {
		for _, x := range []string{c.PAN, c.Track1, c.Track2, c.Raw} {
			if x != "" {
				s = append(s, x)
			}
		}
	}
	return s
}

func assertNoCardData(t *testing.T, what string, data []byte) {
	t.Helper()
	for _, s := range secrets() {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("%s contains card data (%.6s...)", what, s)
		}
	}
}

func TestSkeletonEndToEnd(t *testing.T) {
	t.Parallel() // a long one: see TestMain
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) { testSkeleton(t, d) })
	}
}

func testSkeleton(t *testing.T, dialect string) {
	dir := t.TempDir()
	hostAddr, apiAddr := freePort(t), freePort(t)
	e := &env{t: t, api: apiAddr, journal: filepath.Join(dir, "journal.jsonl"), dataDir: filepath.Join(dir, "data")}
	acq := start(t, "acquirer-sim", []string{"-listen", hostAddr, "-journal", e.journal, "-dialect", dialect},
		func(s string) bool { return strings.Contains(s, "listening on") })
	cfg := writeConfig(t, dir, map[string]any{
		"data_dir": e.dataDir,
		"api":      map[string]any{"listen": apiAddr},
		"host":     map[string]any{"addr": hostAddr, "dialect": dialect, "response_timeout": "2s", "reversal_retry": "1s"},
	})
	posd := start(t, "posd", []string{"-config", cfg}, func(s string) bool { return strings.Contains(s, "posd ready") })

	// The deck lists at least three magstripe cards without card numbers.
	out, code := e.posctl("sim", "cards")
	if code != 0 || strings.Count(out, `"swipe"`) < 4 {
		t.Fatalf("sim cards: %d %s", code, out)
	}
	assertNoCardData(t, "posctl sim cards", []byte(out))

	if d := e.display(); d.Phase != "idle" {
		t.Errorf("customer display before any sale: %+v", d)
	}
	// Every simulated device passes its self test; a nocv build has no
	// camera and says so.
	cmd := exec.Command(filepath.Join(binDir, "posctl"), "--api", "http://"+e.api, "devices", "selftest")
	cmd.Env = append(os.Environ(), "POSD_DATA_DIR="+e.dataDir)
	selftest, err := cmd.Output()
	var devs []struct {
		Name   string `json:"name"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
		Error  string `json:"error"`
	}
	if jerr := json.Unmarshal(selftest, &devs); jerr != nil || (err != nil && buildTags != "nocv") {
		t.Fatalf("devices selftest: %v %v\n%s", err, jerr, selftest)
	}
	seen := map[string]bool{}
	for _, d := range devs {
		seen[d.Name] = d.OK
		if d.Name == "camera" && buildTags == "nocv" && (d.OK || d.Error == "") {
			t.Errorf("nocv build: the camera should be reported unavailable with a reason: %+v", d)
		}
	}
	for _, want := range []string{"msr", "nfc", "contact", "keypad", "camera"} {
		if !seen[want] && !(want == "camera" && buildTags == "nocv") {
			t.Errorf("device %s missing or failing: %s", want, selftest)
		}
	}

	v, code := e.sale("12.34", "visa-classic")
	if v.State != "approved" || v.ResponseCode != "00" || len(v.AuthCode) != 6 || code != 0 {
		t.Fatalf("approve: %+v exit %d", v, code)
	}
	if v.MaskedPAN != "476173******0010" {
		t.Errorf("masked PAN %q", v.MaskedPAN)
	}
	if d := e.display(); d.Phase != "approved" || !strings.Contains(strings.Join(d.Lines, "|"), "476173******0010") {
		t.Errorf("customer display after approval: %+v", d)
	}
	if v, code = e.sale("10.51", "unionpay-debit"); v.State != "declined" || v.ResponseCode != "51" || code != 3 {
		t.Fatalf("decline 51: %+v exit %d", v, code)
	}
	if v, _ = e.sale("20.05", "mastercard-credit"); v.State != "declined" || v.ResponseCode != "05" {
		t.Fatalf("decline 05: %+v", v)
	}
	// A worn track 1 (the reader sends %E?) and a good track 2: approved.
	if v, _ = e.sale("15.00", "visa-worn-track1"); v.State != "approved" || v.MaskedPAN != "476173******0119" {
		t.Fatalf("worn track 1: %+v", v)
	}

	// A damaged stripe: a clear error and nothing sent to the host.
	before, _ := e.journalLines()
	// A damaged stripe is asked for again: here the customer then swipes
	// an expired card, refused without a message to the host.
	if v, _ = e.sale("30.00", "damaged-stripe", "expired-visa"); v.State != "failed" || v.Failure != "card_expired" {
		t.Fatalf("damaged stripe, then an expired card: %+v", v)
	}
	if after, _ := e.journalLines(); len(after) != len(before) {
		t.Fatalf("rejected cards sent %d messages", len(after)-len(before))
	}

	// No response: the sale ends in a reversal, acknowledged by the host.
	v, _ = e.sale("40.91", "visa-classic")
	if v.State != "reversal_pending" {
		t.Fatalf("no response: %+v", v)
	}
	deadline := time.Now().Add(30 * time.Second)
	for v.State != "reversed" && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		out, _ := e.posctl("txn", "show", v.ID)
		json.Unmarshal([]byte(out), &v)
	}
	if v.State != "reversed" {
		t.Fatalf("reversal not acknowledged: %+v", v)
	}

	// The journal: all in the dialect, every message MACed correctly,
	// masked PANs only, one reversal for the one original.
	lines, raw := e.journalLines()
	for _, l := range lines {
		if l.Dialect != dialect {
			t.Errorf("journal line in dialect %q: %+v", l.Dialect, l)
		}
		if l.MACOK != nil && !*l.MACOK {
			t.Errorf("journal line with mac_ok=false: %+v", l)
		}
		if l.MaskedPAN != "" && !strings.Contains(l.MaskedPAN, "*") {
			t.Errorf("journal PAN not masked: %q", l.MaskedPAN)
		}
		if l.Duplicate {
			t.Errorf("a reversal repeated without a lost answer: %+v", l)
		}
		if l.Direction == "in" && l.Kind == "reversal" {
			// ascii87: the reversal has its own STAN; cup: it resends
			// the original's, with DE39 98 for "no response".
			if (dialect == "cup") != (l.STAN == l.OrigSTAN) {
				t.Errorf("%s reversal STAN %s for original %s", dialect, l.STAN, l.OrigSTAN)
			}
		}
	}
	if n := count(lines); n["in purchase"] < 4 || n["out purchase"] < 3 || n["in reversal"] != 1 || n["out reversal"] != 1 {
		t.Errorf("journal message counts: %v", n)
	}
	if dialect == "cup" && !strings.Contains(raw, `"note":"reversal: 98 (no response)"`) {
		t.Errorf("reversal reason 98 not journaled:\n%s", raw)
	}
	assertNoCardData(t, "journal", []byte(raw))

	// Host down: a clear "host unreachable", quickly, and posd keeps running.
	if err := acq.stop(t); err != nil {
		t.Errorf("acquirer-sim exit: %v", err)
	}
	t0 := time.Now()
	v, _ = e.sale("5.00", "visa-classic")
	if v.State != "failed" || v.Failure != "host_unreachable" {
		t.Fatalf("host down: %+v", v)
	}
	if d := time.Since(t0); d > 30*time.Second {
		t.Errorf("host down took %s", d)
	}
	out, code = e.posctl("status")
	if code != 0 {
		t.Fatalf("posd gone after host failure: %s", out)
	}
	// The engineer sees the link's state without a host test.
	var hs struct {
		HostLink struct {
			LastAnswer string `json:"last_answer"`
			Failure    string `json:"failure"`
			Failures   int    `json:"failures_in_a_row"`
		} `json:"host_link"`
	}
	if err := json.Unmarshal([]byte(out), &hs); err != nil || hs.HostLink.Failure != "unreachable" || hs.HostLink.Failures < 1 || hs.HostLink.LastAnswer == "" {
		t.Errorf("status host_link with the host down: %+v %v", hs.HostLink, err)
	}
	out, _ = e.posctl("txn", "list")
	var list []txnView
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 7 {
		t.Fatalf("txn list: %d records, %v", len(list), err)
	}

	// SIGTERM: clean shutdown, bbolt closed.
	if err := posd.stop(t); err != nil {
		t.Fatalf("posd exit: %v\n%s", err, posd.stderr)
	}
	log := posd.stderr.Bytes()
	if !bytes.Contains(log, []byte("stopped cleanly")) {
		t.Errorf("no clean stop in log:\n%s", log)
	}
	assertNoCardData(t, "posd log", log)
	db, err := os.ReadFile(filepath.Join(e.dataDir, "posd.db"))
	if err != nil {
		t.Fatal(err)
	}
	assertNoCardData(t, "posd.db", db)
	if fi, err := os.Stat(filepath.Join(e.dataDir, "kek")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("kek file: %v %v", fi.Mode(), err)
	}
}

// TestTDESWithTPDU runs a sale over the other link options: TDES DUKPT and
// a TPDU header, in each dialect.
func TestTDESWithTPDU(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) { testTDESWithTPDU(t, d) })
	}
}

func testTDESWithTPDU(t *testing.T, dialect string) {
	dir := t.TempDir()
	hostAddr, apiAddr := freePort(t), freePort(t)
	e := &env{t: t, api: apiAddr, journal: filepath.Join(dir, "journal.jsonl"), dataDir: filepath.Join(dir, "data")}
	acq := start(t, "acquirer-sim", []string{"-listen", hostAddr, "-journal", e.journal, "-mode", "tdes", "-tpdu", "6000010000", "-dialect", dialect},
		func(s string) bool { return strings.Contains(s, "listening on") })
	cfg := writeConfig(t, dir, map[string]any{
		"data_dir": e.dataDir,
		"api":      map[string]any{"listen": apiAddr},
		"host":     map[string]any{"addr": hostAddr, "tpdu": "6000010000", "dialect": dialect},
		"dukpt":    map[string]any{"mode": "tdes"},
	})
	posd := start(t, "posd", []string{"-config", cfg}, func(s string) bool { return strings.Contains(s, "posd ready") })
	if v, code := e.sale("88.00", "mastercard-credit"); v.State != "approved" || code != 0 {
		t.Fatalf("tdes approve: %+v", v)
	}
	lines, _ := e.journalLines()
	if len(lines) != 2 || lines[0].MACOK == nil || !*lines[0].MACOK || lines[1].MACOK == nil || !*lines[1].MACOK {
		t.Fatalf("journal: %+v", lines)
	}
	// The field engineer's link test: an echo (0800/0810 in ascii87,
	// 0820/0830 in cup), answered "00".
	if out, code := e.posctl("host", "test"); code != 0 || !strings.Contains(out, `"ok"`) {
		t.Fatalf("host test: exit %d %s", code, out)
	}
	if lines, _ = e.journalLines(); len(lines) != 4 || lines[2].Kind != "echo" || lines[3].Kind != "echo" || lines[3].ResponseCode != "00" {
		t.Fatalf("journal after echo: %+v", lines)
	}
	acq.stop(t)
	if out, code := e.posctl("host", "test"); code != 1 || !strings.Contains(out, "unreachable") {
		t.Fatalf("host test with the host down: exit %d %s", code, out)
	}
	posd.stop(t)
}
