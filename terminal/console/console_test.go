package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"posd/crypto/tr31"
	"posd/terminal/dukptkeys"
	"posd/terminal/engauth"
	"posd/terminal/keyload"
)

func TestLoginStatusLogout(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	out := p.cmd("status", "posd> ")
	if !strings.Contains(out, "status: not logged in") || slices.Contains(r.term.callList(), "status") {
		t.Fatalf("status before login: %q, calls %v", out, r.term.callList())
	}
	r.login(p, "eve01", engauth.RoleEngineer)
	out = p.cmd("whoami", prompt("eve01", engauth.RoleEngineer))
	if !strings.Contains(out, "eve01 (engineer) on terminal T0001") {
		t.Fatalf("whoami: %q", out)
	}
	out = p.cmd("status", prompt("eve01", engauth.RoleEngineer))
	if !strings.Contains(out, "last card 476173******0010\r\n") {
		t.Fatalf("status not masked as expected: %q", out)
	}
	out = p.cmd("txns 3", prompt("eve01", engauth.RoleEngineer))
	if !strings.Contains(out, "approved 476173******0010") || !slices.Contains(r.term.callList(), "txns 3") {
		t.Fatalf("txns: %q %v", out, r.term.callList())
	}
	out = p.cmd("log", prompt("eve01", engauth.RoleEngineer))
	if !strings.Contains(out, "declined card 4761 73** **** 0010") || !slices.Contains(r.term.callList(), "log 20") {
		t.Fatalf("log: %q", out)
	}
	out = p.cmd("devices", prompt("eve01", engauth.RoleEngineer))
	if !strings.Contains(out, "pn532 ok\r\n"+withheld+"\r\nalpar ok\r\n") {
		t.Fatalf("devices: %q", out)
	}
	p.logout()
	r.wantEvents(t,
		"console_start  : ",
		"login eve01 engineer: until 2026-03-04T11:00:00Z",
		"command eve01 engineer: status",
		"command eve01 engineer: txns",
		"logout eve01 engineer: command",
	)
	p.stop()
	if !r.hasEvent("console_stop  : shutdown") {
		t.Errorf("no console_stop in %q", r.events())
	}
}

func TestLoginRefusals(t *testing.T) {
	_, otherPriv, err := engauth.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{9}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		tok  func(r *rig, ch engauth.Challenge) string
		want string
		ev   string
	}{
		{"expired", func(r *rig, ch engauth.Challenge) string {
			return r.token("eve01", engauth.RoleEngineer, ch, func(c *engauth.Claims) { c.Expiry = r.clk.Now().Add(-time.Second) })
		}, "token expired", "expired"},
		{"other terminal", func(r *rig, ch engauth.Challenge) string {
			return r.token("eve01", engauth.RoleEngineer, ch, func(c *engauth.Claims) { c.Terminal = "T0002" })
		}, "token is for another terminal", "terminal"},
		{"other key", func(r *rig, ch engauth.Challenge) string {
			return r.sign(otherPriv, engauth.Claims{Engineer: "eve01", Role: engauth.RoleEngineer, Terminal: tid, Expiry: r.clk.Now().Add(time.Hour), Challenge: ch})
		}, "signature does not verify", "signature"},
		{"garbage", func(r *rig, ch engauth.Challenge) string { return "not-a-token" }, "not a token", "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			p := r.serve()
			ch := p.challenge()
			p.send(tc.tok(r, ch) + "\r")
			out := p.expect("posd> ")
			if !strings.Contains(out, "login failed: "+tc.want) || strings.Contains(out, "logged in as") {
				t.Fatalf("console said %q", out)
			}
			if out := p.cmd("whoami", "posd> "); !strings.Contains(out, "not logged in") {
				t.Fatalf("whoami after a refused token: %q", out)
			}
			if !r.hasEvent("login_failed  : " + tc.ev) {
				t.Fatalf("audit %q", r.events())
			}
		})
	}
}

func TestTokenValidOnce(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	ch := p.challenge()
	tok := r.token("eve01", engauth.RoleEngineer, ch, nil)
	p.send(tok + "\r")
	p.expect("logged in as eve01")
	p.expect(prompt("eve01", engauth.RoleEngineer))
	p.logout()
	// The same token again: the new challenge has a new nonce.
	ch2 := p.challenge()
	if ch2 == ch {
		t.Fatal("the challenge was not renewed")
	}
	p.send(tok + "\r")
	out := p.expect("posd> ")
	if !strings.Contains(out, "login failed: token answers another challenge") {
		t.Fatalf("replayed token: %q", out)
	}
	// A token for an abandoned challenge is no good either.
	ch3 := p.challenge()
	p.send("\x03")
	p.expect("login abandoned")
	p.expect("posd> ")
	p.challenge()
	p.send(r.token("eve01", engauth.RoleEngineer, ch3, nil) + "\r")
	out = p.expect("posd> ")
	if !strings.Contains(out, "login failed: token answers another challenge") {
		t.Fatalf("token of an abandoned challenge: %q", out)
	}
}

func TestTokenNotEchoed(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	ch := p.challenge()
	tok := r.token("eve01", engauth.RoleEngineer, ch, nil)
	// Typed with a typo and a backspace: stars, "\b \b", stars.
	p.send(tok[:5] + "x\x7f" + tok[5:] + "\r")
	out := p.expect("logged in as eve01")
	want := "*****" + "*" + "\b \b" + strings.Repeat("*", len(tok)-5) + "\r\n"
	if !strings.HasPrefix(out, want) {
		t.Fatalf("echo of the token: %q", out)
	}
}

func TestLockoutSurvivesRestart(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	fail := func() string {
		t.Helper()
		p.challenge()
		p.send("not-a-token\r")
		return p.expect("posd> ")
	}
	fail()
	fail()
	if out := fail(); !strings.Contains(out, "3 failed logins in a row: login locked for 30s") {
		t.Fatalf("third failure: %q", out)
	}
	out := p.cmd("login", "posd> ")
	if !strings.Contains(out, "login locked after repeated failures: try again in 30s") || strings.Contains(out, "challenge:") {
		t.Fatalf("login while locked: %q", out)
	}
	r.clk.Advance(10 * time.Second)
	if out := p.cmd("login", "posd> "); !strings.Contains(out, "try again in 20s") {
		t.Fatalf("login while locked: %q", out)
	}
	// Restart: a new Console over the same database.
	p.stop()
	r.c = r.newConsole()
	p = r.serve()
	if out := p.cmd("login", "posd> "); !strings.Contains(out, "try again in 20s") {
		t.Fatalf("login after a restart: %q", out)
	}
	r.clk.Advance(20 * time.Second)
	if out := fail(); !strings.Contains(out, "4 failed logins in a row: login locked for 1m0s") {
		t.Fatalf("fourth failure: %q", out)
	}
	r.clk.Advance(59 * time.Second)
	if out := p.cmd("login", "posd> "); !strings.Contains(out, "try again in 1s") {
		t.Fatalf("login while locked: %q", out)
	}
	r.clk.Advance(time.Second)
	r.login(p, "eve01", engauth.RoleEngineer)
	p.logout()
	// The success reset the count: two failures do not lock.
	fail()
	if out := fail(); strings.Contains(out, "locked") {
		t.Fatalf("second failure after a success: %q", out)
	}
	r.login(p, "eve01", engauth.RoleEngineer)
}

func TestLockScheduleAndClockSetBack(t *testing.T) {
	want := []time.Duration{0, 0, 0, 30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute,
		8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for n, w := range want {
		if got := lockDelay(n); got != w {
			t.Errorf("lockDelay(%d) = %s, want %s", n, got, w)
		}
	}
	if got := lockDelay(1000); got != MaxLock {
		t.Errorf("lockDelay(1000) = %s", got)
	}
	r := newRig(t)
	for range 3 {
		if _, _, err := r.c.failedLogin(t0); err != nil {
			t.Fatal(err)
		}
	}
	// The clock goes back a year (a board without a battery): the lock
	// still lasts its 30 s from now, not a year.
	back := t0.AddDate(-1, 0, 0)
	if left, err := r.c.lockedFor(back); err != nil || left != 30*time.Second {
		t.Fatalf("locked for %s, %v", left, err)
	}
	if left, err := r.c.lockedFor(back.Add(30 * time.Second)); err != nil || left != 0 {
		t.Fatalf("locked for %s, %v", left, err)
	}
}

func TestIdleTimeout(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	r.login(p, "eve01", engauth.RoleEngineer)
	r.clk.Advance(4 * time.Minute)
	// Still logged in; typing keeps the session alive.
	if out := p.cmd("whoami", prompt("eve01", engauth.RoleEngineer)); !strings.Contains(out, "eve01 (engineer)") {
		t.Fatalf("whoami: %q", out)
	}
	r.clk.Advance(4 * time.Minute)
	if out := p.cmd("whoami", prompt("eve01", engauth.RoleEngineer)); !strings.Contains(out, "eve01 (engineer)") {
		t.Fatalf("whoami after 4 minutes of idle: %q", out)
	}
	r.clk.Advance(5 * time.Minute)
	p.expect("idle for 5m0s: logged out")
	p.expect("posd> ")
	if out := p.cmd("status", "posd> "); !strings.Contains(out, "not logged in") {
		t.Fatalf("status after the idle logout: %q", out)
	}
	if !r.hasEvent("logout eve01 engineer: idle") {
		t.Fatalf("audit %q", r.events())
	}
}

func TestIdleTimeoutWhileConfirming(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	r.login(p, "eve01", engauth.RoleEngineer)
	p.send("restart\r")
	p.expect("type RESTART to confirm: ")
	r.clk.Advance(5 * time.Minute)
	p.expect("idle for 5m0s: logged out")
	p.expect("posd> ")
	// What was meant for the confirmation is now a command line.
	p.send("RESTART\r")
	p.expect("restart: not logged in")
	if r.term.restarts != 0 {
		t.Fatal("restarted after the idle logout")
	}
}

func TestLoginExpiry(t *testing.T) {
	r := newRig(t)
	r.idle = time.Hour
	r.c = r.newConsole()
	p := r.serve()
	ch := p.challenge()
	p.send(r.token("eve01", engauth.RoleEngineer, ch, func(c *engauth.Claims) { c.Expiry = t0.Add(10 * time.Minute) }) + "\r")
	p.expect(prompt("eve01", engauth.RoleEngineer))
	r.clk.Advance(10 * time.Minute)
	p.expect("login expired: logged out")
	p.expect("posd> ")
	if !r.hasEvent("logout eve01 engineer: expired") {
		t.Fatalf("audit %q", r.events())
	}
}

// roleCases: each command, its line, and what the console shows when it
// runs (interactive ones are then abandoned with Ctrl-C).
var roleCases = []struct {
	line, shows, abandon string
	roles                roleSet
}{
	{"status", "terminal ready", "", statusRoles},
	{"devices", "pn532 ok", "", diagnostics},
	{"selftest", "selftest passed", "", diagnostics},
	{"log 5", "log line one", "", diagnostics},
	{"txns", "0001 sale", "", diagnostics},
	{"host test", "host reachable", "", diagnostics},
	{"sync", "sync done", "", diagnostics},
	{"params", "params version 7", "", diagnostics},
	{"ota status", "ota status: params version 7", "", diagnostics},
	{"ota history", "ota history: params", "", diagnostics},
	{"ota check", "ota check: params", "", diagnostics},
	{"restart", "type RESTART to confirm: ", "restart cancelled", diagnostics},
	{"kcv", "KBPK KCV 3B5B6F", "", rCustodian},
	{"kbpk component", "KBPK component 1 of 2", "component entry abandoned", rCustodian},
	{"kbpk cancel", "no KBPK component held", "", rCustodian},
	{"key load", "paste the TR-31 key block", "key load abandoned", rCustodian},
	{"audit 3", "command: audit", "", auditRoles},
	{"factory-reset", "type the terminal id to confirm (anything else cancels): ", "factory reset cancelled", rAdmin},
}

func TestRoles(t *testing.T) {
	for _, role := range []engauth.Role{engauth.RoleEngineer, engauth.RoleCustodian, engauth.RoleAdmin} {
		t.Run(string(role), func(t *testing.T) {
			r := newRig(t)
			p := r.serve()
			r.login(p, "eng-"+string(role), role)
			pr := prompt("eng-"+string(role), role)
			refused := 0
			for _, rc := range roleCases {
				before := len(r.term.callList())
				p.send(rc.line + "\r")
				if rc.roles.has(role) {
					p.expect(rc.shows)
					if rc.abandon != "" {
						p.send("\x03")
						p.expect(rc.abandon)
					}
					p.expect(pr)
					continue
				}
				refused++
				out := p.expect(pr)
				// The refusal says who may: the engineer knows whom to call.
				if !strings.Contains(out, "not allowed for "+string(role)+" (needs "+strings.ReplaceAll(rc.roles.String(), ",", " or ")+")") {
					t.Errorf("%s as %s: %q", rc.line, role, out)
				}
				if after := r.term.callList(); len(after) != before {
					t.Errorf("%s as %s reached the terminal: %v", rc.line, role, after[before:])
				}
			}
			n := 0
			for _, e := range r.events() {
				if strings.HasPrefix(e, "refused eng-"+string(role)+" "+string(role)+": ") {
					n++
				}
			}
			if n != refused || refused == 0 {
				t.Errorf("%d refusals audited, %d made", n, refused)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	out := p.cmd("help", "posd> ")
	for _, c := range commands {
		if !strings.Contains(out, c.name) {
			t.Errorf("help does not list %q", c.name)
		}
	}
	if out := p.cmd("help kbpk component", "posd> "); !strings.Contains(out, "roles: custodian") || !strings.Contains(out, "different custodian") {
		t.Errorf("help kbpk component: %q", out)
	}
	if out := p.cmd("help kbpk", "posd> "); !strings.Contains(out, "usage: kbpk component | kbpk cancel") {
		t.Errorf("help kbpk: %q", out)
	}
	if out := p.cmd("help nothing", "posd> "); !strings.Contains(out, "no such command") {
		t.Errorf("help nothing: %q", out)
	}
	if out := p.cmd("frobnicate s3cr3t", "posd> "); !strings.Contains(out, "unknown command") ||
		strings.Count(out, "s3cr3t") != 1 { // the echo only
		t.Errorf("unknown command: %q", out)
	}
	r.login(p, "eve01", engauth.RoleEngineer)
	if out := p.cmd("log 0", prompt("eve01", engauth.RoleEngineer)); !strings.Contains(out, "usage: log [N]") {
		t.Errorf("log 0: %q", out)
	}
}

// component1 and component2 are a KBPK's two components as the custodians
// type them (spaced, mixed case).
const (
	component1 = "0f1e2d3c 4b5a6978 8796a5b4 c3d2e1f0"
	component2 = "1122334455667788 99AABBCCDDEEFF00"
)

func compBytes(t *testing.T, s string) []byte {
	k, problem := parseComponent([]byte(s))
	if problem != "" {
		t.Fatal(problem)
	}
	return k
}

// enterComponent runs kbpk component as the logged-in custodian.
func enterComponent(p *port, idx string, comp string, pr string) string {
	p.t.Helper()
	p.send("kbpk component\r")
	p.expect("KBPK component " + idx + " of 2")
	p.expect("component: ")
	p.send(comp + "\r")
	out := p.expect("y/n: ")
	p.send("y\r")
	return out + p.expect(pr)
}

func (r *rig) componentSecrets() {
	for _, c := range []string{component1, component2} {
		r.secret(strings.ReplaceAll(c, " ", ""))
		for _, g := range strings.Fields(c) {
			r.secret(g)
		}
	}
}

func TestDualControl(t *testing.T) {
	r := newRig(t)
	r.componentSecrets()
	p := r.serve()
	alice, bob := prompt("alice", engauth.RoleCustodian), prompt("bob", engauth.RoleCustodian)

	r.login(p, "alice", engauth.RoleCustodian)
	out := enterComponent(p, "1", component1, alice)
	if !strings.Contains(out, "component 1 KCV: "+fakeKCV(compBytes(t, component1))) {
		t.Fatalf("component 1: %q", out)
	}
	if !strings.Contains(out, strings.Repeat("*", len(component1))+"\r\n") {
		t.Fatalf("component 1 not echoed as stars: %q", out)
	}
	r.c.mu.Lock()
	held := r.c.held.key
	r.c.mu.Unlock()
	p.send("logout\r")
	if out := p.expect("posd> "); !strings.Contains(out, "your KBPK component 1 stays held") {
		t.Fatalf("logout: %q", out)
	}

	// The same custodian cannot enter component 2.
	r.login(p, "alice", engauth.RoleCustodian)
	out = p.cmd("kbpk component", alice)
	if !strings.Contains(out, "must be entered by a different custodian") || strings.Contains(out, "component: ") {
		t.Fatalf("component 2 by alice: %q", out)
	}
	p.logout()

	// A second custodian: a wrong length first, then the real one.
	r.login(p, "bob", engauth.RoleCustodian)
	p.send("kbpk component\r")
	p.expect("component 1 was entered by alice")
	p.expect("component: ")
	p.send(strings.Repeat("AB", 24) + "\r")
	if out := p.expect("component: "); !strings.Contains(out, "component 2 must be as long as component 1 (32 hex digits)") {
		t.Fatalf("short component 2: %q", out)
	}
	// An empty line stops.
	p.send("\r")
	if out := p.expect(bob); !strings.Contains(out, "component entry abandoned") {
		t.Fatalf("empty component 2: %q", out)
	}
	out = enterComponent(p, "2", component2, bob)
	if !strings.Contains(out, "component 2 KCV: "+fakeKCV(compBytes(t, component2))) ||
		!strings.Contains(out, "KBPK loaded, KCV C0FFEE") {
		t.Fatalf("component 2: %q", out)
	}
	if strings.Contains(out, fakeKCV(compBytes(t, component1))) {
		t.Fatalf("component 1's KCV shown to the second custodian: %q", out)
	}
	r.term.mu.Lock()
	a, b := r.term.kbpkA, r.term.kbpkB
	r.term.mu.Unlock()
	if !bytes.Equal(a, compBytes(t, component1)) || !bytes.Equal(b, compBytes(t, component2)) {
		t.Fatalf("LoadKBPK got %x, %x", a, b)
	}
	if !bytes.Equal(held, make([]byte, len(held))) {
		t.Fatal("component 1 not wiped after the load")
	}
	if _, _, ok := r.c.heldBy(); ok {
		t.Fatal("a component is still held")
	}
	r.wantEvents(t,
		"kbpk_component alice custodian: component 1 confirmed, KCV",
		"refused alice custodian: kbpk component",
		"kbpk_load bob custodian: components of alice and bob",
		"kbpk_load bob custodian: loaded, KCV C0FFEE",
	)
}

func TestDualControlFailedLoadWipesBoth(t *testing.T) {
	r := newRig(t)
	r.componentSecrets()
	r.term.kbpkErr = errors.New("keystore: full")
	p := r.serve()
	r.login(p, "alice", engauth.RoleCustodian)
	enterComponent(p, "1", component1, prompt("alice", engauth.RoleCustodian))
	p.logout()
	r.login(p, "bob", engauth.RoleCustodian)
	out := enterComponent(p, "2", component2, prompt("bob", engauth.RoleCustodian))
	if !strings.Contains(out, "KBPK load failed: refused: the key store could not take it") || !strings.Contains(out, "both components wiped") {
		t.Fatalf("failed load: %q", out)
	}
	if _, _, ok := r.c.heldBy(); ok {
		t.Fatal("component 1 still held after a failed load")
	}
}

func TestDualControlHoldExpires(t *testing.T) {
	r := newRig(t)
	r.componentSecrets()
	p := r.serve()
	r.login(p, "alice", engauth.RoleCustodian)
	enterComponent(p, "1", component1, prompt("alice", engauth.RoleCustodian))
	r.c.mu.Lock()
	held := r.c.held.key
	r.c.mu.Unlock()
	p.logout()
	r.clk.Advance(ComponentHold)
	p.expect("KBPK component 1 (entered by alice) was not completed within 15m0s: wiped")
	if !bytes.Equal(held, make([]byte, len(held))) {
		t.Fatal("component 1 not wiped at expiry")
	}
	r.login(p, "bob", engauth.RoleCustodian)
	p.send("kbpk component\r")
	p.expect("KBPK component 1 of 2")
	p.send("\x03")
	p.expect("component entry abandoned")
	if !r.hasEvent("kbpk_component alice custodian: component 1 expired: wiped") {
		t.Fatalf("audit %q", r.events())
	}
}

func TestKBPKComponentRefusals(t *testing.T) {
	r := newRig(t)
	r.componentSecrets()
	p := r.serve()
	pr := prompt("alice", engauth.RoleCustodian)
	r.login(p, "alice", engauth.RoleCustodian)
	for _, bad := range []string{"0f1e2d3c4b5a6978", "0f1e2d3c4b5a6978 8796a5b4c3d2e1fZ"} {
		p.send("kbpk component\r")
		p.expect("component: ")
		p.send(bad + "\r")
		out := p.expect("component: ")
		if !strings.Contains(out, "nothing kept") || !strings.Contains(out, "type the whole component again") || strings.Contains(out, bad) {
			t.Fatalf("bad component: %q", out)
		}
		p.send("\r")
		if out := p.expect(pr); !strings.Contains(out, "component entry abandoned") {
			t.Fatalf("empty line after a bad component: %q", out)
		}
	}
	if _, _, ok := r.c.heldBy(); ok {
		t.Fatal("a refused component is held")
	}
	// Refused, then typed again: held; y/n asks again until answered.
	p.send("kbpk component\r")
	p.expect("component: ")
	p.send("0f1e2d3c4b5a6978\r")
	p.expect("nothing kept")
	p.expect("component: ")
	p.send(component1 + "\r")
	p.expect("y/n: ")
	p.send("maybe\r")
	p.expect("answer y or n")
	p.expect("y/n: ")
	p.send("YES\r")
	if out := p.expect(pr); !strings.Contains(out, "component 1 held in memory") {
		t.Fatalf("component typed again: %q", out)
	}
	p.cmd("kbpk cancel", pr)
	// Not confirmed: wiped, nothing held.
	p.send("kbpk component\r")
	p.expect("component: ")
	p.send(component1 + "\r")
	p.expect("y/n: ")
	p.send("n\r")
	if out := p.expect(pr); !strings.Contains(out, "component 1 wiped") {
		t.Fatalf("not confirmed: %q", out)
	}
	if _, _, ok := r.c.heldBy(); ok {
		t.Fatal("an unconfirmed component is held")
	}
	// Held, then cancelled.
	enterComponent(p, "1", component1, pr)
	if out := p.cmd("kbpk cancel", pr); !strings.Contains(out, "KBPK component 1 (entered by alice) wiped") {
		t.Fatalf("cancel: %q", out)
	}
	if _, _, ok := r.c.heldBy(); ok {
		t.Fatal("held after cancel")
	}
}

func TestKeyLoad(t *testing.T) {
	r := newRig(t)
	block := "D0112B0AX00N0000" + strings.Repeat("A1B2", 12)
	r.secret(block)
	p := r.serve()
	pr := prompt("carol", engauth.RoleCustodian)
	r.login(p, "carol", engauth.RoleCustodian)
	out := p.keyLoad(block, pr)
	if !strings.Contains(out, strings.Repeat("*", len(block))) || !strings.Contains(out, "KCV 1A2B3C, KSN FFFF9876543210E00000") {
		t.Fatalf("key load: %q", out)
	}
	r.term.mu.Lock()
	got := r.term.blocks
	r.term.mu.Unlock()
	if len(got) != 1 || got[0] != block {
		t.Fatalf("LoadKey got %q", got)
	}
	if out := p.cmd("kcv", pr); !strings.Contains(out, "KBPK KCV 3B5B6F\r\nBDK KCV 08D7B4") {
		t.Fatalf("kcv: %q", out)
	}
}

// TestFactoryReset: the dialog says what is erased and what is
// unsettled, asks about abandoning only when something is (no cancels),
// and always ends with the terminal id; every way out is audited.
func TestFactoryReset(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	pr := prompt("adam", engauth.RoleAdmin)
	r.login(p, "adam", engauth.RoleAdmin)
	resets := func() []bool {
		r.term.mu.Lock()
		defer r.term.mu.Unlock()
		return slices.Clone(r.term.resets)
	}

	// Nothing unsettled: no question about abandoning; a wrong terminal
	// id cancels.
	p.send("factory-reset\r")
	out := p.expect("type the terminal id to confirm (anything else cancels): ")
	for _, want := range []string{"erases this terminal's keys, parameters and transactions", "nothing is unsettled"} {
		if !strings.Contains(out, want) {
			t.Errorf("before the terminal id, %q is not said: %q", want, out)
		}
	}
	if strings.Contains(out, "yes/no") {
		t.Errorf("asked about abandoning with nothing unsettled: %q", out)
	}
	p.send("T0002\r")
	if out := p.expect(pr); !strings.Contains(out, "factory reset cancelled") {
		t.Fatalf("wrong id: %q", out)
	}
	// An empty answer cancels too.
	p.send("factory-reset\r")
	p.expect("cancels): ")
	p.send("\r")
	p.expect("factory reset cancelled")
	p.expect(pr)

	// Something unsettled: shown with its amount; no cancels at once,
	// before the terminal id is asked.
	r.term.mu.Lock()
	r.term.unsettled, r.term.unsettledText = 3, "2 transactions of the open batch not settled (CNY 12.00) and 1 reversal or advice waiting for the host (CNY 3.00)"
	r.term.mu.Unlock()
	p.send("factory-reset\r")
	out = p.expect("yes/no: ")
	if !strings.Contains(out, "unsettled: 2 transactions of the open batch not settled (CNY 12.00) and 1 reversal or advice waiting for the host (CNY 3.00)") {
		t.Errorf("what is unsettled is not shown: %q", out)
	}
	p.send("no\r")
	out = p.expect(pr)
	if !strings.Contains(out, "factory reset cancelled") || strings.Contains(out, "terminal id") {
		t.Fatalf("no: %q", out)
	}
	// Neither yes nor no cancels.
	p.send("factory-reset\r")
	p.expect("yes/no: ")
	p.send("y\r")
	if out := p.expect(pr); !strings.Contains(out, "answer yes or no: factory reset cancelled") {
		t.Fatalf("answer y: %q", out)
	}
	// yes, then a wrong terminal id.
	p.send("factory-reset\r")
	p.expect("yes/no: ")
	p.send("yes\r")
	p.expect("cancels): ")
	p.send("t0001\r")
	p.expect("factory reset cancelled")
	p.expect(pr)
	if got := resets(); len(got) != 0 {
		t.Fatalf("FactoryReset called %v after cancellations", got)
	}
	// yes, and a reversal queued before the terminal id: cancelled, what
	// was agreed to is no longer what would be abandoned.
	p.send("factory-reset\r")
	p.expect("yes/no: ")
	p.send("yes\r")
	p.expect("cancels): ")
	r.term.mu.Lock()
	r.term.unsettled, r.term.unsettledText = 4, "2 transactions of the open batch not settled (CNY 12.00) and 2 reversals or advices waiting for the host (CNY 5.00)"
	r.term.mu.Unlock()
	p.send(tid + "\r")
	if out := p.expect(pr); !strings.Contains(out, "changed meanwhile: factory reset cancelled") {
		t.Fatalf("changed meanwhile: %q", out)
	}
	r.term.mu.Lock()
	r.term.unsettled, r.term.unsettledText = 3, "2 transactions of the open batch not settled (CNY 12.00) and 1 reversal or advice waiting for the host (CNY 3.00)"
	r.term.mu.Unlock()
	// yes and the terminal id: abandoned.
	p.send("factory-reset\r")
	p.expect("yes/no: ")
	p.send("YES\r")
	p.expect("cancels): ")
	p.send(tid + "\r")
	p.expect("factory reset done")
	p.expect("posd> ") // logged out
	// Nothing unsettled and the terminal id: erased, nothing abandoned.
	r.term.mu.Lock()
	r.term.unsettled, r.term.unsettledText = 0, ""
	r.term.mu.Unlock()
	r.login(p, "adam", engauth.RoleAdmin)
	p.send("factory-reset\r")
	p.expect("cancels): ")
	p.send(tid + "\r")
	p.expect("factory reset done")
	p.expect("posd> ")
	if got := resets(); !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("FactoryReset calls %v", got)
	}
	r.wantEvents(t,
		"factory_reset adam admin: cancelled at the terminal id (not typed)",
		"factory_reset adam admin: cancelled at the terminal id (no answer)",
		"factory_reset adam admin: cancelled at the question whether to abandon 3 unsettled (answered no)",
		"factory_reset adam admin: cancelled at the question whether to abandon 3 unsettled (answered neither yes nor no)",
		"factory_reset adam admin: cancelled at the terminal id (not typed)",
		"factory_reset adam admin: cancelled at the terminal id (the unsettled transactions changed meanwhile)",
		"factory_reset adam admin: requested, abandon unsettled=true (3 unsettled)",
		"factory_reset adam admin: done",
		"factory_reset adam admin: requested, abandon unsettled=false (nothing unsettled)",
		"factory_reset adam admin: done",
	)
}

func TestRestart(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	pr := prompt("eve01", engauth.RoleEngineer)
	r.login(p, "eve01", engauth.RoleEngineer)
	p.send("restart\r")
	p.expect("confirm: ")
	p.send("restart\r")
	p.expect("restart cancelled")
	p.expect(pr)
	p.send("restart\r")
	p.expect("confirm: ")
	p.send("RESTART\r")
	p.expect("restarting")
	p.expect(pr)
	if r.term.restarts != 1 {
		t.Fatalf("%d restarts", r.term.restarts)
	}
}

func TestLineEditingThroughTheConsole(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	// Backspace (both codes), Ctrl-U, an arrow key, a byte >= 0x80.
	out := p.cmd("whx\bo\x1b[Dam\xffiq\x7f", "posd> ")
	if !strings.Contains(out, "not logged in") {
		t.Fatalf("edited line: %q", out)
	}
	if !strings.HasPrefix(out, "whx\b \bo"+"am"+"iq\b \b\r\n") {
		t.Fatalf("echo: %q", out)
	}
	out = p.cmd("rubbish\x15whoami", "posd> ")
	if !strings.Contains(out, strings.Repeat("\b \b", 7)) || !strings.Contains(out, "not logged in") {
		t.Fatalf("Ctrl-U: %q", out)
	}
	// Ctrl-C abandons the line: nothing runs.
	p.send("status\x03")
	if out := p.expect("posd> "); out != "status^C\r\nposd> " {
		t.Fatalf("Ctrl-C: %q", out)
	}
	// CRLF is one line end, LF alone and CR alone are one each.
	p.send("whoami\r\nwhoami\nwhoami\r")
	p.send("help login\r")
	out = p.expect("roles: anyone")
	if n := strings.Count(out, "not logged in"); n != 3 {
		t.Fatalf("%d answers to three lines: %q", n, out)
	}
	if strings.Contains(out, "posd> posd> ") {
		t.Fatalf("CRLF made an empty line: %q", out)
	}
}

func TestLongLineAndGarbage(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	p.send(strings.Repeat("A", 5000) + "\r")
	out := p.expect("posd> ")
	if !strings.Contains(out, "line too long (more than 1024 bytes): ignored") {
		t.Fatalf("long line: %q", out[len(out)-200:])
	}
	// A run of hex digits: the first echoHex shown, the rest as '*'.
	if n, m := strings.Count(out, "A"), strings.Count(out, "*"); n != echoHex || n+m != MaxLine {
		t.Fatalf("%d bytes of the long line echoed (%d as *), want %d (%d shown)", n+m, m, MaxLine, echoHex)
	}
	// A floating line: random bytes, control characters, escapes.
	garbage := make([]byte, 1<<16)
	if _, err := r.rnd.Read(garbage); err != nil {
		t.Fatal(err)
	}
	p.send(string(garbage))
	p.send("\x03\r\nwhoami\r")
	p.expect("not logged in\r\nposd> ")
	r.login(p, "eve01", engauth.RoleEngineer)
	if out := p.cmd("whoami", prompt("eve01", engauth.RoleEngineer)); !strings.Contains(out, "eve01 (engineer)") {
		t.Fatalf("after garbage: %q", out)
	}
	for _, c := range p.transcript() {
		if c >= 0x80 || (c < 0x20 && c != '\r' && c != '\n' && c != '\b') {
			t.Fatalf("the console wrote byte %#x", c)
		}
	}
}

func TestAuditFailsClosed(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	pr := prompt("eve01", engauth.RoleEngineer)
	r.login(p, "eve01", engauth.RoleEngineer)
	if err := r.db.Close(); err != nil {
		t.Fatal(err)
	}
	if out := p.cmd("status", pr); !strings.Contains(out, "audit log unavailable: command refused") {
		t.Fatalf("status without an audit log: %q", out)
	}
	if slices.Contains(r.term.callList(), "status") {
		t.Fatal("status ran without an audit entry")
	}
	p.logout()
	if out := p.cmd("login", "posd> "); !strings.Contains(out, "login unavailable") {
		t.Fatalf("login without the lockout state: %q", out)
	}
	p.stop()
	// Reopen for the rig's final scan.
	db, err := bolt.Open(r.path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.db = db
	r.c = r.newConsole()
}

func TestServeEndsWhenThePortFails(t *testing.T) {
	r := newRig(t)
	srv, cli := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- r.c.Serve(context.Background(), srv) }()
	buf := make([]byte, 64)
	if _, err := cli.Read(buf); err != nil {
		t.Fatal(err)
	}
	// Another Serve on the same port is refused.
	if err := r.c.Serve(context.Background(), srv); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Serve on the port: %v", err)
	}
	_ = cli.Close()
	// The other side closing is a hang-up, whether the console sees it
	// writing the banner or reading.
	if err := <-done; !errors.Is(err, ErrIO) || !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Serve returned %v, want ErrDisconnected", err)
	}
	if !r.hasEvent("console_stop  : disconnected") {
		t.Fatalf("audit %q", r.events())
	}
}

func TestNoVerifierNoLogin(t *testing.T) {
	r := newRig(t)
	c, err := New(Opts{Terminal: r.term, TerminalID: tid, DB: r.db, Clock: r.clk})
	if err != nil {
		t.Fatal(err)
	}
	p := r.serveOn(c)
	if out := p.cmd("login", "posd> "); !strings.Contains(out, "login unavailable: no engineer authority key") || strings.Contains(out, "challenge") {
		t.Fatalf("login without a verifier: %q", out)
	}
}

// noDeadlines is a port like the board's UART: no deadlines, a Read that
// returns only when bytes come or the port is closed.
type noDeadlines struct {
	io.Reader
	io.Writer
}

func TestServeOnAPortWithoutDeadlines(t *testing.T) {
	r := newRig(t)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.c.Serve(ctx, &noDeadlines{inR, outW}) }()
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	if _, err := inW.Write([]byte("whoami\r")); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve returned %v", err)
	}
	// The board closes the port at halt: the reader goroutine ends.
	_ = inW.Close()
	_ = outR.Close()
}

func TestLogoutOnShutdown(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	r.login(p, "eve01", engauth.RoleEngineer)
	p.stop()
	if !r.hasEvent("logout eve01 engineer: shutdown") {
		t.Fatalf("audit %q", r.events())
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	r := newRig(t)
	v := &engauth.Verifier{Key: r.pub, Terminal: tid}
	for name, o := range map[string]Opts{
		"no terminal":   {Verifier: v, TerminalID: tid, DB: r.db},
		"no db":         {Terminal: r.term, Verifier: v, TerminalID: tid},
		"other id":      {Terminal: r.term, Verifier: v, TerminalID: "T0002", DB: r.db},
		"bad id":        {Terminal: r.term, Verifier: &engauth.Verifier{Key: r.pub, Terminal: "T 1"}, TerminalID: "T 1", DB: r.db},
		"negative idle": {Terminal: r.term, Verifier: v, TerminalID: tid, DB: r.db, IdleTimeout: -time.Second},
	} {
		if _, err := New(o); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := r.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLockout).Put(keySchema, []byte("2"))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Opts{Terminal: r.term, Verifier: v, TerminalID: tid, DB: r.db}); !errors.Is(err, ErrSchema) {
		t.Fatalf("schema 2: %v", err)
	}
	// Newer, but usable by this build by its own word.
	if err := r.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLockout).Put(keyCompat, []byte("1"))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Opts{Terminal: r.term, Verifier: v, TerminalID: tid, DB: r.db}); err != nil {
		t.Fatalf("schema 2, compat 1: %v", err)
	}
	if err := r.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLockout).Delete(keyCompat)
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLockout).Put(keySchema, []byte("1"))
	}); err != nil {
		t.Fatal(err)
	}
}

func TestAuditKeepsTheNewest(t *testing.T) {
	r := newRig(t)
	if err := r.db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(r.path, 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	r.db = db
	r.c = r.newConsole()
	for i := range MaxAudit + 5 {
		if err := r.c.audit("eve01", "engineer", "command", "n"+string(rune('a'+i%26))); err != nil {
			t.Fatal(err)
		}
	}
	es, err := r.c.Audit(MaxAudit + 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != MaxAudit || es[0].Seq != 6 || es[len(es)-1].Seq != MaxAudit+5 {
		t.Fatalf("%d entries, %d..%d", len(es), es[0].Seq, es[len(es)-1].Seq)
	}
	last, err := r.c.Audit(2)
	if err != nil || len(last) != 2 || last[1].Seq != MaxAudit+5 || !last[1].Time.Equal(t0) {
		t.Fatalf("Audit(2) = %+v, %v", last, err)
	}
	if none, err := r.c.Audit(0); err != nil || len(none) != 0 {
		t.Fatalf("Audit(0) = %v, %v", none, err)
	}
}

// TestLoginRefusalNamesTheTarget: a token refused for naming another
// terminal or a group this terminal is not in says what it names and what
// this terminal is (its id and console.groups), so the engineer can have
// the right token made instead of calling the help desk about the
// console.
func TestLoginRefusalNamesTheTarget(t *testing.T) {
	for _, tc := range []struct{ target, want string }{
		{"T0002", "token is for another terminal: it names T0002; this terminal is " + tid + " (groups: none)"},
		{"group:north", "token is for another terminal: it names group:north; this terminal is " + tid + " (groups: none)"},
	} {
		r := newRig(t)
		p := r.serve()
		ch := p.challenge()
		p.send(r.token("eve01", engauth.RoleEngineer, ch, func(c *engauth.Claims) { c.Terminal = tc.target }) + "\r")
		if out := p.expect("posd> "); !strings.Contains(out, "login failed: "+tc.want+"\r\n") {
			t.Errorf("token for %s: %q", tc.target, out)
		}
		p.stop()
	}
}

// A challenge waits ChallengeLifetime for its token: one pasted later,
// signed and unexpired though it is, does not log in, and the refusal is
// audited without counting towards the lockout.
func TestChallengeExpires(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	for i := 0; i < 3; i++ { // as many as would lock the console
		ch := p.challenge()
		r.clk.Advance(ChallengeLifetime + time.Second)
		p.send(r.token("eve01", engauth.RoleEngineer, ch, nil) + "\r")
		out := p.expect("posd> ")
		if !strings.Contains(out, "login failed: the challenge is more than 5m0s old") || strings.Contains(out, "logged in as") {
			t.Fatalf("token for an expired challenge: %q", out)
		}
	}
	if !r.hasEvent("login_failed") {
		t.Fatalf("audit %q", r.events())
	}
	// Not locked: a token for a fresh challenge logs in.
	r.login(p, "eve01", engauth.RoleEngineer)
}

// A KBPK already stored is not replaced unknowingly: component 1 is asked
// for after a warning naming the stored KBPK's KCV, and the load says and
// audits which KBPK it replaced.
func TestKBPKReplacementWarns(t *testing.T) {
	r := newRig(t)
	r.componentSecrets()
	r.term.mu.Lock()
	r.term.kbpk = "0DDBA1"
	r.term.mu.Unlock()
	p := r.serve()
	alice, bob := prompt("alice", engauth.RoleCustodian), prompt("bob", engauth.RoleCustodian)
	r.login(p, "alice", engauth.RoleCustodian)
	p.send("kbpk component\r")
	if out := p.expect("KBPK component 1 of 2"); !strings.Contains(out, "a KBPK is stored (KCV 0DDBA1): these two components replace it") {
		t.Fatalf("no warning before component 1: %q", out)
	}
	p.expect("component: ")
	p.send(component1 + "\r")
	p.expect("y/n: ")
	p.send("y\r")
	p.expect(alice)
	p.logout()
	r.login(p, "bob", engauth.RoleCustodian)
	if out := enterComponent(p, "2", component2, bob); !strings.Contains(out, "KBPK loaded, KCV C0FFEE (replacing KCV 0DDBA1)") {
		t.Fatalf("component 2: %q", out)
	}
	if !r.hasEvent("kbpk_load bob custodian: loaded, KCV C0FFEE, replacing KCV 0DDBA1") {
		t.Fatalf("audit %q", r.events())
	}
}

// dbWrites is how many pages the rig's database has written so far.
func dbWrites(r *rig) int64 {
	st := r.db.Stats()
	return st.TxStats.GetWrite()
}

// TestLoginAttemptsAuditedSparingly: every login is audited, also one
// typed at a locked console or abandoned before a token is checked, but
// such logins are written at most once a minute, the others counted into
// the next login entry. A screwdriver on the port can send thousands of
// them a second; each commit is a flash write and an fsync, holds the
// database's one writer that the payment engine needs, and pushes an
// older entry out of the log.
func TestLoginAttemptsAuditedSparingly(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	entries := func() int { return len(r.events()) }
	before := entries()
	for range 5 {
		p.send("login\r\x03")
		p.expect("login abandoned")
		p.expect("posd> ")
	}
	if n := entries() - before; n != 1 {
		t.Errorf("5 abandoned logins wrote %d audit entries, want 1", n)
	}
	r.wantEvents(t, "login_failed  : abandoned (challenge given, no token)")
	for range LockAfter {
		p.challenge()
		p.send("not-a-token\r")
		p.expect("posd> ")
	}
	r.wantEvents(t, "login_failed  : malformed; failure 1 in a row; 4 more logins without a verified token before")
	pages := dbWrites(r)
	for range 5 {
		if out := p.cmd("login", "posd> "); !strings.Contains(out, "login locked") {
			t.Fatalf("login while locked: %q", out)
		}
	}
	if n := dbWrites(r) - pages; n != 0 {
		t.Errorf("5 logins while locked, within a minute of the last one written, wrote %d pages", n)
	}
	// The lock still ends when it should; the login counts them.
	r.clk.Advance(FirstLock)
	r.login(p, "eve01", engauth.RoleEngineer)
	r.wantEvents(t, "login eve01 engineer: until")
	if !strings.Contains(r.events()[len(r.events())-1], "5 more logins without a verified token before") {
		t.Errorf("the login does not count the ones refused while locked: %q", r.events())
	}
	p.logout()
	// A minute on, one is written again.
	r.clk.Advance(loginNoteEvery)
	p.send("login\r\x03")
	p.expect("login abandoned")
	p.expect("posd> ")
	n := 0
	for _, e := range r.events() {
		if strings.HasPrefix(e, "login_failed  : abandoned") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d abandoned logins audited a minute apart, want 2: %q", n, r.events())
	}
}

// TestComponentRowsNeverEchoed: a custodian types a component the way the
// form prints it, in rows, eyes on the paper. No row may come back in
// clear at whatever prompt it lands on: the component prompt again after a
// row too short to be a component, the y/n question after a row that
// happens to have a valid length, the command prompt after the session
// was logged out while the custodian fetched the form.
func TestComponentRowsNeverEchoed(t *testing.T) {
	r := newRig(t)
	rows := []string{
		"0f1e2d3c4b5a6978", "8796a5b4c3d2e1f0", // two rows of a TDES component
		"00112233445566778899aabbccddeeff", "ffeeddccbbaa99887766554433221100", // two rows of an AES-256 one
		"1029384756afbecd", "a1b2c3d4e5f60718",
	}
	for _, row := range rows {
		r.secret(row)
	}
	p := r.serve()
	pr := prompt("alice", engauth.RoleCustodian)
	r.login(p, "alice", engauth.RoleCustodian)

	// Rows of 16 digits: each is refused, none lands at the command prompt.
	p.send("kbpk component\r")
	p.expect("component: ")
	p.send(rows[0] + "\r" + rows[1] + "\r\x03")
	p.expect("^C\r\n")
	p.expect(pr)
	if out := p.cmd("whoami", pr); !strings.Contains(out, "alice (custodian)") {
		t.Fatalf("whoami: %q", out)
	}

	// Rows of 32 digits: the first is a component; the second answers
	// the y/n question.
	p.send("kbpk component\r")
	p.expect("component: ")
	p.send(rows[2] + "\r" + rows[3] + "\r")
	p.expect("y/n: ")
	p.send("n\r")
	p.expect("component 1 wiped")
	p.expect(pr)

	// Logged out while fetching the form: the component typed afterwards
	// lands at the command prompt.
	p.send("kbpk component\r")
	p.expect("component: ")
	r.clk.Advance(DefaultIdleTimeout)
	p.expect("logged out")
	p.expect("posd> ")
	p.send(rows[4] + "\r")
	p.expect("posd> ")

	// Refused for want of a login: the same.
	p.send("kbpk component\r")
	p.expect("not logged in")
	p.expect("posd> ")
	p.send(rows[5] + "\r")
	p.expect("posd> ")
	if out := p.cmd("whoami", "posd> "); !strings.Contains(out, "not logged in") {
		t.Fatalf("whoami: %q", out)
	}

	got := strings.ToLower(p.transcript())
	for i, row := range rows {
		if strings.Contains(got, row) {
			t.Errorf("row %d of a component echoed in clear", i)
		}
	}
}

// TestIdleIgnoresLineNoise: bytes that are no keystroke (a floating or
// unplugged line's 0xFF, stray control bytes)
// do not keep a session alive: the custodian who left with the cable
// still in the port is logged out on time, before the next person at the
// port gets the session.
func TestIdleIgnoresLineNoise(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	r.login(p, "eve01", engauth.RoleEngineer)
	r.clk.Advance(4 * time.Minute)
	// net.Pipe: the second write returns once the console took the first.
	// (A NUL, a break, logs out at once: TestBreakLogsOut.)
	p.send("\xff\xfe\x11\x13")
	p.send("\xff\xf0\x80")
	r.clk.Advance(time.Minute)
	p.expect("idle for 5m0s: logged out")
	p.expect("posd> ")
	if !r.hasEvent("logout eve01 engineer: idle") {
		t.Fatalf("audit %q", r.events())
	}
}

// TestExpiredTokenTellsTheClocks: a token refused for its expiry says
// which way it is wrong and what this terminal's clock reads, so that the
// engineer can tell a stale token from a terminal whose clock is off.
func TestExpiredTokenTellsTheClocks(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	ch := p.challenge()
	p.send(r.token("eve01", engauth.RoleEngineer, ch, func(c *engauth.Claims) { c.Expiry = t0.Add(-time.Second) }) + "\r")
	out := p.expect("posd> ")
	for _, want := range []string{"token expired at 2026-03-04T09:59:59Z", "this terminal's clock reads 2026-03-04T10:00:00Z"} {
		if !strings.Contains(out, want) {
			t.Errorf("expired token: no %q in %q", want, out)
		}
	}
	ch = p.challenge()
	p.send(r.token("eve01", engauth.RoleEngineer, ch, func(c *engauth.Claims) { c.Expiry = t0.Add(25 * time.Hour) }) + "\r")
	out = p.expect("posd> ")
	for _, want := range []string{"token valid until 2026-03-05T11:00:00Z", "more than 24h0m0s ahead", "this terminal's clock reads 2026-03-04T10:00:00Z"} {
		if !strings.Contains(out, want) {
			t.Errorf("token for too long: no %q in %q", want, out)
		}
	}
}

// TestUsageSaysTheRange: a count out of range is answered with the range.
func TestUsageSaysTheRange(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	pr := prompt("eve01", engauth.RoleEngineer)
	r.login(p, "eve01", engauth.RoleEngineer)
	for _, line := range []string{"log 0", "log 9999", "txns x", "log 1 2"} {
		if out := p.cmd(line, pr); !strings.Contains(out, "[N] (N from 1 to 500)") {
			t.Errorf("%s: %q", line, out)
		}
	}
	if out := p.cmd("help log", pr); !strings.Contains(out, "usage: log [N] (N from 1 to 500)") {
		t.Errorf("help log: %q", out)
	}
}

// TestLockHoldsForAChallengeAlreadyShown: the lock applies to every token
// that arrives while it lasts, also one answering a challenge printed
// before it began (on another port of the same console).
func TestLockHoldsForAChallengeAlreadyShown(t *testing.T) {
	r := newRig(t)
	a := r.serve()
	b := r.serve()
	ch := a.challenge()
	for range LockAfter {
		b.challenge()
		b.send("not-a-token\r")
		b.expect("posd> ")
	}
	a.send(r.token("eve01", engauth.RoleEngineer, ch, nil) + "\r")
	out := a.expect("\r\nposd") // the prompt of either outcome
	out += a.expect("> ")
	if strings.Contains(out, "logged in as") || !strings.Contains(out, "login locked after repeated failures: try again in 30s") {
		t.Fatalf("token during the lock: %q", out)
	}
	// Refused unverified: not one more failure (the lock stays 30 s).
	r.clk.Advance(FirstLock)
	r.login(a, "eve01", engauth.RoleEngineer)
}

// TestComponentAfterRefusalNotEchoed: the custodian of component 1 who
// runs kbpk component again is refused; the component typed right after,
// eyes on the form, lands at the command prompt and must not come back in
// clear.
func TestComponentAfterRefusalNotEchoed(t *testing.T) {
	r := newRig(t)
	r.componentSecrets()
	p := r.serve()
	pr := prompt("alice", engauth.RoleCustodian)
	r.login(p, "alice", engauth.RoleCustodian)
	enterComponent(p, "1", component1, pr)
	p.send("kbpk component\r")
	p.expect("must be entered by a different custodian")
	p.expect(pr)
	p.send(component2 + "\r")
	p.expect("unknown command")
	p.expect(pr)
	if strings.Contains(p.transcript(), component2) {
		t.Fatal("component 2 echoed in clear")
	}
}

// TestCtrlDLogsOut: Ctrl-D on an empty command line logs out, as a login
// shell does: the engineer who leaves that way must not leave the session
// open for the next person at the port. Anywhere else it changes nothing
// but cancelling the question it answers.
func TestCtrlDLogsOut(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	pr := prompt("eve01", engauth.RoleEngineer)
	r.login(p, "eve01", engauth.RoleEngineer)
	// Inside a line: dropped.
	if out := p.cmd("who\x04ami", pr); !strings.Contains(out, "eve01 (engineer)") {
		t.Fatalf("Ctrl-D inside a line: %q", out)
	}
	// At a question: cancels it.
	p.send("restart\r")
	p.expect("type RESTART to confirm: ")
	p.send("\x04")
	p.expect("restart cancelled")
	p.expect(pr)
	// On an empty command line: logs out.
	p.send("\x04")
	p.expect("logged out")
	p.expect("posd> ")
	if out := p.cmd("whoami", "posd> "); !strings.Contains(out, "not logged in") {
		t.Fatalf("whoami after Ctrl-D: %q", out)
	}
	if !r.hasEvent("logout eve01 engineer: command") {
		t.Fatalf("audit %q", r.events())
	}
	if r.term.restarts != 0 {
		t.Fatal("restarted")
	}
}

// TestDualControlIgnoresCase: engineer ids that differ only in case are
// one person (directories compare them so): the custodian of component 1
// cannot enter component 2 under another spelling of the same id.
func TestDualControlIgnoresCase(t *testing.T) {
	r := newRig(t)
	r.componentSecrets()
	p := r.serve()
	r.login(p, "cusA", engauth.RoleCustodian)
	enterComponent(p, "1", component1, prompt("cusA", engauth.RoleCustodian))
	p.send("logout\r")
	if out := p.expect("posd> "); !strings.Contains(out, "your KBPK component 1 stays held") {
		t.Fatalf("logout: %q", out)
	}
	up := prompt("CUSA", engauth.RoleCustodian)
	r.login(p, "CUSA", engauth.RoleCustodian)
	out := p.cmd("kbpk component", up)
	if !strings.Contains(out, "must be entered by a different custodian") || strings.Contains(out, "component: ") {
		t.Fatalf("component 2 by CUSA after cusA: %q", out)
	}
	p.send("logout\r")
	if out := p.expect("posd> "); !strings.Contains(out, "your KBPK component 1 stays held") {
		t.Fatalf("logout of CUSA does not say the component is theirs: %q", out)
	}
	if _, _, ok := r.c.heldBy(); !ok {
		t.Fatal("component 1 no longer held")
	}
	r.term.mu.Lock()
	loaded := r.term.kbpkA != nil
	r.term.mu.Unlock()
	if loaded || r.hasEvent("kbpk_load") {
		t.Fatalf("KBPK loaded from one custodian's two components: %q", r.events())
	}
	if !r.hasEvent("refused CUSA custodian: kbpk component") {
		t.Fatalf("refusal not audited: %q", r.events())
	}
}

// TestLoadFailuresAuditTheReason: the audit log of a failed key or KBPK
// load says why, by the error's class, as the console does: never the
// error's own text, which may quote what was pasted.
func TestLoadFailuresAuditTheReason(t *testing.T) {
	r := newRig(t)
	r.componentSecrets()
	block := "D0112B0EX00N0000" + strings.Repeat("A1B2", 12)
	r.secret(block)
	r.term.keyErr = fmt.Errorf("%w: mode of use E for a DUKPT initial key (want X or N)", keyload.ErrUsage)
	r.term.kbpkErr = errors.New("keystore: full")
	p := r.serve()
	pr := prompt("carol", engauth.RoleCustodian)
	r.login(p, "carol", engauth.RoleCustodian)
	if out := p.keyLoad(block, pr); !strings.Contains(out, "key load failed: key usage not accepted: a DUKPT initial key (B1), mode of use X or N") {
		t.Fatalf("key load: %q", out)
	}
	enterComponent(p, "1", component1, pr)
	p.logout()
	r.login(p, "dave", engauth.RoleCustodian)
	enterComponent(p, "2", component2, prompt("dave", engauth.RoleCustodian))
	r.wantEvents(t,
		"key_load carol custodian: failed: key usage not accepted: a DUKPT initial key (B1)",
		"kbpk_load dave custodian: failed: refused: the key store could not take it",
	)
}

// TestRestartAndResetRefusedDuringASale: while a transaction is in
// progress, restart and factory-reset say so before asking for a
// confirmation; a sale that starts while the engineer confirms is still
// caught (the daemon checks again).
func TestRestartAndResetRefusedDuringASale(t *testing.T) {
	r := newRig(t)
	busy := errors.New("transaction 4002 is in progress: try again once it has ended")
	r.term.busy = busy
	p := r.serve()
	pr := prompt("adam", engauth.RoleAdmin)
	r.login(p, "adam", engauth.RoleAdmin)
	for _, c := range []struct{ cmd, want string }{
		{"restart", "restart refused: transaction 4002 is in progress"},
		{"factory-reset", "factory reset refused: transaction 4002 is in progress"},
	} {
		out := p.cmd(c.cmd, pr)
		if !strings.Contains(out, c.want) || strings.Contains(out, "confirm") {
			t.Errorf("%s during a sale: %q", c.cmd, out)
		}
	}
	r.wantEvents(t,
		"restart adam admin: refused: transaction 4002 is in progress",
		"factory_reset adam admin: refused: transaction 4002 is in progress",
	)
	if calls := r.term.callList(); slices.Contains(calls, "restart") || slices.Contains(calls, "factory reset") {
		t.Fatalf("daemon asked to restart or reset during a sale: %q", calls)
	}

	// A sale starts while the engineer types the confirmation.
	r.term.mu.Lock()
	r.term.busy = nil
	r.term.mu.Unlock()
	p.send("restart\r")
	p.expect("type RESTART to confirm: ")
	r.term.mu.Lock()
	r.term.busy = busy
	r.term.mu.Unlock()
	if out := p.cmd("RESTART", pr); !strings.Contains(out, "restart failed: transaction 4002 is in progress") {
		t.Fatalf("restart confirmed after a sale started: %q", out)
	}
	if !r.hasEvent("restart adam admin: failed: transaction 4002 is in progress") {
		t.Errorf("failed restart audited without its reason: %q", r.events())
	}
	if r.term.restarts != 0 {
		t.Fatalf("%d restarts", r.term.restarts)
	}
}

// TestTypedCardDataNotEchoed: a card number or a track typed or pasted at
// the command prompt comes back with its first 6 digits only; the line
// is refused without being repeated.
func TestTypedCardDataNotEchoed(t *testing.T) {
	r := newRig(t)
	r.secret("30121010000000000000")
	p := r.serve()
	pr := prompt("eve01", engauth.RoleEngineer)
	r.login(p, "eve01", engauth.RoleEngineer)
	if out := p.cmd(testPAN, pr); out != "476173**********\r\nunknown command: type help\r\n"+pr {
		t.Fatalf("PAN at the prompt: %q", out)
	}
	if out := p.cmd("help "+testPAN+"=30121010000000000000", pr); !strings.HasPrefix(out, "help 476173**********=********************\r\n") {
		t.Fatalf("track at the prompt: %q", out)
	}
	// Edited: the echo erases one column per byte, and the line is what
	// was typed.
	if out := p.cmd("txns 12345678\x7f\x7f\x7f\x7f\x7f\x7f\x7f", pr); !strings.HasPrefix(out, "txns 123456**"+strings.Repeat("\b \b", 7)+"\r\n") ||
		!strings.Contains(out, "0001 sale 12.50 approved 476173******0010") {
		t.Fatalf("edited line: %q", out)
	}
	if calls := r.term.callList(); !slices.Contains(calls, "txns 1") {
		t.Fatalf("calls %q", calls)
	}
}

// A component pasted at the key block prompt by mistake: the parser's
// refusal quotes the field it read, part of the component. Neither the
// screen nor the audit trail repeats it.
func TestKeyLoadFailureKeepsNoPartOfWhatWasPasted(t *testing.T) {
	r := newRig(t)
	pasted := "B9F3A8C2D17E4B6058A1C3E9D2F7B460"
	r.secret(pasted)
	r.term.keyErr = fmt.Errorf("%w: %w: length field %q", keyload.ErrBlock, tr31.ErrLength, pasted[1:5])
	p := r.serve()
	pr := prompt("carol", engauth.RoleCustodian)
	r.login(p, "carol", engauth.RoleCustodian)
	out := p.keyLoad(pasted, pr)
	if !strings.Contains(out, "key load failed: not a TR-31 key block") || strings.Contains(out, pasted[1:5]) {
		t.Fatalf("the console said %q", out)
	}
	r.wantEvents(t, "key_load carol custodian: failed: not a TR-31 key block")
	for _, e := range r.events() {
		if strings.Contains(e, pasted[1:5]) {
			t.Fatalf("audit entry %q holds part of what was pasted", e)
		}
	}
}

// TestKeyLoadFailureSaysWhy: each refusal of a key block is told by its
// class, a reused initial KSN as such (not "could not take it").
func TestKeyLoadFailureSaysWhy(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("keyload: installing: %w: KSN base FFFF9876543210E0 was used up to counter 12; load an initial key with a new KSN", dukptkeys.ErrKSNReuse),
			"this initial KSN was already used on this terminal: load an initial key with a new KSN"},
		{fmt.Errorf("%w: KS must be 20 (or 16) hex digits", keyload.ErrKSN), "the key block has no usable initial KSN (missing or malformed)"},
		{errors.New("keystore: full"), "refused: the key store could not take it"},
	} {
		if got := keyLoadFailure(c.err); got != c.want {
			t.Errorf("keyLoadFailure(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// An admin records a transaction set aside as settled by hand: the
// console shows it, asks for its id again, and audits the request and
// its outcome with the reference; an engineer may list but not settle;
// a wrong confirmation, an id not set aside, a bad outcome or id, and a
// reference the daemon refuses change nothing, and no card number
// typed in any of them is printed or audited.
func TestSettleByHandOnTheConsole(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	eng := prompt("eve01", engauth.RoleEngineer)
	r.login(p, "eve01", engauth.RoleEngineer)
	if out := p.cmd("aside list", eng); !strings.Contains(out, "7 face_not_reversed") {
		t.Fatalf("aside list: %q", out)
	}
	if out := p.cmd("aside settle 7 stands FP case 12", eng); !strings.Contains(out, "not allowed for engineer (needs admin)") {
		t.Fatalf("engineer: %q", out)
	}
	p.logout()

	adm := prompt("adam", engauth.RoleAdmin)
	r.login(p, "adam", engauth.RoleAdmin)
	for _, line := range []string{"aside settle", "aside settle 7", "aside settle 7 maybe T1", "aside settle x7 stands T1",
		"aside settle " + testPAN + " stands T1"} {
		if out := p.cmd(line, adm); !strings.Contains(out, "usage: aside settle ID OUTCOME REFERENCE") {
			t.Errorf("%q: %q", line, out)
		}
	}
	if out := p.cmd("aside settle 8 settled T1", adm); !strings.Contains(out, "aside settle refused: txn: not on the list") {
		t.Fatalf("not set aside: %q", out)
	}

	p.send("aside settle 7 STANDS FP case 12\r")
	if out := p.expect("confirm: "); !strings.Contains(out, "transaction 7: face_not_reversed, CNY 30.00") {
		t.Fatalf("shown before the confirmation: %q", out)
	}
	p.send("8\r")
	p.expect("settle by hand cancelled")
	p.expect(adm)

	// A reference the console cannot tell from a card number reaches
	// the daemon, which refuses it.
	p.send("aside settle 7 stands 4761.7390.0101.0010\r")
	p.expect("confirm: ")
	p.send("7\r")
	if out := p.expect(adm); !strings.Contains(out, "settle by hand failed: txn: settle-by-hand note refused") {
		t.Fatalf("a card number as the reference: %q", out)
	}

	p.send("aside settle 7 stands FP  case 12\r")
	p.expect("confirm: ")
	p.send("7\r")
	if out := p.expect(adm); !strings.Contains(out, "transaction 7 settled by hand: stands, reference FP case 12") {
		t.Fatalf("settled: %q", out)
	}
	if got := r.term.settledList(); len(got) != 1 || got[0] != (settled{"7", "stands", "FP case 12", "adam (admin)"}) {
		t.Fatalf("daemon asked for %+v", got)
	}
	r.wantEvents(t,
		"refused eve01 engineer: aside settle: not allowed for engineer",
		"settle_by_hand adam admin: 8: refused: txn: not on the list",
		"settle_by_hand adam admin: 7 stands: cancelled",
		"settle_by_hand adam admin: 7 stands: requested",
		"settle_by_hand adam admin: 7 stands: failed: txn: settle-by-hand note refused",
		"settle_by_hand adam admin: 7 stands reference FP case 12: recorded",
	)
}
