package pn532sim

import (
	"context"
	"errors"
	"io"

	"posd/drivers/pn532"
)

// Serve runs the HSU side of the chip over rw until ctx is done (rw is
// closed then if it is an io.Closer) or rw fails. Asleep, the chip
// ignores everything up to the 0x55 of a wake-up preamble.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	if c, ok := rw.(io.Closer); ok {
		stop := context.AfterFunc(ctx, func() { _ = c.Close() })
		defer stop()
	}
	buf := make([]byte, 4096)
	for {
		n, err := rw.Read(buf)
		if n > 0 {
			s.mu.Lock()
			outs := s.feedHSU(buf[:n])
			s.mu.Unlock()
			for _, o := range outs {
				if d := o.readyAt.Sub(s.o.Now()); d > 0 {
					s.o.Sleep(d)
				}
				if _, werr := rw.Write(o.b); werr != nil {
					if ctx.Err() != nil {
						return nil
					}
					return werr
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// feedHSU appends stream bytes and handles every complete frame, returning
// what the chip sends back. Caller holds mu.
func (s *Sim) feedHSU(b []byte) []outFrame {
	if s.inReset {
		return nil
	}
	if s.asleep {
		for i, c := range b {
			if c == 0x55 {
				s.asleep = false
				s.stats.Wakes++
				if i > 0 {
					s.stats.Lost++
				}
				b = b[i:]
				break
			}
		}
		if s.asleep {
			if len(b) > 0 {
				s.stats.Lost++
			}
			return nil
		}
	}
	s.rx = append(s.rx, b...)
	for len(s.rx) > 0 {
		_, n, err := pn532.DecodeFrame(s.rx)
		if err == nil {
			s.hostBytes(s.rx[:n])
			s.rx = s.rx[n:]
			continue
		}
		if errors.Is(err, pn532.ErrIncomplete) {
			break
		}
		if errors.Is(err, pn532.ErrChecksum) {
			s.hostBytes(s.rx) // answers a data checksum error
			s.rx = skipStart(s.rx)
			continue
		}
		s.rx = s.rx[1:]
	}
	if len(s.rx) > 8192 {
		s.rx = nil
	}
	s.rx = append([]byte(nil), s.rx...)
	outs := s.out
	s.out = nil
	return outs
}

func skipStart(b []byte) []byte {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == 0x00 && b[i+1] == 0xFF {
			return b[i+2:]
		}
	}
	return nil
}
