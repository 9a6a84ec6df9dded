package pin

import (
	"context"
	"fmt"
	"io"
)

// Key is a PIN pad key as PIN entry sees it: a digit '0'..'9', Enter,
// Clear or Cancel; the adapter of a keypad maps every other key to
// KeyOther.
//
// A Key never shows which digit it is: every formatting (fmt with any
// verb, log/slog, encoding/json through MarshalText) says "digit".
type Key byte

// The keys PIN entry acts on besides the digits '0'..'9'.
const (
	// KeyOther is any key PIN entry does not use (function keys, * and #).
	KeyOther Key = 0
	// KeyEnter accepts the PIN (green key).
	KeyEnter Key = '\r'
	// KeyClear erases every digit entered so far (yellow key).
	KeyClear Key = '\b'
	// KeyCancel ends PIN entry (red key).
	KeyCancel Key = 0x1b
)

// IsDigit reports whether k is one of '0'..'9'.
func (k Key) IsDigit() bool { return k >= '0' && k <= '9' }

// String names the key; every digit is "digit".
func (k Key) String() string {
	switch {
	case k.IsDigit():
		return "digit"
	case k == KeyEnter:
		return "Enter"
	case k == KeyClear:
		return "Clear"
	case k == KeyCancel:
		return "Cancel"
	}
	return "other"
}

// Format writes the key's name whatever the verb, so that %d, %c, %x or
// %#v cannot print a digit either.
func (k Key) Format(f fmt.State, verb rune) { io.WriteString(f, k.String()) }

// MarshalText gives the key's name, for encoding/json and log/slog.
func (k Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Event is a key going down (pressed) or up (released).
type Event struct {
	Key  Key
	Down bool
}

// Keys is the PIN pad as PIN entry needs it.
type Keys interface {
	// Next returns the next key event, waiting until one comes or ctx
	// ends (then it returns ctx's error). It must return when ctx ends.
	Next(ctx context.Context) (Event, error)
	// Flush discards (and wipes) the events waiting to be read and
	// returns how many there were.
	Flush() int
}
