package daemon

import (
	"context"

	"posd/drivers/keypad"
	"posd/terminal/pin"
	"posd/terminal/txn"
)

// pinPad adapts the board's keypad driver to the PIN entry's pin.Keys:
// digits stay digits, the PIN pad's Enter, Clear and Cancel keys become
// pin's, every other key (function, * and #, letters) pin.KeyOther.
type pinPad struct {
	d *keypad.Dev
	// gate holds the reads while a self test runs (nil: never): the
	// simulated keypad's test presses a key.
	gate *devGate
}

var _ pin.Keys = pinPad{}

// Next returns the keypad's next event. Its errors (keypad.ErrHalted, the
// context's) are the driver's, unwrapped.
func (p pinPad) Next(ctx context.Context) (pin.Event, error) {
	if err := p.gate.wait(ctx); err != nil {
		return pin.Event{}, err
	}
	ev, err := p.d.Next(ctx)
	defer wipeKeyEvent(&ev)
	if err != nil {
		return pin.Event{}, err
	}
	return pin.Event{Key: pinKey(ev.Key), Down: ev.Down}, nil
}

// wipeKeyEvent clears an event that may hold a digit.
func wipeKeyEvent(ev *keypad.Event) { *ev = keypad.Event{} }

// Flush wipes and discards the keypad's queued events.
func (p pinPad) Flush() int {
	_ = p.gate.wait(context.Background())
	return p.d.Flush()
}

func pinKey(k keypad.Key) pin.Key {
	switch {
	case k.IsDigit():
		return pin.Key(k)
	case k == keypad.KeyEnter:
		return pin.KeyEnter
	case k == keypad.KeyClear:
		return pin.KeyClear
	case k == keypad.KeyCancel:
		return pin.KeyCancel
	}
	return pin.KeyOther
}

// PINPad is the board's PIN pad as a PIN entry reads it, or nil when the
// board has no working keypad.
func (d *Daemon) PINPad() pin.Keys {
	if d.Board == nil || d.Board.Devices.Keypad == nil {
		return nil
	}
	return pinPad{d: d.Board.Devices.Keypad, gate: &d.devTest}
}

// pinReader is the engine's PIN pad: a PIN entry over the board's keypad.
type pinReader struct {
	entry *pin.Entry
	keys  pin.Keys
}

// ReadPIN implements txn.PINPad.
func (p pinReader) ReadPIN(ctx context.Context, progress func(pin.Progress), build func([]byte) ([]byte, error)) ([]byte, error) {
	return p.entry.Read(ctx, p.keys, progress, pin.Builder(build))
}

// appChooser is the keypad as the customer chooses a chip application
// (txn.AppChooser): 1 to n picks one, Enter the first, Cancel refuses;
// other keys are ignored.
type appChooser struct{ keys pin.Keys }

// ChooseApp implements txn.AppChooser.
func (a appChooser) ChooseApp(ctx context.Context, n int, asked func()) (int, bool, error) {
	a.keys.Flush()
	asked()
	for {
		ev, err := a.keys.Next(ctx)
		if err != nil {
			return 0, false, err
		}
		switch {
		case !ev.Down:
		case ev.Key == pin.KeyEnter:
			return 0, true, nil
		case ev.Key == pin.KeyCancel:
			return 0, false, nil
		case ev.Key.IsDigit() && ev.Key != '0' && int(ev.Key-'0') <= n:
			return int(ev.Key - '1'), true, nil
		}
	}
}

// apps is the engine's application chooser: the board's keypad, or nil
// when it has none (the engine then takes the first application that
// needs no confirmation).
func (d *Daemon) apps() txn.AppChooser {
	keys := d.PINPad()
	if keys == nil {
		return nil
	}
	return appChooser{keys}
}
