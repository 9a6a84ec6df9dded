package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"posd/terminal/store"
	"posd/terminal/txn"
)

// TestRestartAndResetCloseTheEngine: once a restart or a factory reset is
// committed, no sale starts in the moment before posd stops (one the host
// approved would be cut short, or erased with the database, the customer
// charged without a record).
func TestRestartAndResetCloseTheEngine(t *testing.T) {
	for _, what := range []string{"restart", "factory-reset"} {
		t.Run(what, func(t *testing.T) {
			r := newConsoleRig(t)
			d := r.open()
			defer closeDaemon(t, d)
			c := consoleTerminal{d}
			switch what {
			case "restart":
				if err := c.Restart(context.Background()); err != nil {
					t.Fatal(err)
				}
			default:
				if _, err := c.FactoryReset(context.Background(), false); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(r.dir, resetMarker)); err != nil {
					t.Fatalf("no reset marker: %v", err)
				}
			}
			if tx, err := d.Engine.StartSale(900, "156"); !errors.Is(err, txn.ErrHalted) {
				t.Fatalf("a sale after the %s was committed: %s, %v; want txn.ErrHalted", what, tx.ID, err)
			}
		})
	}
}

// TestFactoryResetRefusedLeavesSalesOpen: a factory reset refused (the
// batch is not settled) leaves the terminal taking sales, and marks
// nothing.
func TestFactoryResetRefusedLeavesSalesOpen(t *testing.T) {
	r := newConsoleRig(t)
	d := r.open()
	defer closeDaemon(t, d)
	batch, _, err := d.Engine.OpenBatch()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.DB.Create(&store.Txn{Kind: "purchase", Amount: 100, Currency: "156", State: store.StateApproved, Batch: batch}); err != nil {
		t.Fatal(err)
	}
	if _, err := (consoleTerminal{d}).FactoryReset(context.Background(), false); err == nil {
		t.Fatal("factory reset with an approved sale in the open batch")
	}
	if _, err := os.Stat(filepath.Join(r.dir, resetMarker)); !os.IsNotExist(err) {
		t.Fatalf("reset marker written: %v", err)
	}
	tx, err := d.Engine.StartSale(900, "156")
	if err != nil {
		t.Fatalf("a sale after a refused reset: %v", err)
	}
	if err := d.Engine.Cancel(tx.ID); err != nil {
		t.Fatal(err)
	}
}
