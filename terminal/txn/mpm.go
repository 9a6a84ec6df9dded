package txn

import (
	"context"
	"fmt"

	"posd/terminal/host"
	"posd/terminal/paycode"
	"posd/terminal/risk"
	"posd/terminal/store"
	"posd/terminal/wallet"
)

// MethodMPM is Request.Method of a sale paid by the customer scanning
// the merchant-presented code the customer display shows (EMV QRCPS
// merchant-presented mode) with a wallet app of Request.Platform.
const MethodMPM = "mpm"

// guis are the merchant account identifiers of the platforms in a
// merchant-presented code.
var guis = map[wallet.Platform]string{
	wallet.UnionPay: paycode.GUIUnionPay,
	wallet.WeChat:   paycode.GUIWeChat,
	wallet.Alipay:   paycode.GUIAlipay,
}

// mpmMerchant is the merchant data of a code for platform: the terminal's
// merchant with its account at that platform only; false when the
// merchant has none there.
func (e *Engine) mpmMerchant(p wallet.Platform) (paycode.Merchant, bool) {
	m := e.o.Merchant
	if m == nil {
		return paycode.Merchant{}, false
	}
	out := *m
	out.Accounts = nil
	for _, a := range m.Accounts {
		if a.GUI == guis[p] {
			out.Accounts = append(out.Accounts, a)
		}
	}
	return out, len(out.Accounts) > 0
}

// stepMPM runs a merchant-presented sale: the risk rules (entry qr), the
// order committed (auth_sent, with the platform: no code is read), the
// order opened at the platform (precreate), the code shown, then the
// platform's outcome learnt on the resolver's bounded schedule, which
// closes the order when nobody paid. The cashier may cancel while the
// code is shown: the order is then closed (or refunded, when the
// customer paid in the same moment).
func (e *Engine) stepMPM(ctx context.Context, s *sale) error {
	p := wallet.Platform(s.platform)
	merchant, ok := e.mpmMerchant(p)
	if !ok || e.o.Wallet == nil {
		e.fail(s, FailWallet, fmt.Errorf("%w: no merchant account at %s", ErrWallet, p))
		return nil
	}
	oid := e.orderID(s.rec.ID)
	payload, err := paycode.BuildMPM(merchant, s.rec.Amount, s.rec.Currency, oid)
	if err != nil {
		e.fail(s, FailWallet, fmt.Errorf("%w: %w", ErrWallet, err))
		return nil
	}
	if done, err := e.walletRisk(ctx, s, ""); done || err != nil {
		return err
	}
	// The wait for the customer ends at the cashier's cancel too.
	wctx, stop := context.WithCancel(e.hostCtx)
	defer stop()
	e.mu.Lock()
	if ctx.Err() != nil {
		e.mu.Unlock()
		e.endIfStopped(ctx, s)
		return nil
	}
	e.sending, s.lateCancel = true, true
	s.onCancel = stop
	e.mu.Unlock()
	s.sentAt = e.clock.Now()
	if err := e.commit(s, PhaseProcessing, func(tx *store.Tx, r *store.Txn) error {
		if err := tx.AssignNumbers(r); err != nil {
			return err
		}
		r.State, r.SentAt, r.EntryMode = store.StateAuthSent, s.sentAt.UTC(), string(risk.EntryQR)
		r.Wallet = &store.Wallet{Platform: string(p), OrderID: oid, MerchantPresented: true}
		return nil
	}); err != nil {
		return err
	}
	hctx, hcancel := context.WithTimeout(e.hostCtx, e.o.HostTimeout)
	res, err := e.o.Wallet.Precreate(hctx, p, wallet.Order{ID: oid, Amount: s.rec.Amount, Currency: s.rec.Currency})
	hcancel()
	if err != nil && !wallet.OutcomeUnknown(err) {
		return e.walletOutcome(s, res, err)
	}
	if err == nil && res.Status.Final() {
		return e.walletOutcome(s, res, nil)
	}
	// Opened (or unknown: the customer may still pay what the platform
	// did open): show the code and wait for the platform's outcome.
	e.mu.Lock()
	e.publishEvent(Event{Phase: PhaseShowCode, Txn: s.rec, Code: payload})
	e.mu.Unlock()
	e.log.Info("merchant code shown", "id", s.rec.ID, "platform", p)
	res, err = e.o.Wallet.Resolve(wctx, p, oid)
	if done, err := e.walletCancelled(s, p, oid, res, err); done {
		return err
	}
	return e.walletOutcome(s, res, err)
}

// cancelOrder closes the order of a wallet sale (merchant-presented, or
// a customer's code still being confirmed) the cashier cancelled; when
// the platform cannot say (or the customer paid in the same moment) the
// wallet cancel job takes over, refunding what was paid.
func (e *Engine) cancelOrder(s *sale, p wallet.Platform, oid string) error {
	hctx, cancel := context.WithTimeout(e.hostCtx, e.o.HostTimeout)
	res, err := e.o.Wallet.Cancel(hctx, p, oid)
	cancel()
	if err == nil && res.Status == wallet.StatusClosed {
		e.log.Info("wallet order cancelled by the cashier", "id", s.rec.ID)
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.Failure, r.Error = store.StateFailed, string(FailCancelled), ErrCancelled.Error()
			return nil
		})
	}
	why := "the cashier cancelled; the platform did not confirm the order closed"
	if err == nil {
		why = fmt.Sprintf("the cashier cancelled; the platform answered %s", res.Status)
	}
	e.log.Warn("wallet order cancelled by the cashier, not closed: cancel queued", "id", s.rec.ID, "err", err)
	if cerr := e.commit(s, PhaseDone, func(tx *store.Tx, r *store.Txn) error {
		r.State, r.Reason, r.Error = store.StateReversalPending, string(host.ReasonTerminalCancel), why
		return tx.Enqueue(&store.Job{Kind: store.JobWalletCancel, TxnID: r.ID})
	}); cerr != nil {
		return cerr
	}
	e.wake()
	return nil
}
