package keypadsim_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"posd/conn/clock"
	"posd/drivers/keypad"
	"posd/drivers/keypad/keypadsim"
)

// With every row driven, a key makes its own column fall and no other:
// four goroutines waiting on the four columns at once each see the key of
// their column, as on a real matrix whose lines each have an edge queue.
func TestEdgesOnEveryColumnAtOnce(t *testing.T) {
	f := clock.NewFake(time.Unix(1000, 0))
	sim := keypadsim.New(keypad.Layout4x4, &keypadsim.Opts{Clock: f})
	p := sim.Pins()
	for _, c := range p.Cols {
		if err := c.In(gpio.PullUp, gpio.FallingEdge); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range p.Rows {
		if err := r.Out(gpio.Low); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan int, len(p.Cols))
	var wg sync.WaitGroup
	for c, col := range p.Cols {
		wg.Go(func() {
			if col.WaitForEdge(time.Hour) {
				got <- c
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sim.WaitIdle(ctx, len(p.Cols)); err != nil {
		t.Fatalf("%d columns waited on: %v", sim.Watching(), err)
	}
	// Row 2 from right to left: each key wakes its column's waiter only.
	for c := len(p.Cols) - 1; c >= 0; c-- {
		k := keypad.Layout4x4[2][c]
		if err := sim.Press(k); err != nil {
			t.Fatal(err)
		}
		if woke := <-got; woke != c {
			t.Fatalf("key %v woke column %d, want %d", k, woke, c)
		}
		if err := sim.Release(k); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if n := sim.Watching(); n != 0 {
		t.Fatalf("%d columns still waited on", n)
	}
}

// An edge that comes while nobody waits is kept (one, however many came)
// and returned at once by the next wait, even one whose time is up.
func TestEdgeKeptUntilWaitedFor(t *testing.T) {
	f := clock.NewFake(time.Unix(1000, 0))
	sim := keypadsim.New(keypad.Layout4x4, &keypadsim.Opts{Clock: f})
	p := sim.Pins()
	for _, c := range p.Cols {
		if err := c.In(gpio.PullUp, gpio.FallingEdge); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range p.Rows {
		if err := r.Out(gpio.Low); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := sim.Press('5'); err != nil {
			t.Fatal(err)
		}
		if err := sim.Release('5'); err != nil {
			t.Fatal(err)
		}
	}
	if !p.Cols[1].WaitForEdge(0) {
		t.Fatal("the edge of a tap nobody waited for was lost")
	}
	if p.Cols[1].WaitForEdge(0) {
		t.Fatal("an edge returned twice")
	}
	if p.Cols[0].WaitForEdge(0) {
		t.Fatal("an edge on a column no key closed")
	}
}
