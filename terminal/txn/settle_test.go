package txn

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"posd/terminal/host"
	"posd/terminal/store"
)

// batchOf sells, refunds, voids and completes in the open batch and
// returns what its totals must be.
func batchOf(t *testing.T, e *Engine, r *fakeReader) host.Totals {
	t.Helper()
	s1 := run(t, e, r, Request{Amount: 5000, Currency: "156"})
	run(t, e, r, Request{Amount: 2500, Currency: "156"})
	run(t, e, r, Request{Kind: host.KindRefund, Amount: 700, Currency: "156"})
	pre := run(t, e, r, Request{Kind: host.KindPreauth, Amount: 9000, Currency: "156"})
	run(t, e, r, Request{Kind: host.KindCompletion, Amount: 8000, OrigID: pre.ID})
	run(t, e, r, Request{Kind: host.KindBalance, Currency: "156"})
	run(t, e, r, Request{Kind: host.KindVoid, OrigID: s1.ID})
	// Debits: the second sale and the completion; credits: the refund.
	// The voided sale, its void, the preauth and the balance inquiry do
	// not count.
	return host.Totals{DebitCount: 2, DebitAmount: 10500, CreditCount: 1, CreditAmount: 700}
}

func TestCloseBatchBalanced(t *testing.T) {
	h := kindHost()
	e, r, db, _ := setup(t, h)
	want := batchOf(t, e, r)
	rec, err := e.CloseBatch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != store.StateApproved || rec.Kind != KindSettlement || rec.Batch != 1 || rec.ResponseCode != "00" || rec.Uploaded != 0 {
		t.Fatalf("settlement record %+v", rec)
	}
	h.mu.Lock()
	if len(h.settlements) != 1 || h.settlements[0].Totals != want || h.settlements[0].Batch != 1 ||
		h.settlements[0].Currency != "156" || h.settlements[0].AfterUpload || h.settlements[0].STAN != rec.STAN {
		t.Fatalf("settlements sent %+v, want totals %+v", h.settlements, want)
	}
	h.mu.Unlock()
	tot := rec.Totals[0]
	if tot.DebitCount != 2 || tot.DebitAmount != 10500 || tot.CreditCount != 1 || tot.CreditAmount != 700 || tot.ResponseCode != "00" {
		t.Fatalf("record totals %+v", tot)
	}
	lines := map[string]int64{}
	for _, l := range tot.Lines {
		lines[l.Scheme+"/"+l.Kind] += l.Amount
	}
	if lines["visa/purchase"] != 2500 || lines["visa/completion"] != 8000 || lines["visa/refund"] != 700 || len(lines) != 3 {
		t.Fatalf("lines %+v", tot.Lines)
	}
	if b := db.OpenBatch(); b != 2 {
		t.Fatalf("open batch %d after the close", b)
	}
	next := run(t, e, r, Request{Amount: 100, Currency: "156"})
	if next.Batch != 2 {
		t.Fatalf("the next sale went into batch %d", next.Batch)
	}
}

func TestCloseBatchOutOfBalanceUploads(t *testing.T) {
	h := kindHost()
	e, r, db, _ := setup(t, h)
	want := batchOf(t, e, r)
	h.settle = outOfBalanceUntilUploaded
	rec, err := e.CloseBatch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if rec.State != store.StateApproved || rec.Uploaded != 3 || len(h.uploads) != 3 || len(h.settlements) != 2 {
		t.Fatalf("record %+v, uploads %d, settlements %d", rec, len(h.uploads), len(h.settlements))
	}
	if !h.settlements[1].AfterUpload || h.settlements[1].Totals != want || h.settlements[1].STAN == h.settlements[0].STAN {
		t.Fatalf("second settlement %+v", h.settlements[1])
	}
	var sum int64
	stans := map[uint32]bool{rec.STAN: true}
	for _, u := range h.uploads {
		o, err := db.Get(u.Ref)
		if err != nil || o.Amount != u.Amount || o.STAN != u.Orig.STAN || string(u.Orig.Kind) != o.Kind || u.Batch != 1 {
			t.Fatalf("upload %+v of record %+v: %v", u, o, err)
		}
		if stans[u.STAN] {
			t.Fatalf("STAN %d reused", u.STAN)
		}
		stans[u.STAN] = true
		sum += u.Amount
	}
	if sum != want.DebitAmount+want.CreditAmount {
		t.Fatalf("uploaded %d in all", sum)
	}
	if db.OpenBatch() != 2 {
		t.Fatal("batch not closed after the upload")
	}
}

func TestCloseBatchFailuresKeepItOpen(t *testing.T) {
	h := kindHost()
	e, r, db, _ := setup(t, h)
	batchOf(t, e, r)
	for _, c := range []struct {
		what   string
		settle func(host.Settlement) (host.Result, error)
	}{
		{"unreachable", func(host.Settlement) (host.Result, error) { return host.Result{}, host.ErrUnreachable }},
		{"no response", func(host.Settlement) (host.Result, error) { return host.Result{}, host.ErrNoResponse }},
		{"still out of balance", func(host.Settlement) (host.Result, error) { return host.Result{ResponseCode: "95"}, nil }},
		{"refused", func(host.Settlement) (host.Result, error) { return host.Result{ResponseCode: "96"}, nil }},
	} {
		h.settle = c.settle
		rec, err := e.CloseBatch(context.Background())
		want := FailSettlement
		if c.what == "no response" {
			want = FailNoResponse // the host may have closed the batch
		}
		if !errors.Is(err, ErrSettlement) || rec.State != store.StateFailed || Failure(rec.Failure) != want {
			t.Fatalf("%s: %+v %v", c.what, rec, err)
		}
		if db.OpenBatch() != 1 {
			t.Fatalf("%s: the batch closed", c.what)
		}
	}
	h.settle = nil
	if rec, err := e.CloseBatch(context.Background()); err != nil || rec.State != store.StateApproved || db.OpenBatch() != 2 {
		t.Fatalf("closing again: %+v %v", rec, err)
	}
}

func TestCloseBatchWaitsForTheOutbox(t *testing.T) {
	h := kindHost()
	e, r, db, _ := setup(t, h)
	h.purchase = func(host.Purchase) (host.Result, error) { return host.Result{}, host.ErrNoResponse }
	h.revErr = host.ErrUnreachable
	run(t, e, r, Request{Amount: 100, Currency: "156"})
	if _, err := e.CloseBatch(context.Background()); !errors.Is(err, ErrPending) ||
		!strings.Contains(err.Error(), ": 1 reversal not yet acknowledged;") {
		t.Fatalf("close with a reversal waiting: %v", err)
	}
	if db.OpenBatch() != 1 || e.Active() != "" {
		t.Fatal("a refused close changed the batch or kept the terminal busy")
	}
	h.mu.Lock()
	h.revErr = nil
	h.mu.Unlock()
	rec, err := e.CloseBatch(context.Background())
	if err != nil || len(rec.Totals) != 1 || rec.Totals[0].DebitCount != 0 || rec.Totals[0].CreditCount != 0 {
		t.Fatalf("close once the reversal went: %+v %v", rec, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.settlements) != 1 || h.settlements[0].Totals != (host.Totals{}) || h.settlements[0].Currency != "156" {
		t.Fatalf("an empty batch settles with zero totals: %+v", h.settlements)
	}
}

// A settlement or a balance inquiry in flight at a crash ends failed at
// the next start: nothing is reversed.
func TestRecoveryReversesOnlyWhatMovedMoney(t *testing.T) {
	db := openDB(t)
	var ids []string
	err := db.Do(func(tx *store.Tx) error {
		for _, k := range []string{KindSettlement, "balance", "refund"} {
			r := store.Txn{Kind: k, State: store.StateAuthSent, STAN: 7, Currency: "156", Amount: 1}
			if err := tx.Create(&r); err != nil {
				return err
			}
			ids = append(ids, r.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h := kindHost()
	e, err := New(Opts{Store: db, Host: h, Keys: newKeys(t), Reader: newReader(), ReversalRetry: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Halt()
	for i, want := range []store.State{store.StateFailed, store.StateFailed, store.StateReversalPending} {
		got, _ := db.Get(ids[i])
		if got.State != want && !(want == store.StateReversalPending && got.State == store.StateReversed) {
			t.Errorf("%s after the restart: %s, want %s", got.Kind, got.State, want)
		}
	}
	jobs, _ := db.Jobs()
	for _, j := range jobs {
		if j.TxnID != ids[2] {
			t.Errorf("job for %s", j.TxnID)
		}
	}
}

// TestCloseBatchNotHeldByWalletOrFace: a wallet payment's cancel (or a
// face payment's reversal) that its platform does not take yet waits in
// the outbox; neither payment is in the acquirer's batch, so the card
// batch closes anyway, with the card sale only, and the job stays.
func TestCloseBatchNotHeldByWalletOrFace(t *testing.T) {
	db := openDB(t)
	var ids []string
	err := db.Do(func(tx *store.Tx) error {
		for _, r := range []store.Txn{
			{Kind: "purchase", State: store.StateAuthSent, Amount: 1200, Currency: "156",
				Wallet: &store.Wallet{Platform: "wechat", OrderID: "P1", MaskedCode: "134567******6789"}},
			{Kind: "purchase", State: store.StateAuthSent, Amount: 3300, Currency: "156",
				Face: &store.Face{OrderID: "F2"}},
		} {
			if err := tx.Create(&r); err != nil {
				return err
			}
			ids = append(ids, r.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	w := &fakeWallets{cancelErr: errors.New("link down")}
	h := kindHost()
	r := newReader()
	e, err := New(Opts{Store: db, Host: h, Keys: newKeys(t), Reader: r, Wallet: w, Codes: &fakeCodes{},
		CardTimeout: 5 * time.Second, HostTimeout: 5 * time.Second, ReversalRetry: time.Hour, Currencies: []string{"156"}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Halt()
	run(t, e, r, Request{Amount: 500, Currency: "156"})
	rec, err := e.CloseBatch(context.Background())
	if err != nil {
		t.Fatalf("close with only a wallet cancel and a face reversal waiting: %v", err)
	}
	if rec.State != store.StateApproved || len(rec.Totals) != 1 || rec.Totals[0].DebitCount != 1 || rec.Totals[0].DebitAmount != 500 {
		t.Fatalf("settlement %+v", rec)
	}
	jobs, _ := db.Jobs()
	if len(jobs) != 2 {
		t.Fatalf("the platforms' jobs: %+v", jobs)
	}
}

// TestCloseBatchLeavesRefusedAdvicesOut: an offline approval whose advice
// the host refused for good (a TC that does not verify, an unknown card)
// is not in the host's totals: the terminal's debits leave it out too, or
// every such batch is out of balance and uploaded.
func TestCloseBatchLeavesRefusedAdvicesOut(t *testing.T) {
	h := &fakeHost{advice: func(a host.Advice) (host.Result, error) {
		if a.Amount == 200 {
			return host.Result{ResponseCode: "Q1"}, nil
		}
		return host.Result{ResponseCode: host.AdviceAccepted}, nil
	}}
	r := newAdviceRig(t, h, 0)
	for _, amount := range []int64{100, 200} {
		id := r.approveOffline(t, amount, "4761730000000029D3012")
		if _, err := r.db.Update(id, func(rec *store.Txn) error { rec.Batch = r.db.OpenBatch(); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	e := r.start()
	if left := e.Sync(context.Background()); left != 0 {
		t.Fatalf("%d advices left", left)
	}
	_, open, err := e.OpenBatch()
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0].DebitCount != 1 || open[0].DebitAmount != 100 {
		t.Fatalf("open batch totals %+v, want the accepted advice only", open)
	}
	rec, err := e.CloseBatch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if want := (host.Totals{DebitCount: 1, DebitAmount: 100}); len(h.settlements) != 1 || h.settlements[0].Totals != want || rec.Uploaded != 0 {
		t.Fatalf("settlements %+v, want one of %+v", h.settlements, want)
	}
}

// TestNoRefundOfARefusedAdvice: the host refused the advice of an
// offline approval for good: it never had the sale, which is in no batch
// total, so a refund of it would be a credit for a debit nobody pays.
func TestNoRefundOfARefusedAdvice(t *testing.T) {
	h := &fakeHost{advice: func(host.Advice) (host.Result, error) { return host.Result{ResponseCode: "Q1"}, nil }}
	r := newAdviceRig(t, h, 0)
	id := r.approveOffline(t, 100, "4761730000000029D3012")
	e := r.start()
	if left := e.Sync(context.Background()); left != 0 {
		t.Fatalf("%d advices left", left)
	}
	if _, err := e.Start(Request{Kind: host.KindRefund, OrigID: id, Amount: 50, Currency: "156"}); !errors.Is(err, ErrOriginal) {
		t.Fatalf("refund of an offline approval whose advice the host refused: %v", err)
	}
}

// TestUploadNamesOfflineApprovalsAsAdvices: out of balance, an offline
// approval goes in the batch upload as what the host had of it, an
// advice (host.Client.Upload: KindAdvice), not as an online purchase
// (which the host would look for by an RRN and auth code it never gave).
func TestUploadNamesOfflineApprovalsAsAdvices(t *testing.T) {
	h := &fakeHost{settle: func(st host.Settlement) (host.Result, error) {
		if st.AfterUpload {
			return host.Result{ResponseCode: host.SettlementBalanced}, nil
		}
		return host.Result{ResponseCode: host.SettlementOutOfBalance}, nil
	}}
	r := newAdviceRig(t, h, 0)
	id := r.approveOffline(t, 100, "4761730000000029D3012")
	if _, err := r.db.Update(id, func(rec *store.Txn) error { rec.Batch = r.db.OpenBatch(); return nil }); err != nil {
		t.Fatal(err)
	}
	e := r.start()
	if left := e.Sync(context.Background()); left != 0 {
		t.Fatalf("%d advices left", left)
	}
	if _, err := e.CloseBatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.uploads) != 1 || h.uploads[0].Ref != id || h.uploads[0].Orig.Kind != host.KindAdvice {
		t.Fatalf("uploads %+v, want the offline approval %s as an advice", h.uploads, id)
	}
}

// TestCloseBatchAfterALostCloseAndMoreSales: the host closed the batch
// but its answer was lost; the cashier went on selling before closing
// again. In the ascii87 dialect (no batch number in a sale) the host put
// those sales in its next batch, so the terminal's totals of the batch
// are no longer those the host closed it with, and a plain repeat is
// answered 77 for ever. The close first asks with the totals of the
// failed close: the host's "00" says it had closed the batch with them;
// the sales since go in the next batch.
func TestCloseBatchAfterALostCloseAndMoreSales(t *testing.T) {
	h := kindHost()
	var closedWith *host.Totals
	h.settle = func(st host.Settlement) (host.Result, error) {
		switch {
		case closedWith == nil:
			closedWith = &st.Totals // closed at the host, the answer lost
			return host.Result{}, host.ErrNoResponse
		case st.Totals == *closedWith:
			return host.Result{ResponseCode: host.SettlementBalanced}, nil // a repeat
		}
		return host.Result{ResponseCode: "77"}, nil // another request naming a closed batch
	}
	e, r, db, _ := setup(t, h)
	run(t, e, r, Request{Amount: 500, Currency: "156"})
	if rec, err := e.CloseBatch(context.Background()); err == nil || rec.State != store.StateFailed {
		t.Fatalf("close with its answer lost: %+v %v", rec, err)
	}
	after := run(t, e, r, Request{Amount: 300, Currency: "156"})
	rec, err := e.CloseBatch(context.Background())
	if err != nil {
		t.Fatalf("close again after a sale: %v", err)
	}
	if rec.State != store.StateApproved || rec.Batch != 1 || len(rec.Totals) != 1 || rec.Totals[0].DebitCount != 1 || rec.Totals[0].DebitAmount != 500 {
		t.Fatalf("settlement %+v", rec)
	}
	if got, _ := db.Get(after.ID); got.Batch != 2 || db.OpenBatch() != 2 {
		t.Fatalf("the sale after the lost close is in batch %d, open batch %d", got.Batch, db.OpenBatch())
	}
	if _, open, _ := e.OpenBatch(); len(open) != 1 || open[0].DebitCount != 1 || open[0].DebitAmount != 300 {
		t.Fatalf("the next batch's totals %+v", open)
	}
}

// OpenBatchSince names the oldest record the close will count; records
// that do not count (a declined sale, a balance inquiry) do not move it.
func TestOpenBatchSince(t *testing.T) {
	e, r, db, _ := setup(t, kindHost())
	if since, err := e.OpenBatchSince(); err != nil || !since.IsZero() {
		t.Fatalf("empty batch: %v, %v", since, err)
	}
	bal := run(t, e, r, Request{Kind: host.KindBalance, Currency: "156"})
	if since, err := e.OpenBatchSince(); err != nil || !since.IsZero() {
		t.Fatalf("after a balance inquiry %s: %v, %v", bal.ID, since, err)
	}
	s1 := run(t, e, r, Request{Amount: 5000, Currency: "156"})
	run(t, e, r, Request{Amount: 2500, Currency: "156"})
	since, err := e.OpenBatchSince()
	if err != nil || !since.Equal(s1.Created) || since.IsZero() {
		t.Fatalf("since %v (%v), want the first sale's %v", since, err, s1.Created)
	}
	if _, err := e.CloseBatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if since, err := e.OpenBatchSince(); err != nil || !since.IsZero() || db.OpenBatch() != 2 {
		t.Fatalf("after the close: %v, %v", since, err)
	}
}

// TestOutOfBalanceKeepsTheHostsFirstAnswer: a batch the host found out
// of balance ("95", as the cup 0510 says it: its reconciliation code,
// with the terminal's totals echoed and none of its own) and closed after
// the upload ("00" to the 0320 that ends it) is recorded out of balance,
// not balanced: the answer to the totals stays, the upload is counted.
func TestOutOfBalanceKeepsTheHostsFirstAnswer(t *testing.T) {
	h := kindHost()
	e, r, db, _ := setup(t, h)
	run(t, e, r, Request{Amount: 230, Currency: "156"})
	h.settle = outOfBalanceUntilUploaded
	rec, err := e.CloseBatch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stored, err := db.Get(rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []store.Txn{rec, stored} {
		if got.State != store.StateApproved || got.ResponseCode != host.SettlementOutOfBalance || got.Uploaded != 1 ||
			len(got.Totals) != 1 || got.Totals[0].ResponseCode != host.SettlementOutOfBalance {
			t.Fatalf("settled after an upload: %+v", got)
		}
	}
	if db.OpenBatch() != 2 {
		t.Fatal("the batch did not close")
	}
	// A batch the host takes at once stays balanced.
	h.settle = nil
	run(t, e, r, Request{Amount: 100, Currency: "156"})
	if rec, err = e.CloseBatch(context.Background()); err != nil || rec.ResponseCode != host.SettlementBalanced ||
		rec.Totals[0].ResponseCode != host.SettlementBalanced || rec.Uploaded != 0 {
		t.Fatalf("balanced close: %+v %v", rec, err)
	}
}

// What holds a close is worded with the counts there are, singular or
// plural: never "0 reversals", never "1 advices".
func TestWaitingWording(t *testing.T) {
	for _, c := range []struct {
		rev, adv int
		want     string
	}{
		{0, 1, "1 advice"},
		{0, 3, "3 advices"},
		{1, 0, "1 reversal"},
		{2, 0, "2 reversals"},
		{1, 1, "1 reversal and 1 advice"},
		{2, 5, "2 reversals and 5 advices"},
	} {
		if got := waiting(c.rev, c.adv); got != c.want {
			t.Errorf("waiting(%d, %d) = %q, want %q", c.rev, c.adv, got, c.want)
		}
	}
}

// batchNamingHost is a fake host of the cup dialect, whose every request
// names its batch.
type batchNamingHost struct{ *fakeHost }

func (batchNamingHost) Dialect() *host.Dialect {
	d, err := host.LookupDialect("cup")
	if err != nil {
		panic(err)
	}
	return d
}

// After a close whose answer was lost the host may have closed the batch
// and, in cup, declines "77" whatever else of it comes: the terminal
// says so (LostClose, the batch's hint) and refuses what would go to the
// acquirer before a card is asked for, until a close is answered. A
// close that cannot reach the host changes nothing.
func TestLostCloseRefusesUntilClosedAgain(t *testing.T) {
	h := kindHost()
	e, r, db, _ := setupHost(t, batchNamingHost{h})
	run(t, e, r, Request{Amount: 230, Currency: "156"})
	if _, id := e.LostClose(); id != "" {
		t.Fatalf("a close in doubt before any: %s", id)
	}
	h.settle = func(host.Settlement) (host.Result, error) { return host.Result{}, host.ErrNoResponse }
	lost, err := e.CloseBatch(context.Background())
	if !errors.Is(err, ErrSettlement) || Failure(lost.Failure) != FailNoResponse {
		t.Fatalf("close without an answer: %+v %v", lost, err)
	}
	h.settle = func(host.Settlement) (host.Result, error) { return host.Result{}, host.ErrUnreachable }
	if _, err := e.CloseBatch(context.Background()); !errors.Is(err, host.ErrUnreachable) {
		t.Fatalf("close with the host unreachable: %v", err)
	}
	if b, id := e.LostClose(); b != 1 || id != lost.ID {
		t.Fatalf("close in doubt: batch %d, %q; want 1, %s", b, id, lost.ID)
	}
	if _, load, _ := e.BatchLoad(); len(load) != 1 || load[0].Hint != BatchSettleAgain {
		t.Fatalf("batch load %+v", load)
	}
	before, _ := db.List(0)
	for _, req := range []Request{
		{Amount: 100, Currency: "156"},
		{Kind: host.KindRefund, Amount: 100, Currency: "156"},
		{Kind: host.KindBalance, Currency: "156"},
	} {
		_, err := e.Start(req)
		var again *SettleAgainError
		if !errors.Is(err, ErrSettleAgain) || !errors.As(err, &again) || again.Batch != 1 || again.Close != lost.ID {
			t.Fatalf("%s while the close is in doubt: %v", req.Kind, err)
		}
	}
	if after, _ := db.List(0); len(after) != len(before) || e.Active() != "" {
		t.Fatalf("a refused transaction was recorded (%d records, %d before) or runs (%q)", len(after), len(before), e.Active())
	}
	h.settle = nil
	if rec, err := e.CloseBatch(context.Background()); err != nil || rec.State != store.StateApproved {
		t.Fatalf("closing again: %+v %v", rec, err)
	}
	if _, id := e.LostClose(); id != "" {
		t.Fatalf("still in doubt after the close: %s", id)
	}
	if s := run(t, e, r, Request{Amount: 100, Currency: "156"}); s.State != store.StateApproved || s.Batch != 2 {
		t.Fatalf("sale after the close: %+v", s)
	}
}

// A host that names no batch in its sales (ascii87) puts a sale after a
// lost close in its open batch, and the next close moves it there: the
// sale is not refused, the hint still says to close again.
func TestLostCloseWithoutBatchInSales(t *testing.T) {
	h := kindHost()
	e, r, _, _ := setup(t, h)
	run(t, e, r, Request{Amount: 230, Currency: "156"})
	h.settle = func(host.Settlement) (host.Result, error) { return host.Result{}, host.ErrNoResponse }
	if _, err := e.CloseBatch(context.Background()); err == nil {
		t.Fatal("close without an answer succeeded")
	}
	if s := run(t, e, r, Request{Amount: 100, Currency: "156"}); s.State != store.StateApproved {
		t.Fatalf("sale after the lost close: %+v", s)
	}
	if _, load, _ := e.BatchLoad(); len(load) != 1 || load[0].Hint != BatchSettleAgain {
		t.Fatalf("batch load %+v", load)
	}
}

// lostClose: a close without an answer, or cut by a restart, is in doubt
// until a later close gets the host's answer to its totals.
func TestLostCloseOfRecords(t *testing.T) {
	st := func(id string, f Failure, rc string) store.Txn {
		return store.Txn{ID: id, Kind: KindSettlement, State: store.StateFailed, Failure: string(f),
			Totals: []store.Totals{{Currency: "156", ResponseCode: rc}}}
	}
	sale := store.Txn{ID: "1", Kind: "purchase", State: store.StateApproved}
	for _, c := range []struct {
		what string
		recs []store.Txn
		want string
	}{
		{"none", []store.Txn{sale}, ""},
		{"refused", []store.Txn{sale, st("2", FailSettlement, "96")}, ""},
		{"lost", []store.Txn{sale, st("2", FailNoResponse, "")}, "2"},
		{"cut by a restart", []store.Txn{sale, st("2", FailInterrupted, "")}, "2"},
		{"lost, then unreachable", []store.Txn{st("2", FailNoResponse, ""), st("3", FailSettlement, "")}, "2"},
		{"lost, then refused 77", []store.Txn{st("2", FailNoResponse, ""), st("3", FailSettlement, "77")}, "2"},
		{"lost, then out of balance", []store.Txn{st("2", FailNoResponse, ""), st("3", FailSettlement, "95")}, ""},
		{"lost after a 95", []store.Txn{st("2", FailNoResponse, "95")}, "2"},
	} {
		if got := lostClose(c.recs); got != c.want {
			t.Errorf("%s: %q, want %q", c.what, got, c.want)
		}
	}
}

// A close whose answer after the upload was lost, repeated once the batch
// changed, closes as the host closed it: out of balance after the upload,
// as the record of the first close says, not balanced.
func TestCloseAsBeforeKeepsOutOfBalance(t *testing.T) {
	h := kindHost()
	e, r, db, _ := setup(t, h)
	run(t, e, r, Request{Amount: 230, Currency: "156"})
	h.settle = func(st host.Settlement) (host.Result, error) {
		if st.AfterUpload {
			return host.Result{}, host.ErrNoResponse
		}
		return host.Result{ResponseCode: host.SettlementOutOfBalance}, nil
	}
	first, err := e.CloseBatch(context.Background())
	if err == nil || first.Uploaded != 1 || first.Totals[0].ResponseCode != host.SettlementOutOfBalance {
		t.Fatalf("close with the answer after the upload lost: %+v %v", first, err)
	}
	run(t, e, r, Request{Amount: 100, Currency: "156"})
	h.settle = func(host.Settlement) (host.Result, error) {
		return host.Result{ResponseCode: host.SettlementBalanced}, nil
	}
	rec, err := e.CloseBatch(context.Background())
	if err != nil || rec.State != store.StateApproved || rec.ResponseCode != host.SettlementOutOfBalance || rec.Uploaded != 1 ||
		rec.Totals[0].ResponseCode != host.SettlementOutOfBalance || rec.Totals[0].DebitAmount != 230 || db.OpenBatch() != 2 {
		t.Fatalf("closed as before: %+v %v", rec, err)
	}
}

// outOfBalanceUntilUploaded is a host that answers a batch's totals 95
// (out of balance) and its close after the upload 00.
func outOfBalanceUntilUploaded(st host.Settlement) (host.Result, error) {
	if st.AfterUpload {
		return host.Result{ResponseCode: host.SettlementBalanced}, nil
	}
	return host.Result{ResponseCode: host.SettlementOutOfBalance}, nil
}
