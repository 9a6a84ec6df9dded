package keypad_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"posd/conn/clock"
	"posd/drivers/keypad"
	"posd/drivers/keypad/keypadsim"
)

// stepClock advances only when the scanner waits: every timer fires at
// once and moves the time on by its duration, so debounce is counted in
// scans, not in wall-clock time.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.t = c.t.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.t
	c.mu.Unlock()
	runtime.Gosched()
	return ch
}

var _ clock.Clock = (*stepClock)(nil)

func testOpts(layout keypad.Layout) *keypad.Opts {
	o := keypad.DefaultOpts
	o.Layout = layout
	o.Settle = 0
	o.Clock = &stepClock{t: time.Unix(1000, 0)}
	return &o
}

func start(t *testing.T, layout keypad.Layout, opts *keypad.Opts) (*keypadsim.Sim, *keypad.Dev) {
	t.Helper()
	if opts == nil {
		opts = testOpts(layout)
	}
	// The matrix's edge waits run on their own, real, timer, as a real
	// pin's do: the column watchers' waits would move the step clock on,
	// which must move only when the scan goroutine waits. The tap tests
	// give the matrix and the driver one fake clock.
	sim := keypadsim.New(layout, nil)
	d, err := keypad.New(sim.Pins(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Halt(); err != nil {
			t.Error(err)
		}
	})
	return sim, d
}

// next reads one event; the deadline only keeps a broken scanner from
// hanging the test run.
func next(t *testing.T, d *keypad.Dev) keypad.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ev, err := d.Next(ctx)
	if err != nil {
		st := d.Stats()
		t.Fatalf("no key event: %v (%d events, %d dropped unread)", err, st.Events, st.Dropped)
	}
	return ev
}

func expect(t *testing.T, d *keypad.Dev, k keypad.Key, down bool) {
	t.Helper()
	ev := next(t, d)
	if ev.Key != k || ev.Down != down {
		t.Fatalf("got %v down=%v, want %v down=%v", ev.Key, ev.Down, k, down)
	}
}

// noEvent checks, after n more scans, that nothing was reported.
func noEvent(t *testing.T, sim *keypadsim.Sim, d *keypad.Dev, n int) {
	t.Helper()
	if err := sim.WaitScans(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if q := d.Stats().Queued; q != 0 {
		t.Fatalf("%d unexpected events", q)
	}
}

func TestSingleKey(t *testing.T) {
	for _, noEdge := range []bool{false, true} {
		o := testOpts(keypad.Layout4x4)
		o.NoEdge = noEdge
		sim, d := start(t, keypad.Layout4x4, o)
		for _, k := range []keypad.Key{'5', 'A', '*', 'D', '0'} {
			if err := sim.Press(k); err != nil {
				t.Fatal(err)
			}
			expect(t, d, k, true)
			if err := sim.Release(k); err != nil {
				t.Fatal(err)
			}
			expect(t, d, k, false)
		}
		if err := d.Halt(); err != nil {
			t.Fatal(err)
		}
	}
}

// typeOpts are testOpts with a queue that holds every event of seq typed.
// Type does not wait for the events to be read and, under the step clock,
// takes no real time; with the default queue of 8 the test depended on
// the scheduler running the reader while the keys were typed, and on a
// loaded machine it sometimes did not: the oldest events were dropped.
func typeOpts(layout keypad.Layout, seq string) *keypad.Opts {
	o := testOpts(layout)
	o.QueueLen = 2 * len(seq)
	return o
}

func TestTypeSequence(t *testing.T) {
	const seq = "1234#"
	sim, d := start(t, keypad.Layout4x4, typeOpts(keypad.Layout4x4, seq))
	done := make(chan error, 1)
	go func() { done <- sim.Type(context.Background(), seq) }()
	expectTyped(t, d, seq)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := sim.Type(context.Background(), "X"); !errors.Is(err, keypadsim.ErrNoKey) {
		t.Fatalf("unknown key: %v", err)
	}
}

// Type does not wait for anyone to read the events, and under the step
// clock it takes no real time: on a loaded machine the reader may not run
// until the whole string is typed. This is that interleaving made certain;
// the queue typeOpts sizes holds every event meanwhile.
func TestTypeSequenceReadAfterTyping(t *testing.T) {
	const seq = "1234#"
	sim, d := start(t, keypad.Layout4x4, typeOpts(keypad.Layout4x4, seq))
	if err := sim.Type(context.Background(), seq); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats(); st.Dropped != 0 || st.Queued != 2*len(seq) {
		t.Fatalf("%d keys typed before reading: %d events queued, %d dropped", len(seq), st.Queued, st.Dropped)
	}
	expectTyped(t, d, seq)
}

// expectTyped reads the events of seq typed, strictly in order: each key
// down, then up, before the next key goes down. Type holds a press for
// HoldScans scans, more than the driver needs to confirm it, and ends a
// release when the driver goes idle, which it does only once it has
// queued the key's up (or after HoldScans scans, more than the debounce).
func expectTyped(t *testing.T, d *keypad.Dev, seq string) {
	t.Helper()
	for _, r := range seq {
		expect(t, d, keypad.Key(r), true)
		expect(t, d, keypad.Key(r), false)
	}
}

// The PIN pad's keys read as the PIN pad's legends: each key pressed
// and released in turn, its events awaited before the next key (six keys
// are twelve events, more than the driver's queue holds unread).
func TestPINPadLayout(t *testing.T) {
	sim, d := start(t, keypad.LayoutPINPad, nil)
	seq := "90" + string(keypad.KeyClear) + "1" + string(keypad.KeyEnter) + string(keypad.KeyCancel)
	for _, r := range seq {
		k := keypad.Key(r)
		if err := sim.Press(k); err != nil {
			t.Fatal(err)
		}
		expect(t, d, k, true)
		if err := sim.Release(k); err != nil {
			t.Fatal(err)
		}
		expect(t, d, k, false)
	}
	if keypad.KeyEnter.String() != "Enter" || keypad.Key('7').String() != "7" || !keypad.Key('7').IsDigit() || keypad.KeyEnter.IsDigit() {
		t.Fatal("key names")
	}
}

func TestDebounceBouncyContacts(t *testing.T) {
	sim, d := start(t, keypad.Layout4x4, nil)
	if err := sim.PressBouncy('7', 7); err != nil {
		t.Fatal(err)
	}
	expect(t, d, '7', true)
	noEvent(t, sim, d, 12)
	if err := sim.ReleaseBouncy('7', 5); err != nil {
		t.Fatal(err)
	}
	expect(t, d, '7', false)
	noEvent(t, sim, d, 12)
}

// Without debounce the same chatter must show up as extra events: this is
// what the debounce test above guards against.
func TestNoDebounceSeesChatter(t *testing.T) {
	o := testOpts(keypad.Layout4x4)
	o.Debounce = 0
	sim, d := start(t, keypad.Layout4x4, o)
	if err := sim.PressBouncy('7', 3); err != nil {
		t.Fatal(err)
	}
	// touch, open, close, settle closed: down, up, down.
	expect(t, d, '7', true)
	expect(t, d, '7', false)
	expect(t, d, '7', true)
}

func TestGhostingRejected(t *testing.T) {
	sim, d := start(t, keypad.Layout4x4, nil)
	// '1' (r0,c0), '2' (r0,c1), '4' (r1,c0): the matrix also shows '5'
	// (r1,c1) closed.
	if err := sim.Press('1'); err != nil {
		t.Fatal(err)
	}
	expect(t, d, '1', true)
	if err := sim.Press('2'); err != nil {
		t.Fatal(err)
	}
	expect(t, d, '2', true)
	if err := sim.Press('4'); err != nil {
		t.Fatal(err)
	}
	noEvent(t, sim, d, 20) // neither '4' nor the ghost '5'
	if err := sim.Release('2'); err != nil {
		t.Fatal(err)
	}
	// Unambiguous again: '2' goes up and '4' comes down. Within one scan
	// row 0 comes before row 1, but a scan that straddles the release sees
	// '4' first, so the order is not asserted.
	pair := map[keypad.Key]bool{}
	for i := 0; i < 2; i++ {
		ev := next(t, d)
		pair[ev.Key] = ev.Down
		if len(pair) != i+1 {
			t.Fatalf("event %+v twice", ev)
		}
	}
	if down, ok := pair['2']; !ok || down {
		t.Fatalf("'2' did not go up: %v", pair)
	}
	if down, ok := pair['4']; !ok || !down {
		t.Fatalf("'4' did not come down: %v", pair)
	}
	for _, k := range []keypad.Key{'1', '4'} {
		if err := sim.Release(k); err != nil {
			t.Fatal(err)
		}
	}
	got := map[keypad.Key]bool{}
	got[next(t, d).Key] = true
	got[next(t, d).Key] = true
	if !got['1'] || !got['4'] {
		t.Fatalf("releases %v", got)
	}
	noEvent(t, sim, d, 12)
}

func TestTwoKeysNoGhost(t *testing.T) {
	// Two keys in different rows and columns are unambiguous.
	sim, d := start(t, keypad.Layout4x4, nil)
	if err := sim.Press('1'); err != nil {
		t.Fatal(err)
	}
	expect(t, d, '1', true)
	if err := sim.Press('9'); err != nil {
		t.Fatal(err)
	}
	expect(t, d, '9', true)
}

func TestHaltReleasesAndStops(t *testing.T) {
	for _, noEdge := range []bool{false, true} {
		sim := keypadsim.New(keypad.Layout4x4, nil)
		o := testOpts(keypad.Layout4x4)
		o.NoEdge = noEdge
		d, err := keypad.New(sim.Pins(), o)
		if err != nil {
			t.Fatal(err)
		}
		if err := sim.Press('8'); err != nil {
			t.Fatal(err)
		}
		expect(t, d, '8', true)
		if err := sim.Press('9'); err != nil {
			t.Fatal(err)
		}
		if err := sim.WaitScans(context.Background(), 12); err != nil {
			t.Fatal(err)
		}
		if d.Stats().Queued == 0 {
			t.Fatal("'9' not queued")
		}
		if err := d.Halt(); err != nil {
			t.Fatal(err)
		}
		// Halt waited for the scan goroutine, released the rows and wiped
		// the queue ('9' down may be a PIN digit).
		if sim.Driven() {
			t.Fatal("a row is still driven after Halt")
		}
		st := d.Stats()
		if st.Running || st.Queued != 0 || st.Flushed == 0 {
			t.Fatalf("stats after Halt: %+v", st)
		}
		if _, err := d.Next(context.Background()); !errors.Is(err, keypad.ErrHalted) {
			t.Fatalf("Next after Halt: %v", err)
		}
		if err := d.CheckScanning(context.Background()); !errors.Is(err, keypad.ErrHalted) {
			t.Fatalf("CheckScanning after Halt: %v", err)
		}
		scans := sim.Scans()
		if err := sim.Release('9'); err != nil {
			t.Fatal(err)
		}
		if sim.Scans() != scans || d.Stats().Scans != st.Scans {
			t.Fatal("scanning after Halt")
		}
		// A second Halt is a no-op.
		if err := d.Halt(); err != nil {
			t.Fatal(err)
		}
		// The Dev stays usable: Start resumes scanning and reports the
		// key still held as a new press.
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		expect(t, d, '8', true)
		if err := sim.Release('8'); err != nil {
			t.Fatal(err)
		}
		expect(t, d, '8', false)
		if err := d.Halt(); err != nil {
			t.Fatal(err)
		}
	}
}

// A Next waiting for a key returns when the Dev is halted.
func TestHaltWakesNext(t *testing.T) {
	sim, d := start(t, keypad.Layout4x4, nil)
	got := make(chan error, 1)
	go func() {
		_, err := d.Next(context.Background())
		got <- err
	}()
	if err := sim.WaitScans(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, keypad.ErrHalted) {
		t.Fatalf("waiting Next: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	sim := keypadsim.New(keypad.Layout4x4, nil)
	o := testOpts(keypad.Layout3x4)
	if _, err := keypad.New(sim.Pins(), o); !errors.Is(err, keypad.ErrConfig) {
		t.Fatalf("mismatched layout: %v", err)
	}
	o.Layout = keypad.Layout{{'1', '2'}, {'3'}}
	if _, err := keypad.New(sim.Pins(), o); !errors.Is(err, keypad.ErrConfig) {
		t.Fatalf("ragged layout: %v", err)
	}
}

func TestSimGhostPhysics(t *testing.T) {
	sim := keypadsim.New(keypad.Layout4x4, nil)
	p := sim.Pins()
	for _, c := range p.Cols {
		if err := c.In(2, 0); err == nil { // PullDown is refused
			t.Fatal("column accepted a pull-down")
		}
	}
	for _, k := range []keypad.Key{'1', '2', '4'} {
		if err := sim.Press(k); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Rows[1].Out(false); err != nil {
		t.Fatal(err)
	}
	// Row 1 reaches column 1 through 4 -> 1 -> 2: the ghost of '5'.
	if p.Cols[1].Read() != false || p.Cols[0].Read() != false || p.Cols[2].Read() != true {
		t.Fatal("ghost path not modelled")
	}
}
