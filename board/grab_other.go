//go:build !linux

package board

import (
	"errors"
	"os"
)

// grabInput: keyboard-wedge readers are read through Linux evdev.
func grabInput(*os.File) error {
	return errors.New("input devices are grabbed on Linux only")
}
