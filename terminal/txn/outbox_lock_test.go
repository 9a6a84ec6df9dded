package txn

import (
	"context"
	"testing"
	"time"

	"posd/terminal/host"
	"posd/terminal/store"
)

// TestOutboxRetryDoesNotDeadlockTheClose: the outbox commits a
// reversal's next try while the engine's lock is held by a close (or a
// sale) that reserves record ids in a commit of its own: the outbox must
// not wait for that lock inside its commit, or both wait for ever.
func TestOutboxRetryDoesNotDeadlockTheClose(t *testing.T) {
	db := openDB(t)
	err := db.Do(func(tx *store.Tx) error {
		r := store.Txn{Kind: "purchase", State: store.StateAuthSent, STAN: 7, Currency: "156", Amount: 100}
		return tx.Create(&r)
	})
	if err != nil {
		t.Fatal(err)
	}
	h := kindHost()
	h.revErr = host.ErrUnreachable
	e, err := New(Opts{Store: db, Host: h, Keys: newKeys(t), Reader: newReader(), ReversalRetry: time.Hour,
		HostTimeout: time.Second, Currencies: []string{"156"}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Halt()
	if left := e.SendReversals(context.Background()); left != 1 {
		t.Fatalf("%d reversals left", left)
	}
	// The engine's lock taken as CloseBatch and Start take it, then a
	// commit under it, as newIDLocked makes when it reserves ids.
	e.mu.Lock()
	go e.SendReversals(context.Background())
	time.Sleep(300 * time.Millisecond) // the pass reaches its commit
	done := make(chan error, 1)
	go func() { done <- db.Do(func(*store.Tx) error { return nil }) }()
	select {
	case err := <-done:
		e.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		e.mu.Unlock()
		t.Fatal("a commit under the engine's lock waited for the outbox's commit, which waits for the engine's lock")
	}
}
