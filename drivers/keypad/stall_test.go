package keypad_test

import (
	"context"
	"testing"
	"time"

	"posd/drivers/keypad"
)

// Issue 9 item 5: with nobody reading, the scanner used to block on its
// full event channel after eight keys (sixteen events) and scan no more;
// typing went unseen and the self-test still said "scanning". On that code
// this test failed in sim.Type: the simulator waits for scans that never
// came ("context deadline exceeded", 157 scans and no more).
//
// Now the queue drops its oldest events, scanning goes on, and a reader
// that comes back finds the newest keys and every key pressed after.
func TestUnreadEventsDoNotStopScanning(t *testing.T) {
	sim, d := start(t, keypad.Layout4x4, nil)
	// The deadline only keeps a stalled scanner from hanging the run.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const keys = "12345678901234567890" // 40 events: five queues' worth
	if err := sim.Type(ctx, keys); err != nil {
		t.Fatalf("typing with nobody reading: %v (%d scans)", err, sim.Scans())
	}
	if err := d.CheckScanning(ctx); err != nil {
		t.Fatalf("scanner after 40 unread events: %v", err)
	}
	n := keypad.DefaultOpts.QueueLen
	st := d.Stats()
	if st.Events != 2*uint64(len(keys)) || st.Dropped != st.Events-uint64(n) || st.Queued != n {
		t.Fatalf("stats %+v, want %d events, %d dropped, %d queued", st, 2*len(keys), 2*len(keys)-n, n)
	}
	// The queue kept the newest events, in order.
	for _, k := range keys[len(keys)-n/2:] {
		expect(t, d, keypad.Key(k), true)
		expect(t, d, keypad.Key(k), false)
	}
	// The reader is back: the next key press is delivered.
	if err := sim.Press('A'); err != nil {
		t.Fatal(err)
	}
	expect(t, d, 'A', true)
}

// A PIN entry starts with Flush: keys pressed before the prompt are gone,
// keys pressed after it arrive.
func TestFlushStartsClean(t *testing.T) {
	sim, d := start(t, keypad.LayoutPINPad, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sim.Type(ctx, "12"); err != nil {
		t.Fatal(err)
	}
	if n := d.Flush(); n != 4 {
		t.Fatalf("flushed %d events, want 4", n)
	}
	if st := d.Stats(); st.Queued != 0 || st.Flushed != 4 {
		t.Fatalf("stats after flush %+v", st)
	}
	done := make(chan error, 1)
	go func() { done <- sim.Type(ctx, "3") }()
	expect(t, d, '3', true)
	expect(t, d, '3', false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// While no key is down the scanner waits for column edges, and still scans
// the matrix after every wait: the scan counter keeps rising, which is what
// the self-test looks at.
func TestCheckScanningWhileIdle(t *testing.T) {
	for _, noEdge := range []bool{false, true} {
		o := testOpts(keypad.Layout4x4)
		o.NoEdge = noEdge
		_, d := start(t, keypad.Layout4x4, o)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		before := d.Stats().Scans
		if err := d.CheckScanning(ctx); err != nil {
			t.Fatalf("noEdge=%v: %v", noEdge, err)
		}
		cancel()
		if after := d.Stats(); after.Scans < before+2 || after.LastScan.IsZero() || !after.Running {
			t.Fatalf("noEdge=%v: stats %+v, %d scans before", noEdge, after, before)
		}
	}
}

// A Next whose context has ended returns its error and leaves the queued
// keys for the next reader: a prompt that was cancelled does not swallow
// what the customer typed for the next one.
func TestNextCancelledTakesNothing(t *testing.T) {
	sim, d := start(t, keypad.LayoutPINPad, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sim.Type(ctx, "7"); err != nil {
		t.Fatal(err)
	}
	ended, stop := context.WithCancel(context.Background())
	stop()
	if ev, err := d.Next(ended); err == nil {
		t.Fatalf("a cancelled Next got %+v", ev)
	}
	expect(t, d, '7', true)
	expect(t, d, '7', false)
}
