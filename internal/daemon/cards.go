package daemon

import (
	"context"
	"errors"
	"fmt"

	"posd/board/entry"
	"posd/terminal/emv"
	"posd/terminal/risk"
	"posd/terminal/txn"
)

// posEntryMagstripe is ISO 8583:1987 DE22 for a full magnetic stripe read
// (90) on a terminal with PIN entry capability (1).
const posEntryMagstripe = "901"

var errNoTrack2 = errors.New("the stripe has no track 2")

// cardReader adapts the board's card entry to the engine's CardReader: a
// swipe becomes the engine's Card, a tapped or inserted card an activated
// chip for the EMV kernel.
type cardReader struct {
	r *entry.Reader
	// gate holds the reads while a self test runs (nil: never).
	gate *devGate
}

func (c cardReader) Flush() { c.r.Flush() }

// ReadAgain lets the card still in the contactless field be read again
// (the sale asks for another tap of a phone its holder confirms on).
func (c cardReader) ReadAgain() { c.r.ReadAgain() }

// ReadCard waits for a card in every mode the board reads.
func (c cardReader) ReadCard(ctx context.Context) (*txn.Card, error) {
	return c.ReadCardIn(ctx, nil)
}

// modes are the entry modes of the board, as the engine names them.
func (c cardReader) modes() []risk.EntryMode {
	var out []risk.EntryMode
	for _, m := range c.r.Modes() {
		out = append(out, risk.EntryMode(m))
	}
	return out
}

// ReadCardIn waits for a card in modes (nil: all). An unreadable swipe (no
// usable track 2) or an unusable card is an error matching
// txn.ErrUnreadable, on which the sale asks for the card again; the
// readers keep reading.
func (c cardReader) ReadCardIn(ctx context.Context, modes []risk.EntryMode) (*txn.Card, error) {
	var em []entry.Mode
	for _, m := range modes {
		em = append(em, entry.Mode(m))
	}
	if err := c.gate.wait(ctx); err != nil {
		return nil, err
	}
	p, err := c.r.Read(ctx, em...)
	switch {
	case errors.Is(err, entry.ErrCollision):
		return nil, fmt.Errorf("%w: %w", txn.ErrCollision, err)
	case errors.Is(err, entry.ErrUnreadable), errors.Is(err, entry.ErrUnsupportedCard):
		return nil, fmt.Errorf("%w: %w", txn.ErrUnreadable, err)
	case err != nil:
		return nil, err
	}
	switch p.Mode {
	case entry.Tap, entry.Insert:
		iface, mode := emv.Contact, risk.EntryInsert
		if p.Mode == entry.Tap {
			iface, mode = emv.Contactless, risk.EntryTap
		}
		return &txn.Card{Mode: mode, Chip: &txn.Chip{Card: p.Card, Interface: iface, Release: p.Release}}, nil
	}
	sw := p.Swipe
	if sw.Track2 == nil {
		// Track 1 alone cannot make the request's track 2 data: for the
		// sale this swipe is unreadable, and the customer swipes again.
		p.Release(ctx)
		return nil, fmt.Errorf("%w: %w: %w", txn.ErrUnreadable, entry.ErrUnreadable, errNoTrack2)
	}
	return &txn.Card{
		PAN:         sw.Track2.PAN,
		Track2:      sw.Track2.Raw,
		Expiry:      sw.Track2.Expiry,
		ServiceCode: sw.Track2.ServiceCode,
		EntryMode:   posEntryMagstripe,
		Mode:        risk.EntrySwipe,
		Wipe:        sw.Wipe,
	}, nil
}
