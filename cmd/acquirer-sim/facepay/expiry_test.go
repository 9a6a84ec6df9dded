package facepay_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/facepay"
	fp "posd/terminal/facepay"
	"posd/terminal/wiresec"
)

// TestExpiredSessionsLeaveMemory: an identification the terminal never
// confirms nor cancels (the customer walked away, the terminal lost
// power) is forgotten once its session expires, so the platform's memory
// holds the open sessions of the last SessionTTL and the decided orders,
// not every identification it ever made; and a cancel of an expired
// session is no_session, as the protocol says.
func TestExpiredSessionsLeaveMemory(t *testing.T) {
	r := newRig(t, wiresec.ModeAES)
	const n = 12
	var first fp.Candidate
	for i := range n {
		c, err := r.identify("dana", fmt.Sprintf("E%d", i), 1200)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = c
		}
	}
	if s, o := r.p.Held(); s != n || o != n {
		t.Fatalf("holding %d sessions and %d orders, want %d", s, o, n)
	}
	r.clk.Advance(facepay.DefaultSessionTTL + time.Second)
	c, err := r.identify("dana", "E99", 1200)
	if err != nil {
		t.Fatal(err)
	}
	if s, o := r.p.Held(); s != 1 || o != 1 {
		t.Fatalf("after the sessions expired: holding %d sessions and %d orders, want 1 and 1", s, o)
	}
	if err := r.c.Cancel(context.Background(), first.Session); rejectedCode(t, err) != fp.CodeNoSession {
		t.Fatalf("cancel of an expired session: %v", err)
	}
	// What the expired identifications leave is what they would have
	// left held: no session to confirm, an order to identify again or
	// to reverse (cancelled).
	if _, err := r.confirm(first, "E0", facepay.Password("dana")); rejectedCode(t, err) != fp.CodeNoSession {
		t.Fatalf("confirm of an expired session: %v", err)
	}
	if res, err := r.c.Reverse(context.Background(), "E1"); err != nil || res.Status != fp.StatusCancelled {
		t.Fatalf("reverse of an expired identification: %+v %v", res, err)
	}
	if _, err := r.identify("dana", "E2", 1200); err != nil {
		t.Fatalf("identify again after the expiry: %v", err)
	}
	// The live session is untouched.
	if res, err := r.confirm(c, "E99", facepay.Password("dana")); err != nil || res.Status != fp.StatusApproved {
		t.Fatalf("%+v %v", res, err)
	}
	checkJournal(t, r.journal.Bytes())
}
