package facepay_test

import (
	"context"
	"errors"
	"testing"

	"posd/cmd/acquirer-sim/facepay"
	fp "posd/terminal/facepay"
	"posd/terminal/wiresec"
)

// TestAnswersStateAmount: every answer on an order states what the
// platform holds it at — a confirm's what it charged, a reverse's what
// it gave back or closed — as a real platform's answers do, so the
// terminal can check it against its order.
func TestAnswersStateAmount(t *testing.T) {
	r := newRig(t, wiresec.ModeAES)
	c, res := approve(t, r, "A1")
	if res.Amount != 1200 || res.Currency != "156" {
		t.Fatalf("approval states %d %q, want 1200 156", res.Amount, res.Currency)
	}
	if again, err := r.confirm(c, "A1", facepay.Password("dana")); err != nil || again != res {
		t.Fatalf("repeat: %+v %v, first %+v", again, err, res)
	}
	if rev, err := r.c.Reverse(context.Background(), "A1"); err != nil || rev.Status != fp.StatusReversed || rev.Amount != 1200 || rev.Currency != "156" {
		t.Fatalf("reverse: %+v %v", rev, err)
	}
	c, err := r.identify("emil", "A2", 3400)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := r.confirm(c, "A2", "000000"); !errors.Is(err, fp.ErrWrongPassword) || res.Amount != 3400 || res.Currency != "156" {
		t.Fatalf("declined: %+v %v", res, err)
	}
	if rev, err := r.c.Reverse(context.Background(), "A2"); err != nil || rev.Status != fp.StatusCancelled || rev.Amount != 3400 {
		t.Fatalf("reverse of a declined order: %+v %v", rev, err)
	}
	// An order never had: nothing to state.
	if rev, err := r.c.Reverse(context.Background(), "A3"); err != nil || rev.Status != fp.StatusCancelled || rev.Amount != 0 || rev.Currency != "" {
		t.Fatalf("reverse of an order never had: %+v %v", rev, err)
	}
}

// TestMagicAmountCharged: the faulty platform of the magic amounts
// charges another amount (66: one fen more) or currency (67) than the
// order's, and every answer on the order states what it charged; the
// reverse gives back what it charged.
func TestMagicAmountCharged(t *testing.T) {
	for _, tc := range []struct {
		order    string
		amount   int64
		charged  int64
		currency string
	}{
		{"M66", 1266, 1267, "156"},
		{"M67", 1267, 1267, "344"},
	} {
		r := newRig(t, wiresec.ModeAES)
		c, err := r.identify("dana", tc.order, tc.amount)
		if err != nil {
			t.Fatal(err)
		}
		// The terminal's client takes no such approval: the outcome is
		// unknown, the sale reverses it.
		res, err := r.confirm(c, tc.order, facepay.Password("dana"))
		var me *fp.AmountMismatchError
		if !errors.As(err, &me) || !errors.Is(err, fp.ErrUnavailable) || res.Status == fp.StatusApproved ||
			me.Got != tc.charged || me.GotCurrency != tc.currency || me.Want != tc.amount || me.Status != fp.StatusApproved {
			t.Fatalf("%s: confirm %+v %v, want a mismatch stating %d %s", tc.order, res, err, tc.charged, tc.currency)
		}
		rev, err := r.c.Reverse(context.Background(), tc.order)
		if err != nil || rev.Status != fp.StatusReversed || rev.Amount != tc.charged || rev.Currency != tc.currency {
			t.Fatalf("%s: reverse %+v %v, want reversed %d %s", tc.order, rev, err, tc.charged, tc.currency)
		}
		if tot := r.p.Totals(); tot.Approved != 1 || tot.Reversed != 1 {
			t.Fatalf("%s: totals %+v", tc.order, tot)
		}
		// The journal, what the acquirer reconciles against, says what
		// was charged and given back, beside the order's amount.
		lines := 0
		for _, l := range journalLines(t, r.journal.Bytes()) {
			if l["op"] != "confirm" && l["op"] != "reverse" {
				continue
			}
			lines++
			if l["amount"] != float64(tc.amount) || l["currency"] != "156" || l["charged"] != float64(tc.charged) ||
				l["charged_currency"] != tc.currency {
				t.Errorf("%s: journal line %v", tc.order, l)
			}
		}
		if lines != 2 {
			t.Errorf("%s: %d confirm and reverse lines", tc.order, lines)
		}
	}
}
