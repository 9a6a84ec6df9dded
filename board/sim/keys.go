package sim

import (
	"context"
	"errors"
	"fmt"

	"posd/drivers/keypad"
)

// The key string of Board.Keys (posctl sim keys, POST /v1/sim/keys): one
// character per key, pressed and released in turn on the simulated PIN
// pad (keypad.LayoutPINPad).
//
//	0-9    the digit keys        keypad.Key('0') .. keypad.Key('9')
//	E, e   Enter (green)         keypad.KeyEnter
//	C, c   Clear (yellow)        keypad.KeyClear
//	X, x   Cancel (red)          keypad.KeyCancel
const KeyStringHelp = "0-9 digits, E enter, C clear, X cancel"

// MaxKeys bounds a key string: each key takes some 25 scans of the matrix
// (about a quarter of a second) to type.
const MaxKeys = 64

var (
	// ErrKeyString: the key string is empty, too long or holds a character
	// that is not a key. The error says where, never which keys.
	ErrKeyString = errors.New("sim: bad key string (" + KeyStringHelp + ")")
	// ErrKeypad: the simulated PIN pad's scanner is not running.
	ErrKeypad = errors.New("sim: PIN pad unavailable")
)

// ParseKeys turns a key string into the keypad keys it types.
func ParseKeys(s string) ([]keypad.Key, error) {
	if len(s) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrKeyString)
	}
	if len(s) > MaxKeys {
		return nil, fmt.Errorf("%w: %d characters, at most %d", ErrKeyString, len(s), MaxKeys)
	}
	keys := make([]keypad.Key, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			keys[i] = keypad.Key(c)
		case c == 'E' || c == 'e':
			keys[i] = keypad.KeyEnter
		case c == 'C' || c == 'c':
			keys[i] = keypad.KeyClear
		case c == 'X' || c == 'x':
			keys[i] = keypad.KeyCancel
		default:
			clear(keys)
			return nil, fmt.Errorf("%w: character %d is not a key", ErrKeyString, i+1)
		}
	}
	return keys, nil
}

// Keys types the key string on the simulated PIN pad, a customer's
// fingers on the keys: each key is pressed, held and released for a few
// scans of the real driver, which reports it as any key. It returns once
// the last key is released, or with ctx's error. Typing is one at a time,
// with the keypad's self-test too. The keys are never logged.
func (b *Board) Keys(ctx context.Context, s string) error {
	keys, err := ParseKeys(s)
	if err != nil {
		return err
	}
	defer clear(keys)
	if b.keypadSim == nil || b.Devices.Keypad == nil || !b.Devices.Keypad.Stats().Running {
		return ErrKeypad
	}
	b.typing.Lock()
	defer b.typing.Unlock()
	for i, k := range keys {
		if err := b.keypadSim.Type(ctx, string(rune(k))); err != nil {
			return fmt.Errorf("sim: typing stopped at key %d of %d: %w", i+1, len(keys), err)
		}
	}
	return nil
}
