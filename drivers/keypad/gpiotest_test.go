package keypad

import (
	"context"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// TestWithPeriphTestPins runs the scanner on periph's gpiotest pins: one row
// and two columns, so a column's level alone says whether its key is down
// (gpiotest pins do not couple rows to columns; the matrix simulator does).
// The columns signal edges, so the scanner wakes on them as on real pins.
func TestWithPeriphTestPins(t *testing.T) {
	row := &gpiotest.Pin{N: "ROW0", L: gpio.High}
	cols := []*wakePin{newWakePin("COL0"), newWakePin("COL1")}
	o := DefaultOpts
	o.Layout = Layout{{'1', '2'}}
	o.Debounce = 5 * time.Millisecond
	o.IdleWait = 10 * time.Millisecond
	d, err := New(Pins{Rows: []gpio.PinIO{row}, Cols: []gpio.PinIn{cols[0], cols[1]}}, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Halt()
	if cols[0].P != gpio.PullUp || cols[1].P != gpio.PullUp {
		t.Fatalf("columns not pulled up: %v %v", cols[0].P, cols[1].P)
	}
	press := func(c *wakePin, l gpio.Level) {
		c.Lock()
		c.L = l
		c.Unlock()
		select {
		case c.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	next := func() Event {
		// The deadline only keeps a broken scanner from hanging the run.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ev, err := d.Next(ctx)
		if err != nil {
			t.Fatalf("no key event: %v", err)
		}
		return ev
	}
	press(cols[1], gpio.Low)
	if ev := next(); ev != (Event{Key: '2', Down: true}) {
		t.Fatalf("got %+v", ev)
	}
	press(cols[1], gpio.High)
	if ev := next(); ev != (Event{Key: '2', Down: false}) {
		t.Fatalf("got %+v", ev)
	}
	press(cols[0], gpio.Low)
	if ev := next(); ev != (Event{Key: '1', Down: true}) {
		t.Fatalf("got %+v", ev)
	}
}

// wakePin is a gpiotest pin whose edge wait wakes the waiter and does
// nothing else, as a real pin's does. gpiotest.Pin.WaitForEdge also
// drives the pin to the level the edge carried: an edge left queued from
// a press while the scanner waited on the other column was replayed
// after the key's release and pressed it again (seen once in CI).
type wakePin struct {
	*gpiotest.Pin
	wake chan struct{}
}

func newWakePin(name string) *wakePin {
	return &wakePin{
		Pin:  &gpiotest.Pin{N: name, L: gpio.High, EdgesChan: make(chan gpio.Level)},
		wake: make(chan struct{}, 1),
	}
}

func (p *wakePin) WaitForEdge(timeout time.Duration) bool {
	var after <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		after = t.C
	}
	select {
	case <-p.wake:
		return true
	case <-after:
		return false
	}
}
