package txn

import (
	"errors"
	"testing"
)

func TestWhenIdle(t *testing.T) {
	e, r, _ := setupWith(t, approveAll(), func(*Opts) {})
	ran := 0
	if err := e.WhenIdle(func() error { ran++; return nil }); err != nil || ran != 1 {
		t.Fatalf("idle: %v, ran %d", err, ran)
	}
	tx, err := e.StartSale(100, "156")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WhenIdle(func() error { ran++; return nil }); !errors.Is(err, ErrBusy) || ran != 1 {
		t.Fatalf("during a sale: %v, ran %d", err, ran)
	}
	r.cards <- card("3012")
	wait(t, e, tx.ID)
	if err := e.WhenIdle(func() error { ran++; return nil }); err != nil || ran != 2 {
		t.Fatalf("after the sale: %v, ran %d", err, ran)
	}
}
