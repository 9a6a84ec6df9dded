package txn

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"posd/conn/clock"
	"posd/terminal/risk"
)

// The record's detail of a chip sale that the host could not be reached
// for and the offline limits kept from approving offline says each cause
// once, whichever rule it was and however the rules word it.
func TestUnreachableOfflineRefusalSaysEachCauseOnce(t *testing.T) {
	db := openDB(t)
	rules := risk.DefaultRules()
	rules.Offline.MaxCount = 1
	pending := risk.OfflineSummary{}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	re, err := risk.New(rules, risk.Opts{DB: db.Bolt(), HashKey: make([]byte, 32), Clock: clock.NewFake(now),
		Offline: risk.OfflineLedgerFunc(func(context.Context) (risk.OfflineSummary, error) { return pending, nil })})
	if err != nil {
		t.Fatal(err)
	}
	floor := re.CheckOffline(context.Background(), risk.Txn{Type: risk.TypeSale, Amount: 600_00, Currency: "156", Entry: risk.EntryInsert})
	if floor.Allow || floor.Rule != risk.RuleOfflineFloorLimit {
		t.Fatalf("600.00 over the floor limit: %+v", floor)
	}
	pending = risk.OfflineSummary{Count: 1, Amount: 100, Oldest: now.Add(-time.Minute), Newest: now.Add(-time.Minute)}
	count := re.CheckOffline(context.Background(), risk.Txn{Type: risk.TypeSale, Amount: 100, Currency: "156", Entry: risk.EntryInsert})
	if count.Allow {
		t.Fatalf("one offline approval waiting, at most one: %+v", count)
	}
	for _, d := range []risk.Decision{floor, count} {
		err := unreachableRefusal(&d)
		if !errors.Is(err, ErrRisk) {
			t.Errorf("%s: %v is no ErrRisk", d.Rule, err)
		}
		if n := strings.Count(err.Error(), "host unreachable"); n != 1 {
			t.Errorf("%s: %q says \"host unreachable\" %d times", d.Rule, err, n)
		}
		if !strings.Contains(err.Error(), strings.TrimPrefix(strings.TrimPrefix(d.Reason, "host unreachable and "), "host unreachable: ")) {
			t.Errorf("%s: %q lost the rule's reason %q", d.Rule, err, d.Reason)
		}
	}
}
