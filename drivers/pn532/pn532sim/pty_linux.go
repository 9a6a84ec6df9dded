//go:build linux

package pn532sim

import (
	"context"
	"fmt"

	"posd/drivers/ptysim"
)

// ServePTY opens a pseudo-terminal, serves the HSU side of the chip on its
// master until ctx is done or Close is called, and returns the path of the
// slave for the host (board/ opens it like a serial port). The slave is put
// in raw mode.
func (s *Sim) ServePTY(ctx context.Context) (string, error) {
	p, err := ptysim.Open()
	if err != nil {
		return "", fmt.Errorf("pn532sim: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer stop()
		defer cancel()
		if err := s.Serve(ctx, p.Master); err != nil {
			s.log.Debug("pn532sim pty serve ended", "err", err)
		}
		_ = p.Close()
	}()
	return p.SlavePath, nil
}
