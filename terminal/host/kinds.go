package host

import (
	"context"
	"fmt"
	"math"
	"strings"
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
	// open batch, or releases the hold of an approved pre-authorization
	// not completed (its cancellation: no money moves).
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

// IsZero reports whether o names nothing (a refund without its sale).
func (o Original) IsZero() bool {
	return o.Kind == "" && o.STAN == 0 && o.Time.IsZero() && o.RRN == "" && o.AuthCode == "" && o.Batch == 0
}

// Reference is a request that refers to an earlier approval instead of
// reading a card: a void (of a sale, refund, completion or
// pre-authorization) or the completion of a pre-authorization.
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

// BatchLimit is the most one batch holds in the dialect, in one currency:
// the largest totals its settlement (0500) can carry, each count and
// amount on its own (cup: 999 debits and 999 credits, amounts of 12
// digits; ascii87: counts of 10 digits, amounts of 16; a count beyond
// what an int holds is capped there). A batch past it can never be
// settled: the terminal takes nothing that would push its batch past it
// (terminal/txn: the cashier settles first).
func (d *Dialect) BatchLimit() Totals {
	cn, an := d.codec.totalsDigits()
	count := min(maxDigits(cn), int64(math.MaxInt))
	amount := maxDigits(an)
	return Totals{DebitCount: int(count), DebitAmount: amount, CreditCount: int(count), CreditAmount: amount}
}

// maxDigits is the largest number of n decimal digits (n at most 18).
func maxDigits(n int) int64 {
	v := int64(0)
	for range n {
		v = v*10 + 9
	}
	return v
}

// Within reports whether t fits limit: none of its counts and amounts is
// above limit's.
func (t Totals) Within(limit Totals) bool {
	return t.DebitCount <= limit.DebitCount && t.CreditCount <= limit.CreditCount &&
		t.DebitAmount <= limit.DebitAmount && t.CreditAmount <= limit.CreditAmount
}

// BatchLimit is the most one batch holds in the client's dialect (see
// Dialect.BatchLimit).
func (c *Client) BatchLimit() Totals { return c.d.BatchLimit() }

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

// Longest original RRN and authorization code (DE37 an12, DE38 an6).
const (
	MaxRRN      = 12
	MaxAuthCode = 6
)

// FollowUp sends a void or a completion and returns the answer. Errors are
// those of Purchase (the caller must reverse after ErrNoResponse, ErrBadMAC
// and ErrBadResponse).
//
// A void (KindVoid) cancels an approved sale, refund or completion
// (Orig.Kind: KindPurchase or empty, KindRefund, KindCompletion) for
// Amount, the original's amount, or cancels a pre-authorization
// (Orig.Kind KindPreauth: the host releases the hold, no money moves);
// a completion (KindCompletion) turns the
// pre-authorization Orig (Orig.Kind KindPreauth or empty) into a debit of
// Amount and needs Orig.AuthCode. Neither reads a card: no track, PIN
// block or ICC data travel, only the session's KSN and a MAC. Orig.STAN
// and Orig.Time name the original (ascii87 DE90; cup DE61 with
// Orig.Batch); Orig.RRN (DE37) and Orig.AuthCode (DE38) are sent when
// given (1 to MaxRRN and 1 to MaxAuthCode digits or letters). The answer
// must echo the STAN, the terminal id and the amount.
func (c *Client) FollowUp(ctx context.Context, r Reference, s *wiresec.Session) (Result, error) {
	if s == nil {
		return Result{}, fmt.Errorf("%w: no wire security session", ErrInvalidRequest)
	}
	orig, err := followUpOrig(r.Kind, r.Orig.Kind)
	if err != nil {
		return Result{}, err
	}
	t := r.Time
	if t.IsZero() {
		t = c.clock.Now()
	}
	req := Request{
		Kind: r.Kind, STAN: r.STAN, Time: t, TerminalID: c.tid, MerchantID: c.mid,
		Amount: r.Amount, Currency: r.Currency, EntryMode: r.EntryMode, Batch: r.Batch,
		Mode: s.Mode(), KSN: s.KSN(), OrigKind: orig, OrigSTAN: r.Orig.STAN, OrigTime: r.Orig.Time,
		OrigRRN: r.Orig.RRN, OrigAuthCode: r.Orig.AuthCode, OrigBatch: r.Orig.Batch,
	}
	m, err := c.d.EncodeRequest(req)
	if err != nil {
		return Result{}, err
	}
	res, _, err := c.exchange(ctx, m, &req, s)
	return res, err
}

// Settle sends a settlement and returns the answer: SettlementBalanced or
// SettlementOutOfBalance (or another response code: a refusal) with a nil
// error; the caller decides. Errors are those of Purchase; nothing needs
// reversing, the settlement is sent again.
//
// Totals must not be negative; each dialect bounds them (BatchLimit:
// ascii87 counts of 10 digits, amounts of 16; cup counts of 3 digits,
// amounts of 12); totals past it are ErrInvalidRequest.
// The request carries the session's KSN and a MAC, no card data.
func (c *Client) Settle(ctx context.Context, st Settlement, s *wiresec.Session) (Result, error) {
	if s == nil {
		return Result{}, fmt.Errorf("%w: no wire security session", ErrInvalidRequest)
	}
	if err := st.Totals.check(); err != nil {
		return Result{}, err
	}
	t := st.Time
	if t.IsZero() {
		t = c.clock.Now()
	}
	req := Request{
		Kind: KindSettlement, STAN: st.STAN, Time: t, TerminalID: c.tid, MerchantID: c.mid,
		Currency: st.Currency, Batch: st.Batch, Mode: s.Mode(), KSN: s.KSN(),
		Totals: st.Totals, AfterUpload: st.AfterUpload,
	}
	if st.AfterUpload {
		req.UploadCount = st.Totals.DebitCount + st.Totals.CreditCount
	}
	m, err := c.d.EncodeRequest(req)
	if err != nil {
		return Result{}, err
	}
	res, _, err := c.exchange(ctx, m, &req, s)
	return res, err
}

// Upload sends one transaction of a batch upload and returns the answer
// ("00": the host has it).
//
// Orig.Kind is the transaction's kind: KindPurchase (or empty), KindAdvice
// (an offline approval), KindRefund or KindCompletion; Ref its record id
// (1 to MaxRef digits or letters, as Advice.Ref). No card data travel. The
// answer must echo the STAN, the terminal id, the amount and, when it
// carries one, the Ref.
func (c *Client) Upload(ctx context.Context, u UploadItem, s *wiresec.Session) (Result, error) {
	if s == nil {
		return Result{}, fmt.Errorf("%w: no wire security session", ErrInvalidRequest)
	}
	if !validRef(u.Ref) {
		return Result{}, fmt.Errorf("%w: ref must be 1 to %d digits or letters", ErrInvalidRequest, MaxRef)
	}
	orig, err := uploadOrig(u.Orig.Kind)
	if err != nil {
		return Result{}, err
	}
	t := u.Time
	if t.IsZero() {
		t = c.clock.Now()
	}
	req := Request{
		Kind: KindBatchUpload, STAN: u.STAN, Time: t, TerminalID: c.tid, MerchantID: c.mid,
		Amount: u.Amount, Currency: u.Currency, EntryMode: u.EntryMode, Batch: u.Batch,
		Mode: s.Mode(), KSN: s.KSN(), Ref: u.Ref, OrigKind: orig, OrigSTAN: u.Orig.STAN,
		OrigTime: u.Orig.Time, OrigRRN: u.Orig.RRN, OrigAuthCode: u.Orig.AuthCode, OrigBatch: u.Orig.Batch,
	}
	m, err := c.d.EncodeRequest(req)
	if err != nil {
		return Result{}, err
	}
	res, _, err := c.exchange(ctx, m, &req, s)
	return res, err
}

// cardPresent reports whether a request of kind k reads a card (track 2,
// PIN block, ICC data) and its answer may carry issuer data.
func cardPresent(k Kind) bool {
	return k == KindPurchase || k == KindRefund || k == KindPreauth || k == KindBalance
}

// hasAmount reports whether a request of kind k carries an amount its
// answer echoes.
func hasAmount(k Kind) bool {
	switch k {
	case KindPurchase, KindRefund, KindPreauth, KindReversal, KindAdvice, KindVoid, KindCompletion, KindBatchUpload:
		return true
	}
	return false
}

// orKind gives k, or KindPurchase when k is empty.
func orKind(k Kind) Kind {
	if k == "" {
		return KindPurchase
	}
	return k
}

// followUpOrig checks the original's kind of a void or completion and
// gives it explicitly.
func followUpOrig(k, orig Kind) (Kind, error) {
	switch k {
	case KindVoid:
		switch orig = orKind(orig); orig {
		case KindPurchase, KindRefund, KindCompletion, KindPreauth:
			return orig, nil
		}
		return "", fmt.Errorf("%w: a void cancels a sale, refund, completion or pre-authorization, not a %s", ErrInvalidRequest, orig)
	case KindCompletion:
		if orig == "" || orig == KindPreauth {
			return KindPreauth, nil
		}
		return "", fmt.Errorf("%w: a completion completes a pre-authorization, not a %s", ErrInvalidRequest, orig)
	}
	return "", fmt.Errorf("%w: a follow-up is a void or a completion, not %q", ErrInvalidRequest, k)
}

// refundOrig checks the original's kind of a refund.
func refundOrig(orig Kind) (Kind, error) {
	switch orig = orKind(orig); orig {
	case KindPurchase, KindCompletion:
		return orig, nil
	}
	return "", fmt.Errorf("%w: a refund gives back a sale or completion, not a %s", ErrInvalidRequest, orig)
}

// reversalOrig checks the original's kind of a reversal.
func reversalOrig(orig Kind) (Kind, error) {
	switch orig = orKind(orig); orig {
	case KindPurchase, KindRefund, KindPreauth, KindCompletion, KindVoid:
		return orig, nil
	}
	return "", fmt.Errorf("%w: a %s is not reversed", ErrInvalidRequest, orig)
}

// reversalVoided checks what the void a reversal reverses voided and
// gives it explicitly; orig is the reversal's original (explicit). Only
// the reversal of a void names one: it resends that void's codes.
func reversalVoided(orig, voided Kind) (Kind, error) {
	if orig != KindVoid {
		if voided != "" {
			return "", fmt.Errorf("%w: the reversal of a %s names no voided kind", ErrInvalidRequest, orig)
		}
		return "", nil
	}
	return followUpOrig(KindVoid, voided)
}

// uploadOrig checks the kind of an uploaded transaction.
func uploadOrig(orig Kind) (Kind, error) {
	switch orig = orKind(orig); orig {
	case KindPurchase, KindAdvice, KindRefund, KindCompletion:
		return orig, nil
	}
	return "", fmt.Errorf("%w: a %s is not part of a batch's totals", ErrInvalidRequest, orig)
}

// hasOrig reports whether a request names an original (a refund's sale
// is optional).
func hasOrig(r *Request) bool {
	return r.OrigSTAN != 0 || !r.OrigTime.IsZero() || r.OrigRRN != "" || r.OrigAuthCode != "" || r.OrigBatch != 0
}

// noCardData checks that a request that reads no card carries none.
func noCardData(r *Request) error {
	if len(r.Track2Enc) > 0 || len(r.PINBlock) > 0 || len(r.ICC) > 0 {
		return fmt.Errorf("%w: a %s carries no card data", ErrInvalidRequest, r.Kind)
	}
	return nil
}

// fmtPadded gives an optional fixed an field of n characters: empty stays
// empty (absent), otherwise 1 to n digits or letters left-justified and
// space-padded.
func fmtPadded(v string, n int, what string) (string, error) {
	if v == "" {
		return "", nil
	}
	if len(v) > n || !isAlnum(v) {
		return "", fmt.Errorf("%w: %s must be 1 to %d digits or letters", ErrInvalidRequest, what, n)
	}
	return v + strings.Repeat(" ", n-len(v)), nil
}

// parsePadded reads back what fmtPadded wrote.
func parsePadded(v string, what string) (string, error) {
	if v == "" {
		return "", nil
	}
	t := strings.TrimRight(v, " ")
	if t == "" || !isAlnum(t) {
		return "", fmt.Errorf("%w: %s is not digits or letters", ErrMalformed, what)
	}
	return t, nil
}

// origRRNAuth formats DE37 and DE38 of a request that names its original.
func origRRNAuth(r *Request) (rrn, auth string, err error) {
	if rrn, err = fmtPadded(r.OrigRRN, MaxRRN, "original RRN"); err != nil {
		return "", "", err
	}
	if auth, err = fmtPadded(r.OrigAuthCode, MaxAuthCode, "original authorization code"); err != nil {
		return "", "", err
	}
	if r.Kind == KindCompletion && auth == "" {
		return "", "", fmt.Errorf("%w: a completion needs the pre-authorization's authorization code", ErrInvalidRequest)
	}
	return rrn, auth, nil
}

// decodeOrigRRNAuth reads DE37 and DE38 of a request back.
func decodeOrigRRNAuth(r *Request, rrn, auth string) (err error) {
	if r.OrigRRN, err = parsePadded(rrn, "original RRN"); err != nil {
		return err
	}
	if r.OrigAuthCode, err = parsePadded(auth, "original authorization code"); err != nil {
		return err
	}
	if r.Kind == KindCompletion && r.OrigAuthCode == "" {
		return fmt.Errorf("%w: completion without authorization code", ErrMalformed)
	}
	return nil
}

func (t Totals) check() error {
	if t.DebitCount < 0 || t.CreditCount < 0 || t.DebitAmount < 0 || t.CreditAmount < 0 {
		return fmt.Errorf("%w: negative totals", ErrInvalidRequest)
	}
	return nil
}

// fmtTotals formats the four totals with counts of cn digits and amounts
// of an digits (credits count, debits count, credits amount, debits
// amount).
func fmtTotals(t Totals, cn, an int) (cc, dc, ca, da string, err error) {
	if err = t.check(); err != nil {
		return
	}
	if cc, err = fmtNum(int64(t.CreditCount), cn, "credits count"); err != nil {
		return
	}
	if dc, err = fmtNum(int64(t.DebitCount), cn, "debits count"); err != nil {
		return
	}
	if ca, err = fmtNum(t.CreditAmount, an, "credits amount"); err != nil {
		return
	}
	da, err = fmtNum(t.DebitAmount, an, "debits amount")
	return
}

// parseTotals reads what fmtTotals wrote.
func parseTotals(cc, dc, ca, da string, cn, an int) (Totals, error) {
	var t Totals
	for _, f := range []struct {
		s    string
		n    int
		what string
		dst  *int64
	}{
		{ca, an, "credits amount", &t.CreditAmount},
		{da, an, "debits amount", &t.DebitAmount},
	} {
		v, err := parseNum(f.s, f.n, f.what)
		if err != nil {
			return t, err
		}
		*f.dst = v
	}
	for _, f := range []struct {
		s    string
		what string
		dst  *int
	}{
		{cc, "credits count", &t.CreditCount},
		{dc, "debits count", &t.DebitCount},
	} {
		v, err := parseNum(f.s, cn, f.what)
		if err != nil {
			return t, err
		}
		if v > int64(math.MaxInt) {
			return t, fmt.Errorf("%w: %s out of range", ErrMalformed, f.what)
		}
		*f.dst = int(v)
	}
	return t, nil
}
