package acquirer

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/moov-io/iso8583"
	connection "github.com/moov-io/iso8583-connection"

	"posd/terminal/host"
)

// Faults injected by magic amount or armed by the control endpoint
// (control.go), so the terminal's recovery from a misbehaving host can be
// exercised. A magic amount's fault applies only to a card-present
// request (purchase, refund, pre-authorization, balance inquiry) the host
// approves: one whose MAC verified, that passed the issuer's checks and
// the ledger's rules (a request the rules reject is answered as always).
// Its amount's last two digits (minor units) choose it:
//
//	92  FaultReset      the first half of the framed answer (length header
//	                    included), then the connection is closed
//	93  FaultGarbage    a well-framed message (right length header, TPDU
//	                    and message header of the dialect) whose body is
//	                    random bytes that do not decode; the connection
//	                    stays open
//	94  FaultBadMAC     the approval, with whatever DE55 it carries, whose
//	                    MAC has a bit flipped after sealing
//	95  FaultLate       the approval, after Opts.LateDelay (default 15s,
//	                    longer than the terminal's response timeout), on
//	                    the connection if it is still open
//	97  FaultDuplicate  the approval twice, the same bytes
//	98  FaultSlow       the approval, after Opts.SlowDelay (default 1s)
//
// The control endpoint arms any of these, and two more, for the next
// approved answers ("00") of a kind, whatever the amount:
//
//	FaultDrop   no answer at all (the request journaled with fault "drop",
//	            then a line with direction "drop"); the host's decision
//	            stands (an approval is in the ledger: the terminal reverses)
//	FaultDelay  the answer after the armed delay
//
// (armed, late and slow wait the armed delay when one is given). A
// request whose magic amount already brings a fault does not use up an
// armed one.
//
// The journal's "in" and "out" lines of such a request carry the fault
// and the response code the host decided ("00"), whatever reached the
// wire. An answer that cannot go out (a late one when the server closes
// or the terminal closed the connection first, or any whose write fails)
// is journaled with direction "drop" instead of "out". Delays end at
// Close, so a pending answer never holds up a shutdown, and each request
// waits in its own goroutine, so nobody else's answers wait for it.
// Reversals, advices, voids, completions, settlements and uploads are
// answered normally whatever their amount (unless a fault is armed for
// them).
const (
	FaultReset     = "reset"
	FaultGarbage   = "garbage"
	FaultBadMAC    = "bad_mac"
	FaultLate      = "late"
	FaultDuplicate = "duplicate"
	FaultSlow      = "slow"
	FaultDrop      = "drop"
	FaultDelay     = "delay"
)

// Default delays of the late and slow answers.
const (
	DefaultLateDelay = 15 * time.Second
	DefaultSlowDelay = time.Second
)

// faultOf returns the fault an approved purchase of amount gets ("" for
// none).
func faultOf(amount int64) string {
	switch amount % 100 {
	case 92:
		return FaultReset
	case 93:
		return FaultGarbage
	case 94:
		return FaultBadMAC
	case 95:
		return FaultLate
	case 97:
		return FaultDuplicate
	case 98:
		return FaultSlow
	}
	return ""
}

// deliverFault sends resp, the sealed answer journaled as out, the way
// out.Fault says, and journals what happened. delay, when more than 0,
// replaces the late and slow delays (an armed fault's).
func (s *Server) deliverFault(c *connection.Connection, resp *iso8583.Message, out Entry, delay time.Duration) {
	switch out.Fault {
	case FaultDrop:
		out.Time, out.Direction = s.now(), "drop"
		note(&out, "no answer sent (fault drop)")
		s.record(out)
		return
	case FaultLate, FaultSlow, FaultDelay:
		d := s.slowDelay
		if out.Fault == FaultLate {
			d = s.lateDelay
		}
		if delay > 0 {
			d = delay
		}
		if why := s.wait(c, d); why != "" {
			s.dropFault(out, why)
			return
		}
		out.Time = s.now()
		note(&out, fmt.Sprintf("answered after %v", d))
		s.record(out)
		if err := c.Reply(resp); err != nil {
			s.log.Warn("reply failed", "mti", out.MTI, "stan", out.STAN, "fault", out.Fault, "err", err)
			s.dropFault(out, "the connection failed")
		}
		return
	case FaultBadMAC:
		if !flipMAC(resp) {
			s.log.Error("no MAC to spoil", "mti", out.MTI, "stan", out.STAN)
		}
		note(&out, "MAC bit flipped")
		s.record(out)
		if err := c.Reply(resp); err != nil {
			s.log.Warn("reply failed", "mti", out.MTI, "stan", out.STAN, "fault", out.Fault, "err", err)
			s.dropFault(out, "the connection failed")
		}
		return
	}
	frame, n, err := s.frame(resp)
	if err != nil {
		s.log.Error("cannot frame answer", "mti", out.MTI, "stan", out.STAN, "err", err)
		s.dropFault(out, "it does not frame")
		return
	}
	// Journaled before it goes, as every answer (Server.handle).
	sent := out
	sent.Time = s.now()
	switch out.Fault {
	case FaultReset:
		half := frame[:len(frame)/2]
		note(&sent, fmt.Sprintf("first %d of %d bytes sent, then the connection closed", len(half), len(frame)))
		s.record(sent)
		_, err = c.Write(half)
		_ = c.Close() // whatever the write did, the connection goes
	case FaultGarbage:
		var g []byte
		if g, err = s.garbage(n); err == nil {
			var buf bytes.Buffer
			if err = s.framer.WriteFrame(&buf, g); err == nil {
				note(&sent, fmt.Sprintf("%d random bytes sent in place of the answer", n))
				s.record(sent)
				_, err = c.Write(buf.Bytes())
			}
		}
	case FaultDuplicate:
		note(&sent, "answer sent twice")
		s.record(sent)
		if _, err = c.Write(frame); err == nil {
			_, err = c.Write(frame)
		}
	}
	if err != nil {
		s.log.Warn("faulty answer not written", "mti", out.MTI, "stan", out.STAN, "fault", out.Fault, "err", err)
		s.dropFault(out, "the connection failed")
	}
}

// wait waits d; it returns why it stopped early ("" when it did not).
func (s *Server) wait(c *connection.Connection, d time.Duration) string {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return ""
	case <-s.done:
		return "the server closed first"
	case <-c.Done():
		return "the connection closed first"
	}
}

// dropFault journals an answer (with a fault or not) that did not go out.
func (s *Server) dropFault(out Entry, why string) {
	out.Time, out.Direction = s.now(), "drop"
	note(&out, "answer not sent: "+why)
	s.record(out)
}

// frame returns the frame of resp as the connection would write it, and
// the length of the packed message in it.
func (s *Server) frame(resp *iso8583.Message) ([]byte, int, error) {
	packed, err := resp.Pack()
	if err != nil {
		return nil, 0, err
	}
	var buf bytes.Buffer
	if err := s.framer.WriteFrame(&buf, packed); err != nil {
		return nil, 0, err
	}
	return buf.Bytes(), len(packed), nil
}

// garbage returns n random bytes (at least one) that the dialect does not
// decode.
func (s *Server) garbage(n int) ([]byte, error) {
	g := make([]byte, max(n, 1))
	for range 16 {
		if _, err := io.ReadFull(s.rnd, g); err != nil {
			return nil, fmt.Errorf("random bytes: %w", err)
		}
		if _, err := s.d.Decode(g); err != nil {
			return g, nil
		}
	}
	return nil, fmt.Errorf("random bytes decode as a message")
}

// flipMAC flips the low bit of the last byte of the MAC field of a sealed
// message; false when it has none.
func flipMAC(m *iso8583.Message) bool {
	fields := m.GetFields()
	for _, id := range []int{host.DEMAC, host.DEMAC2} {
		if _, ok := fields[id]; !ok {
			continue
		}
		v, err := m.GetBytes(id)
		if err != nil || len(v) == 0 {
			return false
		}
		v = bytes.Clone(v)
		v[len(v)-1] ^= 0x01
		return m.BinaryField(id, v) == nil
	}
	return false
}
