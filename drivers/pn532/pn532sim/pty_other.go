//go:build !linux

package pn532sim

import (
	"context"
	"errors"
)

// ServePTY is only available on Linux.
func (s *Sim) ServePTY(context.Context) (string, error) {
	return "", errors.New("pn532sim: pseudo-terminals need Linux")
}
