package risk

import (
	"errors"
	"strings"
	"testing"
)

// TestBlockedRanges: a card whose number starts with a blocked prefix is
// refused by the hotlist rule, whatever the prefix's length; the others
// pass; a new list replaces the old whole; an empty one clears it; a
// disabled hotlist check ignores it; a bad list changes nothing.
func TestBlockedRanges(t *testing.T) {
	f := newFixture(t, DefaultRules())
	const visa, cup = "4761739001010010", "6222021234567890123"
	wantAllow(t, "no ranges", f.check(sale(100, EntryInsert, visa)), CVMOnlinePIN)
	if err := f.e.SetBlockedRanges([]string{"47617390", "622202", "47617390"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.e.BlockedRanges(), ","); got != "47617390,622202" {
		t.Fatalf("ranges %s", got)
	}
	d := f.check(sale(100, EntryInsert, visa))
	wantRefuse(t, "8-digit range", d, RuleHotlist)
	if strings.Contains(d.Reason, "4761") {
		t.Fatalf("the reason shows card digits: %s", d.Reason)
	}
	wantRefuse(t, "6-digit range", f.check(sale(100, EntryTap, cup)), RuleHotlist)
	wantRefuse(t, "refund too", f.check(sale(100, EntryInsert, visa).as(TypeRefund)), RuleHotlist)
	wantAllow(t, "next range", f.check(sale(100, EntryInsert, "4761739101010017")), CVMOnlinePIN)

	// Replaced whole.
	if err := f.e.SetBlockedRanges([]string{"476173"}); err != nil {
		t.Fatal(err)
	}
	wantAllow(t, "range no longer listed", f.check(sale(100, EntryTap, cup)), CVMNone)
	wantRefuse(t, "wider range", f.check(sale(100, EntryInsert, "4761739101010017")), RuleHotlist)
	// A bad list keeps the one in use.
	for _, bad := range [][]string{{"47617"}, {"476173900"}, {visa}, {"47617A"}, {""}} {
		if err := f.e.SetBlockedRanges(bad); !errors.Is(err, ErrHotlist) || strings.Contains(err.Error(), "4761") {
			t.Fatalf("ranges %q: %v", bad, err)
		}
	}
	wantRefuse(t, "after bad lists", f.check(sale(100, EntryInsert, visa)), RuleHotlist)
	// The hotlist check off: ranges are not looked at.
	r := DefaultRules()
	r.Hotlist.Enabled = false
	if err := f.e.SetRules(r); err != nil {
		t.Fatal(err)
	}
	wantAllow(t, "hotlist disabled", f.check(sale(100, EntryInsert, visa)), CVMOnlinePIN)
	if err := f.e.SetRules(DefaultRules()); err != nil {
		t.Fatal(err)
	}
	// Cleared.
	if err := f.e.SetBlockedRanges(nil); err != nil || len(f.e.BlockedRanges()) != 0 {
		t.Fatalf("clear: %v %v", err, f.e.BlockedRanges())
	}
	wantAllow(t, "cleared", f.check(sale(100, EntryInsert, visa)), CVMOnlinePIN)
}
