//go:build !linux

package ota

import "errors"

// statfsFree: unknown here (posd's boards run Linux).
func statfsFree(string) (int64, error) {
	return 0, errors.New("free space unknown on this system")
}
