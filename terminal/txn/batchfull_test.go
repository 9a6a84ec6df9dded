package txn

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"posd/terminal/host"
	"posd/terminal/store"
	"posd/terminal/wiresec"
)

// cupHost is a host of the cup dialect as far as the batch goes: every
// settlement and upload is first built by a real host.Client of the cup
// dialect (whose port is closed: a message it can build stops there,
// unreachable), so a batch the cup 0500 cannot carry fails as it does on
// a terminal; what it can build the fakeHost answers. Its batch limit is
// the client's.
type cupHost struct {
	*fakeHost
	c *host.Client
}

func newCUPHost(t *testing.T) cupHost {
	t.Helper()
	c, err := host.New(&host.Opts{Addr: "127.0.0.1:1", Dialect: "cup", ConnectTimeout: time.Second, ResponseTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return cupHost{fakeHost: kindHost(), c: c}
}

func (h cupHost) BatchLimit() host.Totals { return h.c.BatchLimit() }

func (h cupHost) Settle(ctx context.Context, st host.Settlement, s *wiresec.Session) (host.Result, error) {
	if _, err := h.c.Settle(ctx, st, s); !errors.Is(err, host.ErrUnreachable) {
		return host.Result{}, err
	}
	return h.fakeHost.Settle(ctx, st, s)
}

func (h cupHost) Upload(ctx context.Context, u host.UploadItem, s *wiresec.Session) (host.Result, error) {
	if _, err := h.c.Upload(ctx, u, s); !errors.Is(err, host.ErrUnreachable) {
		return host.Result{}, err
	}
	return h.fakeHost.Upload(ctx, u, s)
}

// fillBatch puts n approved card transactions of kind (a sale or a
// refund, 1.00 each, CNY) in the open batch, in one commit, as the engine
// records them, and returns the last one's id: a thousand sales through
// the engine take seconds each test, this takes a moment.
func fillBatch(t testing.TB, db *store.DB, kind host.Kind, n int) string {
	t.Helper()
	return fillBatchAs(t, db, kind, store.StateApproved, n)
}

// fillBatchAs is fillBatch with the records in state (approved, or
// offline_approved: the advice not yet sent).
func fillBatchAs(t testing.TB, db *store.DB, kind host.Kind, state store.State, n int) string {
	t.Helper()
	var last string
	err := db.Do(func(tx *store.Tx) error {
		first, err := tx.ReserveIDs(uint64(n))
		if err != nil {
			return err
		}
		batch := tx.OpenBatch()
		for i := range n {
			stan, err := tx.NextSTAN()
			if err != nil {
				return err
			}
			now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
			r := store.Txn{ID: fmt.Sprint(first + uint64(i)), Kind: string(kind), State: store.StateAuthSent, Amount: 100,
				Currency: "156", STAN: stan, MaskedPAN: "476173******0010", EntryMode: "901", Batch: batch,
				Created: now, SentAt: now}
			if err := tx.Insert(&r); err != nil {
				return err
			}
			if _, err := tx.Update(r.ID, func(r *store.Txn) error {
				r.State, r.ResponseCode, r.AuthCode, r.RRN = state, "00", "A00001", fmt.Sprintf("%012d", i+1)
				if state == store.StateOfflineApproved {
					r.ResponseCode, r.AuthCode, r.RRN = "Y3", "", ""
				}
				return nil
			}); err != nil {
				return err
			}
			last = r.ID
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// refused checks that req is refused as the batch is full, on side, with
// nothing recorded, no card asked for, no STAN or key used.
func refused(t *testing.T, e *Engine, db *store.DB, req Request, side string) {
	t.Helper()
	before, err := db.List(0)
	if err != nil {
		t.Fatal(err)
	}
	stan := db.Count(store.StateAuthSent)
	last := e.Last()
	_, err = e.Start(req)
	var full *BatchFullError
	if !errors.Is(err, ErrBatchFull) || !errors.As(err, &full) || full.Side != side || full.Limit != 999 || full.Currency != "CNY" {
		t.Fatalf("%s at the limit: %v (%+v), want the %s full", req.Kind, err, full, side)
	}
	after, _ := db.List(0)
	if len(after) != len(before) || e.Active() != "" || e.Last().Seq != last.Seq || db.Count(store.StateAuthSent) != stan {
		t.Fatalf("a refused %s left a trace: %d records (was %d), active %q, event %+v", req.Kind, len(after), len(before), e.Active(), e.Last())
	}
}

func load(t *testing.T, e *Engine) BatchLoad {
	t.Helper()
	_, l, err := e.BatchLoad()
	if err != nil || len(l) != 1 {
		t.Fatalf("batch load %+v: %v", l, err)
	}
	return l[0]
}

// TestBatchFullCUP: a cup batch holds at most 999 debits and 999 credits,
// the counts its 0500 carries (DE48 n3). A batch past it cannot be
// settled; the terminal therefore refuses what would push it past (and
// says so from 950 on), the cashier closes the batch, and the next batch
// takes transactions again. The batch is filled in the store directly
// (fillBatch), as the engine records approved sales.
func TestBatchFullCUP(t *testing.T) {
	t.Run("past the limit the close cannot be built", func(t *testing.T) {
		// What a terminal that took a thousandth sale was left with:
		// every close fails, the batch stays open.
		h := newCUPHost(t)
		e, _, db, _ := setupHost(t, h)
		fillBatch(t, db, host.KindPurchase, 1000)
		for range 2 {
			rec, err := e.CloseBatch(context.Background())
			if !errors.Is(err, ErrSettlement) || !errors.Is(err, host.ErrInvalidRequest) || rec.State != store.StateFailed ||
				!strings.Contains(err.Error(), "debits count out of range") {
				t.Fatalf("close of 1000 debits: %v, record %+v", err, rec)
			}
			if db.OpenBatch() != 1 {
				t.Fatal("the batch closed")
			}
		}
	})

	h := newCUPHost(t)
	e, r, db, _ := setupHost(t, h)
	fillBatch(t, db, host.KindPurchase, 949)
	if l := load(t, e); l.Debits != 949 || l.Credits != 0 || l.Limit != 999 || l.Hint != "" {
		t.Fatalf("at 949: %+v", l)
	}
	fillBatch(t, db, host.KindPurchase, 1)
	if l := load(t, e); l.Debits != 950 || l.Hint != BatchNearlyFull {
		t.Fatalf("at 950: %+v", l)
	}
	pre := run(t, e, r, Request{Kind: host.KindPreauth, Amount: 5000, Currency: "156"})
	fillBatch(t, db, host.KindPurchase, 47)
	last := fillBatch(t, db, host.KindPurchase, 1)
	// An offline approval whose advice waits is in the next close's
	// totals: it fills the last place.
	off := fillBatchAs(t, db, host.KindPurchase, store.StateOfflineApproved, 1)
	if l := load(t, e); l.Debits != 999 || l.Hint != BatchFull {
		t.Fatalf("at 999: %+v", l)
	}

	// Full: a sale and a completion (debits) are refused, before a card
	// is asked for; a refund (credits), a pre-authorization, a balance
	// inquiry and a void still run.
	refused(t, e, db, Request{Amount: 100, Currency: "156"}, "debits")
	refused(t, e, db, Request{Kind: host.KindCompletion, Amount: 5000, OrigID: pre.ID}, "debits")
	if _, err := e.Start(Request{Amount: 100, Currency: "156", Method: MethodQR}); err == nil || errors.Is(err, ErrBatchFull) {
		t.Fatalf("a wallet sale (no code reader here) refused as: %v", err)
	}
	run(t, e, r, Request{Kind: host.KindRefund, Amount: 100, Currency: "156"})
	run(t, e, r, Request{Kind: host.KindPreauth, Amount: 100, Currency: "156"})
	run(t, e, r, Request{Kind: host.KindBalance, Currency: "156"})
	if v := run(t, e, r, Request{Kind: host.KindVoid, OrigID: last}); v.State != store.StateApproved {
		t.Fatalf("void at the limit: %+v", v)
	}
	// The void made room for one sale, no more.
	if s := run(t, e, r, Request{Amount: 100, Currency: "156"}); s.State != store.StateApproved {
		t.Fatalf("sale after the void: %+v", s)
	}
	refused(t, e, db, Request{Amount: 100, Currency: "156"}, "debits")

	// The close carries what the refusal counted (the offline approval's
	// advice reached the host meanwhile).
	l := load(t, e)
	if _, err := db.Update(off, func(r *store.Txn) error { r.AdviceSent = time.Now(); return nil }); err != nil {
		t.Fatal(err)
	}
	rec, err := e.CloseBatch(context.Background())
	if err != nil || rec.State != store.StateApproved {
		t.Fatalf("close of a full batch: %v, %+v", err, rec)
	}
	h.mu.Lock()
	sent := h.settlements[len(h.settlements)-1].Totals
	h.mu.Unlock()
	if sent.DebitCount != 999 || sent.DebitCount != l.Debits || sent.CreditCount != l.Credits || sent.CreditCount != 1 {
		t.Fatalf("the 0500 carried %+v, the batch load was %+v", sent, l)
	}

	// The next batch takes sales again; its credits fill the same way.
	if s := run(t, e, r, Request{Amount: 100, Currency: "156"}); s.State != store.StateApproved || s.Batch != 2 {
		t.Fatalf("first sale of the next batch: %+v", s)
	}
	fillBatch(t, db, host.KindRefund, 999)
	refused(t, e, db, Request{Kind: host.KindRefund, Amount: 100, Currency: "156"}, "credits")
	if s := run(t, e, r, Request{Amount: 100, Currency: "156"}); s.State != store.StateApproved {
		t.Fatalf("a sale with the credits full: %+v", s)
	}
	if rec, err := e.CloseBatch(context.Background()); err != nil || rec.State != store.StateApproved {
		t.Fatalf("close of full credits: %v, %+v", err, rec)
	}
}

// TestBatchRoomFollowsNewRecords: a sale reads only what was recorded
// since the last one (not the whole store), and still stops the batch at
// the limit: sales through the engine fill the last places, and a batch
// closed and a purge-like change (fewer records than read) start over.
func TestBatchRoomFollowsNewRecords(t *testing.T) {
	h := newCUPHost(t)
	e, r, db, _ := setupHost(t, h)
	fillBatch(t, db, host.KindPurchase, 997)
	run(t, e, r, Request{Amount: 100, Currency: "156"}) // reads the batch: 997, then 998 with it
	e.mu.Lock()
	last := e.room.last
	e.mu.Unlock()
	s := run(t, e, r, Request{Amount: 100, Currency: "156"}) // 999: read from the new records only
	e.mu.Lock()
	incremental := e.room.valid && e.room.batch == 1 && e.room.last > last && e.room.totals["156"].DebitCount == 998
	e.mu.Unlock()
	if !incremental || s.State != store.StateApproved {
		t.Fatalf("the second sale's check did not follow the new records: %+v, sale %s", e.room, s.State)
	}
	refused(t, e, db, Request{Amount: 100, Currency: "156"}, "debits")
	if rec, err := e.CloseBatch(context.Background()); err != nil || rec.Totals[0].DebitCount != 999 {
		t.Fatalf("close: %v %+v", err, rec.Totals)
	}
	// The next batch starts from nothing.
	for range 3 {
		if s := run(t, e, r, Request{Amount: 100, Currency: "156"}); s.State != store.StateApproved || s.Batch != 2 {
			t.Fatalf("sale of batch 2: %+v", s)
		}
	}
	if _, l, _ := e.BatchLoad(); len(l) != 1 || l[0].Debits != 3 {
		t.Fatalf("batch 2 load %+v", l)
	}
}

// BenchmarkBatchRoom: what the batch check costs a sale with 10,000
// records kept: following the records made since the last check (what a
// sale does), and reading them all (what it did, and still does when the
// batch looks full).
func BenchmarkBatchRoom(b *testing.B) {
	db, err := store.Open(filepath.Join(b.TempDir(), "posd.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	fillBatch(b, db, host.KindPurchase, 10000)
	for _, c := range []struct {
		name string
		full bool
	}{{"incremental", false}, {"full-read", true}} {
		b.Run(c.name, func(b *testing.B) {
			var room batchRoom
			if _, s, err := room.read(db, "156"); err != nil || s.DebitCount != 10000 {
				b.Fatalf("%+v %v", s, err)
			}
			for b.Loop() {
				var s sum
				if c.full {
					_, s, err = room.read(db, "156")
				} else {
					_, s, err = room.upTo(db, "156")
				}
				if err != nil || s.DebitCount != 10000 {
					b.Fatalf("%+v %v", s, err)
				}
			}
		})
	}
}
