package keypad_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"posd/conn/clock"
	"posd/drivers/keypad"
	"posd/drivers/keypad/keypadsim"
)

// scannerClock is the fake clock as the driver sees it: it reports every
// timer the driver asks for, so that a test moves the time on only once
// the scan goroutine waits for it. The matrix simulator gets the bare
// Fake: its column edge waits run on the same time but are not reported.
type scannerClock struct {
	*clock.Fake
	afters chan time.Duration
}

func (c *scannerClock) After(d time.Duration) <-chan time.Time {
	ch := c.Fake.After(d)
	c.afters <- d
	return ch
}

// tapRig is a 4x4 matrix and its driver on one fake clock.
type tapRig struct {
	t    *testing.T
	fake *clock.Fake
	clk  *scannerClock
	sim  *keypadsim.Sim
	d    *keypad.Dev
	o    keypad.Opts
}

// reactWithin bounds, in real time, the wait for the scan goroutine to
// react to a key pressed while it is idle. It reacts at once when it
// notices the key; the bound only ends the wait when it never does.
const reactWithin = 5 * time.Second

func newTapRig(t *testing.T) *tapRig {
	t.Helper()
	f := clock.NewFake(time.Unix(1000, 0))
	r := &tapRig{t: t, fake: f, clk: &scannerClock{Fake: f, afters: make(chan time.Duration, 1<<14)}}
	r.o = keypad.DefaultOpts
	r.o.Layout = keypad.Layout4x4
	r.o.Settle = 0
	r.o.QueueLen = 16
	r.o.Clock = r.clk
	r.sim = keypadsim.New(keypad.Layout4x4, &keypadsim.Opts{Clock: f})
	d, err := keypad.New(r.sim.Pins(), &r.o)
	if err != nil {
		t.Fatal(err)
	}
	r.d = d
	t.Cleanup(func() { r.halt() })
	return r
}

// halt halts the driver, moving the time on while it waits: edge waits
// on the simulated columns end on the fake clock.
func (r *tapRig) halt() {
	done := make(chan error, 1)
	go func() { done <- r.d.Halt() }()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				r.t.Error(err)
			}
			return
		case <-tick.C:
			r.fake.Advance(r.o.IdleWait)
		}
	}
}

// next returns the duration of the next timer the driver asks for.
func (r *tapRig) next() time.Duration {
	r.t.Helper()
	select {
	case d := <-r.clk.afters:
		return d
	case <-time.After(time.Minute):
		r.t.Fatal("the scan goroutine asked for no timer in a minute")
		return 0
	}
}

// waitIdle lets the driver scan until it waits for a key: every row
// driven and an edge wait under way (the scan goroutine has read the
// columns and found them open).
func (r *tapRig) waitIdle() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	idle := make(chan error, 1)
	go func() { idle <- r.sim.WaitIdle(ctx, 1) }()
	for {
		select {
		case err := <-idle:
			if err != nil {
				r.t.Fatalf("driver never went idle: %v", err)
			}
			return
		case d := <-r.clk.afters:
			if d == r.o.ScanInterval {
				r.fake.Advance(d)
			}
		}
	}
}

// tap presses k while the driver is idle, holds it for hold on the fake
// clock and releases it, moving the time on a scan interval at a time
// whenever the scan goroutine waits, until it is idle again. It returns
// the events queued meanwhile and whether the press woke the scanner.
func (r *tapRig) tap(k keypad.Key, hold time.Duration) (evs []keypad.Event, woke bool) {
	r.t.Helper()
	if err := r.sim.Press(k); err != nil {
		r.t.Fatal(err)
	}
	// The scanner's reaction: it scans, sees the key, and sleeps a scan
	// interval to debounce it. A wait for a key (IdleWait) is not one.
	timeout := time.After(reactWithin)
wait:
	for {
		select {
		case d := <-r.clk.afters:
			if d == r.o.ScanInterval {
				woke = true
				break wait
			}
		case <-timeout:
			break wait
		}
	}
	if !woke {
		// The key goes unseen: hold it all the same, then let go.
		r.fake.Advance(hold)
		if err := r.sim.Release(k); err != nil {
			r.t.Fatal(err)
		}
		r.fake.Advance(r.o.IdleWait)
		return r.drain(), false
	}
	for held := time.Duration(0); held < hold; held += r.o.ScanInterval {
		r.fake.Advance(r.o.ScanInterval)
		if d := r.next(); d != r.o.ScanInterval {
			r.t.Fatalf("key %v held %v: the scanner went idle", k, held+r.o.ScanInterval)
		}
	}
	if err := r.sim.Release(k); err != nil {
		r.t.Fatal(err)
	}
	r.fake.Advance(r.o.ScanInterval)
	r.waitIdle()
	return r.drain(), true
}

// drain takes the queued events without waiting.
func (r *tapRig) drain() []keypad.Event {
	var evs []keypad.Event
	for r.d.Stats().Queued > 0 {
		ev, err := r.d.Next(context.Background())
		if err != nil {
			r.t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func checkTap(t *testing.T, k keypad.Key, hold time.Duration, evs []keypad.Event, woke bool) {
	t.Helper()
	want := []keypad.Event{{Key: k, Down: true}, {Key: k}}
	if fmt.Sprint(evs) != fmt.Sprint(want) {
		t.Errorf("%v tap on %v while idle: events %v (woke the scanner: %v), want %v", hold, k, evs, woke, want)
	}
}

// A tap shorter than the wait for a key, but longer than the debounce, is
// seen on every column. The scanner used to wait for an edge on one column
// at a time, taking turns, for up to IdleWait (50 ms) each: a tap on any
// other column ended before it looked, and was lost.
func TestIdleTapOnEveryColumn(t *testing.T) {
	const hold = 30 * time.Millisecond
	for c, k := range keypad.Layout4x4[1] { // '4' '5' '6' 'B'
		t.Run(fmt.Sprintf("col%d", c), func(t *testing.T) {
			r := newTapRig(t)
			r.waitIdle()
			evs, woke := r.tap(k, hold)
			checkTap(t, k, hold, evs, woke)
		})
	}
}

// A tap that starts as soon as the scanner has reported the previous key
// up and gone back to waiting is seen, whatever its column.
func TestIdleTapRightAfterRelease(t *testing.T) {
	const hold = 40 * time.Millisecond
	for c, k := range keypad.Layout4x4[2] { // '7' '8' '9' 'C'
		t.Run(fmt.Sprintf("col%d", c), func(t *testing.T) {
			r := newTapRig(t)
			r.waitIdle()
			// The first key is on the column the scanner used to watch
			// first: only the second tap tests the wait after a release.
			first := keypad.Layout4x4[0][0]
			evs, woke := r.tap(first, 80*time.Millisecond)
			checkTap(t, first, 80*time.Millisecond, evs, woke)
			evs, woke = r.tap(k, hold)
			checkTap(t, k, hold, evs, woke)
		})
	}
}

// scanGoroutines counts the goroutines running the driver's code.
func scanGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "posd/drivers/keypad.(*Dev)") {
			n++
		}
	}
	return n
}

// Halt stops and waits for every goroutine the driver started, the column
// watchers included, however often it is started and halted; none is left
// waiting on a column.
func TestHaltJoinsEveryGoroutine(t *testing.T) {
	for _, noEdge := range []bool{false, true} {
		if n := scanGoroutines(); n != 0 {
			t.Fatalf("%d driver goroutines before the test", n)
		}
		sim := keypadsim.New(keypad.Layout4x4, nil)
		o := keypad.DefaultOpts
		o.NoEdge = noEdge
		d, err := keypad.New(sim.Pins(), &o)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := d.CheckScanning(context.Background()); err != nil {
				t.Fatal(err)
			}
			if noEdge {
				if n := scanGoroutines(); n != 1 {
					t.Fatalf("polling: %d driver goroutines, want the scanner alone", n)
				}
			} else {
				// Every column is watched while the scanner waits for a key.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := sim.WaitIdle(ctx, 4)
				cancel()
				if err != nil {
					t.Fatalf("idle: %d of 4 columns waited on: %v", sim.Watching(), err)
				}
			}
			if err := d.Halt(); err != nil {
				t.Fatal(err)
			}
			if n := scanGoroutines(); n != 0 {
				t.Fatalf("noEdge=%v: %d driver goroutines after Halt", noEdge, n)
			}
			if n := sim.Watching(); n != 0 {
				t.Fatalf("noEdge=%v: %d columns still waited on after Halt", noEdge, n)
			}
			if err := d.Start(); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Halt(); err != nil {
			t.Fatal(err)
		}
	}
}
