package daemon

import (
	"context"

	"posd/drivers/keypad"
	"posd/terminal/pin"
)

// pinPad adapts the board's keypad driver to the PIN entry's pin.Keys:
// digits stay digits, the PIN pad's Enter, Clear and Cancel keys become
// pin's, every other key (function, * and #, letters) pin.KeyOther.
type pinPad struct{ d *keypad.Dev }

var _ pin.Keys = pinPad{}

// Next returns the keypad's next event. Its errors (keypad.ErrHalted, the
// context's) are the driver's, unwrapped.
func (p pinPad) Next(ctx context.Context) (pin.Event, error) {
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
func (p pinPad) Flush() int { return p.d.Flush() }

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
	return pinPad{d.Board.Devices.Keypad}
}

// pinReader is the engine's PIN pad: a PIN entry over the board's keypad.
type pinReader struct {
	entry *pin.Entry
	keys  pin.Keys
}

// ReadPIN implements txn.PINPad.
func (p pinReader) ReadPIN(ctx context.Context, progress func(int), build func([]byte) ([]byte, error)) ([]byte, error) {
	return p.entry.Read(ctx, p.keys, func(pr pin.Progress) { progress(pr.Digits) }, pin.Builder(build))
}
