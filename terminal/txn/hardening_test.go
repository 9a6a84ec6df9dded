package txn

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/terminal/host"
	"posd/terminal/store"
	"posd/terminal/wiresec"
)

// slowHost answers reversals only when told to, and can refuse the first
// ones.
type slowHost struct {
	fakeHost
	gate     chan struct{}
	mu2      sync.Mutex
	calls    []host.Reversal
	failures int
}

func (h *slowHost) Reverse(ctx context.Context, r host.Reversal, s *wiresec.Session) (host.Result, error) {
	h.mu2.Lock()
	h.calls = append(h.calls, r)
	fail := h.failures > 0
	if fail {
		h.failures--
	}
	h.mu2.Unlock()
	if fail {
		return host.Result{}, host.ErrNoResponse
	}
	select {
	case <-h.gate:
	case <-ctx.Done():
		return host.Result{}, host.ErrNoResponse
	}
	return host.Result{ResponseCode: "00"}, nil
}

func pendingReversal(t *testing.T, db *store.DB) store.Txn {
	t.Helper()
	x := store.Txn{Kind: "purchase", Amount: 1091, Currency: "156"}
	if err := db.Create(&x); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Update(x.ID, func(r *store.Txn) error {
		r.State, r.STAN = store.StateAuthSent, 41
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	x, err := db.Update(x.ID, func(r *store.Txn) error {
		r.State, r.Reason = store.StateReversalPending, "no response"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestOneReversalInFlightPerOriginal: the retry loop and three API calls at
// once must not put four 0400s on the wire for one original.
func TestOneReversalInFlightPerOriginal(t *testing.T) {
	h := &slowHost{gate: make(chan struct{})}
	db := openDB(t)
	x := pendingReversal(t, db)
	e, err := New(Opts{Store: db, Host: h, Keys: newKeys(t), Reader: newReader(), ReversalRetry: time.Hour, HostTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Halt()
	// The loop starts a pass at once; wait until it is at the host.
	waitUntil(t, func() bool { h.mu2.Lock(); defer h.mu2.Unlock(); return len(h.calls) == 1 })
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); e.SendReversals(context.Background()) }()
	}
	time.Sleep(50 * time.Millisecond) // let the triggers pile up
	close(h.gate)
	wg.Wait()
	got, _ := db.Get(x.ID)
	h.mu2.Lock()
	defer h.mu2.Unlock()
	if got.State != store.StateReversed || len(h.calls) != 1 {
		t.Fatalf("%d reversals sent for one original; record %s", len(h.calls), got.State)
	}
}

// TestSendReversalsAfterARunningPass: a reversal queued while a pass is at
// the host (that pass read the outbox before it) is sent by SendReversals,
// which must not just join the running pass.
func TestSendReversalsAfterARunningPass(t *testing.T) {
	h := &slowHost{gate: make(chan struct{})}
	db := openDB(t)
	a := pendingReversal(t, db)
	e, err := New(Opts{Store: db, Host: h, Keys: newKeys(t), Reader: newReader(), ReversalRetry: time.Hour, HostTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Halt()
	waitUntil(t, func() bool { h.mu2.Lock(); defer h.mu2.Unlock(); return len(h.calls) == 1 })
	b := pendingReversal(t, db)
	// Queued as a sale that timed out queues it.
	if err := db.Do(func(tx *store.Tx) error { return tx.Enqueue(&store.Job{Kind: store.JobReversal, TxnID: b.ID}) }); err != nil {
		t.Fatal(err)
	}
	left := make(chan int, 1)
	go func() { left <- e.SendReversals(context.Background()) }()
	time.Sleep(50 * time.Millisecond) // SendReversals finds the pass running
	close(h.gate)
	if n := <-left; n != 0 {
		t.Errorf("SendReversals: %d reversals left", n)
	}
	for _, x := range []store.Txn{a, b} {
		if got, _ := db.Get(x.ID); got.State != store.StateReversed {
			h.mu2.Lock()
			t.Errorf("record %s: %s (%d reversals sent)", x.ID, got.State, len(h.calls))
			h.mu2.Unlock()
		}
	}
}

// TestReversalRetriesKeepTheirSTAN: every attempt of one reversal carries
// the STAN allocated for it the first time, across restarts too.
func TestReversalRetriesKeepTheirSTAN(t *testing.T) {
	h := &slowHost{gate: make(chan struct{}), failures: 2}
	close(h.gate)
	db := openDB(t)
	x := pendingReversal(t, db)
	e, err := New(Opts{Store: db, Host: h, Keys: newKeys(t), Reader: newReader(), ReversalRetry: time.Hour, HostTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { h.mu2.Lock(); defer h.mu2.Unlock(); return len(h.calls) == 1 })
	e.Halt()
	// Restart: the pending reversal is sent again with the same STAN.
	e, err = New(Opts{Store: db, Host: h, Keys: newKeys(t), Reader: newReader(), ReversalRetry: time.Hour, HostTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Halt()
	for i := 0; i < 3; i++ {
		e.SendReversals(context.Background())
	}
	got, _ := db.Get(x.ID)
	h.mu2.Lock()
	defer h.mu2.Unlock()
	if got.State != store.StateReversed || len(h.calls) != 3 {
		t.Fatalf("record %s after %d attempts", got.State, len(h.calls))
	}
	for i, c := range h.calls {
		if c.STAN != h.calls[0].STAN || c.STAN == 0 || c.STAN == 41 || c.OrigSTAN != 41 {
			t.Fatalf("attempt %d: STAN %d orig %d (first attempt %d)", i, c.STAN, c.OrigSTAN, h.calls[0].STAN)
		}
		if c.Repeat != (i > 0) || c.Reason != host.ReasonNoResponse {
			t.Fatalf("attempt %d: repeat %v reason %q", i, c.Repeat, c.Reason)
		}
	}
}

// TestShutdownEndsTheWaitingSale: a sale waiting for a card when the
// engine stops ends failed with the cause "shutdown", not "no card".
func TestShutdownEndsTheWaitingSale(t *testing.T) {
	h := &fakeHost{purchase: func(host.Purchase) (host.Result, error) { return host.Result{ResponseCode: "00"}, nil }}
	db := openDB(t)
	e, err := New(Opts{Store: db, Host: h, Keys: newKeys(t), Reader: newReader(), CardTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := e.StartSale(100, "156")
	if err != nil {
		t.Fatal(err)
	}
	waiter := make(chan store.Txn, 1)
	go func() { x, _ := e.Wait(context.Background(), tx.ID); waiter <- x }()
	e.Halt()
	got, _ := db.Get(tx.ID)
	if got.State != store.StateFailed || !strings.Contains(got.Error, "shutdown") || strings.Contains(got.Error, "no card") {
		t.Fatalf("sale after shutdown: %+v", got)
	}
	select {
	case w := <-waiter:
		if w.State != store.StateFailed {
			t.Fatalf("waiter got %+v", w)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiter was left waiting after shutdown")
	}
	if _, err := e.StartSale(100, "156"); !errors.Is(err, ErrHalted) {
		t.Fatalf("sale after halt: %v", err)
	}
}

func TestCancelUnknownSale(t *testing.T) {
	h := &fakeHost{}
	e, _, _, _ := setup(t, h)
	if err := e.Cancel("999"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("cancel of an unknown id: %v", err)
	}
	if err := e.Cancel("bogus"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("cancel of a malformed id: %v", err)
	}
}

func openDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(t.TempDir()+"/posd.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
