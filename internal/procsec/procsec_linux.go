//go:build linux

package procsec

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// NoCoreDumps makes the process non-dumpable and its core size limit
// zero (see the package documentation).
func NoCoreDumps() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("procsec: core size limit: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("procsec: PR_SET_DUMPABLE: %w", err)
	}
	return nil
}

// Dumpable reports whether the process is dumpable (PR_GET_DUMPABLE).
func Dumpable() (bool, error) {
	v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil {
		return false, fmt.Errorf("procsec: PR_GET_DUMPABLE: %w", err)
	}
	return v != 0, nil
}
