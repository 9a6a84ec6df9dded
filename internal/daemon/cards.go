package daemon

import (
	"context"
	"errors"
	"fmt"

	"posd/board/entry"
	"posd/terminal/risk"
	"posd/terminal/txn"
)

// posEntryMagstripe is ISO 8583:1987 DE22 for a full magnetic stripe read
// (90) on a terminal with PIN entry capability (1).
const posEntryMagstripe = "901"

var (
	errNoTrack2 = errors.New("the stripe has no track 2")
	// errChipNotYet: tap and insert need the EMV kernel, which the sale
	// does not run yet; the daemon only asks for swipes until it does.
	errChipNotYet = errors.New("chip and contactless cards are not accepted yet")
)

// cardReader adapts the board's card entry to the engine's CardReader:
// the modes it watches, and a swipe turned into the engine's Card.
type cardReader struct {
	r     *entry.Reader
	modes []entry.Mode
}

func (c cardReader) Flush() { c.r.Flush() }

// ReadCard waits for a card in c's modes. An unreadable swipe (no usable
// track 2) or an unusable card is an error matching txn.ErrUnreadable, on
// which the sale asks for the card again; the readers keep reading.
func (c cardReader) ReadCard(ctx context.Context) (*txn.Card, error) {
	p, err := c.r.Read(ctx, c.modes...)
	switch {
	case errors.Is(err, entry.ErrUnreadable), errors.Is(err, entry.ErrUnsupportedCard):
		return nil, fmt.Errorf("%w: %w", txn.ErrUnreadable, err)
	case err != nil:
		return nil, err
	}
	if p.Mode != entry.Swipe {
		p.Release(ctx)
		return nil, fmt.Errorf("%w: %w", txn.ErrUnreadable, errChipNotYet)
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
