package txn

import (
	"context"
	"fmt"

	"posd/terminal/host"
	"posd/terminal/paycode"
	"posd/terminal/risk"
	"posd/terminal/store"
)

// entryModeQR is DE22 of a consumer-presented EMV QR code (QRCPS): 03,
// a bar code read, and 1, the terminal can take a PIN.
const entryModeQR = "031"

// stepCPM runs a sale paid with an EMV consumer-presented QR code: the
// card's data and its application cryptogram come from the code instead
// of a card in the field, and go the way of an online chip transaction
// (DE35 from the track 2 equivalent, DE55 with the cryptogram), through
// the acquirer and the issuer, with the same reversal on an unknown
// outcome. The phone verified its holder (CDCVM), so no PIN is asked;
// the code is a bearer token that is wiped once sent.
func (e *Engine) stepCPM(ctx context.Context, s *sale, text string) error {
	cpm, err := paycode.ParseCPM(text)
	if err != nil {
		e.log.Info("not a payment code", "id", s.rec.ID, "kind", paycode.KindEMVCPM, "err", err)
		e.fail(s, FailNotPaymentCode, fmt.Errorf("%w: %w", ErrNotPaymentCode, err))
		return nil
	}
	defer cpm.Wipe()
	masked := cpm.MaskedPAN()
	t2 := cpm.Track2()
	icc := cpm.ICC()
	card, ok := cpmCard(t2)
	clear(t2)
	if !ok || len(icc) == 0 {
		e.log.Info("EMV payment code without card data or cryptogram", "id", s.rec.ID, "pan", masked)
		e.fail(s, FailNotPaymentCode, fmt.Errorf("%w: the EMV code carries no track 2 equivalent or no cryptogram", ErrNotPaymentCode))
		return nil
	}
	s.card, s.icc, s.mode = card, icc, risk.EntryQR
	if expired(card.Expiry, e.clock.Now()) {
		e.log.Info("card expired", "id", s.rec.ID, "pan", masked)
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.MaskedPAN, r.State, r.Failure, r.Error = masked, store.StateFailed, string(FailCardExpired), ErrCardExpired.Error()
			return nil
		})
	}
	if done, err := e.checkRisk(ctx, s, masked); done || err != nil {
		return err
	}
	// The code carries a card: it goes to the acquirer as a chip sale
	// does, naming the batch in cup, and is held as one while the last
	// close got no answer (Start could not tell: a wallet code is not).
	e.mu.Lock()
	again := e.checkLostCloseLocked(Request{Kind: host.Kind(s.rec.Kind)}, nil)
	e.mu.Unlock()
	if again != nil {
		e.fail(s, FailSettleAgain, again)
		return nil
	}
	sess, err := e.session(s)
	if err != nil {
		e.fail(s, FailKeys, fmt.Errorf("%w: %w", ErrKeys, err))
		return nil
	}
	s.sess = sess
	s.cvm = risk.CVMNone
	return e.commitRequest(ctx, s, masked)
}

// cpmCard turns a code's track 2 equivalent (57, packed digits) into the
// card the online request carries, as a chip read does; false when the
// data is not a track 2 equivalent.
func cpmCard(t2 []byte) (*Card, bool) {
	t, ok := paycode.ParseTrack2Equivalent(t2)
	if !ok {
		return nil, false
	}
	track := []byte(t.Digits)
	c := &Card{PAN: t.PAN, Track2: track, Expiry: t.Expiry, ServiceCode: t.ServiceCode, EntryMode: entryModeQR, Mode: risk.EntryQR}
	c.Wipe = func() { clear(track); c.PAN = "" }
	return c, true
}
