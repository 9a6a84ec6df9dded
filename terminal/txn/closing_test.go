package txn

import (
	"context"
	"errors"
	"testing"
)

// TestCloseWhenIdle: refused without running fn while a sale runs; left
// open when fn fails; once closed, no sale nor batch close starts.
func TestCloseWhenIdle(t *testing.T) {
	e, r, _ := setupWith(t, approveAll(), func(*Opts) {})
	tx, err := e.StartSale(100, "156")
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	if err := e.CloseWhenIdle(func() error { ran++; return nil }); !errors.Is(err, ErrBusy) || ran != 0 {
		t.Fatalf("during a sale: %v, ran %d", err, ran)
	}
	r.cards <- card("3012")
	wait(t, e, tx.ID)

	boom := errors.New("marker not written")
	if err := e.CloseWhenIdle(func() error { ran++; return boom }); !errors.Is(err, boom) || ran != 1 {
		t.Fatalf("fn failing: %v, ran %d", err, ran)
	}
	tx, err = e.StartSale(100, "156")
	if err != nil {
		t.Fatalf("a sale after a failed close: %v", err)
	}
	e.Cancel(tx.ID)
	wait(t, e, tx.ID)

	if err := e.CloseWhenIdle(func() error { ran++; return nil }); err != nil || ran != 2 {
		t.Fatalf("idle: %v, ran %d", err, ran)
	}
	if _, err := e.StartSale(100, "156"); !errors.Is(err, ErrHalted) {
		t.Fatalf("a sale after the close: %v, want ErrHalted", err)
	}
	if _, err := e.CloseBatch(context.Background()); !errors.Is(err, ErrHalted) {
		t.Fatalf("a batch close after the close: %v, want ErrHalted", err)
	}
}
