package daemon

import (
	"context"
	"errors"
	"fmt"

	"posd/drivers/msr"
	"posd/terminal/txn"
)

// posEntryMagstripe is ISO 8583:1987 DE22 for a full magnetic stripe read
// (90) on a terminal with PIN entry capability (1).
const posEntryMagstripe = "901"

var errNoReader = errors.New("no card reader available")
var errNoTrack2 = errors.New("the stripe has no track 2")

// msrReader adapts the stripe reader driver to the engine's CardReader.
type msrReader struct{ d *msr.Dev }

func (r msrReader) Flush() {
	if r.d == nil {
		return
	}
	for {
		select {
		case res, ok := <-r.d.Swipes():
			if !ok {
				return
			}
			res.Swipe.Wipe()
		default:
			return
		}
	}
}

// ReadCard waits for a swipe. An unreadable swipe (no usable track 2) is
// an error matching txn.ErrUnreadable (and msr.ErrUnreadable), on which
// the sale asks for the card again; the driver keeps reading after it.
func (r msrReader) ReadCard(ctx context.Context) (*txn.Card, error) {
	if r.d == nil {
		<-ctx.Done()
		return nil, errNoReader
	}
	sw, err := r.d.Read(ctx)
	if errors.Is(err, msr.ErrUnreadable) {
		// The customer swipes again; the sale asks for it.
		return nil, fmt.Errorf("%w: %w", txn.ErrUnreadable, err)
	}
	if err != nil {
		return nil, err
	}
	if sw.Track2 == nil {
		// Track 1 alone cannot make the request's track 2 data: for the
		// sale this swipe is unreadable, and the customer swipes again.
		sw.Wipe()
		return nil, fmt.Errorf("%w: %w: %w", txn.ErrUnreadable, msr.ErrUnreadable, errNoTrack2)
	}
	return &txn.Card{
		PAN:         sw.Track2.PAN,
		Track2:      sw.Track2.Raw,
		Expiry:      sw.Track2.Expiry,
		ServiceCode: sw.Track2.ServiceCode,
		EntryMode:   posEntryMagstripe,
		Wipe:        sw.Wipe,
	}, nil
}
