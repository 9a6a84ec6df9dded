package keypad

// Key is one key cap. Printable keys use their character; the function
// keys of a PIN pad use control characters so that a string can hold a
// whole key sequence.
type Key rune

// Function keys of a PIN pad.
const (
	KeyNone   Key = 0
	KeyEnter  Key = '\r'   // green key
	KeyClear  Key = '\b'   // yellow key, erase last digit
	KeyCancel Key = '\x1b' // red key
	KeyFunc   Key = '\x0c' // function / menu key
)

// String names the key. It is for user interfaces, not for logs.
func (k Key) String() string {
	switch k {
	case KeyNone:
		return "None"
	case KeyEnter:
		return "Enter"
	case KeyClear:
		return "Clear"
	case KeyCancel:
		return "Cancel"
	case KeyFunc:
		return "Func"
	}
	return string(rune(k))
}

// IsDigit reports whether k is 0..9.
func (k Key) IsDigit() bool { return k >= '0' && k <= '9' }

// Layout maps [row][column] to keys. KeyNone marks an unpopulated position.
type Layout [][]Key

// Layout4x4 is the common 16-key membrane keypad.
var Layout4x4 = Layout{
	{'1', '2', '3', 'A'},
	{'4', '5', '6', 'B'},
	{'7', '8', '9', 'C'},
	{'*', '0', '#', 'D'},
}

// Layout3x4 is the 12-key telephone keypad (4 rows, 3 columns).
var Layout3x4 = Layout{
	{'1', '2', '3'},
	{'4', '5', '6'},
	{'7', '8', '9'},
	{'*', '0', '#'},
}

// LayoutPINPad is a 4x4 PIN pad with the function keys in the right column.
var LayoutPINPad = Layout{
	{'1', '2', '3', KeyCancel},
	{'4', '5', '6', KeyClear},
	{'7', '8', '9', KeyFunc},
	{'*', '0', '#', KeyEnter},
}

// Find returns the position of k.
func (l Layout) Find(k Key) (row, col int, ok bool) {
	for r, keys := range l {
		for c, kk := range keys {
			if kk == k && k != KeyNone {
				return r, c, true
			}
		}
	}
	return 0, 0, false
}

func (l Layout) size() (rows, cols int, ok bool) {
	if len(l) == 0 {
		return 0, 0, false
	}
	cols = len(l[0])
	for _, r := range l {
		if len(r) != cols || cols == 0 {
			return 0, 0, false
		}
	}
	return len(l), cols, true
}
