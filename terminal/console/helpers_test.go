package console

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"posd/conn/clock"
	"posd/terminal/engauth"
)

var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

const (
	tid = "T0001"
	// testPAN is a Luhn-valid test card number that the fake daemon leaks
	// on purpose: the console must mask it everywhere.
	testPAN = "4761739001010010"
	// leakedKey is a key the fake daemon leaks on purpose in devices.
	leakedKey = "0123456789ABCDEF FEDCBA9876543210"
	// leakedPINBlock is a PIN block the fake daemon leaks on purpose in
	// selftest.
	leakedPINBlock = "0412AC89ABCDEF67"
)

// fakeTerm is the daemon. Its texts are deliberately dirty (a full PAN, a
// key) to prove the console's output guard.
type fakeTerm struct {
	mu       sync.Mutex
	calls    []string
	kbpkA    []byte
	kbpkB    []byte
	restarts int
	resets   []bool
	blocks   []string
	kbpkErr  error
	keyErr   error  // LoadKey's answer when set
	busy     error  // a transaction in progress: SaleInProgress, Restart and FactoryReset answer it
	kbpk     string // KCV of the stored KBPK ("" none)
	settled  []settled
	// unsettled is what Unsettled answers: how many, and its words.
	unsettled     int
	unsettledText string
	// hold, when set, runs at the start of SelfTest, Status and Sync: a
	// test makes them take as long as it likes.
	hold func(ctx context.Context, name string) error
}

// held runs f.hold for the call name.
func (f *fakeTerm) held(ctx context.Context, name string) error {
	f.mu.Lock()
	h := f.hold
	f.mu.Unlock()
	if h == nil {
		return nil
	}
	return h(ctx, name)
}

func (f *fakeTerm) KBPKCheckValue(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.kbpk, nil
}

func (f *fakeTerm) called(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
}

func (f *fakeTerm) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeTerm) Status(ctx context.Context) (string, error) {
	f.called("status")
	if err := f.held(ctx, "status"); err != nil {
		return "", err
	}
	return "terminal ready; last card " + testPAN, nil
}

func (f *fakeTerm) Devices(context.Context) (string, error) {
	f.called("devices")
	return "pn532 ok\nkey " + leakedKey + "\nalpar ok", nil
}

func (f *fakeTerm) SelfTest(ctx context.Context) (string, error) {
	f.called("selftest")
	if err := f.held(ctx, "selftest"); err != nil {
		return "", err
	}
	return "selftest passed\npinpad ok, last PIN block " + leakedPINBlock, nil
}

func (f *fakeTerm) LogTail(n int) []string {
	f.called(fmt.Sprintf("log %d", n))
	return []string{"log line one", "declined card " + testPAN[:4] + " " + testPAN[4:8] + " " + testPAN[8:12] + " " + testPAN[12:]}
}

func (f *fakeTerm) Txns(_ context.Context, n int) (string, error) {
	f.called(fmt.Sprintf("txns %d", n))
	return "0001 sale 12.50 approved " + testPAN, nil
}

func (f *fakeTerm) HostTest(context.Context) (string, error) {
	f.called("host test")
	return "host reachable", nil
}

func (f *fakeTerm) Sync(ctx context.Context) (string, error) {
	f.called("sync")
	if err := f.held(ctx, "sync"); err != nil {
		return "", err
	}
	return "sync done: 0 forwarded", nil
}

func (f *fakeTerm) OTA(_ context.Context, what string) (string, error) {
	f.called("ota " + what)
	return "ota " + what + ": params version 7", nil
}

func (f *fakeTerm) Params(context.Context) (string, error) {
	f.called("params")
	return "network dhcp; params version 7", nil
}

func (f *fakeTerm) SaleInProgress(context.Context) error {
	f.called("sale in progress")
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.busy
}

func (f *fakeTerm) Restart(context.Context) error {
	f.called("restart")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy != nil {
		return f.busy
	}
	f.restarts++
	return nil
}

func (f *fakeTerm) KeyCheckValues(context.Context) (string, error) {
	f.called("kcv")
	return "KBPK KCV 3B5B6F\nBDK KCV 08D7B4", nil
}

func fakeKCV(comp []byte) string {
	h := sha256.Sum256(comp)
	return strings.ToUpper(hex.EncodeToString(h[:3]))
}

func (f *fakeTerm) ComponentKCV(comp []byte) (string, error) {
	f.called("component kcv")
	return fakeKCV(comp), nil
}

func (f *fakeTerm) LoadKBPK(_ context.Context, a, b []byte) (string, error) {
	f.called("load kbpk")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kbpkA = append([]byte(nil), a...)
	f.kbpkB = append([]byte(nil), b...)
	if f.kbpkErr != nil {
		return "", f.kbpkErr
	}
	f.kbpk = "C0FFEE"
	return "C0FFEE", nil
}

func (f *fakeTerm) LoadKey(_ context.Context, block string) (string, error) {
	f.called("load key")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocks = append(f.blocks, block)
	if f.keyErr != nil {
		return "", f.keyErr
	}
	return "BDK usage B0, KCV 1A2B3C, KSN FFFF9876543210E00000", nil
}

func (f *fakeTerm) FactoryReset(_ context.Context, abandon bool) (string, error) {
	f.called("factory reset")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy != nil {
		return "", f.busy
	}
	f.resets = append(f.resets, abandon)
	return "factory reset done", nil
}

func (f *fakeTerm) Unsettled(context.Context) (int, string, error) {
	f.called("unsettled")
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unsettled, f.unsettledText, nil
}

// lockedReader makes a deterministic random source safe for several ports.
type lockedReader struct {
	mu sync.Mutex
	r  *mrand.ChaCha8
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// rig is a console on a real bbolt file and a fake clock, with the
// engineer authority's key pair.
type rig struct {
	t       *testing.T
	path    string
	db      *bolt.DB
	clk     *clock.Fake
	pub     ed25519.PublicKey
	priv    ed25519.PrivateKey
	term    *fakeTerm
	rnd     *lockedReader
	idle    time.Duration
	c       *Console
	ports   []*port
	secrets []string // must never appear in a transcript or the audit log
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{
		t:    t,
		path: filepath.Join(t.TempDir(), "posd.db"),
		clk:  clock.NewFake(t0),
		term: &fakeTerm{},
		rnd:  &lockedReader{r: mrand.NewChaCha8([32]byte{7})},
	}
	var err error
	r.pub, r.priv, err = engauth.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{1}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	r.db, err = bolt.Open(r.path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.db.Close() })
	t.Cleanup(r.scan)
	r.secrets = append(r.secrets, testPAN, strings.ReplaceAll(leakedKey, " ", ""), leakedKey[:16], leakedKey[17:], leakedPINBlock)
	r.c = r.newConsole()
	return r
}

func (r *rig) newConsole() *Console {
	r.t.Helper()
	c, err := New(Opts{
		Terminal:    r.term,
		Verifier:    &engauth.Verifier{Key: r.pub, Terminal: tid, Clock: r.clk},
		TerminalID:  tid,
		DB:          r.db,
		Clock:       r.clk,
		Rand:        r.rnd,
		IdleTimeout: r.idle,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

// secret registers a string that must never be printed or audited.
func (r *rig) secret(s string) {
	r.secrets = append(r.secrets, s)
}

// scan checks every transcript and the audit log for the secrets.
func (r *rig) scan() {
	for _, p := range r.ports {
		p.stop()
	}
	var texts []string
	for _, p := range r.ports {
		texts = append(texts, p.transcript())
	}
	if es, err := r.c.Audit(MaxAudit); err == nil {
		for _, e := range es {
			texts = append(texts, fmt.Sprintf("%+v", e))
		}
	}
	for _, txt := range texts {
		up := strings.ToUpper(txt)
		for _, s := range r.secrets {
			if strings.Contains(up, strings.ToUpper(s)) {
				r.t.Errorf("secret %.6s... appears in clear in:\n%s", s, txt)
			}
		}
	}
}

func (r *rig) token(eng string, role engauth.Role, ch engauth.Challenge, mod func(*engauth.Claims)) string {
	r.t.Helper()
	cl := engauth.Claims{Engineer: eng, Role: role, Terminal: tid, Expiry: r.clk.Now().Add(time.Hour), Challenge: ch}
	if mod != nil {
		mod(&cl)
	}
	return r.sign(r.priv, cl)
}

// sign makes a token for cl under priv and registers it as a secret.
func (r *rig) sign(priv ed25519.PrivateKey, cl engauth.Claims) string {
	r.t.Helper()
	tok, err := engauth.Sign(priv, cl)
	if err != nil {
		r.t.Fatal(err)
	}
	r.secret(tok)
	if _, sig, ok := strings.Cut(tok, "."); ok {
		r.secret(sig)
	}
	return tok
}

// events returns the audit log as "event engineer role: detail" lines.
func (r *rig) events() []string {
	r.t.Helper()
	es, err := r.c.Audit(MaxAudit)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s %s %s: %s", e.Event, e.Engineer, e.Role, e.Detail))
	}
	return out
}

func (r *rig) hasEvent(prefix string) bool {
	for _, e := range r.events() {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

// keyLoad runs "key load" with block pasted at its prompt and returns
// what the console wrote until the prompt pr.
func (p *port) keyLoad(block, pr string) string {
	p.send("key load\r")
	p.expect("key block: ")
	p.send(block + "\r")
	return p.expect(pr)
}

// wantEvents checks that the audit log has an entry starting with each of
// wants.
func (r *rig) wantEvents(t *testing.T, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !r.hasEvent(want) {
			t.Errorf("no audit entry %q in %q", want, r.events())
		}
	}
}

// port is one Serve on a net.Pipe, with everything the console wrote.
type port struct {
	t       *testing.T
	c       *Console
	client  net.Conn
	cancel  context.CancelFunc
	done    chan error
	mu      sync.Mutex
	out     []byte
	pos     int
	changed chan struct{}
	readEnd chan struct{}
	stopped bool
	err     error
}

func (r *rig) serve() *port {
	return r.serveOn(r.c)
}

func (r *rig) serveOn(c *Console) *port {
	r.t.Helper()
	srv, cli := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	p := &port{t: r.t, c: c, client: cli, cancel: cancel, done: make(chan error, 1),
		changed: make(chan struct{}), readEnd: make(chan struct{})}
	go func() { p.done <- c.Serve(ctx, srv) }()
	go func() {
		defer close(p.readEnd)
		buf := make([]byte, 4096)
		for {
			n, err := cli.Read(buf)
			p.mu.Lock()
			p.out = append(p.out, buf[:n]...)
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	r.ports = append(r.ports, p)
	p.expect("posd> ")
	return p
}

// stop ends Serve (which must return context.Canceled) and closes the
// client side.
func (p *port) stop() {
	p.t.Helper()
	if p.stopped {
		return
	}
	p.stopped = true
	p.cancel()
	err := <-p.done
	if !errors.Is(err, context.Canceled) {
		p.t.Errorf("Serve returned %v, want context.Canceled", err)
	}
	p.err = err
	_ = p.client.Close()
	<-p.readEnd
}

func (p *port) send(s string) {
	p.t.Helper()
	if _, err := p.client.Write([]byte(s)); err != nil {
		p.t.Fatalf("send: %v", err)
	}
}

func (p *port) transcript() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.out)
}

// expect waits until the console has written want after the mark, moves
// the mark past it and returns what came before it (want included). The
// deadline only turns a hang into a failure; no test asserts a duration.
func (p *port) expect(want string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		p.mu.Lock()
		if i := bytes.Index(p.out[p.pos:], []byte(want)); i >= 0 {
			seg := string(p.out[p.pos : p.pos+i+len(want)])
			p.pos += i + len(want)
			p.mu.Unlock()
			return seg
		}
		ch, rest := p.changed, string(p.out[p.pos:])
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			p.t.Fatalf("waiting for %q; console wrote after the mark:\n%q", want, rest)
		}
	}
}

// cmd sends a command line and returns the console's answer up to the
// next prompt (prompt included).
func (p *port) cmd(line, prompt string) string {
	p.t.Helper()
	p.send(line + "\r")
	return p.expect(prompt)
}

// challenge runs login up to the token prompt and returns the challenge.
func (p *port) challenge() engauth.Challenge {
	p.t.Helper()
	p.send("login\r")
	p.expect("challenge: ")
	line := p.expect("\r\n")
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != engauth.ChallengePrefix || f[1] != tid {
		p.t.Fatalf("challenge line %q", line)
	}
	ch := engauth.Challenge{Terminal: f[1]}
	if n, err := hex.Decode(ch.Nonce[:], []byte(f[2])); err != nil || n != 16 {
		p.t.Fatalf("challenge nonce %q", f[2])
	}
	p.expect("token: ")
	return ch
}

func prompt(eng string, role engauth.Role) string {
	return "posd(" + eng + ":" + string(role) + ")> "
}

// login logs eng in with role.
func (r *rig) login(p *port, eng string, role engauth.Role) {
	r.t.Helper()
	ch := p.challenge()
	p.send(r.token(eng, role, ch, nil) + "\r")
	p.expect("logged in as " + eng + " (" + string(role) + ")")
	p.expect(prompt(eng, role))
}

func (p *port) logout() {
	p.t.Helper()
	p.send("logout\r")
	p.expect("logged out")
	p.expect("posd> ")
}

// settled is one SettleByHand the fake daemon was asked for.
type settled struct{ id, outcome, ref, by string }

// Aside lists transaction 7, set aside.
func (f *fakeTerm) Aside(context.Context) (string, error) {
	f.called("aside")
	if len(f.settledList()) > 0 {
		return "nothing to settle by hand", nil
	}
	return "7 face_not_reversed CNY 30.00 (refunded|stands)", nil
}

// SetAside knows transaction 7 only.
func (f *fakeTerm) SetAside(_ context.Context, id string) (string, error) {
	f.called("set aside " + id)
	if id != "7" {
		return "", fmt.Errorf("txn: not on the list to settle by hand: transaction %s is not set aside", id)
	}
	return "transaction 7: face_not_reversed, CNY 30.00, face payment the platform no longer reverses", nil
}

// SettleByHand refuses a reference with a long digit run as the engine
// does, without repeating it.
func (f *fakeTerm) SettleByHand(_ context.Context, id, outcome, ref, by string) (string, error) {
	f.called("settle by hand " + id)
	run := 0
	for _, c := range ref {
		if c == '.' {
			continue // digits joined by dots count as one run, as the engine counts them
		}
		if c >= '0' && c <= '9' {
			if run++; run >= 12 {
				return "", errors.New("txn: settle-by-hand note refused: the reference looks like a card number")
			}
		} else {
			run = 0
		}
	}
	f.mu.Lock()
	f.settled = append(f.settled, settled{id, outcome, ref, by})
	f.mu.Unlock()
	return "transaction " + id + " settled by hand: " + outcome + ", reference " + ref, nil
}

func (f *fakeTerm) settledList() []settled {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]settled(nil), f.settled...)
}
