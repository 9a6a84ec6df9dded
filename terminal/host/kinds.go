package host

import (
	"context"
	"fmt"
	"time"

	"posd/terminal/wiresec"
)

// The transaction types beyond the sale. Card-present ones (refund,
// pre-authorization, balance inquiry) go through Client.Purchase with
// Purchase.Kind set; the ones that refer to an earlier approval (void,
// completion) through Client.FollowUp; the batch close through
// Client.Settle and Client.Upload.
const (
	// KindRefund gives money back to a card (credit).
	KindRefund Kind = "refund"
	// KindVoid cancels an approved sale, refund or completion of the
	// open batch.
	KindVoid Kind = "void"
	// KindPreauth reserves an amount on the card (no money moves).
	KindPreauth Kind = "preauth"
	// KindCompletion turns an approved pre-authorization into a debit of
	// at most its amount.
	KindCompletion Kind = "completion"
	// KindBalance asks for the card's available balance (no money moves).
	KindBalance Kind = "balance"
	// KindSettlement closes a batch with the terminal's totals (0500).
	KindSettlement Kind = "settlement"
	// KindBatchUpload sends one transaction of a batch whose totals did
	// not match (0320).
	KindBatchUpload Kind = "batch_upload"
)

// Response codes of a settlement's answer.
const (
	// SettlementBalanced ("00"): the host's totals match; the batch is
	// closed.
	SettlementBalanced = "00"
	// SettlementOutOfBalance ("95", reconcile error): the totals differ;
	// the terminal uploads the batch, then settles again with
	// AfterUpload set.
	SettlementOutOfBalance = "95"
)

// Original identifies an earlier approval a request refers to: how the
// host answered it and how the terminal sent it.
type Original struct {
	Kind     Kind // the original's kind (KindPurchase when empty)
	STAN     uint32
	Time     time.Time // when the original was sent (its DE7)
	RRN      string    // the host's retrieval reference number (DE37 of its answer)
	AuthCode string    // the host's authorization code (DE38 of its answer)
	Batch    uint32
}

// Reference is a request that refers to an earlier approval instead of
// reading a card: a void (of a sale, refund or completion) or the
// completion of a pre-authorization.
type Reference struct {
	Kind     Kind   // KindVoid or KindCompletion
	STAN     uint32 // the request's own STAN
	Time     time.Time
	Amount   int64 // void: the original's amount; completion: the final amount (at most the pre-authorized one)
	Currency string
	// EntryMode is the original's DE22.
	EntryMode string
	Batch     uint32
	Orig      Original
}

// Totals are a batch's counts and amounts, in one currency. Debits are
// sales, completions and offline approvals; credits are refunds; voided
// transactions, declines, reversed ones, pre-authorizations and balance
// inquiries do not count.
type Totals struct {
	DebitCount   int
	DebitAmount  int64
	CreditCount  int
	CreditAmount int64
}

// Settlement closes batch Batch (0500) with the terminal's totals.
type Settlement struct {
	STAN     uint32
	Time     time.Time
	Batch    uint32
	Currency string
	Totals   Totals
	// AfterUpload marks the settlement sent after a batch upload (the
	// host then takes the uploaded transactions as the batch).
	AfterUpload bool
}

// UploadItem is one transaction of an out-of-balance batch (0320): what
// the terminal recorded of it, no card data.
type UploadItem struct {
	STAN      uint32 // the upload's own STAN
	Time      time.Time
	Batch     uint32
	Amount    int64
	Currency  string
	EntryMode string
	// Orig is the transaction as the terminal sent it and the host
	// answered it (an offline approval: its advice's STAN, no RRN).
	Orig Original
	// Ref is the terminal's reference of the transaction (its record id).
	Ref string
}

// FollowUp sends a void or a completion and returns the answer. Errors are
// those of Purchase (the caller must reverse after ErrNoResponse, ErrBadMAC
// and ErrBadResponse).
func (c *Client) FollowUp(ctx context.Context, r Reference, s *wiresec.Session) (Result, error) {
	return Result{}, fmt.Errorf("%w: %s", ErrUnsupported, r.Kind)
}

// Settle sends a settlement and returns the answer: SettlementBalanced or
// SettlementOutOfBalance. Errors are those of Purchase; nothing needs
// reversing, the settlement is sent again.
func (c *Client) Settle(ctx context.Context, st Settlement, s *wiresec.Session) (Result, error) {
	return Result{}, fmt.Errorf("%w: %s", ErrUnsupported, KindSettlement)
}

// Upload sends one transaction of a batch upload and returns the answer
// ("00": the host has it).
func (c *Client) Upload(ctx context.Context, u UploadItem, s *wiresec.Session) (Result, error) {
	return Result{}, fmt.Errorf("%w: %s", ErrUnsupported, KindBatchUpload)
}
