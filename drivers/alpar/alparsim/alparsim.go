// Package alparsim simulates an NXP TDA8029 running the ALPAR firmware of
// application note AN10207, byte for byte on a serial stream: frames with
// LRC, ACK/NACK answers with the note's status codes, and the unsolicited
// A0h card insertion/extraction message. A virtual contact slot holds a
// Card.
//
// The simulated board serves it over a pseudo-terminal (ServePTY) so that
// the real driver opens a real tty; tests may serve it over any
// io.ReadWriter (Serve).
//
// The serial line has a speed (Opts.Baud, 38400 by default, the chip's
// speed after reset per AN10207): a byte takes 10 bit times (8N1). A
// frame from the host is handled once its last byte would have arrived,
// and each answer or unsolicited frame is written whole once its last byte
// would have left; the waits run on Opts.Clock, so a test with a fake
// clock decides when bytes arrive. The card's own timing (ATR, T=0/T=1
// exchanges at the card's baud rate) is not modelled.
//
// get_card_parameters (A6h) is answered with Opts.CardParams verbatim, or
// refused as an unknown command when it is nil: AN10207 documents that
// answer's layout, but that part of the note, and public host code that
// parses it, were not available to this project, and the simulator does
// not make one up.
//
// Choices the application note leaves open are documented where made; the
// mask version string is configurable.
package alparsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"posd/conn/clock"
	"posd/drivers/alpar"
	"posd/drivers/ptysim"
)

// Card is a contact card in the virtual slot.
type Card interface {
	// ATR is the card's answer to reset.
	ATR() []byte
	// Transmit processes a command APDU and returns the response APDU
	// including SW1 SW2. An error makes the simulated chip report the card
	// mute (status 81h, waiting time exceeded).
	Transmit(apdu []byte) ([]byte, error)
}

// Opts configures a Sim.
type Opts struct {
	// Mask is the answer to send_num_mask (0Ah).
	Mask string
	// Baud is the speed of the simulated serial line, 10 bits a byte;
	// 0 makes bytes travel in no time.
	Baud int
	// Clock times the serial line; nil means clock.Real.
	Clock clock.Clock
	// CardParams, when not nil, is the answer to get_card_parameters
	// (A6h) while a card is in the slot, sent verbatim; nil refuses the
	// command with status 55h (see the package documentation).
	CardParams []byte
	// Logger receives diagnostics; nil discards them. Card data is never
	// logged.
	Logger *slog.Logger
}

// DefaultOpts are used when New gets nil.
var DefaultOpts = Opts{Mask: "TDA8029 ALPAR sim 1.0", Baud: 38400}

// Sim is a simulated TDA8029. It is safe for concurrent use.
type Sim struct {
	opts Opts
	log  *slog.Logger

	mu      sync.Mutex // guards the fields below and serialises writes
	card    Card
	powered bool
	w       io.Writer       // the current host link, nil when not serving
	ctx     context.Context // the current Serve's context

	sent  atomic.Int64 // frames written to the host
	nacks atomic.Int64 // of which NACKs

	wg sync.WaitGroup // ServePTY goroutines
}

// Wait blocks until every goroutine started by ServePTY has ended (their
// context is done and the pty is closed).
func (s *Sim) Wait() {
	s.wg.Wait()
}

// New returns a simulator with an empty slot.
func New(opts *Opts) *Sim {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o.Clock = clock.Or(o.Clock)
	return &Sim{opts: o, log: log}
}

// LineTime is how long n bytes take on the simulated serial line: 10 bit
// times each (start bit, 8 data bits, stop bit), zero when Opts.Baud is 0.
func (s *Sim) LineTime(n int) time.Duration {
	if s.opts.Baud <= 0 {
		return 0
	}
	return time.Duration(n) * 10 * time.Second / time.Duration(s.opts.Baud)
}

// Insert puts c in the slot and, when a host is connected, sends the
// unsolicited insertion frame 60 00 01 A0 01 C0. With a card already in
// the slot it is a swap: the extraction frame comes first.
func (s *Sim) Insert(c Card) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.card != nil {
		s.sendLocked(alpar.Frame{Cmd: alpar.CmdCardEvent, Payload: []byte{0x00}})
	}
	s.card = c
	s.powered = false
	s.sendLocked(alpar.Frame{Cmd: alpar.CmdCardEvent, Payload: []byte{0x01}})
}

// Remove empties the slot (the card is deactivated) and sends the
// unsolicited extraction frame 60 00 01 A0 00 C1.
func (s *Sim) Remove() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.card = nil
	s.powered = false
	s.sendLocked(alpar.Frame{Cmd: alpar.CmdCardEvent, Payload: []byte{0x00}})
}

// Powered reports whether the card in the slot is activated.
func (s *Sim) Powered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.powered
}

// Nacks counts the NACK frames sent so far.
func (s *Sim) Nacks() int {
	return int(s.nacks.Load())
}

// Sent counts the frames put on the line to the host so far (answers and
// unsolicited frames), each once its line time has passed.
func (s *Sim) Sent() int {
	return int(s.sent.Load())
}

// sendLocked puts f on the line: it takes the line time of its bytes, then
// the host has it whole. Holding s.mu meanwhile keeps frames apart, as one
// UART does.
func (s *Sim) sendLocked(f alpar.Frame) {
	if s.w == nil {
		return
	}
	b, err := alpar.EncodeFrame(f)
	if err != nil {
		s.log.Error("encode answer", "err", err)
		return
	}
	if err := clock.Sleep(s.ctx, s.opts.Clock, s.LineTime(len(b))); err != nil {
		return // the link is being shut down
	}
	s.sent.Add(1)
	if f.Nack {
		s.nacks.Add(1)
	}
	if _, err := s.w.Write(b); err != nil {
		s.log.Warn("write to host failed", "err", err)
	}
}

// Serve answers frames read from rw until ctx is done or rw fails. One
// host link is served at a time; the unsolicited frames of Insert and
// Remove go to it. It returns nil when ctx ends it.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	s.mu.Lock()
	if s.w != nil {
		s.mu.Unlock()
		return errors.New("alparsim: already serving a host link")
	}
	s.w, s.ctx = rw, ctx
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.w, s.ctx = nil, nil
		s.mu.Unlock()
	}()
	fr := alpar.NewFrameReader(rw)
	for {
		f, err := fr.ReadFrame()
		if ctx.Err() != nil {
			return nil
		}
		if err == nil || errors.Is(err, alpar.ErrFrameLRC) {
			// The chip acts once the frame's last byte has arrived.
			if clock.Sleep(ctx, s.opts.Clock, s.LineTime(5+len(f.Payload))) != nil {
				return nil
			}
		}
		switch {
		case err == nil:
			s.handle(f)
		case errors.Is(err, alpar.ErrFrameLRC):
			// As the chip does: NACK the command with status F0h.
			s.mu.Lock()
			s.sendLocked(alpar.Frame{Nack: true, Cmd: f.Cmd, Payload: []byte{alpar.StatusSerialLRC}})
			s.mu.Unlock()
		case errors.Is(err, alpar.ErrFrameTooLong):
			continue
		default:
			return fmt.Errorf("alparsim: read host link: %w", err)
		}
	}
}

func nack(cmd, code byte) alpar.Frame {
	return alpar.Frame{Nack: true, Cmd: cmd, Payload: []byte{code}}
}

func (s *Sim) handle(f alpar.Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Nack {
		// The host never sends E0h frames; treat as a serial error.
		s.sendLocked(nack(f.Cmd, alpar.StatusSerialLRC))
		return
	}
	ack := alpar.Frame{Cmd: f.Cmd}
	switch f.Cmd {
	case alpar.CmdCheckPresCard:
		p := byte(0)
		if s.card != nil {
			p = 1
		}
		ack.Payload = []byte{p}
	case alpar.CmdSendNumMask:
		ack.Payload = []byte(s.opts.Mask)
	case alpar.CmdPowerUpISO:
		if s.card == nil {
			s.sendLocked(nack(f.Cmd, alpar.StatusCardAbsent))
			return
		}
		atr := s.card.ATR()
		if len(atr) < 2 || (atr[0] != 0x3B && atr[0] != 0x3F) {
			s.sendLocked(nack(f.Cmd, alpar.StatusTSInvalid))
			return
		}
		s.powered = true
		ack.Payload = append([]byte(nil), atr...)
	case alpar.CmdPowerOff:
		s.powered = false
	case alpar.CmdCardCommand:
		if s.card == nil {
			s.sendLocked(nack(f.Cmd, alpar.StatusCardAbsent))
			return
		}
		if !s.powered {
			// The note gives no dedicated status for an APDU to an
			// inactive card; the simulator reports it deactivated.
			s.sendLocked(nack(f.Cmd, alpar.StatusCardDeactivated))
			return
		}
		if len(f.Payload) < 4 {
			s.sendLocked(nack(f.Cmd, alpar.StatusShortAPDU))
			return
		}
		r, err := s.card.Transmit(append([]byte(nil), f.Payload...))
		if err != nil {
			s.sendLocked(nack(f.Cmd, alpar.StatusCardTimeout))
			return
		}
		if len(r) < 2 || len(r) > alpar.MaxPayload {
			s.sendLocked(nack(f.Cmd, alpar.StatusCardOverflow))
			return
		}
		ack.Payload = r
	case alpar.CmdSetCardBaudRate:
		if len(f.Payload) != 2 {
			s.sendLocked(nack(f.Cmd, alpar.StatusBadParameter))
			return
		}
		if s.card == nil {
			s.sendLocked(nack(f.Cmd, alpar.StatusCardAbsent))
			return
		}
	case alpar.CmdGetCardParams:
		if s.card == nil {
			s.sendLocked(nack(f.Cmd, alpar.StatusCardAbsent))
			return
		}
		if s.opts.CardParams == nil {
			// No documented layout to answer with (package doc).
			s.sendLocked(nack(f.Cmd, alpar.StatusUnknownCommand))
			return
		}
		ack.Payload = append([]byte(nil), s.opts.CardParams...)
	default:
		s.sendLocked(nack(f.Cmd, alpar.StatusUnknownCommand))
		return
	}
	s.sendLocked(ack)
}

// ServePTY opens a pseudo-terminal, puts its slave side in raw mode and
// serves the simulator on the master side until ctx is done. It returns
// the slave's path, which the board opens as if it were the chip's UART.
func (s *Sim) ServePTY(ctx context.Context) (string, error) {
	return ptysim.Serve(ctx, &s.wg, s.log, "alparsim", nil, s.Serve)
}
