package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
)

// While a command waits on the daemon (a self test, a host test, a sync),
// the console keeps reading the port: Ctrl-C interrupts the command, the
// other side hanging up ends the session at once, and what is typed
// meanwhile is kept for the prompt that follows (type-ahead).

// maxAhead bounds what is kept of the input typed while a command runs.
const maxAhead = 4 * MaxLine

// callMode says what Ctrl-C does to a call into the daemon.
type callMode int

const (
	// callLeave: a query. Ctrl-C cancels its context and the prompt comes
	// back at once; a call that does not heed its context is left to end
	// on its own, its answer discarded (the next query waits for it).
	callLeave callMode = iota
	// callWait: a call that changes something (a key load, a restart, a
	// sync). Ctrl-C cancels its context, and the console waits for its
	// outcome and says it: a change is never reported as interrupted
	// when it was carried out.
	callWait
)

// call runs f with a context that ends on Ctrl-C, when the port fails and
// when Serve's context ends, reading the port meanwhile. interrupted
// reports Ctrl-C: in callLeave mode out and err are then empty.
func (s *session) call(name string, mode callMode, f func(context.Context) (string, error)) (out string, err error, interrupted bool) {
	s.aheadStart()
	defer s.aheadEnd()
	if s.typedCtrlC {
		return "", nil, true
	}
	if mode == callLeave {
		if left, what := s.c.leftBehind(); left != nil {
			s.printf("waiting for the interrupted %s to end (Ctrl-C stops waiting)", what)
			if s.pump(left) {
				return "", nil, true
			}
		}
	}
	if s.err != nil {
		return "", s.err, false
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	type result struct {
		out string
		err error
	}
	res := make(chan result, 1)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		o, e := f(ctx)
		res <- result{o, e}
	}()
	interrupted = s.pump(ended)
	cancel()
	if mode == callLeave && (interrupted || s.err != nil) {
		select {
		case <-ended:
		default:
			s.c.leaveBehind(ended, name)
			s.left, s.leftName = ended, name
		}
		return "", s.err, interrupted
	}
	r := <-res
	return r.out, r.err, interrupted
}

// pump reads the port until done closes (false), Ctrl-C is typed (true)
// or the session fails (false, s.err set).
func (s *session) pump(done <-chan struct{}) bool {
	for s.err == nil {
		select {
		case <-done:
			return false
		case chunk := <-s.in:
			s.heardInput()
			if s.ahead(chunk) {
				return true
			}
		case err := <-s.inErr:
			s.portFailed(err)
		case <-s.ctx.Done():
			s.fail(s.ctx.Err())
		}
	}
	return false
}

// aheadStart takes over what is left of the current input chunk as the
// start of the type-ahead.
func (s *session) aheadStart() {
	s.typed = make([]byte, 0, maxAhead)
	s.typedLost, s.typedCtrlC = false, false
	rest := s.pend
	s.pend = nil
	s.ahead(rest)
	clear(s.chunk)
	s.chunk = nil
}

// ahead keeps chunk as typed ahead (and wipes it); it reports whether it
// held a Ctrl-C, which discards everything typed before it. A BREAK (NUL)
// in a logged-in session does the same, and the session is logged out
// after the command (lineBreak).
func (s *session) ahead(chunk []byte) bool {
	defer clear(chunk)
	cut := bytes.LastIndexByte(chunk, 0x03)
	if s.claims != nil {
		if i := bytes.LastIndexByte(chunk, 0x00); i >= 0 {
			s.broke = true
			cut = max(cut, i)
		}
	}
	ctrlC := cut >= 0
	if ctrlC {
		clear(s.typed)
		s.typed, s.typedLost = s.typed[:0], false
		chunk = chunk[cut+1:]
	}
	switch {
	case s.typedLost:
	case len(s.typed)+len(chunk) > maxAhead:
		// Too much to keep: all of it goes (a part kept could make a
		// line the engineer did not type).
		clear(s.typed)
		s.typed, s.typedLost = s.typed[:0], true
	default:
		s.typed = append(s.typed, chunk...)
	}
	s.typedCtrlC = s.typedCtrlC || ctrlC
	return ctrlC
}

// aheadEnd hands the type-ahead to the line editor.
func (s *session) aheadEnd() {
	if s.typedLost {
		s.printf("input typed while the command ran was more than %d bytes: ignored", maxAhead)
	}
	s.chunk, s.pend = s.typed, s.typed
	s.typed, s.typedLost, s.typedCtrlC = nil, false, false
}

// portFailed ends the session on a read error: the other side hanging up
// (end of file, EIO) is ErrDisconnected.
func (s *session) portFailed(err error) { s.failIO("read", err) }

// failIO ends the session on an error of the port (op: read or write).
func (s *session) failIO(op string, err error) {
	switch {
	case s.ctx.Err() != nil:
		s.fail(s.ctx.Err())
	case hungUp(err):
		s.fail(fmt.Errorf("%w: %s: %w", ErrDisconnected, op, err))
	default:
		s.fail(fmt.Errorf("%w: %s: %w", ErrIO, op, err))
	}
}

// hungUp tells the other side closing from other failures of a port: end
// of file, EIO (a pseudo-terminal whose other side closed), a broken or
// closed pipe.
func hungUp(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.EIO) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrClosedPipe) ||
		errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.ENODEV) // the device went away
}

// leftBehind returns a call left running after Ctrl-C (ended closes when
// it returns) and its name, or nil.
func (c *Console) leftBehind() (<-chan struct{}, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.left == nil {
		return nil, ""
	}
	select {
	case <-c.left:
		c.left = nil
		return nil, ""
	default:
		return c.left, c.leftName
	}
}

// leaveBehind records a call left running: the next query waits for it,
// so that interrupting again and again does not pile calls up in the
// daemon.
func (c *Console) leaveBehind(ended <-chan struct{}, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.left, c.leftName = ended, name
}
