package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"

	"posd/terminal/txn"
)

// TestSelfTestRefusedDuringASale: a self test asked for while a sale runs
// (the customer may be at the PIN pad: the simulated keypad's test
// presses a key the PIN entry would take) is refused, from the console
// and the API alike, and runs nothing; once the sale has ended it runs.
func TestSelfTestRefusedDuringASale(t *testing.T) {
	r := newConsoleRig(t)
	d := r.open()
	defer closeDaemon(t, d)
	if d.Board.Devices.Keypad == nil {
		t.Fatal("the sim board has no keypad")
	}
	before := d.Board.Status()
	tx, err := d.Engine.StartSale(2200, "156")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.SelfTest(context.Background()); !errors.Is(err, txn.ErrBusy) || !strings.Contains(err.Error(), tx.ID) {
		t.Fatalf("self test during sale %s: %v; want txn.ErrBusy naming it", tx.ID, err)
	}
	if out, err := (consoleTerminal{d}).SelfTest(context.Background()); err == nil || !strings.Contains(err.Error(), "self test refused") {
		t.Fatalf("console self test during sale %s: %q, %v", tx.ID, out, err)
	}
	if st := d.Board.Devices.Keypad.Stats(); st.Events != 0 {
		t.Errorf("the keypad saw %d key events during the sale", st.Events)
	}
	if err := d.Engine.Cancel(tx.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Engine.Wait(context.Background(), tx.ID); err != nil {
		t.Fatal(err)
	}
	list, err := d.SelfTest(context.Background())
	if err != nil {
		t.Fatalf("self test after the sale: %v", err)
	}
	if len(list) != len(before) {
		t.Fatalf("self test listed %d devices, want %d", len(list), len(before))
	}
}

// TestDevGateHoldsReads: while a self test runs, a transaction's PIN pad
// and card reads wait for it (here: until their context ends) and touch
// no device; once it has ended they go ahead.
func TestDevGateHoldsReads(t *testing.T) {
	var g devGate
	g.begin()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// No device: a read that reached it would panic.
	if _, err := (pinPad{gate: &g}).Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("PIN pad read during a self test: %v", err)
	}
	if _, err := (cardReader{gate: &g}).ReadCardIn(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("card read during a self test: %v", err)
	}
	g.begin()
	g.end()
	if err := g.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("gate open while a second self test runs: %v", err)
	}
	g.end()
	if err := g.wait(ctx); err != nil {
		t.Fatalf("gate closed once the self tests ended: %v", err)
	}
}
