package ota

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Forget removes, from a Dir no Client works on, what a factory reset
// must not carry over: the downloaded targets, the downloads in progress
// and Poll's schedule (its failures in a row, so the reset terminal
// checks at once instead of backing off for the old ones). It keeps the
// trust: the roots learned after the pinned one (roots/), go-tuf's
// trusted metadata, the expiry floor and the last check's time. A reset
// must not roll the root of trust back to the pinned one, nor let the
// repository's older metadata, or a frozen timestamp, be taken again.
// The removals are durable when it returns; a Dir that does not exist is
// nothing to forget.
func Forget(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for _, name := range []string{"targets", "partial", pollFile} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("ota: forgetting %s: %w", name, err)
		}
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("ota: forgetting: %w", err)
	}
	return nil
}
