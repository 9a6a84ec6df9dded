package kbdwedge

import (
	"fmt"
	"sort"
)

// Key codes (include/uapi/linux/input-event-codes.h). They name key
// positions on a PC keyboard, whatever the layout.
const (
	KeyEsc        = 1
	Key1          = 2 // Key1 … Key9 are 2 … 10
	Key0          = 11
	KeyMinus      = 12
	KeyEqual      = 13
	KeyBackspace  = 14
	KeyTab        = 15
	KeyQ          = 16
	KeyW          = 17
	KeyE          = 18
	KeyR          = 19
	KeyT          = 20
	KeyY          = 21
	KeyU          = 22
	KeyI          = 23
	KeyO          = 24
	KeyP          = 25
	KeyLeftBrace  = 26
	KeyRightBrace = 27
	KeyEnter      = 28
	KeyLeftCtrl   = 29
	KeyA          = 30
	KeyS          = 31
	KeyD          = 32
	KeyF          = 33
	KeyG          = 34
	KeyH          = 35
	KeyJ          = 36
	KeyK          = 37
	KeyL          = 38
	KeySemicolon  = 39
	KeyApostrophe = 40
	KeyGrave      = 41
	KeyLeftShift  = 42
	KeyBackslash  = 43
	KeyZ          = 44
	KeyX          = 45
	KeyC          = 46
	KeyV          = 47
	KeyB          = 48
	KeyN          = 49
	KeyM          = 50
	KeyComma      = 51
	KeyDot        = 52
	KeySlash      = 53
	KeyRightShift = 54
	KeyKPAsterisk = 55
	KeyLeftAlt    = 56
	KeySpace      = 57
	KeyCapsLock   = 58
	KeyKP7        = 71
	KeyKP8        = 72
	KeyKP9        = 73
	KeyKPMinus    = 74
	KeyKP4        = 75
	KeyKP5        = 76
	KeyKP6        = 77
	KeyKPPlus     = 78
	KeyKP1        = 79
	KeyKP2        = 80
	KeyKP3        = 81
	KeyKP0        = 82
	KeyKPDot      = 83
	KeyKPEnter    = 96
	KeyRightCtrl  = 97
	KeyKPSlash    = 98
	KeyRightAlt   = 100
	KeyKPEqual    = 117
)

// Key is what one key types on a layout: without modifier, with Shift,
// with AltGr (0: nothing). Caps: Caps Lock inverts Shift for this key (the
// letters).
type Key struct {
	Plain, Shift, AltGr byte
	Caps                bool
}

// Keymap maps key codes to what they type.
type Keymap map[uint16]Key

// US is the US English layout (ANSI 104-key). Enter types CR. Keypad keys
// type their digits and signs whatever the Num Lock state: a reader that
// types on the keypad means digits.
var US = Keymap{
	Key1: {Plain: '1', Shift: '!'}, Key1 + 1: {Plain: '2', Shift: '@'}, Key1 + 2: {Plain: '3', Shift: '#'},
	Key1 + 3: {Plain: '4', Shift: '$'}, Key1 + 4: {Plain: '5', Shift: '%'}, Key1 + 5: {Plain: '6', Shift: '^'},
	Key1 + 6: {Plain: '7', Shift: '&'}, Key1 + 7: {Plain: '8', Shift: '*'}, Key1 + 8: {Plain: '9', Shift: '('},
	Key0:     {Plain: '0', Shift: ')'},
	KeyMinus: {Plain: '-', Shift: '_'}, KeyEqual: {Plain: '=', Shift: '+'},
	KeyTab: {Plain: '\t', Shift: '\t'},
	KeyQ:   letter('q'), KeyW: letter('w'), KeyE: letter('e'), KeyR: letter('r'), KeyT: letter('t'),
	KeyY: letter('y'), KeyU: letter('u'), KeyI: letter('i'), KeyO: letter('o'), KeyP: letter('p'),
	KeyLeftBrace: {Plain: '[', Shift: '{'}, KeyRightBrace: {Plain: ']', Shift: '}'},
	KeyEnter: {Plain: '\r', Shift: '\r'},
	KeyA:     letter('a'), KeyS: letter('s'), KeyD: letter('d'), KeyF: letter('f'), KeyG: letter('g'),
	KeyH: letter('h'), KeyJ: letter('j'), KeyK: letter('k'), KeyL: letter('l'),
	KeySemicolon: {Plain: ';', Shift: ':'}, KeyApostrophe: {Plain: '\'', Shift: '"'}, KeyGrave: {Plain: '`', Shift: '~'},
	KeyBackslash: {Plain: '\\', Shift: '|'},
	KeyZ:         letter('z'), KeyX: letter('x'), KeyC: letter('c'), KeyV: letter('v'), KeyB: letter('b'),
	KeyN: letter('n'), KeyM: letter('m'),
	KeyComma: {Plain: ',', Shift: '<'}, KeyDot: {Plain: '.', Shift: '>'}, KeySlash: {Plain: '/', Shift: '?'},
	KeySpace: {Plain: ' ', Shift: ' '},
	KeyKP7:   {Plain: '7', Shift: '7'}, KeyKP8: {Plain: '8', Shift: '8'}, KeyKP9: {Plain: '9', Shift: '9'},
	KeyKP4: {Plain: '4', Shift: '4'}, KeyKP5: {Plain: '5', Shift: '5'}, KeyKP6: {Plain: '6', Shift: '6'},
	KeyKP1: {Plain: '1', Shift: '1'}, KeyKP2: {Plain: '2', Shift: '2'}, KeyKP3: {Plain: '3', Shift: '3'},
	KeyKP0: {Plain: '0', Shift: '0'}, KeyKPDot: {Plain: '.', Shift: '.'},
	KeyKPAsterisk: {Plain: '*', Shift: '*'}, KeyKPMinus: {Plain: '-', Shift: '-'}, KeyKPPlus: {Plain: '+', Shift: '+'},
	KeyKPSlash: {Plain: '/', Shift: '/'}, KeyKPEqual: {Plain: '=', Shift: '='}, KeyKPEnter: {Plain: '\r', Shift: '\r'},
}

func letter(c byte) Key { return Key{Plain: c, Shift: c - 'a' + 'A', Caps: true} }

// Keymaps are the layouts board profiles can name.
var Keymaps = map[string]Keymap{"us": US}

// LookupKeymap returns the named layout ("" is "us").
func LookupKeymap(name string) (Keymap, error) {
	if name == "" {
		name = "us"
	}
	m, ok := Keymaps[name]
	if !ok {
		names := make([]string, 0, len(Keymaps))
		for n := range Keymaps {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("%w %q (known: %v)", ErrKeymap, name, names)
	}
	return m, nil
}

// Stroke is how to type a character: the key, with or without Shift or
// AltGr.
type Stroke struct {
	Code         uint16
	Shift, AltGr bool
}

// Stroke returns how c is typed on m: the lowest key code that types it,
// preferring no modifier, then Shift, then AltGr (so digits come from the
// main row, not the keypad).
func (m Keymap) Stroke(c byte) (Stroke, bool) {
	codes := make([]int, 0, len(m))
	for k := range m {
		codes = append(codes, int(k))
	}
	sort.Ints(codes)
	for pass := 0; pass < 3; pass++ {
		for _, k := range codes {
			key := m[uint16(k)]
			switch {
			case pass == 0 && key.Plain == c:
				return Stroke{Code: uint16(k)}, true
			case pass == 1 && key.Shift == c:
				return Stroke{Code: uint16(k), Shift: true}, true
			case pass == 2 && key.AltGr == c && c != 0:
				return Stroke{Code: uint16(k), AltGr: true}, true
			}
		}
	}
	return Stroke{}, false
}
