package risk

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"posd/conn/clock"
	"posd/terminal/store"
)

var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// Test cards (made-up numbers of test ranges).
const (
	panA = "4761739001010010"
	panB = "6222021234567890123"
	panC = "5413330089020011"
)

// fakeLedger is the sale engine's view of its offline approvals.
type fakeLedger struct {
	mu    sync.Mutex
	s     OfflineSummary
	err   error
	calls int
}

func (l *fakeLedger) OfflinePending(context.Context) (OfflineSummary, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	return l.s, l.err
}

func (l *fakeLedger) set(s OfflineSummary, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.s, l.err = s, err
}

// fixture is an engine on a real terminal database (terminal/store) in a
// temporary directory, on a fake clock.
type fixture struct {
	t      testing.TB
	path   string
	key    []byte
	clk    *clock.Fake
	ledger *fakeLedger
	logs   *bytes.Buffer
	db     *store.DB
	e      *Engine
}

func newFixture(t testing.TB, r Rules) *fixture {
	t.Helper()
	f := &fixture{
		t: t, path: filepath.Join(t.TempDir(), "posd.db"), key: testKey(),
		clk: clock.NewFake(t0), ledger: &fakeLedger{}, logs: &bytes.Buffer{},
	}
	f.open(r)
	t.Cleanup(func() { f.db.Close() })
	return f
}

func (f *fixture) open(r Rules) {
	f.t.Helper()
	db, err := store.Open(f.path, &store.Opts{Clock: f.clk})
	if err != nil {
		f.t.Fatal(err)
	}
	f.db = db
	e, err := New(r, f.opts())
	if err != nil {
		db.Close()
		f.t.Fatal(err)
	}
	f.e = e
}

func (f *fixture) opts() Opts {
	return Opts{
		DB: f.db.Bolt(), HashKey: f.key, Offline: f.ledger, Clock: f.clk,
		Logger: slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// reopen closes the database and builds the engine again on it, as a
// restart does.
func (f *fixture) reopen(r Rules) {
	f.t.Helper()
	if err := f.db.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.open(r)
}

func (f *fixture) bolt() *bolt.DB { return f.db.Bolt() }

func (f *fixture) loadHotlist(version uint64, p ...string) {
	f.t.Helper()
	file, err := BuildHotlist(f.key, version, pans(p...))
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.e.LoadHotlist(file); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) check(t Txn) Decision { return f.e.Check(context.Background(), t) }

func (f *fixture) record(t Txn, approved bool) {
	f.t.Helper()
	if err := f.e.Record(context.Background(), t, approved); err != nil {
		f.t.Fatal(err)
	}
}

// velocity is what the database holds for pan within the window.
func (f *fixture) velocity(pan string) (int, int64) {
	f.t.Helper()
	card, err := f.e.Card([]byte(pan))
	if err != nil {
		f.t.Fatal(err)
	}
	var n int
	var sum int64
	w := time.Duration(f.e.Rules().Velocity.Window)
	err = f.bolt().View(func(tx *bolt.Tx) error {
		var err error
		n, sum, err = velocitySince(tx, card, f.clk.Now().Add(-w))
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return n, sum
}

// stored counts the approvals kept, in the entries and in the time index.
func (f *fixture) stored() (entries, index int) {
	f.t.Helper()
	f.bolt().View(func(tx *bolt.Tx) error {
		entries = tx.Bucket(bucketVelocity).Stats().KeyN
		index = tx.Bucket(bucketVelocityTime).Stats().KeyN
		return nil
	})
	return entries, index
}

func sale(amount int64, entry EntryMode, pan string) Txn {
	t := Txn{Type: TypeSale, Amount: amount, Currency: "CNY", Entry: entry, Online: true}
	if pan != "" {
		t.PAN = []byte(pan)
	}
	return t
}

func (t Txn) as(typ TxnType) Txn {
	t.Type = typ
	if typ == TypeBalance {
		t.Amount = 0 // a balance inquiry has no amount
	}
	return t
}
func (t Txn) offline() Txn { t.Online = false; return t }

// wantAllow fails unless d allows with cvm.
func wantAllow(t testing.TB, what string, d Decision, cvm CVM) {
	t.Helper()
	if !d.Allow || d.Rule != "" || d.CVM != cvm {
		t.Errorf("%s: got allow=%t rule=%q cvm=%q (%s), want allowed with %s", what, d.Allow, d.Rule, d.CVM, d.Reason, cvm)
	}
}

// wantRefuse fails unless d refuses with code.
func wantRefuse(t testing.TB, what string, d Decision, code Code) {
	t.Helper()
	if d.Allow || d.Rule != code || d.Reason == "" {
		t.Errorf("%s: got allow=%t rule=%q (%s), want refused by %s", what, d.Allow, d.Rule, d.Reason, code)
	}
}

// onlyVelocity are rules with velocity alone, so other rules stay quiet.
func onlyVelocity(window time.Duration, count int, amount int64) Rules {
	r := DefaultRules()
	r.Hotlist.Enabled = false
	r.MaxAmount = ModeAmounts{Face: DefaultRules().MaxAmount.Face} // face pay always has one
	r.Velocity = VelocityRules{Enabled: true, Window: Duration(window), MaxCount: count, MaxAmount: amount}
	return r
}
