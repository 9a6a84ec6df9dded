package facepay_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/facepay"
	fp "posd/terminal/facepay"
	"posd/terminal/wiresec"
)

// approve identifies and approves order n of dana.
func approve(t *testing.T, r *rig, order string) (fp.Candidate, fp.Result) {
	t.Helper()
	c, err := r.identify("dana", order, 1200)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.confirm(c, order, facepay.Password("dana"))
	if err != nil || res.Status != fp.StatusApproved {
		t.Fatalf("%s: %+v %v", order, res, err)
	}
	return c, res
}

// TestDecidedOrdersLeaveMemory: a decided order is kept for DecidedTTL
// (a repeated confirm is the same approval, a reverse reverses it, a new
// identify of it is refused), then forgotten, so the platform does not
// hold every order it ever decided. A reverse of a forgotten paid order
// is refused (reverse_expired), not answered "cancelled" (which it
// answers an order it never had): the money was taken.
func TestDecidedOrdersLeaveMemory(t *testing.T) {
	r := newRigOpts(t, wiresec.ModeAES, facepay.Opts{DecidedTTL: time.Hour})
	const n = 6
	var first fp.Candidate
	var firstRes fp.Result
	for i := range n {
		c, res := approve(t, r, fmt.Sprintf("D%d", i))
		if i == 0 {
			first, firstRes = c, res
		}
	}
	if _, o := r.p.Held(); o != n {
		t.Fatalf("holding %d orders, want %d", o, n)
	}
	// Within the window: idempotent.
	r.clk.Advance(30 * time.Minute)
	if again, err := r.confirm(first, "D0", facepay.Password("dana")); err != nil || again != firstRes {
		t.Fatalf("repeat within the window: %+v %v, first %+v", again, err, firstRes)
	}
	if _, err := r.identify("dana", "D0", 1200); rejectedCode(t, err) != fp.CodeOrderMismatch {
		t.Fatalf("identify of a paid order within the window: %v", err)
	}
	if res, err := r.c.Reverse(context.Background(), "D1"); err != nil || res.Status != fp.StatusReversed {
		t.Fatalf("reverse within the window: %+v %v", res, err)
	}
	// D1's reversal keeps it another window; the others go.
	r.clk.Advance(31 * time.Minute)
	approve(t, r, "D9")
	if _, o := r.p.Held(); o != 2 {
		t.Fatalf("after the window: holding %d orders, want 2 (D1 reversed late, D9)", o)
	}
	if tot := r.p.Totals(); tot.Forgotten != n-1 {
		t.Fatalf("forgotten %d, want %d", tot.Forgotten, n-1)
	}
	// A reverse of a forgotten order is no "cancelled".
	if res, err := r.c.Reverse(context.Background(), "D2"); rejectedCode(t, err) != facepay.CodeReverseExpired {
		t.Fatalf("reverse of a forgotten order: %+v %v", res, err)
	}
	// D1 is still held: its reverse is the same answer.
	if res, err := r.c.Reverse(context.Background(), "D1"); err != nil || res.Status != fp.StatusReversed {
		t.Fatalf("reverse again: %+v %v", res, err)
	}
	// Nor is a new identify of it a new order: it was paid.
	if _, err := r.identify("dana", "D3", 1200); rejectedCode(t, err) != fp.CodeOrderMismatch {
		t.Fatalf("identify of a forgotten paid order: %v", err)
	}
	// An order the platform never had is still cancelled (a terminal
	// whose identify never arrived reverses it), from this terminal or
	// another.
	for _, c := range []*fp.HTTPClient{r.c, r.client("T0000010")} {
		if res, err := c.Reverse(context.Background(), "X1"); err != nil || res.Status != fp.StatusCancelled {
			t.Fatalf("reverse of an order never had: %+v %v", res, err)
		}
	}
	checkJournal(t, r.journal.Bytes())
}

// TestForgottenPaidBounded: the platform remembers which forgotten
// orders were paid by a hash of each, at most MaxForgottenPaid; past it,
// it can no longer tell for the terminal whose paid order's hash gave
// way, and refuses every reverse of an order it does not hold of that
// terminal (reverse_expired) rather than say cancelled.
func TestForgottenPaidBounded(t *testing.T) {
	r := newRigOpts(t, wiresec.ModeAES, facepay.Opts{MaxDecided: 1, MaxForgottenPaid: 1})
	for i := range 3 {
		approve(t, r, fmt.Sprintf("G%d", i))
	}
	if res, err := r.c.Reverse(context.Background(), "X2"); rejectedCode(t, err) != facepay.CodeReverseExpired {
		t.Fatalf("reverse of an order not held once the paid hashes overflowed: %+v %v", res, err)
	}
	if res, err := r.client("T0000010").Reverse(context.Background(), "X2"); err != nil || res.Status != fp.StatusCancelled {
		t.Fatalf("another terminal: %+v %v", res, err)
	}
}

// TestDecidedOrdersBounded: past MaxDecided the oldest decided order
// gives way, however young.
func TestDecidedOrdersBounded(t *testing.T) {
	r := newRigOpts(t, wiresec.ModeAES, facepay.Opts{MaxDecided: 3})
	for i := range 5 {
		approve(t, r, fmt.Sprintf("B%d", i))
	}
	if _, o := r.p.Held(); o != 3 {
		t.Fatalf("holding %d orders, want 3", o)
	}
	if _, err := r.c.Reverse(context.Background(), "B0"); rejectedCode(t, err) != facepay.CodeReverseExpired {
		t.Fatalf("reverse of a forgotten order: %v", err)
	}
	if res, err := r.c.Reverse(context.Background(), "B4"); err != nil || res.Status != fp.StatusReversed {
		t.Fatalf("reverse of a held order: %+v %v", res, err)
	}
}

// TestForgottenPaidOrderAsTheTerminalMeetsIt: once the platform forgot
// a paid order, the terminal's client reads its answers as what they
// are: a confirm of its session is no_session (a refusal, ErrNoSession:
// no approval, and no unknown outcome to reverse), and a reverse of it
// reverse_expired (ErrReverseExpired: stop, settle by hand), never
// "cancelled".
func TestForgottenPaidOrderAsTheTerminalMeetsIt(t *testing.T) {
	r := newRigOpts(t, wiresec.ModeAES, facepay.Opts{DecidedTTL: time.Hour})
	c, _ := approve(t, r, "E1")
	r.clk.Advance(time.Hour + time.Second)
	res, err := r.confirm(c, "E1", facepay.Password("dana"))
	if !errors.Is(err, fp.ErrNoSession) || !errors.Is(err, fp.ErrRejected) || errors.Is(err, fp.ErrUnavailable) || res.Status != "" {
		t.Fatalf("confirm of a forgotten paid order: %+v %v", res, err)
	}
	if r.p.Totals().Forgotten != 1 {
		t.Fatalf("totals %+v", r.p.Totals())
	}
	res, err = r.c.Reverse(context.Background(), "E1")
	if !errors.Is(err, fp.ErrReverseExpired) || errors.Is(err, fp.ErrUnavailable) || res.Status != "" {
		t.Fatalf("reverse of a forgotten paid order: %+v %v", res, err)
	}
}
