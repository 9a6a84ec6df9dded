package daemon

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
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
	t       *testing.T
	dir     string
	members string // configuration besides data_dir and console
	pub     ed25519.PublicKey
	priv    ed25519.PrivateKey
	cfg     config.Config
	// raw is cfg as JSON (what a child posd is started with).
	raw string
}

// newConsoleRig makes a rig whose acquirer does not answer.
func newConsoleRig(t *testing.T) *consoleRig {
	t.Helper()
	return newConsoleRigWith(t, `"host":{"addr":"127.0.0.1:1"}`)
}

// newConsoleRigWith makes a rig with more configuration: members of the
// top-level JSON object, e.g. `"host":{"addr":"..."},"ota":{...}`.
func newConsoleRigWith(t *testing.T, members string) *consoleRig {
	t.Helper()
	pub, priv, err := engauth.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return rigAt(t, filepath.Join(t.TempDir(), "data"), members, pub, priv)
}

// rigAt is a rig on data directory dir with configuration members (see
// newConsoleRigWith) and the engineer authority pub.
func rigAt(t *testing.T, dir, members string, pub ed25519.PublicKey, priv ed25519.PrivateKey) *consoleRig {
	t.Helper()
	raw := `{"data_dir":"` + dir + `",` + members + `,` +
		`"console":{"authority_key":"` + hex.EncodeToString(pub) + `"}}`
	cfg, err := config.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return &consoleRig{t: t, dir: dir, members: members, pub: pub, priv: priv, cfg: cfg, raw: raw}
}

// at is a rig for t on data directory dir, with r's configuration and
// engineer authority.
func (r *consoleRig) at(t *testing.T, dir string) *consoleRig {
	t.Helper()
	return rigAt(t, dir, r.members, r.pub, r.priv)
}

// clone is a rig on a copy of r's data directory (posd not running on
// it), for t.
func (r *consoleRig) clone(t *testing.T) *consoleRig {
	t.Helper()
	c := r.at(t, filepath.Join(t.TempDir(), "data"))
	copyDir(t, r.dir, c.dir)
	return c
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
	// Nothing unsettled (a failed sale counts in no batch): the terminal
	// id is the one question.
	c.expect("(anything else cancels): ")
	c.send(r.cfg.Terminal.ID + "\r")
	if out := c.expect("logged out"); !strings.Contains(out, "restarts") {
		r.t.Fatalf("factory reset: %q", out)
	}
	c.close()
	closeDaemon(r.t, d)
	return x.ID
}

// TestFactoryResetErasesKeys: after the restart a factory reset asks
// for, the records and the device KEK are gone, and the keys of offline
// approvals' card data are overwritten.
func TestFactoryResetErasesKeys(t *testing.T) {
	r := newConsoleRig(t)
	id := r.requestReset()
	kekBefore, err := os.ReadFile(filepath.Join(r.dir, kek.FileName))
	if err != nil {
		t.Fatal(err)
	}
	// A second name for the advice key slots' file: what the reset leaves
	// in its blocks, not only whether the name is gone.
	slots := filepath.Join(r.dir, adviceSlotsFile)
	if err := os.Link(slots, slots+".seen"); err != nil {
		t.Fatal(err)
	}
	d := r.open()
	defer closeDaemon(t, d)
	if _, err := d.DB.Get(id); err == nil {
		t.Errorf("record %s survived the factory reset", id)
	}
	if old, err := os.ReadFile(slots + ".seen"); err != nil || len(old) == 0 || !bytes.Equal(old, make([]byte, len(old))) {
		t.Errorf("the advice key slots were not overwritten by the factory reset (%d bytes, %v)", len(old), err)
	}
	if after, err := os.ReadFile(filepath.Join(r.dir, kek.FileName)); err != nil || bytes.Equal(after, kekBefore) {
		t.Errorf("the KEK survived the factory reset (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(r.dir, resetMarker)); !os.IsNotExist(err) {
		t.Errorf("the reset marker is still there: %v", err)
	}
}

// auditAfter starts the daemon again and returns the console's audit log
// as an auditor reads it.
func (r *consoleRig) auditAfter(opts ...Option) (*Daemon, string) {
	r.t.Helper()
	d := r.open(opts...)
	c := attach(r.t, d)
	defer c.close()
	r.login(c, "fay", engauth.RoleAdmin)
	return d, c.cmd("audit 200")
}

// TestFactoryResetKeepsAudit: the audit trail survives the factory reset
// it records: who logged in and who asked for the reset are still listed
// after the restart that erased keys and records, followed by the entry
// saying when the reset was carried out and what it erased.
func TestFactoryResetKeepsAudit(t *testing.T) {
	r := newConsoleRig(t)
	r.requestReset()
	d, out := r.auditAfter()
	defer closeDaemon(t, d)
	wantInOrder(t, out,
		"erin engineer login",
		"erin engineer command: status",
		"dave admin login",
		"dave admin factory_reset: requested, abandon unsettled=false",
		"dave admin factory_reset: done",
		"- - factory_reset: carried out at start: erased posd.db, posd.db.instance, kek; requested ",
		"audit entries of before kept",
		"fay admin login")
	if n := strings.Count(out, "factory_reset: done"); n != 1 {
		t.Errorf("the reset's request is listed %d times:\n%s", n, out)
	}
	if _, err := os.Stat(filepath.Join(r.dir, resetAuditFile)); !os.IsNotExist(err) {
		t.Errorf("the saved trail is still there after its import: %v", err)
	}
}

// keptTrail checks an audit log after one factory reset requested by
// requestReset: the entries of before, each once, then the reset, then
// the entries then (logged after it).
func keptTrail(t testing.TB, out string, then ...string) {
	t.Helper()
	wantInOrder(t, out, append([]string{
		"erin engineer login",
		"dave admin factory_reset: requested, abandon unsettled=false",
		"dave admin factory_reset: done",
		"- - factory_reset: carried out at start: erased posd.db, posd.db.instance, kek; requested ",
		"audit entries of before kept"}, then...)...)
	for _, e := range []string{"erin engineer login", "factory_reset: done", "carried out at start"} {
		if n := strings.Count(out, e); n != 1 {
			t.Errorf("%q is listed %d times:\n%s", e, n, out)
		}
	}
	if strings.Contains(out, "is lost") {
		t.Errorf("the audit trail of before the reset is lost:\n%s", out)
	}
}

func exists(t testing.TB, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}

// TestFactoryResetCrashes: posd is killed (SIGKILL, in a child process)
// after each step of the reset at start; the next start finishes it, with
// the old keys and records gone and the audit trail kept exactly once.
// TestFactoryResetKills kills it at random points.
func TestFactoryResetCrashes(t *testing.T) {
	base := newConsoleRig(t)
	id := base.requestReset()
	kekBefore, err := os.ReadFile(filepath.Join(base.dir, kek.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, steps := range [][]string{
		{"saved"}, {"wiped"}, {"erased"}, {"opened"}, {"unmarked"}, {"imported"},
		// every step, one start each
		{"saved", "saved", "wiped", "erased", "opened", "opened", "unmarked", "imported"},
	} {
		t.Run(strings.Join(steps, ","), func(t *testing.T) {
			r := base.clone(t)
			for _, step := range steps {
				r.killAt(step)
				db := exists(t, filepath.Join(r.dir, "posd.db"))
				marker := exists(t, filepath.Join(r.dir, resetMarker))
				saved := exists(t, filepath.Join(r.dir, resetAuditFile))
				keys := exists(t, filepath.Join(r.dir, kek.FileName))
				slots := exists(t, filepath.Join(r.dir, adviceSlotsFile))
				switch step {
				case "saved":
					if !db || !marker || !saved || !keys || !slots {
						t.Fatalf("after saving: posd.db %v, marker %v, saved trail %v, KEK %v, slots %v", db, marker, saved, keys, slots)
					}
				case "wiped":
					if !db || !marker || !saved || !keys || slots {
						t.Fatalf("after wiping: posd.db %v, marker %v, saved trail %v, KEK %v, slots %v", db, marker, saved, keys, slots)
					}
				case "erased":
					if db || keys || slots || !marker || !saved {
						t.Fatalf("after erasing: posd.db %v, marker %v, saved trail %v, KEK %v, slots %v", db, marker, saved, keys, slots)
					}
				case "opened":
					if !db || !marker || !saved || keys {
						t.Fatalf("after the new database: posd.db %v, marker %v, saved trail %v, KEK %v", db, marker, saved, keys)
					}
				case "unmarked", "imported":
					if !db || marker || !saved || keys {
						t.Fatalf("after the step %s: posd.db %v, marker %v, saved trail %v, KEK %v", step, db, marker, saved, keys)
					}
				}
			}
			d, out := r.auditAfter()
			defer closeDaemon(t, d)
			keptTrail(t, out, "fay admin login")
			if _, err := d.DB.Get(id); err == nil {
				t.Errorf("record %s survived the factory reset", id)
			}
			if after, _ := os.ReadFile(filepath.Join(r.dir, kek.FileName)); bytes.Equal(after, kekBefore) {
				t.Error("the KEK survived the factory reset")
			}
			if exists(t, filepath.Join(r.dir, resetAuditFile)) {
				t.Error("the saved trail is still there after its import")
			}
		})
	}
}

// TestFactoryResetNewDatabaseCutShort: posd died while bbolt made the
// new posd.db (the file is there, empty: what TestFactoryResetKills's
// kills left); the marker is still there, so the next start makes it
// again instead of refusing a damaged database.
func TestFactoryResetNewDatabaseCutShort(t *testing.T) {
	r := newConsoleRig(t)
	r.requestReset()
	r.killAt("erased")
	if err := os.WriteFile(filepath.Join(r.dir, "posd.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d, out := r.auditAfter()
	defer closeDaemon(t, d)
	keptTrail(t, out, "fay admin login")
}

// TestFactoryResetDamagedDB: a posd.db that fails its check, or whose
// check crashes (as a damaged file can crash bbolt's check in the child
// process posd runs it in), is erased all the same; the new audit trail
// says the old one is lost. A posd.db another process holds is not
// touched.
func TestFactoryResetDamagedDB(t *testing.T) {
	t.Run("garbage", func(t *testing.T) {
		r := newConsoleRig(t)
		r.requestReset()
		if err := os.WriteFile(filepath.Join(r.dir, "posd.db"), bytes.Repeat([]byte{0xAB}, 64<<10), 0o600); err != nil {
			t.Fatal(err)
		}
		d, out := r.auditAfter()
		defer closeDaemon(t, d)
		wantInOrder(t, out, "- - factory_reset: carried out at start: erased posd.db, posd.db.instance, kek; requested ",
			"; the audit trail of before the reset is lost: posd.db failed its check", "fay admin login")
		if strings.Contains(out, "erin") || strings.Contains(out, "dave") {
			t.Errorf("entries of a damaged database:\n%s", out)
		}
	})
	t.Run("check crashes", func(t *testing.T) {
		r := newConsoleRig(t)
		r.requestReset()
		var checked []string
		crash := store.CheckInChild([]string{"/bin/sh", "-c", "kill -SEGV $$", "sh"}, 0)
		d, out := r.auditAfter(WithDBCheck(func(path string) error {
			checked = append(checked, path)
			return crash(path)
		}))
		defer closeDaemon(t, d)
		if len(checked) != 1 || checked[0] != filepath.Join(r.dir, "posd.db") {
			t.Errorf("checked: %q", checked)
		}
		wantInOrder(t, out, "; the audit trail of before the reset is lost: posd.db failed its check", "fay admin login")
	})
	t.Run("in use", func(t *testing.T) {
		r := newConsoleRig(t)
		r.requestReset()
		inUse := func(string) error { return fmt.Errorf("%w: held by process 42", store.ErrInUse) }
		if _, err := Open(context.Background(), r.cfg, "test", nil, WithDBCheck(inUse)); !errors.Is(err, store.ErrInUse) {
			t.Fatalf("reset of a database in use: %v", err)
		}
		for _, name := range []string{"posd.db", kek.FileName, resetMarker} {
			if !exists(t, filepath.Join(r.dir, name)) {
				t.Errorf("%s erased while posd.db is in use", name)
			}
		}
		d, out := r.auditAfter()
		defer closeDaemon(t, d)
		keptTrail(t, out, "fay admin login")
	})
}

// TestFactoryResetSavedTrailUnreadable: a saved trail that does not
// decode is moved aside, and the new trail says the old one is lost,
// once.
func TestFactoryResetSavedTrailUnreadable(t *testing.T) {
	r := newConsoleRig(t)
	r.requestReset()
	r.killAt("unmarked")
	side := filepath.Join(r.dir, resetAuditFile)
	if err := os.WriteFile(side, []byte(`{"v":1,"id":"x","entries":[{`), 0o600); err != nil {
		t.Fatal(err)
	}
	d, out := r.auditAfter()
	wantInOrder(t, out, "- - factory_reset: carried out at start; the audit trail of before the reset is lost: its saved copy was unreadable",
		"fay admin login")
	closeDaemon(t, d)
	if exists(t, side) || !exists(t, side+".damaged") {
		t.Error("the unreadable trail was not moved aside")
	}
	d, out = r.auditAfter()
	defer closeDaemon(t, d)
	if n := strings.Count(out, "its saved copy was unreadable"); n != 1 {
		t.Errorf("the loss is listed %d times:\n%s", n, out)
	}
}

// TestFactoryResetStaleSavedTrail: a saved trail left behind after its
// import (its removal failed) is not taken for the next reset's: that
// reset saves its own, and both resets' entries are listed once each.
func TestFactoryResetStaleSavedTrail(t *testing.T) {
	r := newConsoleRig(t)
	r.requestReset()
	r.killAt("imported")
	side := filepath.Join(r.dir, resetAuditFile)
	stale, err := os.ReadFile(side)
	if err != nil {
		t.Fatal(err)
	}
	r.requestReset() // imports nothing again, removes the file; a second reset
	if err := os.WriteFile(side, stale, 0o600); err != nil {
		t.Fatal(err)
	}
	d, out := r.auditAfter()
	defer closeDaemon(t, d)
	for _, e := range []string{"erin engineer login", "factory_reset: done", "carried out at start"} {
		if n := strings.Count(out, e); n != 2 {
			t.Errorf("%q is listed %d times, want 2:\n%s", e, n, out)
		}
	}
}

// wantInOrder checks that out holds each of wants, in that order.
func wantInOrder(t testing.TB, out string, wants ...string) {
	t.Helper()
	rest := out
	for _, w := range wants {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("audit log lacks %q (after the entries before it):\n%s", w, out)
		}
		rest = rest[i+len(w):]
	}
}
