package txn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"posd/terminal/host"
	"posd/terminal/money"
	"posd/terminal/store"
)

// KindSettlement is the record kind of a batch close.
const KindSettlement = string(host.KindSettlement)

// CloseBatch closes the open batch with the host: every reversal and
// advice must have reached the host first (ErrPending otherwise: sync,
// then close again; a wallet or face payment's cancel, which goes to its
// platform, does not hold the close); the batch's totals per currency go in a 0500; when
// the host's totals differ ("95"), every counted transaction of the batch
// goes in a batch upload (0320), then the 0500 again. When the host takes
// them, the settlement's record is approved and the next batch opens in
// the same commit. When it does not (or cannot be reached), the record is
// failed (settlement_failed) and the batch stays open: the cashier closes
// again later. No transaction runs meanwhile (ErrBusy for the cashier).
//
// The record (kind settlement) keeps the totals sent, per currency, with
// their lines per scheme and kind, and the host's answer to them: "95"
// when it found them out of balance, also once the settlement after the
// upload closed the batch (the record is approved, its ResponseCode "95"
// and Uploaded counts what went up; the host's own totals do not travel
// in either dialect's answer, so the record has none); a crash while
// it is auth_sent ends it failed at the next start (a settlement moves no
// money: nothing is reversed).
func (e *Engine) CloseBatch(ctx context.Context) (store.Txn, error) {
	e.mu.Lock()
	if e.ctx.Err() != nil {
		e.mu.Unlock()
		return store.Txn{}, ErrHalted
	}
	if e.active != "" {
		err := e.busyLocked()
		e.mu.Unlock()
		return store.Txn{}, err
	}
	id, err := e.newIDLocked()
	if err != nil {
		e.mu.Unlock()
		return store.Txn{}, err
	}
	e.active, e.cancel, e.sending = id, nil, true
	e.mu.Unlock()
	defer func() {
		// Whether the batch's close is now in doubt, before a sale can
		// start again.
		if err := e.readLostClose(); err != nil {
			e.log.Error("reading the open batch after a close", "err", err)
		}
		e.mu.Lock()
		if e.active == id {
			e.active = ""
		}
		e.mu.Unlock()
	}()
	// What waits for the host first: the host's totals need it.
	e.Sync(ctx)
	jobs, err := e.o.Store.Jobs()
	if err != nil {
		return store.Txn{}, err
	}
	var rev, adv int
	for _, j := range jobs {
		// A wallet payment's cancel and a face payment's reversal go to
		// their platforms, which settle those payments: the acquirer's
		// totals do not wait for them.
		switch j.Kind {
		case store.JobAdvice:
			adv++
		case store.JobWalletCancel, store.JobFaceCancel, store.JobWalletRefund:
		default:
			rev++
		}
	}
	if rev+adv > 0 {
		return store.Txn{}, fmt.Errorf("%w: %s not yet acknowledged; sync, then close again", ErrPending, waiting(rev, adv))
	}
	var (
		rec   store.Txn
		items []store.Txn
		recs  []store.Txn
		prev  *store.Txn // the batch's last close, failed
	)
	err = e.o.Store.Do(func(tx *store.Tx) error {
		batch := tx.OpenBatch()
		var err error
		if recs, err = tx.Batch(batch); err != nil {
			return err
		}
		items = counted(recs)
		for i := range recs {
			if recs[i].Kind == KindSettlement && recs[i].State == store.StateFailed {
				prev = &recs[i]
			}
		}
		stan, err := tx.NextSTAN()
		if err != nil {
			return err
		}
		now := e.clock.Now().UTC()
		rec = store.Txn{ID: id, Kind: KindSettlement, State: store.StateAuthSent, Batch: batch, STAN: stan,
			Totals: batchTotals(items), Created: now, SentAt: now}
		if len(rec.Totals) == 0 && len(e.o.Currencies) > 0 {
			// An empty batch is settled too: zero totals.
			rec.Totals = []store.Totals{{Currency: e.o.Currencies[0]}}
		}
		for _, t := range rec.Totals {
			if rec.Currency == "" {
				rec.Currency = t.Currency
			}
		}
		return tx.Insert(&rec)
	})
	if err != nil {
		return store.Txn{}, err
	}
	e.publish(PhaseProcessing, rec)
	e.log.Info("closing batch", "id", rec.ID, "batch", rec.Batch, "currencies", len(rec.Totals), "transactions", len(items))
	if prev != nil && !sameTotals(prev.Totals, rec.Totals) {
		closed, err := e.closedBefore(ctx, rec, *prev)
		if err != nil {
			return e.settlementFailed(rec, err)
		}
		if closed {
			return e.closeAsBefore(rec, *prev, recs)
		}
	}
	for i := range rec.Totals {
		if err := e.settleCurrency(ctx, &rec, i, items); err != nil {
			return e.settlementFailed(rec, err)
		}
	}
	err = e.o.Store.Do(func(tx *store.Tx) error {
		var err error
		rec, err = tx.Update(rec.ID, func(r *store.Txn) error {
			r.State, r.ResponseCode, r.Totals, r.Uploaded = store.StateApproved, settledCode(rec.Totals), rec.Totals, rec.Uploaded
			return nil
		})
		if err != nil {
			return err
		}
		_, err = tx.CloseBatch()
		return err
	})
	if err != nil {
		return rec, err
	}
	e.publishEnded(rec)
	e.log.Info("batch closed", "id", rec.ID, "batch", rec.Batch, "uploaded", rec.Uploaded)
	return rec, nil
}

// waiting words what holds a close: the reversals and advices not yet
// acknowledged, only those there are, each in the singular or plural.
func waiting(reversals, advices int) string {
	var parts []string
	for _, c := range []struct {
		n         int
		one, many string
	}{{reversals, "reversal", "reversals"}, {advices, "advice", "advices"}} {
		switch {
		case c.n == 1:
			parts = append(parts, "1 "+c.one)
		case c.n > 1:
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.many))
		}
	}
	return strings.Join(parts, " and ")
}

// settledCode is the response code a settled batch's record keeps: the
// host's first answer, SettlementOutOfBalance when it found any currency's
// totals out of balance (settled after the batch upload), else
// SettlementBalanced.
func settledCode(totals []store.Totals) string {
	for _, t := range totals {
		if t.ResponseCode == host.SettlementOutOfBalance {
			return host.SettlementOutOfBalance
		}
	}
	return host.SettlementBalanced
}

// sameTotals reports whether a and b are the same figures per currency
// (their lines and answers aside).
func sameTotals(a, b []store.Totals) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Currency != b[i].Currency || a[i].DebitCount != b[i].DebitCount || a[i].DebitAmount != b[i].DebitAmount ||
			a[i].CreditCount != b[i].CreditCount || a[i].CreditAmount != b[i].CreditAmount {
			return false
		}
	}
	return true
}

// closedBefore asks the host whether it closed the batch with the totals
// of prev, a close of it that failed (its answer may have been lost)
// after which the batch changed: a settlement of prev's totals, per
// currency. "00" from every one says it did (a repeat of that close);
// any other answer that it did not.
func (e *Engine) closedBefore(ctx context.Context, rec store.Txn, prev store.Txn) (bool, error) {
	for _, tot := range prev.Totals {
		stan, err := e.o.Store.NextSTAN()
		if err != nil {
			return false, err
		}
		res, err := e.settle(ctx, host.Settlement{STAN: stan, Time: e.clock.Now().UTC(), Batch: rec.Batch, Currency: tot.Currency,
			Totals: host.Totals{DebitCount: tot.DebitCount, DebitAmount: tot.DebitAmount, CreditCount: tot.CreditCount, CreditAmount: tot.CreditAmount}})
		if err != nil {
			return false, err
		}
		if res.ResponseCode != host.SettlementBalanced {
			return false, nil
		}
	}
	return true, nil
}

// closeAsBefore closes the batch as the host closed it, with the totals of
// prev: the settlement's record takes them, and what the batch got after
// prev goes in the next batch, where the host has it (a dialect without
// a batch number in its requests puts them in the open batch) — in the
// commit that opens it.
func (e *Engine) closeAsBefore(rec store.Txn, prev store.Txn, recs []store.Txn) (store.Txn, error) {
	after := func(id string) bool {
		a, errA := strconv.ParseUint(id, 10, 64)
		b, errB := strconv.ParseUint(prev.ID, 10, 64)
		return errA == nil && errB == nil && a > b
	}
	// The host's first answer to prev's totals stays (out of balance:
	// closed after prev's upload, which the record counts); a currency
	// it never answered, it took as it closed.
	totals := slices.Clone(prev.Totals)
	uploaded := 0
	for i := range totals {
		if totals[i].ResponseCode != host.SettlementOutOfBalance {
			totals[i].ResponseCode = host.SettlementBalanced
		} else {
			uploaded = prev.Uploaded
		}
	}
	var moved int
	err := e.o.Store.Do(func(tx *store.Tx) error {
		var err error
		rec, err = tx.Update(rec.ID, func(r *store.Txn) error {
			r.State, r.ResponseCode, r.Totals, r.Uploaded = store.StateApproved, settledCode(totals), totals, uploaded
			return nil
		})
		if err != nil {
			return err
		}
		next, err := tx.CloseBatch()
		if err != nil {
			return err
		}
		for _, t := range recs {
			if t.ID == rec.ID || !after(t.ID) {
				continue
			}
			if _, err := tx.Update(t.ID, func(r *store.Txn) error { r.Batch = next; return nil }); err != nil {
				return err
			}
			moved++
		}
		return nil
	})
	if err != nil {
		return rec, err
	}
	e.publishEnded(rec)
	e.log.Info("batch closed as the host had closed it", "id", rec.ID, "batch", rec.Batch, "as", prev.ID, "moved_to_next", moved)
	return rec, nil
}

// OpenBatch returns the open batch's number and its totals so far.
func (e *Engine) OpenBatch() (uint32, []store.Totals, error) {
	n, recs, err := e.openBatchRecords()
	return n, batchTotals(counted(recs)), err
}

// OpenBatchSince is when the open batch's oldest record that counts (or
// will once its advice reached the host) was made; zero when none does.
// The daily settlement catches up with a close it missed by it.
func (e *Engine) OpenBatchSince() (time.Time, error) {
	_, recs, err := e.openBatchRecords()
	var since time.Time
	for _, r := range recs {
		if counts(r, true) && (since.IsZero() || r.Created.Before(since)) {
			since = r.Created
		}
	}
	return since, err
}

// openBatchRecords returns the open batch's number and its records, read
// in one transaction.
func (e *Engine) openBatchRecords() (n uint32, recs []store.Txn, err error) {
	err = e.o.Store.View(func(tx *store.Tx) error {
		var err error
		n = tx.OpenBatch()
		recs, err = tx.Batch(n)
		return err
	})
	return n, recs, err
}

// settleCurrency settles the totals rec.Totals[i] (one currency), with a
// batch upload of that currency's items when the host's totals differ.
func (e *Engine) settleCurrency(ctx context.Context, rec *store.Txn, i int, items []store.Txn) error {
	tot := &rec.Totals[i]
	st := host.Settlement{STAN: rec.STAN, Time: rec.SentAt, Batch: rec.Batch, Currency: tot.Currency,
		Totals: host.Totals{DebitCount: tot.DebitCount, DebitAmount: tot.DebitAmount, CreditCount: tot.CreditCount, CreditAmount: tot.CreditAmount}}
	if i > 0 {
		stan, err := e.o.Store.NextSTAN()
		if err != nil {
			return err
		}
		st.STAN = stan
	}
	res, err := e.settle(ctx, st)
	if err != nil {
		return err
	}
	// The host's answer to the terminal's totals is what the record
	// keeps, whatever the settlement after an upload answers: a batch
	// the host found out of balance stays out of balance in its record.
	tot.ResponseCode = res.ResponseCode
	if res.ResponseCode == host.SettlementBalanced {
		return nil
	}
	if res.ResponseCode != host.SettlementOutOfBalance {
		return fmt.Errorf("%w: the host answered %q", ErrSettlement, res.ResponseCode)
	}
	// Out of balance: upload the currency's transactions, then settle
	// again. Their STANs (and the second settlement's) in one commit.
	var mine []store.Txn
	for _, t := range items {
		if t.Currency == tot.Currency {
			mine = append(mine, t)
		}
	}
	stans := make([]uint32, len(mine)+1)
	err = e.o.Store.Do(func(tx *store.Tx) error {
		for k := range stans {
			var err error
			if stans[k], err = tx.NextSTAN(); err != nil {
				return err
			}
		}
		_, err := tx.Update(rec.ID, func(r *store.Txn) error { r.Uploaded += len(mine); r.Totals = rec.Totals; return nil })
		return err
	})
	if err != nil {
		return err
	}
	rec.Uploaded += len(mine)
	e.log.Info("batch out of balance, uploading", "id", rec.ID, "batch", rec.Batch, "currency", tot.Currency, "transactions", len(mine))
	for k, t := range mine {
		if err := e.upload(ctx, stans[k], rec.Batch, t); err != nil {
			return err
		}
	}
	st.STAN, st.AfterUpload = stans[len(mine)], true
	if res, err = e.settle(ctx, st); err != nil {
		return err
	}
	if res.ResponseCode != host.SettlementBalanced {
		return fmt.Errorf("%w: after the batch upload the host answered %q", ErrSettlement, res.ResponseCode)
	}
	return nil
}

// settle sends one settlement. An error that says it may have reached
// the host without a usable answer is marked errUnanswered.
func (e *Engine) settle(ctx context.Context, st host.Settlement) (host.Result, error) {
	sess, err := e.o.Keys.Next()
	if err != nil {
		return host.Result{}, fmt.Errorf("%w: %w", ErrKeys, err)
	}
	defer sess.Wipe()
	hctx, cancel := context.WithTimeout(ctx, e.o.HostTimeout)
	defer cancel()
	res, err := e.o.Host.Settle(hctx, st, sess)
	if errors.Is(err, host.ErrNoResponse) || errors.Is(err, host.ErrBadResponse) || errors.Is(err, host.ErrBadMAC) {
		err = fmt.Errorf("%w: %w", errUnanswered, err)
	}
	return res, err
}

// errUnanswered marks a settlement that may have reached the host and
// got no usable answer: the host may have closed the batch with it.
var errUnanswered = errors.New("no usable answer to the settlement")

// lostClose is the id of the close of the open batch (records recs,
// oldest first) that got no answer — lost (FailNoResponse) or cut by a
// restart (FailInterrupted) — unless a later close got the host's
// answer to its totals ("00" or "95": the host had the batch open then);
// "" when there is none. The host may have closed the batch with it.
func lostClose(recs []store.Txn) string {
	id := ""
	for _, r := range recs {
		if r.Kind != KindSettlement || r.State != store.StateFailed {
			continue
		}
		if f := Failure(r.Failure); f == FailNoResponse || f == FailInterrupted {
			id = r.ID
			continue
		}
		for _, t := range r.Totals {
			if t.ResponseCode == host.SettlementBalanced || t.ResponseCode == host.SettlementOutOfBalance {
				id = ""
			}
		}
	}
	return id
}

// readLostClose reads the open batch again for its close in doubt
// (lostClose) and keeps it for Start and the status.
func (e *Engine) readLostClose() error {
	n, recs, err := e.openBatchRecords()
	if err != nil {
		return err
	}
	id := lostClose(recs)
	e.mu.Lock()
	e.lost = lostState{batch: n, close: id}
	e.mu.Unlock()
	if id != "" {
		e.log.Warn("the last close of the open batch got no answer: close it again", "batch", n, "close", id)
	}
	return nil
}

// lostState is the open batch's close in doubt ("" none).
type lostState struct {
	batch uint32
	close string
}

// LostClose returns the open batch and the id of its last close when
// that got no answer (the host may have closed the batch: the cashier
// closes it again); "" when the last close was answered or there was
// none.
func (e *Engine) LostClose() (batch uint32, id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lost.batch, e.lost.close
}

// dialecter is a Host that names its dialect (*host.Client).
type dialecter interface{ Dialect() *host.Dialect }

// batchInEveryRequest lists the dialects whose every financial request
// names its batch (cup: DE60.2), so that the host declines "77" a
// request of a batch it has closed. ascii87 names the batch in
// settlements and uploads only: the host puts a sale in its open batch,
// and the next close moves it there too (closeAsBefore).
var batchInEveryRequest = map[string]bool{"cup": true}

// namesBatch reports whether the host's requests name their batch.
func (e *Engine) namesBatch() bool {
	d, ok := e.o.Host.(dialecter)
	return ok && d.Dialect() != nil && batchInEveryRequest[d.Dialect().Name]
}

// checkLostCloseLocked refuses (ErrSettleAgain) what the cashier asks of
// the acquirer while the open batch's last close got no answer, on a
// host whose requests name their batch: the host may have closed the
// batch and would decline it "77". It runs before anything is recorded:
// no card is asked for. Wallet and face payments (and their refunds) go
// to their platforms and are not held. Called with e.mu held.
func (e *Engine) checkLostCloseLocked(req Request, orig *store.Txn) error {
	if e.lost.close == "" || req.Method != "" || (orig != nil && (orig.Wallet != nil || orig.Face != nil)) || !e.namesBatch() {
		return nil
	}
	e.log.Warn("transaction refused: the last close got no answer; close the batch again", "batch", e.lost.batch,
		"close", e.lost.close, "kind", req.Kind)
	return &SettleAgainError{Batch: e.lost.batch, Close: e.lost.close}
}

func (e *Engine) upload(ctx context.Context, stan uint32, batch uint32, t store.Txn) error {
	sess, err := e.o.Keys.Next()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeys, err)
	}
	defer sess.Wipe()
	hctx, cancel := context.WithTimeout(ctx, e.o.HostTimeout)
	defer cancel()
	sent, kind := t.SentAt, host.Kind(t.Kind)
	if t.State == store.StateOfflineApproved {
		// The host had it as an advice (under the advice's STAN), with
		// no RRN or auth code of its own.
		sent, kind = t.Created, host.KindAdvice // when the card approved
	}
	if sent.IsZero() {
		sent = t.Created
	}
	res, err := e.o.Host.Upload(hctx, host.UploadItem{STAN: stan, Time: e.clock.Now(), Batch: batch, Amount: t.Amount,
		Currency: t.Currency, EntryMode: t.EntryMode, Ref: t.ID,
		Orig: host.Original{Kind: kind, STAN: t.STAN, Time: sent, RRN: t.RRN, AuthCode: t.AuthCode, Batch: t.Batch}}, sess)
	if err != nil {
		return fmt.Errorf("uploading %s: %w", t.ID, err)
	}
	if res.ResponseCode != "00" {
		return fmt.Errorf("%w: the host answered %q to the upload of %s", ErrSettlement, res.ResponseCode, t.ID)
	}
	return nil
}

// settlementFailed ends the settlement's record failed; the batch stays
// open.
func (e *Engine) settlementFailed(rec store.Txn, cause error) (store.Txn, error) {
	e.log.Warn("batch close failed; the batch stays open", "id", rec.ID, "batch", rec.Batch, "err", cause)
	failure := FailSettlement
	if errors.Is(cause, errUnanswered) {
		// The host may have closed the batch: see lostClose.
		failure = FailNoResponse
	}
	out, err := e.o.Store.Update(rec.ID, func(r *store.Txn) error {
		r.State, r.Failure, r.Error, r.Totals, r.Uploaded = store.StateFailed, string(failure), cause.Error(), rec.Totals, rec.Uploaded
		return nil
	})
	if err != nil {
		return rec, errors.Join(cause, err)
	}
	e.publishEnded(out)
	if !errors.Is(cause, ErrSettlement) {
		cause = fmt.Errorf("%w: %w", ErrSettlement, cause)
	}
	return out, cause
}

// counted returns the records of a batch its totals count: approved
// sales, completions and refunds not voided, and offline approvals whose
// advice the host accepted.
func counted(recs []store.Txn) []store.Txn {
	var out []store.Txn
	for _, r := range recs {
		if counts(r, false) {
			out = append(out, r)
		}
	}
	return out
}

// counts reports whether the batch's totals count r (see counted); with
// waiting, also when they will once what waits for the host reached it:
// an offline approval whose advice is not answered yet (a close sends it
// first, and the host takes it unless it refuses it).
func counts(r store.Txn, waiting bool) bool {
	switch host.Kind(r.Kind) {
	case host.KindPurchase, host.KindCompletion, host.KindRefund:
	default:
		return false
	}
	if r.Wallet != nil || r.Face != nil {
		return false // settled by its wallet or face-pay platform, not the acquirer
	}
	switch {
	case r.VoidedBy != "":
		return false
	case r.State == store.StateApproved:
		return true
	case r.State == store.StateOfflineApproved && r.AdviceCode == "":
		// An advice the host refused for good (AdviceCode) is not in its
		// totals: AdviceSent only says it answered.
		return !r.AdviceSent.IsZero() || waiting
	}
	return false
}

// batchLimiter is a Host that says how much one batch can hold
// (*host.Client: its dialect's host.Dialect.BatchLimit).
type batchLimiter interface {
	BatchLimit() host.Totals
}

// BatchLoad is how full the open batch is in one currency: the debits
// and credits the next close would send (with the offline approvals
// whose advice still waits), against the most the host's settlement
// carries per side (Limit; 0: the host states no limit).
type BatchLoad struct {
	Currency string
	Debits   int
	Credits  int
	Limit    int
	// Hint warns the cashier: BatchNearlyFull when a side is within a
	// twentieth of Limit (cup: from 950 on), BatchFull when a side is at
	// Limit and what would add to it is refused (ErrBatchFull) until the
	// batch is closed, BatchSettleAgain when the last close got no
	// answer; empty otherwise.
	Hint string
}

// BatchLoad hints.
const (
	BatchNearlyFull = "batch_nearly_full"
	BatchFull       = "batch_full"
	// BatchSettleAgain: the open batch's last close got no answer (see
	// LostClose): the cashier closes it again. It stands before the
	// others.
	BatchSettleAgain = "settle_again"
)

// BatchLoad returns the open batch's number and how full it is, per
// currency (its currencies in the order they first appear).
func (e *Engine) BatchLoad() (uint32, []BatchLoad, error) {
	n, totals, err := e.openBatchLoad()
	if err != nil {
		return n, nil, err
	}
	limit, limited := e.batchLimit()
	out := make([]BatchLoad, 0, len(totals))
	for _, t := range totals {
		l := BatchLoad{Currency: t.Currency, Debits: t.DebitCount, Credits: t.CreditCount}
		if limited {
			l.Limit = limit.DebitCount
			switch most := max(t.DebitCount-limit.DebitCount, t.CreditCount-limit.CreditCount); { // <= 0 within
			case most >= 0:
				l.Hint = BatchFull
			case most >= -(limit.DebitCount / 20):
				l.Hint = BatchNearlyFull
			}
		}
		out = append(out, l)
	}
	if _, lost := e.LostClose(); lost != "" {
		if len(out) == 0 && len(e.o.Currencies) > 0 {
			out = append(out, BatchLoad{Currency: e.o.Currencies[0]})
		}
		for i := range out {
			out[i].Hint = BatchSettleAgain
		}
	}
	return n, out, nil
}

// batchLimit is the host's batch limit; false when it states none.
func (e *Engine) batchLimit() (host.Totals, bool) {
	l, ok := e.o.Host.(batchLimiter)
	if !ok {
		return host.Totals{}, false
	}
	return l.BatchLimit(), true
}

// openBatchLoad returns the open batch's number and its totals as the
// next close would send them, offline approvals whose advice still waits
// included: the same records and the same adding up as the 0500's.
func (e *Engine) openBatchLoad() (uint32, []store.Totals, error) {
	n, recs, err := e.openBatchRecords()
	var items []store.Txn
	for _, r := range recs {
		if counts(r, true) {
			items = append(items, r)
		}
	}
	return n, batchTotals(items), err
}

// checkBatchRoom refuses (ErrBatchFull) a transaction the cashier asks
// for that would push the open batch past the host's batch limit: a sale
// or completion when the debits are full, a refund when the credits are.
// A void takes its original out of the totals, a pre-authorization or a
// balance inquiry moves none, and a wallet or face payment (or its
// refund) is settled by its platform: none of those is refused. It runs
// before anything is recorded: no card is asked for, no STAN or key used.
func (e *Engine) checkBatchRoom(req Request, orig *store.Txn) error {
	limit, ok := e.batchLimit()
	if !ok || req.Method != "" || (orig != nil && (orig.Wallet != nil || orig.Face != nil)) {
		return nil
	}
	var add host.Totals
	switch req.Kind {
	case host.KindPurchase, host.KindCompletion:
		add = host.Totals{DebitCount: 1, DebitAmount: req.Amount}
	case host.KindRefund:
		add = host.Totals{CreditCount: 1, CreditAmount: req.Amount}
	default:
		return nil
	}
	// What the batch held when last read, with what was recorded since:
	// at least what it holds (see batchRoom). When that has room, so has
	// the batch; otherwise read the whole batch, exactly.
	n, now, err := e.room.upTo(e.o.Store, req.Currency)
	if err != nil {
		return err
	}
	if !now.plus(add).Within(limit) {
		if n, now, err = e.room.read(e.o.Store, req.Currency); err != nil {
			return err
		}
	}
	if now.plus(add).Within(limit) {
		return nil
	}
	full := &BatchFullError{Batch: n, Currency: formatCurrency(req.Currency), Side: "debits", Count: now.DebitCount,
		Limit: limit.DebitCount, Amount: now.DebitAmount, AmountLimit: limit.DebitAmount}
	if add.CreditCount > 0 {
		full.Side, full.Count, full.Limit, full.Amount, full.AmountLimit = "credits", now.CreditCount, limit.CreditCount, now.CreditAmount, limit.CreditAmount
	}
	e.log.Warn("batch full: transaction refused until the batch is closed", "batch", n, "kind", req.Kind,
		"currency", req.Currency, "side", full.Side, "count", full.Count, "limit", full.Limit)
	return full
}

// sum is a host.Totals that adds.
type sum host.Totals

func (t sum) plus(o host.Totals) host.Totals {
	return host.Totals{DebitCount: t.DebitCount + o.DebitCount, DebitAmount: t.DebitAmount + o.DebitAmount,
		CreditCount: t.CreditCount + o.CreditCount, CreditAmount: t.CreditAmount + o.CreditAmount}
}

// batchRoom keeps what the open batch held when it was last read, per
// currency, so that a sale does not read every record the store keeps:
// the records recorded since (ids above last, all the engine's ids grow)
// are added as they come. Changes to the records already read only ever
// take from the totals (a void marks its original, the host refuses an
// advice, an approval is reversed), so the figures are at least what the
// batch holds; read reads them all again. A different batch, or a record
// count that the new ids do not explain (a purge, a record written below
// last), reads them all again too. Guarded by Engine.mu.
type batchRoom struct {
	valid   bool
	batch   uint32
	last    uint64 // highest record id read
	records int    // records the store held then
	totals  map[string]sum
}

// upTo returns the open batch's number and at least what it holds in
// currency (as the next close counts it, waiting advices included).
func (b *batchRoom) upTo(db *store.DB, currency string) (uint32, sum, error) {
	return b.load(db, currency, false)
}

// read reads every record of the open batch again (as OpenBatch and the
// close do), starts over from there and returns what the batch holds in
// currency.
func (b *batchRoom) read(db *store.DB, currency string) (uint32, sum, error) {
	return b.load(db, currency, true)
}

// load adds the records made since the last read (whole: all of them,
// starting over; also when the batch changed, or when the record count
// is not explained by the new ids) and returns the open batch's number
// and what it holds in currency.
func (b *batchRoom) load(db *store.DB, currency string, whole bool) (uint32, sum, error) {
	var (
		n     uint32
		recs  []store.Txn
		last  uint64
		total int
	)
	err := db.View(func(tx *store.Tx) error {
		n, total = tx.OpenBatch(), tx.Len()
		whole = whole || !b.valid || b.batch != n
		from := b.last
		if whole {
			from = 0
		}
		var err error
		recs, last, err = tx.After(from)
		return err
	})
	if err != nil {
		b.valid = false
		return n, sum{}, err
	}
	if !whole && b.records+len(recs) != total {
		return b.load(db, currency, true)
	}
	if whole {
		*b = batchRoom{valid: true, batch: n, totals: map[string]sum{}}
	}
	b.add(recs, n)
	b.last, b.records = last, total
	return n, b.totals[currency], nil
}

// add counts the records of batch n among recs, with the close's
// counting and adding up (counts, batchTotals).
func (b *batchRoom) add(recs []store.Txn, n uint32) {
	var items []store.Txn
	for _, r := range recs {
		if r.Batch == n && counts(r, true) {
			items = append(items, r)
		}
	}
	for _, t := range batchTotals(items) {
		b.totals[t.Currency] = sum(sum(b.totals[t.Currency]).plus(host.Totals{DebitCount: t.DebitCount,
			DebitAmount: t.DebitAmount, CreditCount: t.CreditCount, CreditAmount: t.CreditAmount}))
	}
}

// formatCurrency names a currency (ISO 4217 numeric) by its letters when
// known.
func formatCurrency(numeric string) string {
	if c, err := money.Lookup(numeric); err == nil {
		return c.Alpha
	}
	return numeric
}

// batchTotals adds up counted records per currency (in the order they
// first appear), with lines per scheme and kind.
func batchTotals(items []store.Txn) []store.Totals {
	var out []store.Totals
	for _, r := range items {
		i := slices.IndexFunc(out, func(t store.Totals) bool { return t.Currency == r.Currency })
		if i < 0 {
			out = append(out, store.Totals{Currency: r.Currency})
			i = len(out) - 1
		}
		t := &out[i]
		if host.Kind(r.Kind) == host.KindRefund {
			t.CreditCount++
			t.CreditAmount += r.Amount
		} else {
			t.DebitCount++
			t.DebitAmount += r.Amount
		}
		scheme := SchemeOf(r)
		j := slices.IndexFunc(t.Lines, func(l store.TotalLine) bool { return l.Scheme == scheme && l.Kind == r.Kind })
		if j < 0 {
			t.Lines = append(t.Lines, store.TotalLine{Scheme: scheme, Kind: r.Kind})
			j = len(t.Lines) - 1
		}
		t.Lines[j].Count++
		t.Lines[j].Amount += r.Amount
	}
	return out
}

// SchemeOf names the card scheme of a record: from the chip's AID (its
// registered application provider id) or else the masked PAN's first
// digits.
func SchemeOf(r store.Txn) string {
	if r.Chip != nil && len(r.Chip.AID) >= 10 {
		switch strings.ToUpper(r.Chip.AID[:10]) {
		case "A000000003":
			return "visa"
		case "A000000004":
			return "mastercard"
		case "A000000333":
			return "unionpay"
		case "A000000025":
			return "amex"
		case "A000000065":
			return "jcb"
		}
	}
	p := r.MaskedPAN
	switch {
	case strings.HasPrefix(p, "62"):
		return "unionpay"
	case strings.HasPrefix(p, "4"):
		return "visa"
	case len(p) >= 2 && (p[0] == '5' && p[1] >= '1' && p[1] <= '5' || p[0] == '2' && p[1] >= '2' && p[1] <= '7'):
		return "mastercard"
	case strings.HasPrefix(p, "34"), strings.HasPrefix(p, "37"):
		return "amex"
	case strings.HasPrefix(p, "35"):
		return "jcb"
	}
	return "other"
}
