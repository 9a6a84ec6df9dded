package keypad

import (
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
	p.l = l
	return nil
}
func (p *plainPin) PWM(gpio.Duty, physic.Frequency) error { return errors.New("no PWM") }

func plainPins(rows, cols int) (Pins, []*plainPin) {
	var p Pins
	var cp []*plainPin
	for r := range rows {
		p.Rows = append(p.Rows, &plainPin{name: fmt.Sprintf("R%d", r)})
	}
	for c := range cols {
		pin := &plainPin{name: fmt.Sprintf("C%d", c)}
		cp = append(cp, pin)
		p.Cols = append(p.Cols, pin)
	}
	return p, cp
}

// Pins without edge detection: the driver must fall back to polling and
// still see a column held Low.
func TestFallbackToPolling(t *testing.T) {
	pins, cols := plainPins(1, 1)
	o := DefaultOpts
	o.Layout = Layout{{'5'}}
	o.Debounce = 0
	o.Sleep = func(time.Duration) {}
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
	ev := <-d.Events()
	if ev.Key != '5' || !ev.Down {
		t.Fatalf("event %+v", ev)
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
	d := &Dev{pins: pins, opts: DefaultOpts, nrows: 4, ncols: 4}
	d.opts.Settle = 0
	d.opts.Now = time.Now
	d.log = slog.New(slog.DiscardHandler)
	d.raw = make([][]bool, 4)
	d.state = make([][]keyState, 4)
	for r := range 4 {
		d.raw[r] = make([]bool, 4)
		d.state[r] = make([]keyState, 4)
	}
	d.stop = make(chan struct{})
	d.events = make(chan Event, 16)
	b.ReportAllocs()
	for b.Loop() {
		if err := d.scan(); err != nil {
			b.Fatal(err)
		}
		if _, ok := d.update(d.opts.Now()); !ok {
			b.Fatal("stopped")
		}
	}
}
