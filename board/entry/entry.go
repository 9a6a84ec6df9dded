// Package entry is the terminal's card entry: it watches the stripe reader,
// the contactless field and the contact slot together for one sale; the
// first card presented wins and the others stop. A swipe comes back as its
// tracks; a tapped or inserted card comes back activated, as an
// apdu.Transceiver for the EMV kernel.
//
// It sits beside board/ (it only needs the drivers) and is wired by the
// daemon; terminal/ sees what it delivers through its own interfaces.
package entry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"posd/conn/apdu"
	"posd/conn/clock"
	"posd/drivers/alpar"
	"posd/drivers/msr"
	"posd/drivers/pn532"
)

// Mode is how a card is presented.
type Mode string

// Entry modes.
const (
	Swipe  Mode = "swipe"
	Tap    Mode = "tap"
	Insert Mode = "insert"
)

// Presented is the card that won. Release it when the sale is done with
// it: that wipes a swipe's tracks, releases a contactless card, powers a
// contact card down.
type Presented struct {
	Mode  Mode
	Swipe *msr.Swipe       // Swipe only: sensitive, wiped by Release
	Card  apdu.Transceiver // Tap and Insert: the activated card
	// ATR is the contact card's answer to reset, or the contactless
	// card's ATS (historical bytes), when it sent one.
	ATR []byte

	release func(context.Context) error
	once    sync.Once
}

// Release lets the card go (see Presented).
func (p *Presented) Release(ctx context.Context) error {
	var err error
	p.once.Do(func() {
		if p.Swipe != nil {
			p.Swipe.Wipe()
		}
		if p.release != nil {
			err = p.release(ctx)
		}
	})
	return err
}

// Swiper is the stripe reader (msr.Dev).
type Swiper interface {
	Read(ctx context.Context) (*msr.Swipe, error)
	Swipes() <-chan msr.Result
}

// Tapper is the contactless reader (pn532.Dev). ListTarget returns
// pn532.ErrNoTarget for an empty field and pn532.ErrCollision when more
// than one card of the type answered.
type Tapper interface {
	apdu.Transceiver
	ListTarget(ctx context.Context, typ pn532.TargetType) (*pn532.Target, error)
	Release(ctx context.Context) error
}

// Inserter is the contact reader (alpar.Dev).
type Inserter interface {
	apdu.Transceiver
	CardPresent(ctx context.Context) (bool, error)
	Events() <-chan alpar.Event
	PowerUp(ctx context.Context) ([]byte, error)
	PowerOff(ctx context.Context) error
}

// Devices are the readers a board has; nil ones are absent.
type Devices struct {
	MSR     Swiper
	NFC     Tapper
	Contact Inserter
}

// Opts configure a Reader.
type Opts struct {
	// PollInterval is the pause between two contactless polls (each poll
	// is one InListPassiveTarget). Default 150 ms.
	PollInterval time.Duration
	// Clock paces the polls; nil is the wall clock.
	Clock clock.Clock
	// Logger receives events without card data; nil discards.
	Logger *slog.Logger
}

// DefaultOpts are the defaults of New.
var DefaultOpts = Opts{PollInterval: 150 * time.Millisecond}

// Reader watches the readers of Devices.
type Reader struct {
	d   Devices
	o   Opts
	clk clock.Clock
	log *slog.Logger
	// used: the card in the contact slot was read for a transaction and
	// has not been taken out since; it is not read again.
	used atomic.Bool
	// tapped is the UID of the last card read in the field until a poll
	// finds the field empty (the card removal of EMV Book A): that card
	// is not read again while it stays.
	tappedMu sync.Mutex
	tapped   []byte
	// collided: the last poll found more than one card in the field and
	// Read reported it; it is not reported again until the field changes.
	collided bool
}

// tapSeen reports whether t is the last card read, still in the field.
func (r *Reader) tapSeen(t *pn532.Target) bool {
	r.tappedMu.Lock()
	defer r.tappedMu.Unlock()
	return r.tapped != nil && bytes.Equal(r.tapped, t.UID)
}

// ReadAgain lets the card last read in the contactless field be read again
// while it stays there. A card whose sale is done must leave the field
// before it counts as presented again (EMV Book A card removal), but a
// sale that asks for the same card again — a phone that said "see phone"
// and is held in place for the next tap, a card that left the field too
// early and came back before the next poll — calls ReadAgain before its
// next Read, or that card would be ignored until it leaves.
func (r *Reader) ReadAgain() { r.setTapped(nil) }

func (r *Reader) setTapped(uid []byte) {
	r.tappedMu.Lock()
	r.tapped = bytes.Clone(uid)
	r.tappedMu.Unlock()
}

// New returns a Reader over d.
func New(d Devices, opts *Opts) *Reader {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultOpts.PollInterval
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Reader{d: d, o: o, clk: clock.Or(o.Clock), log: lg}
}

// Modes lists the entry modes the board has readers for.
func (r *Reader) Modes() []Mode {
	var m []Mode
	if r.d.NFC != nil {
		m = append(m, Tap)
	}
	if r.d.Contact != nil {
		m = append(m, Insert)
	}
	if r.d.MSR != nil {
		m = append(m, Swipe)
	}
	return m
}

// Flush discards swipes made before the sale started, and forgets a
// collision reported to the last sale, so that it is reported to this one
// too.
func (r *Reader) Flush() {
	r.collision(false)
	if r.d.MSR == nil {
		return
	}
	for {
		select {
		case res, ok := <-r.d.MSR.Swipes():
			if !ok {
				return
			}
			res.Swipe.Wipe()
		default:
			return
		}
	}
}

type result struct {
	p   *Presented
	err error
}

// Read waits until a card is presented in one of modes (all the board has
// when none are given) and returns it; the other readers stop watching. An
// unreadable swipe, an unsupported contactless card or more than one card
// in the contactless field is returned as an error (ErrUnreadable,
// ErrUnsupportedCard, ErrCollision wrapped) so the caller can ask for the
// card again. A reader that fails is logged and left out; when
// every reader failed, Read returns ErrNoReader with their errors.
func (r *Reader) Read(ctx context.Context, modes ...Mode) (*Presented, error) {
	if len(modes) == 0 {
		modes = r.Modes()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan result, len(modes))
	var wg sync.WaitGroup
	started := 0
	for _, m := range modes {
		var fn func(context.Context) (*Presented, error)
		switch {
		case m == Swipe && r.d.MSR != nil:
			fn = r.swipe
		case m == Tap && r.d.NFC != nil:
			fn = r.tap
		case m == Insert && r.d.Contact != nil:
			fn = r.insert
		default:
			continue
		}
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := fn(ctx)
			results <- result{p, err}
		}()
	}
	if started == 0 {
		return nil, fmt.Errorf("%w for %v", ErrNoReader, modes)
	}
	var (
		win    *Presented
		winErr error
		failed []error
	)
	for got := 0; got < started && win == nil && winErr == nil; got++ {
		select {
		case res := <-results:
			switch {
			case res.err == nil:
				win = res.p
			case errors.Is(res.err, ErrUnreadable), errors.Is(res.err, ErrUnsupportedCard), errors.Is(res.err, ErrCollision):
				winErr = res.err
			case ctx.Err() != nil:
				winErr = ctx.Err()
			default:
				r.log.Warn("card reader failed during card entry", "err", res.err)
				failed = append(failed, res.err)
			}
		case <-ctx.Done():
			winErr = ctx.Err()
		}
	}
	if win == nil && winErr == nil {
		winErr = fmt.Errorf("%w: %w", ErrNoReader, errors.Join(failed...))
	}
	// The others stop; a card that was presented at the same moment is
	// let go.
	cancel()
	wg.Wait()
	close(results)
	for res := range results {
		if res.p != nil {
			res.p.Release(context.Background())
		}
	}
	return win, winErr
}

func (r *Reader) swipe(ctx context.Context) (*Presented, error) {
	sw, err := r.d.MSR.Read(ctx)
	if errors.Is(err, msr.ErrUnreadable) {
		return nil, fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	if err != nil {
		return nil, err
	}
	return &Presented{Mode: Swipe, Swipe: sw}, nil
}

// pollOrder is the order tap polls the modulations in: type A last, so
// that the usual type A card, when alone, is the one the chip has listed
// and needs no second InListPassiveTarget.
var pollOrder = [...]pn532.TargetType{pn532.TypeB, pn532.TypeA}

// tap polls the field until an ISO 14443-4 card answers alone. Each poll
// lists both modulations, so that two cards in the field — two of one type
// (the chip's two targets) or one of each type — are a collision: no card
// is picked, the collision is reported once (ErrCollision) and the
// following polls wait until one card is left.
func (r *Reader) tap(ctx context.Context) (*Presented, error) {
	for {
		var (
			found   *pn532.Target
			count   int
			listedT pn532.TargetType
		)
		for _, typ := range pollOrder {
			t, err := r.d.NFC.ListTarget(ctx, typ)
			switch {
			case err == nil:
				count++
				found, listedT = t, typ
			case errors.Is(err, pn532.ErrCollision):
				count += 2
			case errors.Is(err, pn532.ErrNoTarget):
			case ctx.Err() != nil:
				return nil, ctx.Err()
			default:
				return nil, err
			}
		}
		switch {
		case count > 1:
			// Let go of every card the chip activated (Tg 0: all).
			r.d.NFC.Release(ctx)
			if r.collision(true) {
				r.log.Info("entry: more than one card in the contactless field")
				return nil, ErrCollision
			}
		case count == 0:
			r.collision(false)
			r.setTapped(nil)
		default:
			r.collision(false)
			t := found
			if listedT != pollOrder[len(pollOrder)-1] {
				// A later poll of the other modulation unlisted it.
				var err error
				t, err = r.d.NFC.ListTarget(ctx, listedT)
				switch {
				case err == nil:
				case errors.Is(err, pn532.ErrNoTarget), errors.Is(err, pn532.ErrCollision):
					// The field changed since: poll again.
					t = nil
					r.d.NFC.Release(ctx)
				case ctx.Err() != nil:
					return nil, ctx.Err()
				default:
					return nil, err
				}
			}
			switch {
			case t == nil:
			case r.tapSeen(t):
				// The last transaction's card, not taken away yet.
				r.d.NFC.Release(ctx)
			case t.ISO14443_4():
				r.setTapped(t.UID)
				nfc := r.d.NFC
				return &Presented{Mode: Tap, Card: nfc, ATR: t.ATS,
					release: func(ctx context.Context) error { return nfc.Release(ctx) }}, nil
			default:
				r.d.NFC.Release(ctx)
				return nil, fmt.Errorf("%w: the card in the field does not speak ISO 14443-4", ErrUnsupportedCard)
			}
		}
		if err := clock.Sleep(ctx, r.clk, r.o.PollInterval); err != nil {
			return nil, err
		}
	}
}

// collision records whether the last poll found more than one card and
// reports whether that is news: a collision not yet reported to the
// caller.
func (r *Reader) collision(now bool) bool {
	r.tappedMu.Lock()
	defer r.tappedMu.Unlock()
	news := now && !r.collided
	r.collided = now
	return news
}

// insert waits for a card in the slot and powers it up.
func (r *Reader) insert(ctx context.Context) (*Presented, error) {
	c := r.d.Contact
	present, err := c.CardPresent(ctx)
	if err != nil {
		return nil, err
	}
	if !present {
		r.used.Store(false)
	} else if r.used.Load() {
		// The last transaction's card is still in the slot: it is not
		// a new presentation. Wait for it to go.
		r.log.Debug("entry: the used card is still inserted, waiting for its removal")
		present = false
	}
	for !present {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				return nil, alpar.ErrHalted
			}
			switch ev.Kind {
			case alpar.CardRemoved:
				r.used.Store(false)
			case alpar.CardInserted:
				present = !r.used.Load()
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	r.used.Store(true)
	atr, err := c.PowerUp(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: power up: %w", ErrUnreadable, err)
	}
	return &Presented{Mode: Insert, Card: c, ATR: atr,
		release: func(ctx context.Context) error { return c.PowerOff(ctx) }}, nil
}
