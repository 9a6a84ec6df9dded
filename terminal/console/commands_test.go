package console

import (
	"strings"
	"testing"

	"posd/terminal/engauth"
)

// TestUsageErrorsAuditedByCommandWord: a refused group command is audited
// by its command word, never its arguments.
func TestUsageErrorsAuditedByCommandWord(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	eng := prompt("eve01", engauth.RoleEngineer)
	r.login(p, "eve01", engauth.RoleEngineer)
	p.cmd("kbpk componet", eng)
	p.cmd("host", eng)
	p.cmd("ota foo", eng)
	p.cmd("ota s3cr3tword", eng)
	r.wantEvents(t, "command eve01 engineer: kbpk: usage error", "command eve01 engineer: host: usage error",
		"command eve01 engineer: ota: usage error")
	for _, e := range r.events() {
		if strings.Contains(e, "foo") || strings.Contains(e, "s3cr3t") || strings.HasSuffix(e, ": unknown") {
			t.Errorf("audit entry %q", e)
		}
	}
}

// TestUnknownCommandSuggests: a typo names the nearest command, without
// repeating what was typed.
func TestUnknownCommandSuggests(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	for _, tc := range []struct{ in, want string }{
		{"stauts", "unknown command: did you mean status?"},
		{"STATSU", "unknown command: did you mean status?"},
		{"lgoin", "unknown command: did you mean login?"},
		{"factory-rest", "unknown command: did you mean factory-reset?"},
		{"hots test", "unknown command: did you mean host test?"},
		{"otta check", "unknown command: did you mean one of ota status, ota history, ota check?"},
		{"kpbk component", "unknown command: did you mean one of kbpk component, kbpk cancel?"},
		{"xyzzy", "unknown command: type help"},
		{"q", "unknown command: type help"},
	} {
		out := p.cmd(tc.in, "posd> ")
		if !strings.Contains(out, tc.want) {
			t.Errorf("%s: %q, want %q", tc.in, out, tc.want)
		}
		if strings.Count(out, tc.in) != 1 { // the echo only
			t.Errorf("%s: the line is repeated: %q", tc.in, out)
		}
	}
}

// TestHelpSaysWhatHappens: the help of login and key load says how what
// is pasted is shown, and factory-reset's help names its question and the
// restart.
func TestHelpSaysWhatHappens(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	out := p.cmd("help", "posd> ")
	if strings.Contains(out, "not echoed") {
		t.Errorf("help says not echoed: %q", out)
	}
	for _, cmd := range []string{"login", "key load"} {
		if out := p.cmd("help "+cmd, "posd> "); !strings.Contains(out, "(shown as *)") {
			t.Errorf("help %s: %q", cmd, out)
		}
	}
	out = p.cmd("help factory-reset", "posd> ")
	for _, want := range []string{"terminal id", "yes or no", "unsettled transactions", "restarts", "logged out"} {
		if !strings.Contains(out, want) {
			t.Errorf("help factory-reset does not say %q: %q", want, out)
		}
	}
}
