package keypad

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// plainPin is a bare GPIO line without edge detection, like a pin of an
// I/O expander: it keeps the level last written and refuses edges.
// (periph's gpiotest.Pin would do, but it pulls in a module this project
// does not list.)
type plainPin struct {
	name string
	mu   sync.Mutex
	l    gpio.Level
	pull gpio.Pull
	// hang, when set, blocks Read until it is closed: a GPIO expander
	// whose bus hangs.
	hang chan struct{}
	// outErr, when set, fails Out: a pin lost with its expander.
	outErr error
}

func (p *plainPin) String() string   { return p.name }
func (p *plainPin) Halt() error      { return nil }
func (p *plainPin) Name() string     { return p.name }
func (p *plainPin) Number() int      { return -1 }
func (p *plainPin) Function() string { return "" }
func (p *plainPin) In(pull gpio.Pull, edge gpio.Edge) error {
	if edge != gpio.NoEdge {
		return errors.New("no edge detection")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pull = pull
	if pull == gpio.PullUp {
		p.l = gpio.High
	}
	return nil
}
func (p *plainPin) Read() gpio.Level {
	p.mu.Lock()
	hang := p.hang
	p.mu.Unlock()
	if hang != nil {
		<-hang
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.l
}
func (p *plainPin) WaitForEdge(time.Duration) bool { return false }
func (p *plainPin) Pull() gpio.Pull {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pull
}
func (p *plainPin) DefaultPull() gpio.Pull { return gpio.Float }
func (p *plainPin) Out(l gpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.outErr != nil {
		return p.outErr
	}
	p.l = l
	return nil
}
func (p *plainPin) PWM(gpio.Duty, physic.Frequency) error { return errors.New("no PWM") }

// instantClock tells the real time but lets every pause end at once.
type instantClock struct{}

func (instantClock) Now() time.Time { return time.Now() }
func (instantClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- time.Now()
	return ch
}

func plainPins(rows, cols int) (Pins, []*plainPin) {
	p, _, cp := plainPinsRC(rows, cols)
	return p, cp
}

func plainPinsRC(rows, cols int) (Pins, []*plainPin, []*plainPin) {
	var p Pins
	var rp, cp []*plainPin
	for r := range rows {
		pin := &plainPin{name: fmt.Sprintf("R%d", r)}
		rp = append(rp, pin)
		p.Rows = append(p.Rows, pin)
	}
	for c := range cols {
		pin := &plainPin{name: fmt.Sprintf("C%d", c)}
		cp = append(cp, pin)
		p.Cols = append(p.Cols, pin)
	}
	return p, rp, cp
}

// Pins without edge detection: the driver must fall back to polling and
// still see a column held Low.
func TestFallbackToPolling(t *testing.T) {
	pins, cols := plainPins(1, 1)
	o := DefaultOpts
	o.Layout = Layout{{'5'}}
	o.Debounce = 0
	o.Clock = instantClock{}
	d, err := New(pins, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Halt()
	if d.edges {
		t.Fatal("edge mode on pins without edge support")
	}
	if cols[0].Pull() != gpio.PullUp {
		t.Fatalf("column pull %v", cols[0].Pull())
	}
	if err := cols[0].Out(gpio.Low); err != nil {
		t.Fatal(err)
	}
	ev, err := d.Next(context.Background())
	if err != nil || ev.Key != '5' || !ev.Down {
		t.Fatalf("event %+v %v", ev, err)
	}
}

func TestGhosted(t *testing.T) {
	m := func(rows ...string) [][]bool {
		out := make([][]bool, len(rows))
		for r, s := range rows {
			for _, c := range s {
				out[r] = append(out[r], c == 'x')
			}
		}
		return out
	}
	cases := []struct {
		raw  [][]bool
		want bool
	}{
		{m("....", "....", "....", "...."), false},
		{m("x...", "....", "....", "...."), false},
		{m("xx..", "....", "....", "...."), false},
		{m("xx..", "x...", "....", "...."), false},
		{m("xx..", "xx..", "....", "...."), true},
		{m("x.x.", "....", "x.x.", "...."), true},
		{m("x...", ".x..", "..x.", "...x"), false},
		{m("xxxx", "....", "....", "...x"), false},
	}
	for i, tc := range cases {
		if got := ghosted(tc.raw); got != tc.want {
			t.Errorf("case %d: ghosted=%v", i, got)
		}
	}
}

// BenchmarkScan measures one scan cycle of a 4x4 matrix: drive each row,
// read the four columns, release, then debounce the result.
func BenchmarkScan(b *testing.B) {
	pins, _ := plainPins(4, 4)
	d := &Dev{pins: pins, opts: DefaultOpts, nrows: 4, ncols: 4, clk: instantClock{}}
	d.opts.Settle = 0
	d.log = slog.New(slog.DiscardHandler)
	d.raw = make([][]bool, 4)
	d.state = make([][]keyState, 4)
	for r := range 4 {
		d.raw[r] = make([]bool, 4)
		d.state[r] = make([]keyState, 4)
	}
	d.q = make([]Event, DefaultOpts.QueueLen)
	d.avail = make(chan struct{}, 1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := d.scan(ctx); err != nil {
			b.Fatal(err)
		}
		d.update(d.clk.Now())
	}
}

// The queue keeps the newest QueueLen events, counts what it drops, and
// leaves no key value behind in a slot it frees.
func TestQueueDropsOldestAndWipes(t *testing.T) {
	pins, _ := plainPins(1, 1)
	o := DefaultOpts
	o.Layout = Layout{{'5'}}
	o.QueueLen = 4
	o.NoEdge = true
	o.Clock = instantClock{}
	d, err := New(pins, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Halt()
	for k := '0'; k <= '9'; k++ {
		d.push(Event{Key: Key(k), Down: true})
	}
	st := d.Stats()
	if st.Events != 10 || st.Dropped != 6 || st.Queued != 4 {
		t.Fatalf("stats %+v", st)
	}
	used := func() int {
		d.mu.Lock()
		defer d.mu.Unlock()
		n := 0
		for _, ev := range d.q {
			if ev != (Event{}) {
				n++
			}
		}
		return n
	}
	if used() != 4 {
		t.Fatalf("%d slots hold events, want 4", used())
	}
	ev, err := d.Next(context.Background())
	if err != nil || ev.Key != '6' {
		t.Fatalf("oldest kept event %+v %v, want '6'", ev, err)
	}
	if used() != 3 {
		t.Fatalf("the slot read is not wiped: %d slots hold events", used())
	}
	if n := d.Flush(); n != 3 {
		t.Fatalf("flushed %d", n)
	}
	if used() != 0 {
		t.Fatalf("Flush left %d events in memory", used())
	}
}

// A column pin that stops answering (an I/O expander whose bus hangs)
// freezes the scan goroutine: CheckScanning must call that stalled, where
// the old self-test kept saying "scanning".
func TestCheckScanningHungPin(t *testing.T) {
	pins, cols := plainPins(2, 2)
	o := DefaultOpts
	o.Layout = Layout{{'1', '2'}, {'3', '4'}}
	o.Clock = instantClock{}
	d, err := New(pins, &o)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CheckScanning(context.Background()); err != nil {
		t.Fatalf("working scanner: %v", err)
	}
	hang := make(chan struct{})
	cols[1].mu.Lock()
	cols[1].hang = hang
	cols[1].mu.Unlock()
	// However long the check waits, a hung scanner completes no scan; the
	// wait is short only to keep the test quick.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err = d.CheckScanning(ctx)
	cancel()
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("hung scanner: %v", err)
	}
	close(hang)
	if err := d.CheckScanning(context.Background()); err != nil {
		t.Fatalf("scanner after the pin answers again: %v", err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
}

// A row pin that fails every write makes every scan fail: stalled, and the
// pin error says why.
func TestCheckScanningFailingPin(t *testing.T) {
	pins, rows, _ := plainPinsRC(2, 2)
	o := DefaultOpts
	o.Layout = Layout{{'1', '2'}, {'3', '4'}}
	o.Clock = instantClock{}
	d, err := New(pins, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Halt()
	rows[1].mu.Lock()
	rows[1].outErr = errors.New("expander gone")
	rows[1].mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err = d.CheckScanning(ctx)
	cancel()
	if !errors.Is(err, ErrStalled) || !errors.Is(err, ErrPin) {
		t.Fatalf("failing scanner: %v", err)
	}
	if st := d.Stats(); st.ScanErrors == 0 || st.LastErr == nil {
		t.Fatalf("stats %+v", st)
	}
	rows[1].mu.Lock()
	rows[1].outErr = nil
	rows[1].mu.Unlock()
	if err := d.CheckScanning(context.Background()); err != nil {
		t.Fatalf("after the pin recovers: %v", err)
	}
	if st := d.Stats(); st.LastErr != nil {
		t.Fatalf("stale error %v", st.LastErr)
	}
}
