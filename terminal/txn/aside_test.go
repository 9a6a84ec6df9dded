package txn

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"posd/conn/clock"
	"posd/terminal/facepay"
	"posd/terminal/host"
	"posd/terminal/redact"
	"posd/terminal/store"
	"posd/terminal/store/storetest"
)

// wantAside checks that e lists id, alone, as set aside for why, and that
// a restart would too (the list rebuilt from the records).
func wantAside(t *testing.T, e *Engine, id, why string) {
	t.Helper()
	check := func(when string) {
		t.Helper()
		got := e.Aside()
		if len(got) != 1 || got[0].ID != id || got[0].Why != why || got[0].Amount <= 0 || got[0].Updated.IsZero() {
			t.Fatalf("set aside %s: %+v, want %s for %s", when, got, id, why)
		}
	}
	check("as it happened")
	e.mu.Lock()
	e.aside = map[string]SetAside{}
	e.mu.Unlock()
	if err := e.RefreshAside(); err != nil {
		t.Fatal(err)
	}
	check("rebuilt from the records")
}

// asideIDs is e's list to settle by hand as ids.
func asideIDs(e *Engine) []string {
	var ids []string
	for _, a := range e.Aside() {
		ids = append(ids, a.ID)
	}
	return ids
}

// An item set aside is settled by hand: the record says by whom, when,
// why, the outcome and the reference; it leaves the list, now and after
// a restart; asking again is answered with what was recorded; an item
// not on the list (still worked on, never set aside, unknown) is refused.
func TestSettleByHand(t *testing.T) {
	db := openDB(t)
	recs := []store.Txn{
		{Kind: "purchase", Amount: 3000, Currency: "156", State: store.StateReversalPending, Face: &store.Face{OrderID: "F1", Status: facepay.CodeReverseExpired}},
		{Kind: "purchase", Amount: 200, Currency: "156", State: store.StateOfflineApproved, STAN: 8, AdviceCode: "Q1"},
		{Kind: "purchase", Amount: 300, Currency: "156", State: store.StateOfflineApproved, STAN: 9, AdviceCode: AdviceLost},
		{Kind: "purchase", Amount: 100, Currency: "156", State: store.StateReversalPending, STAN: 7},
		{Kind: "purchase", Amount: 400, Currency: "156", State: store.StateApproved, STAN: 10},
	}
	storetest.Seed(t, db, recs, map[int]store.JobKind{3: store.JobReversal})
	face, refused, lost, reversing, approved := recs[0].ID, recs[1].ID, recs[2].ID, recs[3].ID, recs[4].ID
	silent := &fakeHost{purchase: func(host.Purchase) (host.Result, error) { return host.Result{}, errors.New("down") }}
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	open := func() *Engine {
		e, err := New(Opts{Store: db, Host: silent, Keys: newKeys(t), Reader: newReader(), CardTimeout: time.Second,
			HostTimeout: time.Second, ReversalRetry: time.Hour, MaxAmount: 100000, Currencies: []string{"156"},
			Clock: clock.NewFake(at)})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := open()
	defer func() { e.Halt() }()
	if got := asideIDs(e); !slices.Equal(got, []string{face, refused, lost}) {
		t.Fatalf("set aside: %v", got)
	}

	got, err := e.SettleByHand(refused, HandNote{By: "carol (admin)", Outcome: HandSettled, Ref: " ACQ-TICKET 7781 "})
	want := store.Hand{At: at, By: "carol (admin)", Why: AsideAdviceRefused, Outcome: HandSettled, Ref: "ACQ-TICKET 7781"}
	if err != nil || got.Hand == nil || *got.Hand != want || got.State != store.StateOfflineApproved || got.AdviceCode != "Q1" {
		t.Fatalf("settled: %+v, %v", got.Hand, err)
	}
	if rec, _ := e.Get(refused); rec.Hand == nil || *rec.Hand != want {
		t.Fatalf("record: %+v", rec.Hand)
	}
	if got := asideIDs(e); !slices.Equal(got, []string{face, lost}) {
		t.Fatalf("set aside after settling %s: %v", refused, got)
	}
	if counts(got, true) {
		t.Errorf("an offline approval settled by hand counts in the batch's totals")
	}
	// Asked again (a retry): what was recorded, unchanged.
	again, err := e.SettleByHand(refused, HandNote{By: "dave (admin)", Outcome: HandSettled, Ref: "ACQ-TICKET 7781"})
	if err != nil || again.Hand == nil || *again.Hand != want {
		t.Fatalf("settled again: %+v, %v", again.Hand, err)
	}
	// Otherwise: refused, the record unchanged.
	if _, err := e.SettleByHand(refused, HandNote{By: "carol (admin)", Outcome: HandSettled, Ref: "ACQ-TICKET 7782"}); !errors.Is(err, ErrHandSettled) {
		t.Fatalf("settled again with another reference: %v", err)
	}

	// A face payment needs its outcome: refunded or stands.
	for _, o := range []string{HandSettled, "", "paid"} {
		if _, err := e.SettleByHand(face, HandNote{By: "carol (admin)", Outcome: o, Ref: "FP case 12"}); !errors.Is(err, ErrHandNote) {
			t.Fatalf("face payment settled %q: %v", o, err)
		}
	}
	if _, err := e.SettleByHand(lost, HandNote{By: "carol (admin)", Outcome: HandStands, Ref: "x"}); !errors.Is(err, ErrHandNote) {
		t.Fatalf("offline approval settled as standing: %v", err)
	}
	if e.SettledReversals() != 0 {
		t.Fatalf("settled reversals before any: %d", e.SettledReversals())
	}
	if _, err := e.SettleByHand(face, HandNote{By: "carol (admin)", Outcome: HandStands, Ref: "FP case 12"}); err != nil {
		t.Fatal(err)
	}
	if e.SettledReversals() != 1 {
		t.Fatalf("settled reversals: %d", e.SettledReversals())
	}

	// Not on the list: refused, nothing written.
	for _, id := range []string{reversing, approved, "999", "x"} {
		_, err := e.SettleByHand(id, HandNote{By: "carol (admin)", Outcome: HandSettled, Ref: "T1"})
		if !errors.Is(err, ErrNotAside) {
			t.Errorf("%s settled: %v", id, err)
		}
	}
	if _, err := e.SettleByHand("999", HandNote{By: "carol (admin)", Outcome: HandSettled, Ref: "T1"}); !store.IsNotFound(err) {
		t.Errorf("unknown id: %v", err)
	}
	for _, id := range []string{reversing, approved} {
		if rec, err := e.Get(id); err != nil || rec.Hand != nil {
			t.Errorf("%s after a refusal: %+v, %v", id, rec.Hand, err)
		}
	}

	// A restart: the list is rebuilt without them.
	e.Halt()
	e = open()
	if got := asideIDs(e); !slices.Equal(got, []string{lost}) || e.SettledReversals() != 1 {
		t.Fatalf("after a restart: %v, %d settled reversals", got, e.SettledReversals())
	}
}

// The note is checked before anything is read or written: who, a
// reference of printable ASCII within its bound, never a card number
// (redact would mask it), which no error repeats.
func TestSettleByHandRefusesBadNotes(t *testing.T) {
	db := openDB(t)
	recs := []store.Txn{{Kind: "purchase", Amount: 200, Currency: "156", State: store.StateOfflineApproved, STAN: 8, AdviceCode: "Q1"}}
	storetest.Seed(t, db, recs, nil)
	e, err := New(Opts{Store: db, Host: approveAll(), Keys: newKeys(t), Reader: newReader(), MaxAmount: 100000, Currencies: []string{"156"}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Halt()
	id := recs[0].ID
	for _, c := range []struct{ by, ref string }{
		{"", "T1"},
		{"carol\n(admin)", "T1"},
		{"carol (admin)", ""},
		{"carol (admin)", "   "},
		{"carol (admin)", strings.Repeat("A", MaxHandRef+1)},
		{"carol (admin)", "ticket\x07"},
		{"carol (admin)", "票号 12"},
		{"carol (admin)", "4761739001010010"},
		{"carol (admin)", "card 4761739001010010 refund"},
		{"carol (admin)", "4761 7390 0101 0010"},
		{"carol (admin)", "4761-7390-0101-0010"},
		{"carol (admin)", "476173900101001047617390"},
		{"carol (admin)", "4761/7390/0101/0010"},
		{"carol (admin)", "4761:7390:0101:0010"},
		{"carol (admin)", "4761_7390_0101_0010"},
		{"carol (admin)", "4761,7390,0101,0010"},
		{"carol (admin)", "4761  7390  0101  0010"},
	} {
		_, err := e.SettleByHand(id, HandNote{By: c.by, Outcome: HandSettled, Ref: c.ref})
		if !errors.Is(err, ErrHandNote) {
			t.Errorf("by %q ref %q: %v", c.by, c.ref, err)
			continue
		}
		if strings.Contains(err.Error(), "0101") {
			t.Errorf("error repeats the reference: %v", err)
		}
	}
	if rec, _ := e.Get(id); rec.Hand != nil {
		t.Fatalf("a refused note was recorded: %+v", rec.Hand)
	}
	// A reference with digits that are no card number is fine.
	if _, err := e.SettleByHand(id, HandNote{By: "carol (admin)", Outcome: HandSettled, Ref: "CUP/2026-11-29/000123 ok"}); err != nil {
		t.Fatal(err)
	}
}

// FuzzHandNote: a reference checkHandNote takes is printable ASCII within
// its bound, nothing in it is what redact masks, and no run of 13 to 19
// digits in it, however grouped (anything but letters between them),
// passes the Luhn check.
func FuzzHandNote(f *testing.F) {
	for _, s := range []string{"ACQ-TICKET 7781", "4761739001010010", "4761 7390 0101 0010", "FP000000000001",
		"CUP/2026-11-29/000123 ok", "4761.7390.0101.0010x", "\x00", "票号"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		if checkHandNote(HandNote{By: "adam (admin)", Outcome: HandSettled, Ref: ref}) != nil {
			return
		}
		if ref == "" || len(ref) > MaxHandRef || !printableASCII(ref) || redact.Digits(ref) != ref {
			t.Fatalf("took %q", ref)
		}
		var digits []byte
		for i := 0; i <= len(ref); i++ {
			switch {
			case i < len(ref) && ref[i] >= '0' && ref[i] <= '9':
				digits = append(digits, ref[i])
				continue
			case i < len(ref) && len(digits) > 0 && !isLetter(ref[i]):
				continue // any separator but a letter
			}
			if n := len(digits); n >= 13 && n <= 19 && redact.Luhn(digits) {
				t.Fatalf("took %q: a card number in groups", ref)
			}
			digits = digits[:0]
		}
	})
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// A commit's note that comes late (the record settled by hand since)
// decides from the record as stored, not from its own copy: a
// transaction settled by hand never comes back on the list.
func TestLateNoteAsideReadsTheRecord(t *testing.T) {
	db := openDB(t)
	recs := []store.Txn{{Kind: "purchase", Amount: 200, Currency: "156", State: store.StateOfflineApproved, STAN: 8, AdviceCode: "Q1"}}
	storetest.Seed(t, db, recs, nil)
	id := recs[0].ID
	e, err := New(Opts{Store: db, Host: &fakeHost{}, Keys: newKeys(t), Reader: newReader(), CardTimeout: time.Second,
		HostTimeout: time.Second, MaxAmount: 100000, Currencies: []string{"156"}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Halt()
	stale, err := db.Get(id) // the commit's copy, before the settlement
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.SettleByHand(id, HandNote{By: "carol (admin)", Outcome: HandSettled, Ref: "ACQ-1"}); err != nil {
		t.Fatal(err)
	}
	e.noteAside(stale)
	if got := asideIDs(e); len(got) != 0 {
		t.Fatalf("settled by hand, back on the list from a late note: %v", got)
	}
}
