package txn

import (
	"context"
	"fmt"
	"testing"

	"posd/terminal/emv"
	"posd/terminal/pin"
	"posd/terminal/risk"
	"posd/terminal/store"
)

// A sale that ends while its chip card is still in the contact slot (the
// PIN entry cancelled or timed out, the card not accepted) records the
// card as inserted (DE22 051), as a declined or unreachable sale does:
// the display reminds the customer to take it. A card pulled out, or a
// tapped one, is not recorded so.
func TestInsertedCardOutcomeRecordsTheChip(t *testing.T) {
	timeout := fmt.Errorf("%w: offline PIN: %w", emv.ErrCancelled, pin.ErrTimeout)
	cancel := fmt.Errorf("%w: offline PIN: %w", emv.ErrCancelled, pin.ErrCancelled)
	for _, c := range []struct {
		name  string
		iface emv.Interface
		err   error
		want  Failure
		entry string
	}{
		{"PIN timeout", emv.Contact, timeout, FailPINTimeout, entryModeChip},
		{"PIN cancelled", emv.Contact, cancel, FailPINCancelled, entryModeChip},
		{"not accepted", emv.Contact, fmt.Errorf("%w: no application", emv.ErrNoApplication), FailCardNotAccepted, entryModeChip},
		{"pulled out", emv.Contact, fmt.Errorf("%w: VERIFY: no card", emv.ErrCardRemoved), FailCardRemoved, ""},
		{"tapped, PIN cancelled", emv.Contactless, cancel, FailPINCancelled, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, rd, _ := setupWith(t, approveAll(), func(o *Opts) { o.Kernel = errKernel{c.err} })
			tx, err := e.StartSale(2000, "156")
			if err != nil {
				t.Fatal(err)
			}
			mode := risk.EntryInsert
			if c.iface == emv.Contactless {
				mode = risk.EntryTap
			}
			rd.cards <- &Card{Mode: mode, Wipe: func() {},
				Chip: &Chip{Interface: c.iface, Release: func(context.Context) error { return nil }}}
			got := wait(t, e, tx.ID)
			if got.State != store.StateFailed || Failure(got.Failure) != c.want || got.EntryMode != c.entry {
				t.Fatalf("state %s failure %q entry mode %q, want %s %q", got.State, got.Failure, got.EntryMode, c.want, c.entry)
			}
		})
	}
}
