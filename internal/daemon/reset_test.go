package daemon

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"posd/board/kek"
	"posd/internal/config"
	"posd/terminal/engauth"
	"posd/terminal/store"
)

// consoleRig is a data directory whose daemon serves the service console
// on the sim board's pseudo-terminal, with an engineer authority to sign
// logins.
type consoleRig struct {
	t    *testing.T
	dir  string
	priv ed25519.PrivateKey
	cfg  config.Config
}

func newConsoleRig(t *testing.T) *consoleRig {
	t.Helper()
	pub, priv, err := engauth.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	cfg, err := config.Parse([]byte(`{"data_dir":"` + dir + `","host":{"addr":"127.0.0.1:1"},` +
		`"console":{"authority_key":"` + hex.EncodeToString(pub) + `"}}`))
	if err != nil {
		t.Fatal(err)
	}
	return &consoleRig{t: t, dir: dir, priv: priv, cfg: cfg}
}

// open starts the daemon on the rig's data directory.
func (r *consoleRig) open(opts ...Option) *Daemon {
	r.t.Helper()
	d, err := Open(context.Background(), r.cfg, "test", nil, opts...)
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

func closeDaemon(t *testing.T, d *Daemon) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// ptyTerm is the engineer's terminal program on the console's pty.
type ptyTerm struct {
	t    *testing.T
	f    *os.File
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

func attach(t *testing.T, d *Daemon) *ptyTerm {
	t.Helper()
	if d.Console == nil || !strings.HasPrefix(d.consoleWhere, "/dev/") {
		t.Fatalf("no service console on a pty: %q", d.consoleWhere)
	}
	f, err := os.OpenFile(d.consoleWhere, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := &ptyTerm{t: t, f: f, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			c.mu.Lock()
			c.buf.Write(b[:n])
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	c.send("\r")
	c.expect("posd> ")
	return c
}

func (c *ptyTerm) close() { c.f.Close(); <-c.done }

func (c *ptyTerm) send(s string) {
	c.t.Helper()
	if _, err := c.f.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// expect waits for want in what the console printed since the last
// expect and returns that text up to and including want.
func (c *ptyTerm) expect(want string) string {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.mu.Lock()
		s := c.buf.String()
		if i := strings.Index(s, want); i >= 0 {
			c.buf.Next(i + len(want))
			c.mu.Unlock()
			return s[:i+len(want)]
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			c.t.Fatalf("console never printed %q; it printed %q", want, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *ptyTerm) cmd(line string) string {
	c.t.Helper()
	c.send(line + "\r")
	return c.expect("> ")
}

var challengeLine = regexp.MustCompile(`posd-login [^\s]+ [0-9A-Fa-f]+`)

// login logs in as engineer id with role.
func (r *consoleRig) login(c *ptyTerm, id string, role engauth.Role) {
	r.t.Helper()
	c.send("login\r")
	out := c.expect("token: ")
	ch, err := engauth.ParseChallenge(challengeLine.FindString(out))
	if err != nil {
		r.t.Fatalf("no challenge in %q: %v", out, err)
	}
	tok, err := engauth.Sign(r.priv, engauth.Claims{Engineer: id, Role: role, Terminal: r.cfg.Terminal.ID,
		Expiry: time.Now().Add(time.Hour), Challenge: ch})
	if err != nil {
		r.t.Fatal(err)
	}
	c.send(tok + "\r")
	if out := c.expect("> "); !strings.Contains(out, "posd("+id+":"+string(role)+")") {
		r.t.Fatalf("login as %s: %q", id, out)
	}
}

// requestReset runs a session that an admin ends with a factory reset,
// on a terminal whose database holds a record, and stops the daemon as
// the restart would. It returns the record's id.
func (r *consoleRig) requestReset() string {
	r.t.Helper()
	d := r.open()
	x := store.Txn{Kind: "purchase", Amount: 1, Currency: "156", State: store.StateFailed}
	if err := d.DB.Create(&x); err != nil {
		r.t.Fatal(err)
	}
	c := attach(r.t, d)
	r.login(c, "erin", engauth.RoleEngineer)
	c.cmd("status")
	c.cmd("logout")
	r.login(c, "dave", engauth.RoleAdmin)
	c.send("factory-reset\r")
	c.expect("confirm: ")
	c.send(r.cfg.Terminal.ID + "\r")
	c.expect("yes/no: ")
	c.send("no\r")
	if out := c.expect("logged out"); !strings.Contains(out, "restarts") {
		r.t.Fatalf("factory reset: %q", out)
	}
	c.close()
	closeDaemon(r.t, d)
	return x.ID
}

// TestFactoryResetErasesKeys: after the restart a factory reset asks
// for, the records and the device KEK are gone.
func TestFactoryResetErasesKeys(t *testing.T) {
	r := newConsoleRig(t)
	id := r.requestReset()
	kekBefore, err := os.ReadFile(filepath.Join(r.dir, kek.FileName))
	if err != nil {
		t.Fatal(err)
	}
	d := r.open()
	defer closeDaemon(t, d)
	if _, err := d.DB.Get(id); err == nil {
		t.Errorf("record %s survived the factory reset", id)
	}
	if after, err := os.ReadFile(filepath.Join(r.dir, kek.FileName)); err != nil || bytes.Equal(after, kekBefore) {
		t.Errorf("the KEK survived the factory reset (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(r.dir, resetMarker)); !os.IsNotExist(err) {
		t.Errorf("the reset marker is still there: %v", err)
	}
}
