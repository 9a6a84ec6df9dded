package console

import (
	"slices"
	"strings"
	"testing"

	"posd/terminal/engauth"
)

// TestPrefixSuggestsTheCommand: the start of a command's word names that
// command first, before any one-typo neighbour ("sta" is status, not ota).
func TestPrefixSuggestsTheCommand(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	for _, tc := range []struct{ in, want string }{
		{"sta", "unknown command: did you mean status?"},
		{"facto", "unknown command: did you mean factory-reset?"},
		{"sel", "unknown command: did you mean selftest?"},
	} {
		if out := p.cmd(tc.in, "posd> "); !strings.Contains(out, tc.want) {
			t.Errorf("%s: %q, want %q", tc.in, out, tc.want)
		}
	}
}

// TestSubcommandTypoSuggests: a typo in the second word names the
// subcommand, after the usage; a word far from any names none.
func TestSubcommandTypoSuggests(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	eng := prompt("eve01", engauth.RoleEngineer)
	r.login(p, "eve01", engauth.RoleEngineer)
	for _, tc := range []struct{ in, want string }{
		{"ota stauts", "did you mean ota status?"},
		{"aside lst", "did you mean aside list?"},
		{"kbpk cancle", "did you mean kbpk cancel?"},
	} {
		out := p.cmd(tc.in, eng)
		if !strings.Contains(out, "usage: ") || !strings.Contains(out, tc.want) {
			t.Errorf("%s: %q, want %q", tc.in, out, tc.want)
		}
	}
	if out := p.cmd("ota s3cr3tword", eng); strings.Contains(out, "did you mean") {
		t.Errorf("a far word: %q", out)
	}
}

// TestHelpOfAGroup lists its subcommands with their summaries.
func TestHelpOfAGroup(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	for _, g := range []string{"aside", "kbpk", "key", "ota"} {
		out := p.cmd("help "+g, "posd> ")
		for _, c := range commands {
			if strings.HasPrefix(c.name, g+" ") && (!strings.Contains(out, c.name) || !strings.Contains(out, c.summary)) {
				t.Errorf("help %s does not explain %s: %q", g, c.name, out)
			}
		}
	}
}

// TestHelpTableAligned: every summary starts in the same column.
func TestHelpTableAligned(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	out := p.cmd("help", "posd> ")
	var cols []int
	for line := range strings.SplitSeq(out, "\r\n") {
		for _, c := range commands {
			if strings.HasPrefix(strings.TrimLeft(line, "* "), strings.TrimSpace(c.name+" "+c.args)+" ") && strings.HasSuffix(line, c.summary) {
				cols = append(cols, len(line)-len(c.summary))
			}
		}
	}
	if len(cols) != len(commands) {
		t.Fatalf("found %d rows of %d: %q", len(cols), len(commands), out)
	}
	if slices.Min(cols) != slices.Max(cols) {
		t.Errorf("summaries start in columns %v: %q", cols, out)
	}
}

// TestKeyLoadEmptyIsCancelled: an empty answer at the key block prompt
// cancels (audited), it is no malformed block.
func TestKeyLoadEmptyIsCancelled(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	pr := prompt("carol", engauth.RoleCustodian)
	r.login(p, "carol", engauth.RoleCustodian)
	p.send("key load\r")
	p.expect("key block: ")
	p.send("\r")
	if out := p.expect(pr); !strings.Contains(out, "key load cancelled") || strings.Contains(out, "not a TR-31 key block") {
		t.Fatalf("empty key block: %q", out)
	}
	r.wantEvents(t, "key_load carol custodian: cancelled")
}

// TestSettleRefusesACardNumberAtOnce: a reference redact would mask is
// refused when the line is read, before the daemon is asked anything.
func TestSettleRefusesACardNumberAtOnce(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	adm := prompt("adam", engauth.RoleAdmin)
	r.login(p, "adam", engauth.RoleAdmin)
	before := len(r.term.callList())
	for _, ref := range []string{testPAN, "4761 7390 0101 0010"} {
		out := p.cmd("aside settle 7 stands "+ref, adm)
		if !strings.Contains(out, "aside settle refused: the reference looks like a card number") || strings.Contains(out, "confirm") {
			t.Errorf("%.4s...: %q", ref, out)
		}
	}
	if calls := r.term.callList()[before:]; len(calls) != 0 {
		t.Errorf("the daemon was asked %q", calls)
	}
	r.wantEvents(t, "settle_by_hand adam admin: 7 stands: refused: the reference looks like a card number")
}
