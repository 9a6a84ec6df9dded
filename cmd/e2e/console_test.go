package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/acquirer"
	"posd/crypto/dukpt"
	"posd/crypto/tr31"
	"posd/terminal/engauth"
	"posd/terminal/wiresec"
)

// term is the engineer's side of the service console: the pseudo-terminal
// posd's status names, opened as a terminal program would, with
// everything read kept as the transcript.
type term struct {
	t    testing.TB
	f    *os.File
	mu   sync.Mutex
	buf  bytes.Buffer // unread
	all  bytes.Buffer // the whole transcript
	done chan struct{}
}

func openTerm(t testing.TB, path string) *term {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := &term{t: t, f: f, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			c.mu.Lock()
			c.buf.Write(b[:n])
			c.all.Write(b[:n])
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return c
}

func (c *term) close() { c.f.Close(); <-c.done }

func (c *term) send(s string) {
	c.t.Helper()
	if _, err := c.f.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// expect waits for one of wants in what the console printed since the
// last expect, and returns that text up to and including the first found.
func (c *term) expect(wants ...string) string {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.mu.Lock()
		s := c.buf.String()
		best, end := -1, 0
		for _, w := range wants {
			if i := strings.Index(s, w); i >= 0 && (best < 0 || i < best) {
				best, end = i, i+len(w)
			}
		}
		if best >= 0 {
			c.buf.Next(end)
			c.mu.Unlock()
			return s[:end]
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			c.t.Fatalf("console never printed %q; it printed %q", wants, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cmd sends a command line and returns the output up to the next prompt.
func (c *term) cmd(line string) string {
	c.t.Helper()
	c.send(line + "\r")
	return c.expect("> ")
}

func (c *term) transcript() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.all.Bytes())
}

// terminalID is posd's terminal id, from its status.
func (e *env) terminalID() string {
	e.t.Helper()
	out, _ := e.posctl("status")
	var st struct {
		TerminalID string `json:"terminal_id"`
	}
	if json.Unmarshal([]byte(out), &st) != nil || st.TerminalID == "" {
		e.t.Fatalf("status: %s", out)
	}
	return st.TerminalID
}

var challengeRE = regexp.MustCompile(`posd-login [^\s]+ [0-9A-Fa-f]+`)

// login runs the console's login with a token made by sign for the
// challenge it prints, and returns what the console answered.
func (c *term) login(sign func(ch string) string) string {
	c.t.Helper()
	c.send("login\r")
	out := c.expect("token: ", "locked")
	if strings.HasSuffix(out, "locked") {
		return out + c.expect("> ")
	}
	ch := challengeRE.FindString(out)
	if ch == "" {
		c.t.Fatalf("no challenge in %q", out)
	}
	c.send(sign(ch) + "\r")
	return c.expect("> ")
}

// consoleEnv is a test environment whose posd pins a fresh engineer
// authority for its service console: its public key (pub) in the
// configuration, its private key in keyFile; groups are the terminal's
// fleet groups.
func consoleEnv(t *testing.T, groups ...string) (e *env, cfg, keyFile, pub string) {
	t.Helper()
	keyFile = filepath.Join(t.TempDir(), "authority.key")
	out, code := runToExit(t, "posctl", "engineer", "keygen", "--out", keyFile)
	if code != 0 {
		t.Fatalf("keygen: %s", out)
	}
	pub = strings.TrimSpace(out)
	e, _, cfg = newEnv(t, nil, nil)
	editConfig(t, cfg, func(c map[string]any) {
		con := map[string]any{"authority_key": pub}
		if len(groups) > 0 {
			con["groups"] = groups
		}
		c["console"] = con
	})
	return e, cfg, keyFile, pub
}

// engineerToken is posctl's login token for challenge ch, signed with the
// authority's key in keyFile, for an hour.
func engineerToken(t *testing.T, keyFile, ch, role, id string, extra ...string) string {
	t.Helper()
	out, code := runToExit(t, "posctl", append([]string{"engineer", "token", "--key", keyFile, "--challenge", ch, "--role", role, "--id", id, "--ttl", "1h"}, extra...)...)
	if code != 0 {
		t.Fatalf("token: %s", out)
	}
	return strings.TrimSpace(out)
}

// TestServiceConsole drives the service console over its real
// pseudo-terminal: logins refused and accepted, lockout that survives a
// restart, each role's commands, a KBPK from two custodians' components
// and a DUKPT key under it that the next sale uses, and a factory reset.
// The transcript never shows a PAN, track, PIN, component, key or token.
func TestServiceConsole(t *testing.T) {
	e, cfg, keyFile, _ := consoleEnv(t, "north")
	raw, _ := os.ReadFile(keyFile)
	priv, err := engauth.ParsePrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer func() { posd.stop(t) }()
	consolePath := func() string {
		out, _ := e.posctl("status")
		var st struct {
			Console    string `json:"console"`
			TerminalID string `json:"terminal_id"`
		}
		json.Unmarshal([]byte(out), &st)
		if !strings.HasPrefix(st.Console, "/dev/") {
			t.Fatalf("status names no console: %s", out)
		}
		return st.Console
	}
	c := openTerm(t, consolePath())
	defer func() { c.close() }()
	c.send("\r")
	c.expect("posd> ")

	// Tokens, by the posctl tool and by hand.
	var tokens []string
	posctlToken := func(role, id string, extra ...string) func(string) string {
		return func(ch string) string {
			tok := engineerToken(t, keyFile, ch, role, id, extra...)
			tokens = append(tokens, tok)
			return tok
		}
	}
	signed := func(k ed25519.PrivateKey, mod func(*engauth.Claims)) func(string) string {
		return func(ch string) string {
			cc, err := engauth.ParseChallenge(ch)
			if err != nil {
				t.Fatal(err)
			}
			cl := engauth.Claims{Engineer: "mallory", Role: engauth.RoleEngineer, Terminal: cc.Terminal, Expiry: time.Now().Add(time.Hour), Challenge: cc}
			mod(&cl)
			tok, err := engauth.Sign(k, cl)
			if err != nil {
				t.Fatal(err)
			}
			tokens = append(tokens, tok)
			return tok
		}
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	var last string
	replay := func(string) string { return last }
	keep := func(f func(string) string) func(string) string {
		return func(ch string) string { last = f(ch); return last }
	}

	// A good login, then refusals in pairs (each pair below the lockout),
	// each followed by a good login that resets the count.
	if out := c.login(keep(posctlToken("engineer", "alice"))); !strings.Contains(out, "posd(alice:engineer)> ") {
		t.Fatalf("login: %q", out)
	}
	if out := c.cmd("status"); !strings.Contains(out, "open_batch") {
		t.Errorf("status: %q", out)
	}
	for _, cmd := range []string{"selftest", "devices", "txns 5", "log 5", "params", "host test", "sync"} {
		if out := c.cmd(cmd); strings.Contains(out, "not allowed") || strings.Contains(out, "unknown command") {
			t.Errorf("engineer %s: %q", cmd, out)
		}
	}
	for _, cmd := range []string{"kcv", "kbpk component", "key load", "factory-reset"} {
		if out := c.cmd(cmd); !strings.Contains(out, "not allowed") {
			t.Errorf("engineer ran %s: %q", cmd, out)
		}
	}
	c.cmd("logout")
	for _, pair := range [][2]func(string) string{
		{signed(priv, func(cl *engauth.Claims) { cl.Expiry = time.Now().Add(-time.Minute) }), replay},
		{signed(priv, func(cl *engauth.Claims) { cl.Terminal = "OTHER001" }), signed(otherKey, func(*engauth.Claims) {})},
		{signed(priv, func(cl *engauth.Claims) { cl.Terminal = "group:south" }), signed(priv, func(cl *engauth.Claims) { cl.Challenge.Nonce[0] ^= 1 })},
	} {
		for _, bad := range pair {
			if out := c.login(bad); strings.Contains(out, "posd(") {
				t.Fatalf("a bad token logged in: %q", out)
			}
		}
		if out := c.login(posctlToken("engineer", "alice", "--group", "north")); !strings.Contains(out, "posd(alice:engineer)> ") {
			t.Fatalf("group login: %q", out)
		}
		c.cmd("logout")
	}

	// Two custodians load a KBPK from their components, then a DUKPT
	// initial key under it.
	compA, compB := make([]byte, 32), make([]byte, 32)
	rand.Read(compA)
	rand.Read(compB)
	if out := c.login(posctlToken("custodian", "bob")); !strings.Contains(out, "posd(bob:custodian)> ") {
		t.Fatalf("custodian login: %q", out)
	}
	if out := c.cmd("status"); strings.Contains(out, "not allowed") {
		t.Errorf("custodian status: %q", out)
	}
	for _, cmd := range []string{"selftest", "txns", "factory-reset", "restart"} {
		if out := c.cmd(cmd); !strings.Contains(out, "not allowed") {
			t.Errorf("custodian ran %s: %q", cmd, out)
		}
	}
	c.send("kbpk component\r")
	c.expect(": ")
	c.send(strings.ToUpper(hex.EncodeToString(compA)) + "\r")
	c.expect("KCV")
	c.send("y\r")
	c.expect("> ")
	c.cmd("logout")
	if out := c.login(posctlToken("custodian", "carol")); !strings.Contains(out, "posd(carol:custodian)> ") {
		t.Fatalf("second custodian login: %q", out)
	}
	c.send("kbpk component\r")
	c.expect(": ")
	c.send(hex.EncodeToString(compB) + "\r")
	c.expect("KCV")
	c.send("y\r")
	out := c.expect("> ")
	kbpk := make([]byte, 32)
	for i := range kbpk {
		kbpk[i] = compA[i] ^ compB[i]
	}
	_, kcv, _ := tr31.KeyCheckValue('A', kbpk)
	kcv = kcv[:3] // the console shows 3 bytes
	if !strings.Contains(strings.ToUpper(out), strings.ToUpper(hex.EncodeToString(kcv))) {
		t.Fatalf("KBPK load: %q (KCV %X)", out, kcv)
	}
	ikid := "ABCDEF0123456789"
	iksn, _ := hex.DecodeString(ikid + "00000000")
	ik, err := dukpt.AESDeriveIK(acquirer.DefaultBDK(wiresec.ModeAES), iksn)
	if err != nil {
		t.Fatal(err)
	}
	block, err := tr31.Wrap(kbpk, tr31.Header{Version: tr31.VersionD, KeyUsage: "B1", Algorithm: 'A', ModeOfUse: 'X', Exportability: 'N',
		Blocks: []tr31.OptBlock{{ID: "IK", Data: ikid}}}, ik, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c.send("key load\r")
	c.expect(": ")
	c.send(block + "\r")
	if out := c.expect("> "); !strings.Contains(out, "loaded") {
		t.Fatalf("key load: %q", out)
	}
	if out := c.cmd("kcv"); !strings.Contains(strings.ToUpper(out), strings.ToUpper(hex.EncodeToString(kcv))) {
		t.Errorf("kcv after the load: %q", out)
	} else if !regexp.MustCompile(`dukpt +AES +KSN ` + ikid + `[0-9A-F]{8}\b`).MatchString(out) {
		// The DUKPT slot keeps no initial key to check: its KSN names it.
		t.Errorf("kcv shows no KSN for the DUKPT key: %q", out)
	}
	c.cmd("logout")
	// The next sale uses the new key.
	v, code := e.sale("12.00", "visa-classic")
	if v.State != "approved" || code != 0 {
		t.Fatalf("sale under the loaded key: %+v", v)
	}
	if st, _ := e.posctl("status"); !strings.Contains(strings.ToUpper(st), ikid) {
		t.Errorf("the KSN is not the loaded key's: %s", st)
	}

	// The audit log names everyone who logged in.
	out, _ = e.posctl("audit", "--limit", "200")
	auditOut := out
	for _, who := range []string{"alice", "bob", "carol"} {
		if !strings.Contains(out, who) {
			t.Errorf("the audit log does not name %s", who)
		}
	}

	// An admin's factory reset: refused while the batch is not settled,
	// done once it is; posd exits to be restarted and comes back empty.
	if out := c.login(posctlToken("admin", "dave")); !strings.Contains(out, "posd(dave:admin)> ") {
		t.Fatalf("admin login: %q", out)
	}
	// With the sale unsettled, the console names it and asks whether to
	// abandon it; no cancels.
	c.send("factory-reset\r")
	out = c.expect("yes/no: ")
	c.send("no\r")
	out += c.expect("> ")
	if !strings.Contains(out, "not settled") || !strings.Contains(out, "factory reset cancelled") {
		t.Fatalf("factory reset with a sale in the open batch: %q", out)
	}
	if out, code := e.posctl("batch", "close"); code != 0 {
		t.Fatalf("batch close: %s", out)
	}
	// Settled: only the terminal id confirms.
	c.send("factory-reset\r")
	if out := c.expect("cancels): "); !strings.Contains(out, "nothing is unsettled") {
		t.Fatalf("factory reset after the close: %q", out)
	}
	c.send(e.terminalID() + "\r")
	if out := c.expect("> ", "restarts"); !strings.Contains(out, "restarts") {
		t.Fatalf("factory reset: %q", out)
	}
	<-posd.exited
	if code := posd.cmd.ProcessState.ExitCode(); code != 75 {
		t.Fatalf("posd after the reset exited %d, want 75 (restart):\n%s", code, posd.stderr)
	}
	c.close()
	transcript := c.transcript()
	posd = start(t, "posd", []string{"-config", cfg}, posdReady)
	if out, _ := e.posctl("txn", "list"); strings.Contains(out, `"id"`) {
		t.Fatalf("records after the factory reset: %s", out)
	}
	c = openTerm(t, consolePath())
	c.send("\r")
	c.expect("posd> ")

	// Three failures lock the console; a restart does not unlock it.
	for range 3 {
		c.login(signed(otherKey, func(*engauth.Claims) {}))
	}
	if out := c.login(posctlToken("engineer", "alice")); !strings.Contains(out, "locked") {
		t.Fatalf("after three failures: %q", out)
	}
	c.close()
	transcript = append(transcript, c.transcript()...)
	if err := posd.stop(t); err != nil {
		t.Fatal(err)
	}
	posd = start(t, "posd", []string{"-config", cfg}, posdReady)
	c = openTerm(t, consolePath())
	c.send("login\r")
	if out := c.expect("locked", "token: "); !strings.Contains(out, "locked") {
		t.Fatalf("after a restart: %q", out)
	}
	c.expect("> ")

	// Long lines and garbage leave it serving.
	c.send(strings.Repeat("A", 5000) + "\r")
	c.send("\x00\x01\xff\xfe\x1b[31m\x7f\x7f\r")
	c.send("help\r")
	c.expect("logout")
	c.expect("> ")

	transcript = append(transcript, c.transcript()...)
	transcript = append(transcript, auditOut...)
	assertNoCardData(t, "console transcript", transcript)
	low := strings.ToLower(string(transcript))
	for what, secret := range map[string][]byte{"component 1": compA, "component 2": compB, "KBPK": kbpk, "initial key": ik} {
		if strings.Contains(low, hex.EncodeToString(secret)[:16]) {
			t.Errorf("the transcript shows %s", what)
		}
	}
	for _, tok := range tokens {
		if len(tok) > 20 && strings.Contains(string(transcript), tok[len(tok)-20:]) {
			t.Error("the transcript shows a token")
		}
	}
}

// TestConsoleWithPicocom drives the service console the way a field
// engineer does: picocom on the console's line, inside tmux, keys typed
// into the terminal program and the screen read back.
func TestConsoleWithPicocom(t *testing.T) {
	for _, prog := range []string{"picocom", "tmux"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Fatalf("%s is missing: scripts/setup.sh installs it", prog)
		}
	}
	e, cfg, keyFile, _ := consoleEnv(t)
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer posd.stop(t)
	st, _ := e.posctl("status")
	var status struct {
		Console string `json:"console"`
	}
	json.Unmarshal([]byte(st), &status)

	sock := "posd-e2e-" + filepath.Base(filepath.Dir(keyFile))
	tmux := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("tmux", append([]string{"-L", sock}, args...)...)
		cmd.Env = append(os.Environ(), "TERM=xterm")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v %s", args, err, b)
		}
		return string(b)
	}
	tmux("new-session", "-d", "-s", "console", "-x", "200", "-y", "50", "picocom -q -b 115200 "+status.Console)
	defer exec.Command("tmux", "-L", sock, "kill-server").Run()
	screen := func(want string) string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			s := tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", "console")
			if strings.Contains(s, want) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("picocom's screen never showed %q:\n%s", want, s)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// picocom takes a moment to open the line: until it has, keys typed
	// into tmux are lost. Press Enter until the prompt answers. (tmux
	// trims the spaces that end a line of its capture.)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(tmux("capture-pane", "-p", "-t", "console"), "posd>") {
		if time.Now().After(deadline) {
			t.Fatalf("no prompt through picocom:\n%s", tmux("capture-pane", "-p", "-t", "console"))
		}
		tmux("send-keys", "-t", "console", "Enter")
		time.Sleep(500 * time.Millisecond)
	}
	tmux("send-keys", "-t", "console", "help", "Enter")
	s := screen("logout")
	if !strings.Contains(s, "posd>") || !strings.Contains(s, "login") {
		t.Fatalf("help on picocom's screen:\n%s", s)
	}
	tmux("send-keys", "-t", "console", "login", "Enter")
	s = screen("token:")
	ch := challengeRE.FindString(s)
	if ch == "" {
		t.Fatalf("no challenge on the screen:\n%s", s)
	}
	tok := engineerToken(t, keyFile, ch, "engineer", "eve")
	tmux("send-keys", "-t", "console", "-l", tok)
	tmux("send-keys", "-t", "console", "Enter")
	screen("posd(eve:engineer)>")
	tmux("send-keys", "-t", "console", "selftest", "Enter")
	s = screen("keypad")
	if !strings.Contains(s, "ok") || strings.Contains(s, strings.TrimSpace(tok)[:40]) {
		t.Fatalf("self-test on picocom's screen:\n%s", s)
	}
	assertNoCardData(t, "picocom's screen", []byte(s))
}
