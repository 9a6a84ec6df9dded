package txn

import (
	"cmp"
	"fmt"
	"slices"

	"posd/terminal/host"
	"posd/terminal/store"
	"posd/terminal/wallet"
)

// PlatformFace names face pay among the platforms of PlatformTotal.
const PlatformFace = "face"

// PlatformTotal is what one wallet or face-pay platform took and gave
// back in a batch, in one currency. Those payments are settled by their
// platforms, not by the acquirer: the batch's totals (and the host's
// balance) never count them.
type PlatformTotal struct {
	Currency string // ISO 4217 numeric, as the records keep it
	// Platform is the wallet platform (wallet.WeChat, wallet.Alipay,
	// wallet.UnionPay) or PlatformFace.
	Platform     string
	SaleCount    int
	SaleAmount   int64
	RefundCount  int
	RefundAmount int64
}

// PlatformTotals reads batch n's wallet and face-pay totals from its
// records as they stand: per currency, then platform (WeChat Pay,
// Alipay, UnionPay QR, face pay, any other by name). Like the batch's
// own totals, they count approved sales (and completions) and refunds,
// not a voided one, nor one reversed, failed or still in doubt (a wallet
// refund whose outcome its platform has not told yet counts once it is
// approved). It only reads.
func (e *Engine) PlatformTotals(n uint32) ([]PlatformTotal, error) {
	var recs []store.Txn
	err := e.o.Store.View(func(tx *store.Tx) error {
		var err error
		recs, err = tx.Batch(n)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("txn: platform totals of batch %d: %w", n, err)
	}
	return platformTotals(recs), nil
}

// platformTotals totals recs' wallet and face payments (see
// PlatformTotals).
func platformTotals(recs []store.Txn) []PlatformTotal {
	var out []PlatformTotal
	for _, r := range recs {
		p := platformOf(r)
		if p == "" || r.State != store.StateApproved || r.VoidedBy != "" {
			continue
		}
		refund := false
		switch host.Kind(r.Kind) {
		case host.KindPurchase, host.KindCompletion:
		case host.KindRefund:
			refund = true
		default:
			continue
		}
		i := slices.IndexFunc(out, func(t PlatformTotal) bool { return t.Currency == r.Currency && t.Platform == p })
		if i < 0 {
			out = append(out, PlatformTotal{Currency: r.Currency, Platform: p})
			i = len(out) - 1
		}
		if refund {
			out[i].RefundCount++
			out[i].RefundAmount += r.Amount
		} else {
			out[i].SaleCount++
			out[i].SaleAmount += r.Amount
		}
	}
	slices.SortStableFunc(out, func(a, b PlatformTotal) int {
		return cmp.Or(cmp.Compare(a.Currency, b.Currency), cmp.Compare(platformRank(a.Platform), platformRank(b.Platform)),
			cmp.Compare(a.Platform, b.Platform))
	})
	return out
}

// platformOf names the platform that settles r: its wallet's, face pay,
// or "" for a card transaction (the acquirer's).
func platformOf(r store.Txn) string {
	switch {
	case r.Wallet != nil:
		return r.Wallet.Platform
	case r.Face != nil:
		return PlatformFace
	}
	return ""
}

// platformRank orders the platforms on a report: the wallets, face pay,
// then any other.
func platformRank(p string) int {
	switch p {
	case string(wallet.WeChat):
		return 0
	case string(wallet.Alipay):
		return 1
	case string(wallet.UnionPay):
		return 2
	case PlatformFace:
		return 3
	}
	return 4
}
