package txn

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"posd/terminal/host"
	"posd/terminal/paycode"
	"posd/terminal/risk"
	"posd/terminal/store"
	"posd/terminal/wallet"
)

// MethodQR is Request.Method of a sale paid with the customer's wallet
// payment code (WeChat Pay, Alipay, UnionPay QR), scanned instead of a
// card read.
const MethodQR = "qr"

// CodeReader reads the payment code the customer shows (a barcode
// scanner, or the camera). The code is a bearer token: whoever reads it
// forgets it once it is sent.
type CodeReader interface {
	// FlushCodes discards codes shown before the sale started.
	FlushCodes()
	ReadCode(ctx context.Context) (string, error)
}

// Wallets is the wallet platforms (terminal/wallet): pay, resolve an
// unknown outcome on its bounded schedule (then cancel), cancel, refund.
type Wallets interface {
	Pay(ctx context.Context, p wallet.Platform, o wallet.Order) (wallet.Result, error)
	// Precreate opens an order the customer pays by scanning the
	// merchant's code (o.Code empty).
	Precreate(ctx context.Context, p wallet.Platform, o wallet.Order) (wallet.Result, error)
	Resolve(ctx context.Context, p wallet.Platform, orderID string) (wallet.Result, error)
	Cancel(ctx context.Context, p wallet.Platform, orderID string) (wallet.Result, error)
	Refund(ctx context.Context, p wallet.Platform, orderID, refundID string, amount int64) (wallet.Result, error)
}

// orderID is the platform's order number of record id: "P", the first
// six hex digits of the database's instance id, the record id. The
// platforms deduplicate a pay by terminal id and order number and
// answer a repeat with the order's outcome; a database started anew (a
// factory reset) numbers its records from 1 again, and its orders must
// not be taken for the old ones. Records keep the order number they
// were sent with.
func (e *Engine) orderID(id string) string { return "P" + e.instancePrefix() + id }

// refundID is the platform's refund number of record id, unique the
// same way.
func (e *Engine) refundID(id string) string { return "R" + e.instancePrefix() + id }

// instancePrefix is the first six hex digits of the database's instance
// id (store.DB.Instance), upper case; "" for a store without one.
func (e *Engine) instancePrefix() string {
	inst := e.o.Store.Instance()
	if len(inst) < 6 {
		return ""
	}
	return strings.ToUpper(inst[:6])
}

// stepWallet runs a wallet-code sale: the code, the risk rules (entry
// qr), the order committed (auth_sent, with the platform and the masked
// code: never the code) before the pay leaves, then its outcome. A pay
// the customer still confirms, or whose answer is lost, is resolved on
// the platform's bounded schedule, and cancelled when it stays unknown;
// a cancel that cannot get through leaves the record reversal_pending
// with a wallet_cancel job, like a reversal.
func (e *Engine) stepWallet(ctx context.Context, s *sale) error {
	if e.o.Codes == nil {
		e.fail(s, FailCardRead, fmt.Errorf("%w: this terminal takes no payment codes", ErrCardRead))
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, e.o.CardTimeout)
	text, err := e.o.Codes.ReadCode(cctx)
	cancel()
	if err != nil && e.endIfStopped(ctx, s) {
		return nil
	}
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded):
		e.fail(s, FailNoCard, fmt.Errorf("%w: no payment code shown", ErrNoCard))
		return nil
	default:
		e.fail(s, FailCardRead, fmt.Errorf("%w: %w", ErrCardRead, err))
		return nil
	}
	code := paycode.Classify(text)
	var platform wallet.Platform
	switch code.Kind {
	case paycode.KindWeChat:
		platform = wallet.WeChat
	case paycode.KindAlipay:
		platform = wallet.Alipay
	case paycode.KindUnionPay:
		platform = wallet.UnionPay
	}
	switch {
	case code.Kind == paycode.KindEMVCPM:
		return e.stepCPM(ctx, s, text)
	case platform == "":
		e.log.Info("not a payment code", "id", s.rec.ID, "kind", code.Kind)
		e.fail(s, FailNotPaymentCode, fmt.Errorf("%w: %s", ErrNotPaymentCode, code.Reason))
		return nil
	case e.o.Wallet == nil:
		e.log.Info("wallet code on a terminal without wallet platforms", "id", s.rec.ID, "kind", code.Kind)
		e.fail(s, FailNotPaymentCode, fmt.Errorf("%w: this terminal takes no %s codes", ErrNotPaymentCode, platform))
		return nil
	}
	if done, err := e.walletRisk(ctx, s, code.Masked); done || err != nil {
		return err
	}
	// The wait for the customer's confirmation ends at the cashier's
	// cancel too.
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
	oid := e.orderID(s.rec.ID)
	if err := e.commit(s, PhaseProcessing, func(tx *store.Tx, r *store.Txn) error {
		if err := tx.AssignNumbers(r); err != nil {
			return err
		}
		r.State, r.SentAt = store.StateAuthSent, s.sentAt.UTC()
		r.MaskedPAN, r.EntryMode = code.Masked, string(risk.EntryQR)
		r.Wallet = &store.Wallet{Platform: string(platform), OrderID: oid, MaskedCode: code.Masked}
		return nil
	}); err != nil {
		return err
	}
	hctx, hcancel := context.WithTimeout(e.hostCtx, e.o.HostTimeout)
	res, err := e.o.Wallet.Pay(hctx, platform, wallet.Order{ID: oid, Amount: s.rec.Amount, Currency: s.rec.Currency, Code: text})
	hcancel()
	if res.Status == wallet.StatusUserPaying || (err != nil && wallet.OutcomeUnknown(err)) {
		e.mu.Lock()
		e.publishEvent(Event{Phase: PhaseMessage, Txn: s.rec, Message: "see phone"})
		e.mu.Unlock()
		res, err = e.o.Wallet.Resolve(wctx, platform, oid)
	}
	if done, err := e.walletCancelled(s, platform, oid, res, err); done {
		return err
	}
	return e.walletOutcome(s, res, err)
}

// walletCancelled ends wallet sale s (order oid at platform) when the
// cashier cancelled it after it left (Engine.Cancel accepted): a wait
// for the customer that the cancel cut short closes the order now
// rather than after the query schedule; a payment made as the cashier
// cancelled is undone at the platform (the wallet cancel job), as a
// card approval the cashier cancelled is reversed. done is false when
// the cashier did not cancel or the outcome is another: the caller
// commits it.
func (e *Engine) walletCancelled(s *sale, platform wallet.Platform, oid string, res wallet.Result, err error) (done bool, _ error) {
	cancelled := e.cancelledAfterSend(s)
	switch {
	case cancelled && errors.Is(err, context.Canceled) && e.hostCtx.Err() == nil:
		return true, e.cancelOrder(s, platform, oid)
	case cancelled && err == nil && res.Status == wallet.StatusSuccess:
		e.log.Warn("wallet payment made as the cashier cancelled: cancel queued", "id", s.rec.ID)
		if cerr := e.commit(s, PhaseDone, func(tx *store.Tx, r *store.Txn) error {
			r.State, r.Reason, r.ResponseCode = store.StateReversalPending, string(host.ReasonTerminalCancel), "00"
			r.Wallet.PlatformTxnID = res.PlatformTxnID
			r.Error = "the cashier cancelled before the payment completed"
			return tx.Enqueue(&store.Job{Kind: store.JobWalletCancel, TxnID: r.ID})
		}); cerr != nil {
			return true, cerr
		}
		e.wake()
		return true, nil
	}
	return false, nil
}

// walletRisk runs the risk rules on a wallet sale or refund (entry qr, no
// card): done when they refused it (the record then says why).
func (e *Engine) walletRisk(ctx context.Context, s *sale, masked string) (done bool, err error) {
	s.mode = risk.EntryQR
	if e.o.Risk == nil {
		return false, nil
	}
	s.decision = e.o.Risk.Check(ctx, risk.Txn{Type: riskType(host.Kind(s.rec.Kind)), Amount: s.rec.Amount, Currency: s.rec.Currency,
		Entry: risk.EntryQR, Online: true, Original: s.orig != nil})
	if s.decision.Allow {
		return false, nil
	}
	return true, e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
		r.MaskedPAN, r.State, r.Failure = masked, store.StateFailed, string(FailRisk)
		r.RiskRule, r.Error = string(s.decision.Rule), fmt.Errorf("%w: %s", ErrRisk, s.decision.Reason).Error()
		return nil
	})
}

// walletNotSent is the record's error of a wallet request that never
// left.
func walletNotSent(what string, err error) error {
	return fmt.Errorf("%w: the %s was not sent: %w", ErrWallet, what, err)
}

// walletOutcome commits a wallet payment's outcome.
func (e *Engine) walletOutcome(s *sale, res wallet.Result, err error) error {
	switch {
	case err != nil && errors.Is(err, wallet.ErrNotSent) && !wallet.OutcomeUnknown(err):
		// The pay (or precreate) never reached the platform: the sale
		// fails now, with nothing to resolve or cancel.
		e.log.Warn("wallet platform not reachable: payment not sent", "id", s.rec.ID, "err", err)
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.Failure, r.Error = store.StateFailed, string(FailWalletUnreachable), walletNotSent("payment", err).Error()
			return nil
		})
	case err != nil && !wallet.OutcomeUnknown(err) && !errors.Is(err, wallet.ErrUnresolved):
		// Refused before anything was paid (a bad request, a rejected
		// signature): nothing to cancel.
		e.log.Warn("wallet payment refused", "id", s.rec.ID, "err", err)
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.Failure, r.Error = store.StateFailed, string(FailWallet), fmt.Errorf("%w: %w", ErrWallet, err).Error()
			return nil
		})
	case err == nil && res.Status == wallet.StatusSuccess:
		e.log.Info("wallet payment approved", "id", s.rec.ID, "platform", s.rec.Wallet.Platform)
		return e.walletApproved(s, res)
	case err == nil && (res.Status == wallet.StatusFailed || res.Status == wallet.StatusClosed):
		e.log.Info("wallet payment not made", "id", s.rec.ID, "status", res.Status)
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.Failure = store.StateFailed, string(FailWallet)
			r.Error = fmt.Errorf("%w: %s %s", ErrWallet, res.Status, res.Reason).Error()
			return nil
		})
	case err == nil && res.Status == wallet.StatusRefunded:
		// The customer paid after the last query; the closing cancel
		// found the order paid and the platform gave the money back.
		e.log.Info("wallet payment refunded by its closing cancel", "id", s.rec.ID)
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.Failure = store.StateFailed, string(FailWallet)
			r.Error = fmt.Errorf("%w: paid after the terminal stopped waiting; the platform refunded it", ErrWallet).Error()
			return nil
		})
	default:
		// Unknown even after the schedule and its cancel: cancel until
		// the platform acknowledges (a paid order is then refunded).
		why := "the payment's outcome stayed unknown"
		if err != nil {
			why = err.Error()
		}
		e.log.Warn("wallet payment unknown, cancel queued", "id", s.rec.ID, "err", why)
		if cerr := e.commit(s, PhaseDone, func(tx *store.Tx, r *store.Txn) error {
			r.State, r.Reason, r.Error = store.StateReversalPending, string(host.ReasonNoResponse), why
			return tx.Enqueue(&store.Job{Kind: store.JobWalletCancel, TxnID: r.ID})
		}); cerr != nil {
			return cerr
		}
		e.wake()
		return nil
	}
}

// walletCancel sends one attempt of job j's cancel; the platform's
// closed or refunded ends the record reversed and the job.
func (e *Engine) walletCancel(ctx context.Context, j store.Job) error {
	t, ok, err := e.takeCancelJob(&j, func(t store.Txn) bool { return t.Wallet != nil })
	if !ok {
		return err
	}
	if e.o.Wallet == nil {
		return errors.New("no wallet platforms configured")
	}
	hctx, cancel := context.WithTimeout(ctx, e.o.HostTimeout)
	defer cancel()
	res, err := e.o.Wallet.Cancel(hctx, wallet.Platform(t.Wallet.Platform), t.Wallet.OrderID)
	if err != nil {
		return err
	}
	if res.Status != wallet.StatusClosed && res.Status != wallet.StatusRefunded {
		return fmt.Errorf("cancel answered %s", res.Status)
	}
	err = e.o.Store.Do(func(tx *store.Tx) error {
		var err error
		if t, err = tx.Update(t.ID, func(r *store.Txn) error { r.State = store.StateReversed; return nil }); err != nil {
			return err
		}
		return tx.DeleteJob(j.Seq)
	})
	if err == nil {
		e.publish(PhaseDone, t)
		e.log.Info("wallet payment cancelled", "id", t.ID, "status", res.Status)
	}
	return err
}

// walletApproved commits a wallet payment or refund its platform
// approved; a refund adds itself to its sale's Refunded in the same
// commit.
func (e *Engine) walletApproved(s *sale, res wallet.Result) error {
	recorded := false
	if err := e.commit(s, PhaseDone, func(tx *store.Tx, r *store.Txn) error {
		r.State, r.ResponseCode, r.Wallet.PlatformTxnID = store.StateApproved, "00", res.PlatformTxnID
		recorded = e.recordRiskTx(tx, s)
		return markOriginal(tx, r)
	}); err != nil {
		return err
	}
	if !recorded {
		e.recordRisk(s, true)
	}
	return nil
}

// stepWalletRefund refunds a wallet sale at its platform (no code is
// read: the order number names it). The refund id is the record's, so
// a repeat is never a second refund.
func (e *Engine) stepWalletRefund(s *sale) error {
	if done, err := e.walletRisk(e.ctx, s, s.orig.MaskedPAN); done || err != nil {
		return err
	}
	e.mu.Lock()
	e.sending = true
	e.mu.Unlock()
	o := s.orig.Wallet
	rid := e.refundID(s.rec.ID)
	s.sentAt = e.clock.Now()
	if err := e.commit(s, PhaseProcessing, func(tx *store.Tx, r *store.Txn) error {
		if err := tx.AssignNumbers(r); err != nil {
			return err
		}
		r.State, r.SentAt = store.StateAuthSent, s.sentAt.UTC()
		r.MaskedPAN, r.EntryMode = s.orig.MaskedPAN, string(risk.EntryQR)
		r.Wallet = &store.Wallet{Platform: o.Platform, OrderID: o.OrderID, MaskedCode: o.MaskedCode, RefundID: rid}
		return nil
	}); err != nil {
		return err
	}
	var (
		res wallet.Result
		err error
	)
	// Refunds are idempotent by refund id: an unanswered one is asked
	// again, a few times.
	for range 3 {
		hctx, cancel := context.WithTimeout(e.hostCtx, e.o.HostTimeout)
		res, err = e.o.Wallet.Refund(hctx, wallet.Platform(o.Platform), o.OrderID, rid, s.rec.Amount)
		cancel()
		if err == nil || !wallet.OutcomeUnknown(err) {
			break
		}
	}
	if err == nil && (res.Status == wallet.StatusRefunded || res.Status == wallet.StatusSuccess) {
		return e.walletApproved(s, res)
	}
	if err != nil && wallet.OutcomeUnknown(err) {
		// The platform may have refunded: the record stays in flight
		// and the outbox asks again with the same refund id; the sale
		// is not refunded again meanwhile (usableOriginal). The risk
		// rules count it now, on the safe side.
		recorded := false
		if err := e.commit(s, PhaseDone, func(tx *store.Tx, r *store.Txn) error {
			r.Failure = string(FailWalletUnknown)
			r.Error = fmt.Sprintf("refund outcome unknown (%v): the terminal asks %s again (refund %s); do not refund this sale again meanwhile",
				err, o.Platform, rid)
			recorded = e.recordRiskTx(tx, s)
			return tx.Enqueue(&store.Job{Kind: store.JobWalletRefund, TxnID: r.ID, NextAt: e.clock.Now().Add(e.backoff(1))})
		}); err != nil {
			return err
		}
		if !recorded {
			e.recordRisk(s, true)
		}
		s.handedOver = true
		e.log.Warn("wallet refund outcome unknown: asking again from the outbox", "id", s.rec.ID, "refund", rid)
		e.wake()
		return nil
	}
	if errors.Is(err, wallet.ErrNotSent) {
		// Never reached the platform: nothing was refunded.
		e.log.Warn("wallet platform not reachable: refund not sent", "id", s.rec.ID, "err", err)
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.Failure, r.Error = store.StateFailed, string(FailWalletUnreachable), walletNotSent("refund", err).Error()
			return nil
		})
	}
	why := fmt.Sprint(res.Status, " ", res.Reason)
	if err != nil {
		why = err.Error()
	}
	return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
		r.State, r.Failure, r.Error = store.StateFailed, string(FailWallet), fmt.Errorf("%w: refund: %s", ErrWallet, why).Error()
		return nil
	})
}
