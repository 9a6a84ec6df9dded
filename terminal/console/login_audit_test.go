package console

import (
	"strings"
	"testing"
)

// TestLockedAndAbandonedLoginsAudited: a login refused while the console
// is locked, and one abandoned at the token prompt, are in the audit log.
func TestLockedAndAbandonedLoginsAudited(t *testing.T) {
	r := newRig(t)
	p := r.serve()
	p.send("login\r\x03")
	p.expect("posd> ")
	r.wantEvents(t, "login_failed  : abandoned (challenge given, no token)")

	q := r.newRig2()
	for range LockAfter {
		q.p.challenge()
		q.p.send("not-a-token\r")
		q.p.expect("posd> ")
	}
	if out := q.p.cmd("login", "posd> "); !strings.Contains(out, "login locked after repeated failures: try again in 30s") {
		t.Fatalf("login while locked: %q", out)
	}
	q.r.wantEvents(t, "login_failed  : locked (no challenge given, nothing verified)")
}

// rigPort is a second rig with its port, for a test that needs a fresh
// audit log.
type rigPort struct {
	r *rig
	p *port
}

func (r *rig) newRig2() rigPort {
	r2 := newRig(r.t)
	return rigPort{r2, r2.serve()}
}
