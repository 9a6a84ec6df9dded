package txn

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"posd/crypto/keystore"
	"posd/internal/testhex"
	"posd/terminal/dukptkeys"
	"posd/terminal/host"
	"posd/terminal/risk"
	"posd/terminal/store"
	"posd/terminal/wiresec"
)

// realParts is the engine over the real key source and risk rules, which
// write inside the engine's transactions.
func realParts(t *testing.T, db *store.DB, dir string) (*dukptkeys.Source, *risk.Engine) {
	t.Helper()
	kek, _ := keystore.NewStaticKEK(make([]byte, 32))
	ks, err := keystore.Open(db.Bolt(), kek, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := dukptkeys.New(ks, wiresec.ModeAES, "dukpt.0", func(err error) bool { return errors.Is(err, keystore.ErrNotFound) })
	keys.SetMark(&dukptkeys.FileMark{Path: filepath.Join(dir, "mark.json")})
	if err := keys.Check(); errors.Is(err, dukptkeys.ErrNotProvisioned) {
		if err := keys.LoadFromBDK(testBDK, testhex.Bytes(t, "123456789012345600000000")); err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	rules := risk.DefaultRules()
	rules.CVM.NoCVMLimit.Swipe = 1000_00
	r, err := risk.New(rules, risk.Opts{DB: db.Bolt(), HashKey: make([]byte, 32),
		Offline: risk.OfflineLedgerFunc(func(context.Context) (risk.OfflineSummary, error) { return risk.OfflineSummary{}, nil })})
	if err != nil {
		t.Fatal(err)
	}
	return keys, r
}

// TestTwoCommitsPerApprovedSale: an approved online sale costs two commits
// (two fsyncs of the database): the request with its STAN, its DUKPT state
// and its record; the outcome with the velocity entry. Nothing is written
// while the sale waits for its card.
func TestTwoCommitsPerApprovedSale(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "posd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys, rules := realParts(t, db, dir)
	var ksns []string
	h := &fakeHost{purchase: func(p host.Purchase) (host.Result, error) { return host.Result{ResponseCode: "00", AuthCode: "A"}, nil }}
	rd := newReader()
	e, err := New(Opts{Store: db, Host: h, Keys: keys, Reader: rd, Risk: rules, ReversalRetry: time.Hour,
		Clock: newOffsetClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Halt()
	// The first sale reserves a block of record ids (one commit).
	tx, _ := e.StartSale(100, "156")
	rd.cards <- card("3012")
	wait(t, e, tx.ID)
	for i := 0; i < 5; i++ {
		before := db.Commits()
		tx, err := e.StartSale(100, "156")
		if err != nil {
			t.Fatal(err)
		}
		if db.Commits() != before {
			t.Fatal("starting a sale wrote to the database")
		}
		if got, err := e.Get(tx.ID); err != nil || got.State != store.StateCreated {
			t.Fatalf("the sale in progress: %+v %v", got, err)
		}
		rd.cards <- card("3012")
		got := wait(t, e, tx.ID)
		if got.State != store.StateApproved {
			t.Fatalf("sale: %+v", got)
		}
		if n := db.Commits() - before; n != 2 {
			t.Fatalf("an approved sale took %d commits, want 2", n)
		}
		ksns = append(ksns, got.KSN)
	}
	for i := 1; i < len(ksns); i++ {
		if ksns[i] == ksns[i-1] {
			t.Fatal("KSN reused")
		}
	}
	// The stored DUKPT state is the last sale's: a new source over the
	// same store goes on after it.
	e.Halt()
	keys2, _ := realParts(t, db, dir)
	sess, err := keys2.Next()
	if err != nil {
		t.Fatal(err)
	}
	if got := testhex.Upper(sess.KSN()); got <= ksns[len(ksns)-1] {
		t.Fatalf("KSN after restart %s, last used %s", got, ksns[len(ksns)-1])
	}
}
