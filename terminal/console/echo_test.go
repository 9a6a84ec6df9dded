package console

import (
	"strings"
	"testing"

	"posd/terminal/engauth"
)

// echoOf returns the echo of line in out: what came after prompt and
// before the line end.
func echoOf(t *testing.T, out, prompt string) string {
	t.Helper()
	_, after, ok := strings.Cut(out, prompt)
	if !ok {
		t.Fatalf("no prompt %q in %q", prompt, out)
	}
	echo, _, _ := strings.Cut(after, "\r\n")
	return echo
}

const typedComponent = "8A3F5C0E9B2D7146E1F0A2B3C4D5E6F7"

// TestComponentAfterUsageErrorNotEchoed: a custodian mistypes kbpk
// component, then types the component row at the next prompt: it never
// comes back, not even its first digits (the next line is masked as after
// a refused kbpk component).
func TestComponentAfterUsageErrorNotEchoed(t *testing.T) {
	r := newRig(t)
	r.secret(typedComponent[:16])
	r.secret(typedComponent[16:])
	p := r.serve()
	cus := prompt("cusA", engauth.RoleCustodian)
	r.login(p, "cusA", engauth.RoleCustodian)
	if out := p.cmd("kbpk componet", cus); !strings.Contains(out, "usage: kbpk component | kbpk cancel") {
		t.Fatalf("usage: %q", out)
	}
	p.send(typedComponent + "\r")
	out := p.expect(cus)
	if echo := echoOf(t, out, ""); echo != strings.Repeat("*", 32) {
		t.Fatalf("component echoed as %q", echo)
	}
}

// TestComponentAfterAbandonedEntryNotEchoed: Ctrl-C at the component
// prompt, then the row pasted at the command prompt.
func TestComponentAfterAbandonedEntryNotEchoed(t *testing.T) {
	r := newRig(t)
	grouped := "8A3F 5C0E 9B2D 7146 E1F0 A2B3 C4D5 E6F7"
	for _, g := range []string{"8A3F 5C0E", "9B2D 7146", "E1F0 A2B3", "C4D5 E6F7"} {
		r.secret(g)
	}
	p := r.serve()
	cus := prompt("cusA", engauth.RoleCustodian)
	r.login(p, "cusA", engauth.RoleCustodian)
	p.send("kbpk component\r")
	p.expect("component: ")
	p.send("\x03")
	p.expect(cus)
	p.send(grouped + "\r")
	out := p.expect(cus)
	if echo := echoOf(t, out, ""); echo != "**** **** **** **** **** **** **** ****" {
		t.Fatalf("component echoed as %q", echo)
	}
	r.wantEvents(t, "kbpk_component cusA custodian: component 1 entry abandoned (Ctrl-C or a line too long)")
}

// TestComponentPromptLeftByEmptyLine: an empty line at the component
// prompt (also after a refused row) is the custodian's own stop: the next
// command is echoed as typed, not with its letters a-f as '*', and the
// abandonment is audited (never what was typed).
func TestComponentPromptLeftByEmptyLine(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	cus := prompt("cusA", engauth.RoleCustodian)
	r.login(p, "cusA", engauth.RoleCustodian)
	p.send("kbpk component\r")
	p.expect("component: ")
	p.send("\r")
	if out := p.expect(cus); !strings.Contains(out, "component entry abandoned") {
		t.Fatalf("empty line: %q", out)
	}
	if echo := echoOf(t, p.cmd("kbpk cancel", cus), ""); echo != "kbpk cancel" {
		t.Errorf("the command after an empty line is echoed as %q", echo)
	}
	p.send("kbpk component\r")
	p.expect("component: ")
	p.send("zz\r")
	p.expect("component: ")
	p.send("\r")
	p.expect(cus)
	if echo := echoOf(t, p.cmd("whoami", cus), ""); echo != "whoami" {
		t.Errorf("the command after a refused row and an empty line is echoed as %q", echo)
	}
	if n := strings.Count(strings.Join(r.events(), "\n"), "kbpk_component cusA custodian: component 1 entry abandoned (empty line)"); n != 2 {
		t.Errorf("%d abandonments audited, want 2: %q", n, r.events())
	}
	for _, e := range r.events() {
		if strings.Contains(e, "zz") {
			t.Errorf("what was typed is audited: %q", e)
		}
	}
}

// TestKeysAndTokensNotEchoedLoggedOut: at posd>, a key or a token pasted
// by mistake comes back with its first few characters only.
func TestKeysAndTokensNotEchoedLoggedOut(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	for _, tc := range []struct{ in, echo string }{
		{"CAFEBABEDEADBEEFCAFEBABEDEADBEEF", "CAFEBA" + strings.Repeat("*", 26)},
		{"0123456789ABCDEF0123456789ABCDEF", "012345" + strings.Repeat("*", 26)},
	} {
		r.secret(tc.in[:16])
		out := p.cmd(tc.in, "posd> ")
		if echo := echoOf(t, out, ""); echo != tc.echo {
			t.Errorf("%.6s... echoed as %q", tc.in, echo)
		}
	}
	// A token for another console's challenge: registered as a secret, so
	// the rig fails the test if any of it but its first 15 characters
	// (the JSON's start) comes back.
	tok := r.token("alice", engauth.RoleAdmin, engauth.Challenge{Terminal: tid}, nil)
	pay, sig, _ := strings.Cut(tok, ".")
	r.secret(pay[15:])
	out := p.cmd(tok, "posd> ")
	echo := echoOf(t, out, "")
	if want := pay[:15] + strings.Repeat("*", len(pay)-15) + "." + sig[:0]; !strings.HasPrefix(echo, want) {
		t.Errorf("token echoed as %q", echo)
	}
	if strings.Count(echo, "*") < len(tok)-40 {
		t.Errorf("token echoed as %q", echo)
	}
}

// TestNonASCIISaidOnce: Chinese typed at the prompt is dropped and the
// engineer told once per line; the line goes on where it was.
func TestNonASCIISaidOnce(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	p.send("wh\u72b6\u6001oami\u00e9\r")
	out := p.expect("not logged in")
	if n := strings.Count(out, "only ASCII is taken"); n != 1 {
		t.Fatalf("told %d times: %q", n, out)
	}
	if !strings.Contains(out, "dropped\r\nposd> whoami\r\n") {
		t.Fatalf("the line is not shown again after the note: %q", out)
	}
}
