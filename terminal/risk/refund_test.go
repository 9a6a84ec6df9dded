package risk

import (
	"errors"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func refundRules(requireOriginal bool, maxTotal int64, window time.Duration) Rules {
	r := onlyVelocity(time.Hour, 100, 0)
	r.Refund = RefundRules{RequireOriginal: requireOriginal, MaxTotal: maxTotal, Window: Duration(window)}
	return r
}

func refund(amount int64, entry EntryMode, pan string, original bool) Txn {
	t := sale(amount, entry, pan).as(TypeRefund)
	t.Original = original
	return t
}

// TestRefundTotal: the refunds approved on the terminal within the
// window, whatever card or wallet they went to, stay under the cap; sales,
// declined refunds and refunds that left the window do not count, and
// the count survives a restart.
func TestRefundTotal(t *testing.T) {
	f := newFixture(t, refundRules(false, 1000, time.Hour))
	f.record(refund(600, EntryInsert, panA, true), true)
	f.record(refund(300, EntryInsert, panA, true), false) // declined
	f.record(sale(5000, EntryInsert, panA), true)         // a sale
	f.clk.Advance(time.Minute)
	wantAllow(t, "600 + 400", f.check(refund(400, EntryTap, panB, false)), CVMNone)
	d := f.check(refund(401, EntryTap, panB, false))
	wantRefuse(t, "600 + 401, another card", d, RuleRefundTotal)
	if !strings.Contains(d.Reason, "10.01") || !strings.Contains(d.Reason, "10.00") {
		t.Errorf("reason %q", d.Reason)
	}
	wantRefuse(t, "a wallet refund counts too", f.check(refund(401, EntryQR, "", true)), RuleRefundTotal)
	wantAllow(t, "a sale is not a refund", f.check(sale(5000, EntryTap, panB)), CVMNone)
	f.record(refund(400, EntryQR, "", true), true)
	f.reopen(refundRules(false, 1000, time.Hour))
	wantRefuse(t, "after a restart, at the cap", f.check(refund(1, EntryInsert, panC, false)), RuleRefundTotal)
	// The 600 leaves the window an hour after it was made; the 400 a
	// minute later.
	f.clk.Advance(59 * time.Minute)
	wantAllow(t, "the 600 an hour old", f.check(refund(600, EntryInsert, panC, false)), CVMNone)
	wantRefuse(t, "the 400 still inside", f.check(refund(601, EntryInsert, panC, false)), RuleRefundTotal)
	// No cap: refunds are still kept, so a cap set later counts them.
	f.reopen(refundRules(false, 0, time.Hour))
	wantAllow(t, "no cap", f.check(refund(100000, EntryInsert, panC, false)), CVMNone)
	f.record(refund(900, EntryInsert, panC, false), true)
	if err := f.e.SetRules(refundRules(false, 1000, time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantRefuse(t, "cap set after 400 + 900", f.check(refund(1, EntryInsert, panC, false)), RuleRefundTotal)
	// Prune drops what left the window and nothing else.
	f.clk.Advance(30 * time.Minute)
	if n, err := f.e.Prune(t.Context()); err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want the 400 and the sale's velocity entry", n, err)
	}
	wantAllow(t, "900 + 100 after the prune", f.check(refund(100, EntryInsert, panC, false)), CVMNone)
}

func TestRefundRequireOriginal(t *testing.T) {
	f := newFixture(t, refundRules(true, 0, time.Hour))
	wantRefuse(t, "a refund naming no sale", f.check(refund(100, EntryInsert, panA, false)), RuleRefundUnreferenced)
	wantAllow(t, "a refund of a sale", f.check(refund(100, EntryInsert, panA, true)), CVMNone)
	wantAllow(t, "a sale", f.check(sale(100, EntryInsert, panA)), CVMOnlinePIN)
	f = newFixture(t, refundRules(false, 0, time.Hour))
	wantAllow(t, "not required", f.check(refund(100, EntryInsert, panA, false)), CVMNone)
}

// TestRefundSchemaUpgrade: a database of schema 1 (no refunds bucket) is
// taken up, marked schema 2 usable by schema 1 builds, and counts the
// refunds from then on.
func TestRefundSchemaUpgrade(t *testing.T) {
	f := newFixture(t, refundRules(false, 1000, time.Hour))
	f.bolt().Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		m.Put(keySchema, []byte("1"))
		m.Delete(keyCompat)
		return tx.DeleteBucket(bucketRefunds)
	})
	f.reopen(refundRules(false, 1000, time.Hour))
	f.bolt().View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if s, c := string(m.Get(keySchema)), string(m.Get(keyCompat)); s != "2" || c != "1" || tx.Bucket(bucketRefunds) == nil {
			t.Errorf("after the upgrade: schema %q compat %q, refunds bucket %t", s, c, tx.Bucket(bucketRefunds) != nil)
		}
		return nil
	})
	f.record(refund(1000, EntryInsert, panA, true), true)
	wantRefuse(t, "after the upgrade", f.check(refund(1, EntryInsert, panA, true)), RuleRefundTotal)
	// A damaged entry refuses rather than miscounts.
	f.bolt().Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketRefunds).Put([]byte{0xff, 1}, []byte{1}) })
	d := f.check(refund(1, EntryInsert, panA, true))
	wantRefuse(t, "damaged entry", d, RuleUnavailable)
	if !errors.Is(d.Err, ErrDamaged) {
		t.Errorf("error %v", d.Err)
	}
}

func TestRefundRulesParse(t *testing.T) {
	r, err := ParseRules([]byte(`{"refund":{"require_original":true,"max_total":500000,"window":"12h"}}`))
	if err != nil || !r.Refund.RequireOriginal || r.Refund.MaxTotal != 500000 || time.Duration(r.Refund.Window) != 12*time.Hour {
		t.Fatalf("%+v %v", r.Refund, err)
	}
	if d := DefaultRules().Refund; d.MaxTotal != 20_000_00 || time.Duration(d.Window) != 24*time.Hour || d.RequireOriginal {
		t.Fatalf("defaults %+v", d)
	}
	for in, key := range map[string]string{
		`{"refund":{"window":"soon"}}`:  "refund.window",
		`{"refund":{"window":"0s"}}`:    "refund.window",
		`{"refund":{"max_total":-1}}`:   "refund.max_total",
		`{"refund":{"window":"9000h"}}`: "refund.window",
	} {
		var re *RulesError
		if _, err := ParseRules([]byte(in)); !errors.As(err, &re) || re.Key != key {
			t.Errorf("%s: %v, want an error naming %s", in, err, key)
		}
	}
}
