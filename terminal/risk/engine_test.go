package risk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestNewRefuses(t *testing.T) {
	f := newFixture(t, DefaultRules())
	o := f.opts()
	o.HashKey = make([]byte, MinHashKeyLen-1)
	if _, err := New(DefaultRules(), o); !errors.Is(err, ErrHashKey) {
		t.Errorf("short key: %v", err)
	}
	o = f.opts()
	o.DB = nil
	if _, err := New(DefaultRules(), o); !errors.Is(err, ErrStorage) {
		t.Errorf("no database: %v", err)
	}
	r := DefaultRules()
	r.Velocity.Window = 0
	if _, err := New(r, f.opts()); !errors.Is(err, ErrRules) {
		t.Errorf("bad rules: %v", err)
	}
	if err := f.e.SetRules(r); !errors.Is(err, ErrRules) || f.e.Rules().Velocity.Window == 0 {
		t.Errorf("SetRules took bad rules: %v", err)
	}
}

func TestHotlist(t *testing.T) {
	f := newFixture(t, DefaultRules())
	f.loadHotlist(1, panA)
	for _, typ := range TxnTypes {
		wantRefuse(t, "hotlisted "+string(typ), f.check(sale(100, EntryInsert, panA).as(typ)), RuleHotlist)
	}
	wantRefuse(t, "hotlisted offline", f.check(sale(100, EntryInsert, panA).offline()), RuleHotlist)
	d := f.check(sale(100, EntryTap, panA))
	if strings.Contains(d.Reason, panA[len(panA)-4:]) {
		t.Errorf("reason shows the PAN: %q", d.Reason)
	}
	wantAllow(t, "other card", f.check(sale(100, EntryTap, panB)), CVMNone)
	// The card id of the decision stands for the PAN.
	if d.Card.IsZero() {
		t.Fatal("no card id in the decision")
	}
	wantRefuse(t, "by card id", f.check(Txn{Type: TypeSale, Amount: 100, Currency: "CNY", Entry: EntryTap, Card: d.Card, Online: true}), RuleHotlist)

	r := DefaultRules()
	r.Hotlist.Enabled = false
	if err := f.e.SetRules(r); err != nil {
		t.Fatal(err)
	}
	wantAllow(t, "hotlist disabled", f.check(sale(100, EntryTap, panA)), CVMNone)
}

func TestHotlistRequired(t *testing.T) {
	r := DefaultRules()
	r.Hotlist.Required = true
	f := newFixture(t, r)
	if f.e.Hotlist() != nil {
		t.Fatal("a fresh terminal has a hotlist")
	}
	wantRefuse(t, "no hotlist", f.check(sale(100, EntryTap, panA)), RuleHotlistMissing)
	wantRefuse(t, "no hotlist, qr", f.check(sale(100, EntryQR, "")), RuleHotlistMissing)
	f.loadHotlist(1) // an empty list is a list
	wantAllow(t, "empty hotlist loaded", f.check(sale(100, EntryTap, panA)), CVMNone)
	wantAllow(t, "not required", newFixture(t, DefaultRules()).check(sale(100, EntryTap, panA)), CVMNone)
}

func TestHotlistUpdates(t *testing.T) {
	f := newFixture(t, DefaultRules())
	f.loadHotlist(1, panA)
	f.loadHotlist(2, panB)
	wantAllow(t, "off the list", f.check(sale(100, EntryTap, panA)), CVMNone)
	wantRefuse(t, "on the new list", f.check(sale(100, EntryTap, panB)), RuleHotlist)

	build := func(key []byte, v uint64, p ...string) []byte {
		b, err := BuildHotlist(key, v, pans(p...))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if err := f.e.LoadHotlist(build(f.key, 1, panA)); !errors.Is(err, ErrHotlistStale) {
		t.Errorf("older version: %v", err)
	}
	if err := f.e.LoadHotlist(build(f.key, 2, panA)); !errors.Is(err, ErrHotlistStale) {
		t.Errorf("same version, other cards: %v", err)
	}
	if err := f.e.LoadHotlist(build(f.key, 2, panB)); err != nil {
		t.Errorf("same list again: %v", err)
	}
	otherKey := append(testKey(), 0xff)
	if err := f.e.LoadHotlist(build(otherKey, 3, panA)); !errors.Is(err, ErrHotlistKey) {
		t.Errorf("another key: %v", err)
	}
	if err := f.e.LoadHotlist([]byte(`{"schema":1}`)); !errors.Is(err, ErrHotlist) {
		t.Errorf("bad file: %v", err)
	}
	if err := f.e.SetHotlist(nil); !errors.Is(err, ErrHotlist) {
		t.Errorf("nil list: %v", err)
	}
	if h := f.e.Hotlist(); h.Version() != 2 || h.Len() != 1 {
		t.Fatalf("refused updates changed the list: version %d", h.Version())
	}
	wantRefuse(t, "list kept", f.check(sale(100, EntryTap, panB)), RuleHotlist)

	// A restart takes up the list from the database.
	f.reopen(DefaultRules())
	if h := f.e.Hotlist(); h == nil || h.Version() != 2 {
		t.Fatalf("after restart: %v", h)
	}
	wantRefuse(t, "after restart", f.check(sale(100, EntryTap, panB)), RuleHotlist)
	if err := f.e.LoadHotlist(build(f.key, 1, panA)); !errors.Is(err, ErrHotlistStale) {
		t.Errorf("older version after restart: %v", err)
	}

	// A new hash key: the stored list cannot match, so none is used until
	// the acquirer sends a newer one built for the new key.
	f.key = otherKey
	f.reopen(DefaultRules())
	if f.e.Hotlist() != nil {
		t.Error("list of the old key in use")
	}
	if !strings.Contains(f.logs.String(), "another hash key") {
		t.Errorf("key change not logged: %s", f.logs)
	}
	if err := f.e.LoadHotlist(build(otherKey, 2, panA)); !errors.Is(err, ErrHotlistStale) {
		t.Errorf("version 2 again for the new key: %v", err)
	}
	if err := f.e.LoadHotlist(build(otherKey, 3, panA)); err != nil {
		t.Fatal(err)
	}
	wantRefuse(t, "new key's list", f.check(sale(100, EntryTap, panA)), RuleHotlist)
	wantAllow(t, "new key's list", f.check(sale(100, EntryTap, panB)), CVMNone)
}

// TestHotlistReplacedWhole: while lists replace each other, a card on
// every one of them is refused by every check: there is no moment without
// a list, nor with half of one.
func TestHotlistReplacedWhole(t *testing.T) {
	f := newFixture(t, DefaultRules())
	f.loadHotlist(1, panA)
	files := make([][]byte, 0, 20)
	for v := uint64(2); v < 22; v++ {
		others := []string{panA}
		for i := range 200 {
			others = append(others, fmt.Sprintf("62220200%08d", int(v)*1000+i))
		}
		b, err := BuildHotlist(f.key, v, pans(others...))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		defer done.Store(true)
		for _, b := range files {
			if err := f.e.LoadHotlist(b); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 2 {
		wg.Go(func() {
			for n := 0; !done.Load() || n < 50; n++ {
				if d := f.check(sale(100, EntryTap, panA)); d.Rule != RuleHotlist {
					t.Errorf("card on every list got %+v", d)
					return
				}
			}
		})
	}
	wg.Wait()
	if f.e.Hotlist().Version() != 21 {
		t.Errorf("version %d in use", f.e.Hotlist().Version())
	}
}

func TestMaxAmountPerEntryMode(t *testing.T) {
	r := DefaultRules()
	r.MaxAmount = ModeAmounts{Swipe: 100, Insert: 200, Tap: 300, QR: 400, Face: 500}
	f := newFixture(t, r)
	for _, c := range []struct {
		entry EntryMode
		max   int64
		code  Code
	}{
		{EntrySwipe, 100, RuleMaxAmountSwipe}, {EntryInsert, 200, RuleMaxAmountInsert}, {EntryTap, 300, RuleMaxAmountTap},
		{EntryQR, 400, RuleMaxAmountQR}, {EntryFace, 500, RuleMaxAmountFace},
	} {
		pan := panA
		if !c.entry.card() {
			pan = ""
		}
		if d := f.check(sale(c.max, c.entry, pan)); !d.Allow {
			t.Errorf("%s at its limit refused: %+v", c.entry, d)
		}
		for _, typ := range []TxnType{TypeSale, TypeRefund, TypePreauth, TypeCompletion} {
			wantRefuse(t, fmt.Sprintf("%s %s above", c.entry, typ), f.check(sale(c.max+1, c.entry, pan).as(typ)), c.code)
		}
		if d := f.check(sale(c.max+1, c.entry, pan).as(TypeVoid)); !d.Allow {
			t.Errorf("%s void of a larger amount refused: %+v", c.entry, d)
		}
	}
	// The defaults: face pay capped at 1000.00, the card modes not capped.
	f = newFixture(t, DefaultRules())
	wantAllow(t, "face 1000.00", f.check(sale(100000, EntryFace, "")), CVMPaymentPassword)
	d := f.check(sale(100001, EntryFace, ""))
	wantRefuse(t, "face 1000.01", d, RuleMaxAmountFace)
	if !strings.Contains(d.Reason, "1000.01") || !strings.Contains(d.Reason, "1000.00") {
		t.Errorf("reason %q", d.Reason)
	}
	wantAllow(t, "insert of 100,000.00 (the card velocity's amount)", f.check(sale(10000000, EntryInsert, panA)), CVMOnlinePIN)
}

func TestCVMTiers(t *testing.T) {
	r := DefaultRules()
	r.CVM.NoCVMLimit = CardAmounts{Swipe: 0, Insert: 5000, Tap: 100000}
	f := newFixture(t, r)
	for _, c := range []struct {
		txn Txn
		cvm CVM
	}{
		{sale(100000, EntryTap, panA), CVMNone},
		{sale(100001, EntryTap, panA), CVMOnlinePIN},
		{sale(1, EntryTap, panA), CVMNone},
		{sale(5000, EntryInsert, panA), CVMNone},
		{sale(5001, EntryInsert, panA), CVMOnlinePIN},
		{sale(1, EntrySwipe, panA), CVMOnlinePIN},
		{sale(100001, EntryTap, panA).as(TypePreauth), CVMOnlinePIN},
		{sale(100, EntryTap, panA).as(TypePreauth), CVMNone},
		{sale(1, EntryFace, ""), CVMPaymentPassword},
		{sale(100000, EntryFace, "").as(TypePreauth), CVMPaymentPassword},
		{sale(10000000, EntryQR, ""), CVMNone},
		{sale(100001, EntryTap, panA).as(TypeRefund), CVMNone},
		{sale(100001, EntrySwipe, panA).as(TypeCompletion), CVMNone},
		{sale(100001, EntryInsert, panA).as(TypeVoid), CVMNone},
		{sale(1, EntryFace, "").as(TypeRefund), CVMNone},
		{sale(0, EntryTap, panA).as(TypeBalance), CVMOnlinePIN},
		{sale(0, EntrySwipe, panA).as(TypeBalance), CVMOnlinePIN},
	} {
		wantAllow(t, fmt.Sprintf("%s %s %d", c.txn.Type, c.txn.Entry, c.txn.Amount), f.check(c.txn), c.cvm)
	}
}

func TestInvalidTransactions(t *testing.T) {
	f := newFixture(t, DefaultRules())
	for _, c := range []struct {
		what string
		txn  Txn
		code Code
	}{
		{"unknown type", sale(100, EntryTap, panB).as("withdrawal"), RuleInvalid},
		{"no type", sale(100, EntryTap, panA).as(""), RuleInvalid},
		{"unknown entry", sale(100, "manual", panA), RuleInvalid},
		{"zero amount", sale(0, EntryTap, panA), RuleInvalid},
		{"balance inquiry with an amount", Txn{Type: TypeBalance, Amount: 100, Currency: "CNY", Entry: EntryTap, PAN: []byte(panA), Online: true}, RuleInvalid},
		{"negative amount", sale(-100, EntryTap, panA), RuleInvalid},
		{"amount of 13 digits", sale(MaxMinor+1, EntryTap, panA), RuleInvalid},
		{"card mode, no PAN", sale(100, EntryInsert, ""), RuleInvalid},
		{"short PAN", sale(100, EntryInsert, "47617390010"), RuleInvalid},
		{"PAN with letters", sale(100, EntrySwipe, "4761739001O10010"), RuleInvalid},
		{"unknown currency", Txn{Type: TypeSale, Amount: 100, Currency: "XXX", Entry: EntryQR, Online: true}, RuleInvalid},
		{"no currency", Txn{Type: TypeSale, Amount: 100, Entry: EntryQR, Online: true}, RuleInvalid},
		{"another currency", Txn{Type: TypeSale, Amount: 100, Currency: "USD", Entry: EntryQR, Online: true}, RuleCurrency},
		{"another currency, numeric", Txn{Type: TypeSale, Amount: 100, Currency: "840", Entry: EntryQR, Online: true}, RuleCurrency},
		// A PAN in the wrong field is not echoed.
		{"PAN as type", Txn{Type: panA, Amount: 100, Currency: "CNY", Entry: EntryQR, Online: true}, RuleInvalid},
		{"PAN as entry", Txn{Type: TypeSale, Amount: 100, Currency: "CNY", Entry: panA, Online: true}, RuleInvalid},
		{"PAN as currency", Txn{Type: TypeSale, Amount: 100, Currency: panA, Entry: EntryQR, Online: true}, RuleInvalid},
	} {
		d := f.check(c.txn)
		wantRefuse(t, c.what, d, c.code)
		if !errors.Is(d.Err, ErrTxn) {
			t.Errorf("%s: error %v", c.what, d.Err)
		}
		if strings.Contains(d.Reason+d.Err.Error()+f.logs.String(), panA[6:]) {
			t.Errorf("%s: the reason or the log shows the PAN: %q", c.what, d.Reason)
		}
		if err := f.e.Record(context.Background(), c.txn, true); !errors.Is(err, ErrTxn) {
			t.Errorf("%s: Record: %v", c.what, err)
		}
	}
	for _, cur := range []string{"CNY", "156", "cny", " CNY "} {
		tx := sale(100, EntryTap, panA)
		tx.Currency = cur
		wantAllow(t, "currency "+cur, f.check(tx), CVMNone)
	}
}

func TestVelocityCount(t *testing.T) {
	f := newFixture(t, onlyVelocity(time.Hour, 3, 0))
	for i := range 3 {
		d := f.check(sale(100, EntryTap, panA))
		wantAllow(t, fmt.Sprintf("sale %d", i+1), d, CVMNone)
		f.record(sale(100, EntryTap, panA), true)
		f.clk.Advance(time.Minute)
	}
	wantRefuse(t, "fourth sale", f.check(sale(100, EntryTap, panA)), RuleVelocityCount)
	wantRefuse(t, "fourth, a preauth", f.check(sale(100, EntryInsert, panA).as(TypePreauth)), RuleVelocityCount)
	wantAllow(t, "another card", f.check(sale(100, EntryTap, panB)), CVMNone)
	wantAllow(t, "a refund", f.check(sale(100, EntryTap, panA).as(TypeRefund)), CVMNone)
	// The first sale (at t0) leaves the window an hour after it was made.
	f.clk.Advance(57*time.Minute - time.Nanosecond)
	wantRefuse(t, "just inside the hour", f.check(sale(100, EntryTap, panA)), RuleVelocityCount)
	f.clk.Advance(time.Nanosecond)
	wantAllow(t, "the first sale an hour old", f.check(sale(100, EntryTap, panA)), CVMNone)
}

func TestVelocityAmount(t *testing.T) {
	f := newFixture(t, onlyVelocity(24*time.Hour, 0, 1000))
	f.record(sale(600, EntryTap, panA), true)
	wantAllow(t, "600 + 400", f.check(sale(400, EntryTap, panA)), CVMNone)
	d := f.check(sale(401, EntryTap, panA))
	wantRefuse(t, "600 + 401", d, RuleVelocityAmount)
	if !strings.Contains(d.Reason, "10.01") {
		t.Errorf("reason %q", d.Reason)
	}
	wantRefuse(t, "one sale above the window's amount", f.check(sale(1001, EntryTap, panB)), RuleVelocityAmount)
	wantAllow(t, "face pay has no card", f.check(sale(1001, EntryFace, "")), CVMPaymentPassword)
}

// TestVelocityCountsApprovedDebitsOnly: declines, refunds, completions and
// voids keep nothing; sales and preauthorizations, online or offline, count.
func TestVelocityCountsApprovedDebitsOnly(t *testing.T) {
	f := newFixture(t, onlyVelocity(time.Hour, 100, 0))
	f.record(sale(100, EntryTap, panA), false)
	for _, typ := range []TxnType{TypeRefund, TypeCompletion, TypeVoid} {
		f.record(sale(100, EntryTap, panA).as(typ), true)
	}
	f.record(sale(100, EntryQR, ""), true)
	if n, _ := f.velocity(panA); n != 0 {
		t.Fatalf("%d counted", n)
	}
	if e, i := f.stored(); e != 0 || i != 0 {
		t.Fatalf("%d entries, %d index entries kept", e, i)
	}
	f.record(sale(100, EntryTap, panA), true)
	f.record(sale(250, EntryInsert, panA).as(TypePreauth), true)
	f.record(sale(50, EntryInsert, panA).offline(), true)
	if n, sum := f.velocity(panA); n != 3 || sum != 400 {
		t.Errorf("count %d, sum %d", n, sum)
	}
	// By card id instead of PAN: the same card.
	card, _ := f.e.Card([]byte(panA))
	f.record(Txn{Type: TypeSale, Amount: 1, Currency: "CNY", Entry: EntryTap, Card: card, Online: true}, true)
	if n, _ := f.velocity(panA); n != 4 {
		t.Errorf("count %d after a record by card id", n)
	}
	// Disabled: nothing kept, nothing checked.
	r := onlyVelocity(time.Hour, 1, 0)
	r.Velocity.Enabled = false
	if err := f.e.SetRules(r); err != nil {
		t.Fatal(err)
	}
	f.record(sale(100, EntryTap, panB), true)
	if n, _ := f.velocity(panB); n != 0 {
		t.Errorf("disabled velocity kept %d", n)
	}
	wantAllow(t, "disabled", f.check(sale(100, EntryTap, panA)), CVMNone)
}

func TestVelocitySurvivesRestart(t *testing.T) {
	r := onlyVelocity(time.Hour, 2, 0)
	f := newFixture(t, r)
	f.record(sale(100, EntryTap, panA), true)
	f.record(sale(100, EntryTap, panA), true)
	f.reopen(r)
	wantRefuse(t, "after restart", f.check(sale(100, EntryTap, panA)), RuleVelocityCount)
}

func TestPrune(t *testing.T) {
	f := newFixture(t, onlyVelocity(time.Hour, 1000, 0))
	cards := make([]CardID, 3)
	for i, p := range []string{panA, panB, panC} {
		cards[i], _ = f.e.Card([]byte(p))
	}
	// 2500 approvals a millisecond apart, in one transaction.
	err := f.bolt().Update(func(tx *bolt.Tx) error {
		for i := range 2500 {
			if err := addVelocity(tx, cards[i%3], t0.Add(time.Duration(i)*time.Millisecond), 1); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// An hour later, the first 1000 have left the window. Each Record
	// prunes a few on its way.
	f.clk.Advance(time.Hour + 999*time.Millisecond)
	for i := range 10 {
		f.record(sale(1, EntryTap, []string{panA, panB, panC}[i%3]), true)
	}
	if e, i := f.stored(); e != i || e != 2510-10*pruneOnRecord {
		t.Fatalf("before Prune: %d entries, %d in the index", e, i)
	}
	if n, _ := f.velocity(panA); n != 500+4 {
		t.Errorf("card A: %d in the window", n)
	}
	n, err := f.e.Prune(context.Background())
	if err != nil || n != 1000-10*pruneOnRecord {
		t.Fatalf("Prune: %d, %v", n, err)
	}
	if e, i := f.stored(); e != 1510 || i != 1510 {
		t.Fatalf("after Prune: %d entries, %d in the index", e, i)
	}
	if n, _ := f.velocity(panA); n != 500+4 {
		t.Errorf("card A after Prune: %d in the window", n)
	}
	// Many due at once: Prune works in batches.
	f.clk.Advance(time.Hour)
	if n, err := f.e.Prune(context.Background()); err != nil || n != 1510 {
		t.Fatalf("Prune of everything: %d, %v", n, err)
	}
	if e, i := f.stored(); e != 0 || i != 0 {
		t.Fatalf("after the second Prune: %d entries, %d in the index", e, i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.e.Prune(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Prune: %v", err)
	}
	// Disabled velocity: Prune deletes everything.
	f.record(sale(1, EntryTap, panA), true)
	r := f.e.Rules()
	r.Velocity = VelocityRules{}
	f.e.SetRules(r)
	if n, err := f.e.Prune(context.Background()); n != 1 || err != nil {
		t.Errorf("Prune with velocity disabled: %d, %v", n, err)
	}
}

func onlyOffline() Rules {
	r := DefaultRules()
	r.Hotlist.Enabled, r.Velocity.Enabled = false, false
	r.MaxAmount = ModeAmounts{Face: DefaultRules().MaxAmount.Face}
	r.Offline = OfflineRules{Enabled: true, FloorLimit: 50000, MaxCount: 3, MaxAmount: 100000, MaxAge: Duration(24 * time.Hour)}
	return r
}

func TestOfflineRules(t *testing.T) {
	f := newFixture(t, onlyOffline())
	none := OfflineSummary{}
	for _, c := range []struct {
		what   string
		txn    Txn
		ledger OfflineSummary
		code   Code // "" allowed, with cvm
		cvm    CVM
	}{
		{"insert at the floor limit", sale(50000, EntryInsert, panA), none, "", CVMOfflinePIN},
		{"tap at the floor limit", sale(50000, EntryTap, panA), none, "", CVMNone},
		{"above the floor limit", sale(50001, EntryInsert, panA), none, RuleOfflineFloorLimit, ""},
		{"swipe", sale(100, EntrySwipe, panA), none, RuleOfflineMagstripe, ""},
		{"qr", sale(100, EntryQR, ""), none, RuleOfflineEntryMode, ""},
		{"face", sale(100, EntryFace, ""), none, RuleOfflineEntryMode, ""},
		{"refund", sale(100, EntryInsert, panA).as(TypeRefund), none, RuleOfflineType, ""},
		{"preauth", sale(100, EntryInsert, panA).as(TypePreauth), none, RuleOfflineType, ""},
		{"void", sale(100, EntryInsert, panA).as(TypeVoid), none, RuleOfflineType, ""},
		{"third pending", sale(100, EntryTap, panA), OfflineSummary{Count: 2, Amount: 200, Oldest: t0}, "", CVMNone},
		{"fourth pending", sale(100, EntryTap, panA), OfflineSummary{Count: 3, Amount: 300, Oldest: t0}, RuleOfflineCount, ""},
		{"amount up to the cap", sale(40000, EntryTap, panA), OfflineSummary{Count: 2, Amount: 60000, Oldest: t0}, "", CVMNone},
		{"amount above the cap", sale(40001, EntryTap, panA), OfflineSummary{Count: 2, Amount: 60000, Oldest: t0}, RuleOfflineAmount, ""},
		{"oldest a day old", sale(100, EntryTap, panA), OfflineSummary{Count: 1, Amount: 100, Oldest: t0.Add(-24 * time.Hour)}, "", CVMNone},
		{"oldest older", sale(100, EntryTap, panA), OfflineSummary{Count: 1, Amount: 100, Oldest: t0.Add(-24*time.Hour - time.Nanosecond)}, RuleOfflineAge, ""},
		// The clock went back since an approval waiting was made (a
		// power cut on a board without a battery-backed clock, a forged
		// NTP answer): its age would look negative, the age limit would
		// never refuse, and the new approval would be dated before it.
		{"oldest in the future", sale(100, EntryTap, panA), OfflineSummary{Count: 1, Amount: 100, Oldest: t0.Add(time.Hour)}, RuleOfflineClock, ""},
		{"newest in the future", sale(100, EntryTap, panA), OfflineSummary{Count: 2, Amount: 200, Oldest: t0.Add(-time.Hour), Newest: t0.Add(time.Hour)}, RuleOfflineClock, ""},
		{"newest a little ahead", sale(100, EntryTap, panA), OfflineSummary{Count: 2, Amount: 200, Oldest: t0.Add(-time.Hour), Newest: t0.Add(ClockTolerance)}, "", CVMNone},
	} {
		f.ledger.set(c.ledger, nil)
		d := f.check(c.txn.offline())
		if c.code == "" {
			wantAllow(t, c.what, d, c.cvm)
		} else {
			wantRefuse(t, c.what, d, c.code)
		}
	}
	// Online, none of it applies and the ledger is not asked.
	f.ledger.set(OfflineSummary{Count: 3, Amount: 1e6, Oldest: t0.Add(-1000 * time.Hour)}, nil)
	calls := f.ledger.calls
	wantAllow(t, "online swipe", f.check(sale(60000, EntrySwipe, panA)), CVMOnlinePIN)
	wantAllow(t, "online insert", f.check(sale(60000, EntryInsert, panA)), CVMOnlinePIN)
	wantAllow(t, "online qr", f.check(sale(60000, EntryQR, "")), CVMNone)
	if f.ledger.calls != calls {
		t.Error("the ledger was asked while the host is reachable")
	}

	// Magstripe allowed: only up to its no-CVM limit, since a stripe has
	// no offline PIN and an online PIN needs the host. Same for a tap
	// above its no-CVM limit.
	r := onlyOffline()
	r.Offline.Magstripe = true
	r.CVM.NoCVMLimit = CardAmounts{Swipe: 200, Tap: 300}
	f.e.SetRules(r)
	f.ledger.set(none, nil)
	wantAllow(t, "swipe without CVM offline", f.check(sale(200, EntrySwipe, panA).offline()), CVMNone)
	wantRefuse(t, "swipe needing a PIN offline", f.check(sale(201, EntrySwipe, panA).offline()), RuleOfflineCVM)
	wantRefuse(t, "tap needing a PIN offline", f.check(sale(301, EntryTap, panA).offline()), RuleOfflineCVM)
	r.Offline.Enabled = false
	f.e.SetRules(r)
	wantRefuse(t, "offline disabled", f.check(sale(100, EntryInsert, panA).offline()), RuleOfflineDisabled)

	o := f.opts()
	o.Offline = nil
	e, err := New(onlyOffline(), o)
	if err != nil {
		t.Fatal(err)
	}
	wantRefuse(t, "no ledger", e.Check(context.Background(), sale(100, EntryTap, panA).offline()), RuleOfflineDisabled)
}

func TestOfflineLedgerFailureRefuses(t *testing.T) {
	f := newFixture(t, onlyOffline())
	for _, c := range []struct {
		s   OfflineSummary
		err error
	}{
		{OfflineSummary{}, errors.New("records unreadable")},
		{OfflineSummary{Count: -1}, nil},
		{OfflineSummary{Amount: -1}, nil},
		{OfflineSummary{Count: 1, Amount: 100}, nil}, // no oldest time
	} {
		f.ledger.set(c.s, c.err)
		d := f.check(sale(100, EntryInsert, panA).offline())
		wantRefuse(t, fmt.Sprintf("ledger %+v %v", c.s, c.err), d, RuleUnavailable)
		if !errors.Is(d.Err, ErrOffline) {
			t.Errorf("error %v", d.Err)
		}
	}
	f.ledger.set(OfflineSummary{}, nil)
	wantAllow(t, "ledger back", f.check(sale(100, EntryInsert, panA).offline()), CVMOfflinePIN)
	f.e.offline = OfflineLedgerFunc(func(ctx context.Context) (OfflineSummary, error) { return OfflineSummary{Count: 3, Oldest: t0}, nil })
	wantRefuse(t, "OfflineLedgerFunc", f.check(sale(100, EntryInsert, panA).offline()), RuleOfflineCount)
}

// TestRuleOrder: when several rules refuse, the first in the documented
// order is reported.
func TestRuleOrder(t *testing.T) {
	r := DefaultRules()
	r.MaxAmount.Insert = 1000
	r.Velocity = VelocityRules{Enabled: true, Window: Duration(time.Hour), MaxCount: 1}
	r.Offline.FloorLimit = 500
	f := newFixture(t, r)
	f.record(sale(100, EntryInsert, panA), true)
	f.ledger.set(OfflineSummary{Count: 100, Amount: 1e9, Oldest: t0.Add(-1000 * time.Hour)}, nil)
	f.loadHotlist(1, panA)
	big := sale(2000, EntryInsert, panA).offline()
	wantRefuse(t, "all", f.check(big), RuleHotlist)
	f.loadHotlist(2)
	wantRefuse(t, "all but hotlist", f.check(big), RuleMaxAmountInsert)
	wantRefuse(t, "then floor", f.check(sale(600, EntryInsert, panA).offline()), RuleOfflineFloorLimit)
	wantRefuse(t, "then velocity", f.check(sale(400, EntryInsert, panA).offline()), RuleVelocityCount)
	wantRefuse(t, "then ledger", f.check(sale(400, EntryInsert, panB).offline()), RuleOfflineCount)
	bad := sale(400, EntryInsert, panA).offline()
	bad.Currency = "USD"
	wantRefuse(t, "currency first", f.check(bad), RuleCurrency)
}

func TestStorageFailureRefuses(t *testing.T) {
	f := newFixture(t, DefaultRules())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := f.e.Check(ctx, sale(100, EntryTap, panA))
	wantRefuse(t, "cancelled", d, RuleUnavailable)
	if err := f.e.Record(ctx, sale(100, EntryTap, panA), true); !errors.Is(err, context.Canceled) {
		t.Errorf("Record, cancelled: %v", err)
	}

	f.bolt().Close()
	d = f.check(sale(100, EntryTap, panA))
	wantRefuse(t, "database closed", d, RuleUnavailable)
	if !errors.Is(d.Err, ErrStorage) {
		t.Errorf("error %v", d.Err)
	}
	if err := f.e.Record(context.Background(), sale(100, EntryTap, panA), true); !errors.Is(err, ErrStorage) {
		t.Errorf("Record: %v", err)
	}
	file, _ := BuildHotlist(f.key, 5, nil)
	if err := f.e.LoadHotlist(file); !errors.Is(err, ErrStorage) || f.e.Hotlist() != nil {
		t.Errorf("LoadHotlist: %v", err)
	}
	if _, err := f.e.Prune(context.Background()); !errors.Is(err, ErrStorage) {
		t.Errorf("Prune: %v", err)
	}
	// Without a card, nothing needs the database.
	wantAllow(t, "qr", f.check(sale(100, EntryQR, "")), CVMNone)
	if !strings.Contains(f.logs.String(), `"rule":"risk_unavailable"`) {
		t.Errorf("refusal not logged: %s", f.logs)
	}
}

func TestSchema(t *testing.T) {
	f := newFixture(t, DefaultRules())
	for _, c := range []struct {
		key, val []byte
		want     error
	}{
		{keySchema, []byte("3"), ErrSchema},
		{keySchema, []byte("x"), ErrSchema},
		{keySchema, []byte("0"), ErrSchema},
		{keyHotlist, []byte("RHL1 short"), ErrDamaged},
		// A newer schema used as it is when it says this build can.
		{keyCompat, []byte("2"), nil},
		{keyCompat, []byte("3"), ErrSchema},
	} {
		f.bolt().Update(func(tx *bolt.Tx) error {
			m := tx.Bucket(bucketMeta)
			m.Put(keySchema, []byte("1"))
			m.Delete(keyHotlist)
			m.Delete(keyCompat)
			if bytes.Equal(c.key, keyCompat) {
				m.Put(keySchema, []byte("3"))
			}
			return m.Put(c.key, c.val)
		})
		if _, err := New(DefaultRules(), f.opts()); !errors.Is(err, c.want) {
			t.Errorf("%s=%q: %v", c.key, c.val, err)
		}
	}
	// A damaged velocity entry refuses rather than miscounts.
	f.bolt().Update(func(tx *bolt.Tx) error {
		tx.Bucket(bucketMeta).Delete(keyHotlist)
		card, _ := f.e.Card([]byte(panA))
		return tx.Bucket(bucketVelocity).Put(append(card[:], 0xff), []byte{1})
	})
	d := f.check(sale(100, EntryTap, panA))
	wantRefuse(t, "damaged entry", d, RuleUnavailable)
	if !errors.Is(d.Err, ErrDamaged) {
		t.Errorf("error %v", d.Err)
	}
}

// RecordTx writes in the caller's transaction: nothing when it rolls back.
func TestRecordTxFollowsTheTransaction(t *testing.T) {
	f := newFixture(t, DefaultRules())
	e, db := f.e, f.bolt()
	card, err := e.Card([]byte("4761739001010010"))
	if err != nil {
		t.Fatal(err)
	}
	txn := Txn{Type: TypeSale, Amount: 100, Currency: "CNY", Entry: EntrySwipe, Card: card, Online: true}
	boom := errors.New("boom")
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := e.RecordTx(context.Background(), tx, txn, true); err != nil {
			return err
		}
		return boom
	}); err != boom {
		t.Fatal(err)
	}
	if n := countVelocity(t, db); n != 0 {
		t.Fatalf("a rolled back RecordTx left %d entries", n)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return e.RecordTx(context.Background(), tx, txn, true) }); err != nil {
		t.Fatal(err)
	}
	if n := countVelocity(t, db); n != 1 {
		t.Fatalf("%d entries after a committed RecordTx", n)
	}
}

func countVelocity(t *testing.T, db *bolt.DB) int {
	t.Helper()
	n := 0
	db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bucketVelocity).Stats().KeyN; return nil })
	return n
}

// CheckOffline runs the offline rules before the card is read (no PAN):
// the state-free ones and the ledger's, nothing that needs the card.
func TestCheckOfflineWithoutCard(t *testing.T) {
	f := newFixture(t, DefaultRules())
	ctx := context.Background()
	f.ledger.set(OfflineSummary{}, nil)
	wantAllow(t, "insert within limits", f.e.CheckOffline(ctx, sale(100, EntryInsert, "")), CVMOfflinePIN)
	wantRefuse(t, "swipe", f.e.CheckOffline(ctx, sale(100, EntrySwipe, "")), RuleOfflineMagstripe)
	wantRefuse(t, "over the floor", f.e.CheckOffline(ctx, sale(500_01, EntryInsert, "")), RuleOfflineFloorLimit)
	f.ledger.set(OfflineSummary{Count: 10, Amount: 1000, Oldest: t0}, nil)
	wantRefuse(t, "count", f.e.CheckOffline(ctx, sale(100, EntryInsert, "")), RuleOfflineCount)
	f.ledger.set(OfflineSummary{Count: 1, Amount: 2000_00, Oldest: t0}, nil)
	wantRefuse(t, "amount", f.e.CheckOffline(ctx, sale(100, EntryInsert, "")), RuleOfflineAmount)
	f.ledger.set(OfflineSummary{}, errors.New("unreadable"))
	wantRefuse(t, "ledger", f.e.CheckOffline(ctx, sale(100, EntryInsert, "")), RuleUnavailable)
	wantRefuse(t, "invalid", f.e.CheckOffline(ctx, sale(0, EntryInsert, "")), RuleInvalid)
	// The hotlist and velocity need the card: Check's, not this.
	f.ledger.set(OfflineSummary{}, nil)
	f.loadHotlist(1, panA)
	wantAllow(t, "hotlist not consulted", f.e.CheckOffline(ctx, sale(100, EntryInsert, panA)), CVMOfflinePIN)
}

// TestOfflineClockBeforeBuild: a clock before the firmware's build time
// (a board without a battery-backed clock, back at the epoch after a power
// cut, or set back by a forged NTP answer) dates nothing offline; online
// sales go on (the host judges them), and CheckClock tells the engineer.
func TestOfflineClockBeforeBuild(t *testing.T) {
	f := newFixture(t, onlyOffline())
	o := f.opts()
	o.NotBefore = t0.Add(24 * time.Hour) // built tomorrow: the clock is a day behind
	e, err := New(onlyOffline(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tap := sale(100, EntryTap, panA)
	wantRefuse(t, "offline before the build time", e.Check(ctx, tap.offline()), RuleOfflineClock)
	wantRefuse(t, "offline judged before the card", e.CheckOffline(ctx, tap.offline()), RuleOfflineClock)
	wantAllow(t, "online before the build time", e.Check(ctx, tap), CVMNone)
	err = e.CheckClock(ctx)
	if !errors.Is(err, ErrClock) || !strings.Contains(err.Error(), "build time") {
		t.Errorf("CheckClock before the build time: %v", err)
	}
	if !strings.Contains(f.logs.String(), "offline_clock") {
		t.Errorf("the refusal was not logged: %s", f.logs)
	}

	// Within the tolerance of the build time: a clock a little slow.
	f.clk.Advance(24*time.Hour - ClockTolerance)
	wantAllow(t, "offline at the build time's tolerance", e.Check(ctx, tap.offline()), CVMNone)
	if err := e.CheckClock(ctx); err != nil {
		t.Errorf("CheckClock once set: %v", err)
	}

	// Behind an approval waiting: the status says so too.
	f.ledger.set(OfflineSummary{Count: 1, Amount: 100, Oldest: f.clk.Now().Add(time.Hour)}, nil)
	if err := e.CheckClock(ctx); !errors.Is(err, ErrClock) || !strings.Contains(err.Error(), "behind the newest offline approval") {
		t.Errorf("CheckClock behind an approval waiting: %v", err)
	}
	f.ledger.set(OfflineSummary{}, errors.New("disk gone"))
	if err := e.CheckClock(ctx); !errors.Is(err, ErrOffline) {
		t.Errorf("CheckClock with the ledger unreadable: %v", err)
	}
}
