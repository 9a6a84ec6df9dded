package txn

import (
	"context"
	"errors"
	"fmt"

	"posd/terminal/store"
	"posd/terminal/wallet"
)

// walletRefundAgain asks a wallet platform again for the refund of job
// j, whose outcome was unknown: refunds are idempotent by refund id, so
// asking again is never a second refund. Refunded: the record is
// approved and its sale's Refunded grows, as if the first answer had
// come; refused: it fails. Still unknown: the job is tried again later.
func (e *Engine) walletRefundAgain(ctx context.Context, j store.Job) error {
	t, ok, err := e.takePlatformJob(&j, func(t store.Txn) bool {
		return t.State == store.StateAuthSent && t.Wallet != nil && t.Wallet.RefundID != ""
	})
	if !ok {
		return err
	}
	if e.o.Wallet == nil {
		return errors.New("no wallet platforms configured")
	}
	w := t.Wallet
	hctx, cancel := context.WithTimeout(ctx, e.o.HostTimeout)
	defer cancel()
	res, err := e.o.Wallet.Refund(hctx, wallet.Platform(w.Platform), w.OrderID, w.RefundID, t.Amount)
	if err != nil && (wallet.OutcomeUnknown(err) || errors.Is(err, wallet.ErrNotSent)) {
		// Unknown still; or this ask never reached the platform, which
		// says nothing of the first one: ask again later.
		return err
	}
	refunded := err == nil && (res.Status == wallet.StatusRefunded || res.Status == wallet.StatusSuccess)
	why := fmt.Sprint(res.Status, " ", res.Reason)
	if err != nil {
		why = err.Error()
	}
	t, err = e.endJob(&j, t.ID, func(r *store.Txn) {
		if refunded {
			r.State, r.ResponseCode, r.Failure, r.Error = store.StateApproved, "00", "", ""
			r.Wallet.PlatformTxnID = res.PlatformTxnID
			return
		}
		r.State, r.Failure = store.StateFailed, string(FailWallet)
		r.Error = fmt.Errorf("%w: refund: %s", ErrWallet, why).Error()
	}, func(tx *store.Tx, r *store.Txn) error {
		if refunded {
			return markOriginal(tx, r)
		}
		return nil
	})
	if err == nil {
		e.log.Info("wallet refund outcome known", "id", t.ID, "refund", w.RefundID, "state", t.State)
	}
	return err
}

// refundInDoubt: t is a wallet refund whose outcome its platform has not
// told yet; the outbox asks again (a waiter has its answer: not known).
func refundInDoubt(t store.Txn) bool {
	return t.State == store.StateAuthSent && t.Failure == string(FailWalletUnknown)
}

// refundPending names a refund of sale id whose outcome its wallet
// platform has not told yet ("" when none).
func refundPending(tx *store.Tx, id string) (string, error) {
	jobs, err := tx.Jobs()
	if err != nil {
		return "", err
	}
	for _, j := range jobs {
		if j.Kind != store.JobWalletRefund {
			continue
		}
		r, err := tx.Get(j.TxnID)
		if err == nil && r.OrigID == id && r.State == store.StateAuthSent {
			return r.ID, nil
		}
	}
	return "", nil
}
