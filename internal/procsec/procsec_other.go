//go:build !linux

package procsec

// NoCoreDumps does nothing off Linux.
func NoCoreDumps() error { return nil }

// Dumpable is unknown off Linux: it reports true.
func Dumpable() (bool, error) { return true, nil }
