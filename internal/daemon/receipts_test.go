package daemon

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"posd/conn/printer"
	"posd/drivers/escpos"
	"posd/drivers/escpos/escpossim"
	"posd/terminal/store"
	"posd/terminal/txn"
	"posd/ui/receipt"
)

// paperPrinter is a printer that keeps what it printed as text.
type paperPrinter struct {
	mu    sync.Mutex
	state printer.Status
	docs  []string
	// roll is how many more documents the roll holds (-1: any number;
	// 0 stays 0, the printer out of paper).
	roll int
}

func (p *paperPrinter) Columns() int { return 32 }

func (p *paperPrinter) Status(context.Context) (printer.Status, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state, nil
}

func (p *paperPrinter) Print(_ context.Context, d printer.Doc) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.state.Err(); err != nil {
		return err
	}
	if p.roll == 0 {
		p.state.PaperOut = true
		return p.state.Err()
	}
	if p.roll > 0 {
		p.roll--
	}
	p.docs = append(p.docs, printer.Preview(d, 32))
	return nil
}

func (p *paperPrinter) printed() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.docs...)
}

func (p *paperPrinter) set(s printer.Status) {
	p.mu.Lock()
	p.state, p.roll = s, -1
	p.mu.Unlock()
}

// newPaperPrinter is a printer with a roll that does not run out.
func newPaperPrinter() *paperPrinter { return &paperPrinter{roll: -1} }

// The slips print when the cashier's transaction ends, in the configured
// copies; background changes print nothing; a slip that meets an empty
// roll is remembered until the cashier reprints it (DUPLICATE); a batch
// closing prints its report.
func TestReceiptsPrintAsTransactionsEnd(t *testing.T) {
	p := newPaperPrinter()
	recs := map[string]store.Txn{}
	get := func(id string) (store.Txn, error) {
		if r, ok := recs[id]; ok {
			return r, nil
		}
		return store.Txn{}, store.ErrNotFound
	}
	hdr := receipt.Header{MerchantName: "SHOP", MerchantID: "MERCHANT0000001", TerminalID: "POS00001", Location: time.UTC}
	r := newReceipts(p, hdr, []receipt.Copy{receipt.Merchant, receipt.Cardholder}, false, get, slog.New(slog.DiscardHandler))
	events := make(chan txn.Event)
	go r.run(context.Background(), events)
	defer func() { close(events); <-r.done }()

	sale := store.Txn{ID: "1", Kind: "purchase", State: store.StateApproved, Amount: 1234, Currency: "156",
		MaskedPAN: "476173******0010", EntryMode: "901", CVM: "online_pin", Batch: 1, Invoice: 1, AuthCode: "ABC123"}
	recs["1"] = sale
	waitDocs := func(n int) []string {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			d := p.printed()
			if len(d) >= n {
				return d
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d documents printed, want %d: %q", len(d), n, d)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	events <- txn.Event{Phase: txn.PhaseDone, Txn: sale} // its advice, say: no Ended
	events <- txn.Event{Phase: txn.PhaseDone, Txn: sale, Ended: true}
	docs := waitDocs(2)
	if !strings.Contains(docs[0], "MERCHANT COPY") || !strings.Contains(docs[1], "CARDHOLDER COPY") || strings.Contains(docs[0], "DUPLICATE") {
		t.Fatalf("slips of an approval:\n%s\n%s", docs[0], docs[1])
	}
	declined := store.Txn{ID: "2", Kind: "purchase", State: store.StateDeclined, ResponseCode: "51", Amount: 1051, Currency: "156", Batch: 1, Invoice: 2}
	recs["2"] = declined
	events <- txn.Event{Phase: txn.PhaseDone, Txn: declined, Ended: true}

	// The roll runs out: the next approval does not print, and says so.
	p.set(printer.Status{PaperOut: true})
	refund := store.Txn{ID: "3", Kind: "refund", OrigID: "1", State: store.StateApproved, Amount: 200, Currency: "156",
		MaskedPAN: "476173******0010", EntryMode: "901", CVM: "online_pin", Batch: 1, Invoice: 3}
	recs["3"] = refund
	events <- txn.Event{Phase: txn.PhaseDone, Txn: refund, Ended: true}
	deadline := time.Now().Add(5 * time.Second)
	for len(r.cached().Unprinted) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := r.status(context.Background())
	if len(st.Unprinted) != 1 || st.Unprinted[0] != "3" || !strings.Contains(st.Error, "out of paper") || st.Status == nil || !st.Status.PaperOut {
		t.Fatalf("status after the roll ran out: %+v", st)
	}
	if n := len(p.printed()); n != 2 {
		t.Fatalf("%d documents printed; the decline (receipt.declined off) and the refund (no paper) should not", n)
	}
	// A new roll; the cashier reprints.
	p.set(printer.Status{})
	if err := r.Reprint(context.Background(), refund, []receipt.Copy{receipt.Cardholder}); err != nil {
		t.Fatal(err)
	}
	docs = waitDocs(3)
	if !strings.Contains(docs[2], "DUPLICATE") || !strings.Contains(docs[2], "000001") || !strings.Contains(docs[2], "- 2 . 0 0") {
		t.Fatalf("reprinted refund slip:\n%s", docs[2])
	}
	// The merchant copy has not printed yet.
	if st := r.status(context.Background()); len(st.Unprinted) != 1 || st.Error != "" || st.Printed != 3 ||
		len(st.UnprintedCopies) != 1 || !slices.Equal(st.UnprintedCopies[0].Copies, []receipt.Copy{receipt.Merchant}) {
		t.Fatalf("status after the cardholder's reprint: %+v", st)
	}
	if err := r.Reprint(context.Background(), refund, []receipt.Copy{receipt.Merchant}); err != nil {
		t.Fatal(err)
	}
	if st := r.status(context.Background()); len(st.Unprinted) != 0 || st.Error != "" || st.Printed != 4 {
		t.Fatalf("status after the reprint: %+v", st)
	}
	// The settlement report lists what the engine set aside.
	r.aside = func() []txn.SetAside {
		return []txn.SetAside{{ID: "2", Why: txn.AsideAdviceRefused, Amount: 1051, Currency: "156"}}
	}
	settle := store.Txn{ID: "4", Kind: "settlement", State: store.StateApproved, Batch: 1, ResponseCode: "00",
		Totals: []store.Totals{{Currency: "156", DebitCount: 1, DebitAmount: 1234, CreditCount: 1, CreditAmount: 200}}}
	events <- txn.Event{Phase: txn.PhaseDone, Txn: settle, Ended: true}
	docs = waitDocs(5)
	if !strings.Contains(docs[4], "SETTLEMENT") || !strings.Contains(docs[4], "12.34") ||
		!strings.Contains(docs[4], "BY HAND: 1") || !strings.Contains(docs[4], "10.51") {
		t.Fatalf("settlement report:\n%s", docs[4])
	}
}

// With receipt.declined a decline prints the cardholder's copy, saying
// why.
func TestReceiptsOfDeclines(t *testing.T) {
	p := newPaperPrinter()
	r := newReceipts(p, receipt.Header{TerminalID: "POS00001"}, nil, true,
		func(string) (store.Txn, error) { return store.Txn{}, store.ErrNotFound }, slog.New(slog.DiscardHandler))
	events := make(chan txn.Event, 2)
	events <- txn.Event{Phase: txn.PhaseDone, Ended: true, Txn: store.Txn{ID: "1", Kind: "purchase", State: store.StateApproved, Amount: 100, Currency: "156"}}
	events <- txn.Event{Phase: txn.PhaseDone, Ended: true, Txn: store.Txn{ID: "2", Kind: "purchase", State: store.StateDeclined, ResponseCode: "51", Amount: 100, Currency: "156"}}
	close(events)
	r.run(context.Background(), events)
	docs := p.printed()
	if len(docs) != 1 || !strings.Contains(docs[0], "DECLINED 51") || !strings.Contains(docs[0], "CARDHOLDER COPY") {
		t.Fatalf("with no copies configured and receipt.declined: %q", docs)
	}
}

// simPrinter is the ESC/POS driver on the printer simulator, as the sim
// board has it, with the waits shortened.
func simPrinter(t *testing.T, so *escpossim.Opts) (*escpos.Dev, *escpossim.Sim) {
	t.Helper()
	so.Columns, so.Chinese = 32, true
	sim := escpossim.New(so)
	d, err := escpos.New(sim.Port(2*time.Millisecond), &escpos.Opts{Columns: 32, Chinese: true,
		StatusTimeout: 200 * time.Millisecond, PollInterval: 5 * time.Millisecond, LineTime: time.Millisecond, PrintTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Halt() })
	return d, sim
}

func simSale() store.Txn {
	return store.Txn{ID: "1", Kind: "purchase", State: store.StateApproved, Amount: 1234, Currency: "156",
		MaskedPAN: "476173******0010", EntryMode: "901", CVM: "online_pin", Batch: 1, Invoice: 1, AuthCode: "ABC123"}
}

func noOriginal(string) (store.Txn, error) { return store.Txn{}, store.ErrNotFound }

// A printer that answers DLE EOT but not GS r prints both copies of a
// slip, and neither is listed as unprinted.
func TestReceiptsOnPrinterWithoutGSr(t *testing.T) {
	p, sim := simPrinter(t, &escpossim.Opts{NoGSr: true})
	r := newReceipts(p, receipt.Header{MerchantName: "SHOP", TerminalID: "POS00001", Location: time.UTC},
		[]receipt.Copy{receipt.Merchant, receipt.Cardholder}, false, noOriginal, slog.New(slog.DiscardHandler))
	r.auto(context.Background(), simSale())
	st := r.status(context.Background())
	docs := sim.Documents()
	if len(st.Unprinted) != 0 || st.Error != "" || st.Printed != 2 || len(docs) != 2 {
		t.Fatalf("status %+v, %d documents", st, len(docs))
	}
}

// The roll runs out in the middle of the merchant copy: the slip is
// listed unprinted; once the cashier loads paper and reprints, the
// printer gives the torn half and then the full copies, not the rest of
// the half first. A printer that cannot clear its buffer prints that
// rest before the reprint, and the status says it will.
func TestReceiptsPaperRunsOutMidSlip(t *testing.T) {
	for _, noClear := range []bool{false, true} {
		p, sim := simPrinter(t, &escpossim.Opts{PaperLines: 12, NoClear: noClear})
		r := newReceipts(p, receipt.Header{MerchantName: "SHOP", TerminalID: "POS00001", Location: time.UTC},
			[]receipt.Copy{receipt.Merchant, receipt.Cardholder}, false, noOriginal, slog.New(slog.DiscardHandler))
		sale := simSale()
		r.auto(context.Background(), sale)
		st := r.status(context.Background())
		if len(st.Unprinted) != 1 || !strings.Contains(st.Error, "out of paper") || st.Status == nil || !st.Status.PaperOut {
			t.Fatalf("no clear %v: status after the roll ran out: %+v", noClear, st)
		}
		if strings.Contains(st.Error, "rest may print") != noClear {
			t.Errorf("no clear %v: %q", noClear, st.Error)
		}
		sim.LoadPaper(10000)
		if err := r.Reprint(context.Background(), sale, []receipt.Copy{receipt.Merchant, receipt.Cardholder}); err != nil {
			t.Fatal(err)
		}
		docs := sim.Documents()
		var texts []string
		for _, d := range docs {
			texts = append(texts, d.Text(32))
		}
		if len(docs) < 3 || docs[0].Cut != escpossim.Torn || !strings.Contains(texts[0], "MERCHANT COPY") || strings.Contains(texts[0], "APPROVED") {
			t.Fatalf("no clear %v: printed %q", noClear, texts)
		}
		full := texts[len(texts)-2:]
		if !strings.Contains(full[0], "MERCHANT COPY") || !strings.Contains(full[0], "DUPLICATE") || !strings.Contains(full[1], "CARDHOLDER COPY") {
			t.Fatalf("no clear %v: the reprints %q", noClear, full)
		}
		// With the buffer cleared nothing comes between the torn half
		// and the reprint.
		if !noClear && len(docs) != 3 {
			t.Fatalf("printed %d pieces: %q", len(docs), texts)
		}
		if noClear && len(docs) != 4 {
			t.Fatalf("no clear: printed %d pieces: %q", len(docs), texts)
		}
		if st := r.status(context.Background()); len(st.Unprinted) != 0 {
			t.Fatalf("status after the reprint: %+v", st)
		}
	}
}

// What did not print is tracked per copy: a roll that runs out after the
// merchant copy leaves the cardholder's unprinted; a reprint of one copy
// clears that copy only, the transaction goes when none is left. A
// settlement's report is a document of its own.
func TestReceiptsUnprintedPerCopy(t *testing.T) {
	p := newPaperPrinter()
	both := []receipt.Copy{receipt.Merchant, receipt.Cardholder}
	r := newReceipts(p, receipt.Header{TerminalID: "POS00001", Location: time.UTC}, both, false, noOriginal, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	copiesOf := func() map[string][]receipt.Copy {
		m := map[string][]receipt.Copy{}
		for _, u := range r.cached().UnprintedCopies {
			m[u.ID] = u.Copies
		}
		return m
	}
	p.roll = 1 // the merchant copy, then the roll is out
	sale := simSale()
	r.auto(ctx, sale)
	if got := copiesOf(); len(got) != 1 || !slices.Equal(got["1"], []receipt.Copy{receipt.Cardholder}) {
		t.Fatalf("the roll ran out after the merchant copy: unprinted %v", got)
	}
	// Out of paper: neither copy of the next sale prints.
	sale2 := simSale()
	sale2.ID = "2"
	r.auto(ctx, sale2)
	if got := copiesOf(); !slices.Equal(got["2"], both) || r.cached().Unprinted[1] != "2" {
		t.Fatalf("with no paper: unprinted %v", got)
	}
	p.set(printer.Status{}) // a new roll
	if err := r.Reprint(ctx, sale2, []receipt.Copy{receipt.Cardholder}); err != nil {
		t.Fatal(err)
	}
	if got := copiesOf(); !slices.Equal(got["2"], []receipt.Copy{receipt.Merchant}) || !slices.Equal(got["1"], []receipt.Copy{receipt.Cardholder}) {
		t.Fatalf("after the cardholder copy of 2 was reprinted: unprinted %v", got)
	}
	// A reprint of a copy that had printed changes nothing.
	if err := r.Reprint(ctx, sale, []receipt.Copy{receipt.Merchant}); err != nil {
		t.Fatal(err)
	}
	if got := copiesOf(); len(got) != 2 {
		t.Fatalf("after a reprint of a printed copy: unprinted %v", got)
	}
	// A reprint that runs out half way clears what printed.
	p.roll = 1
	if err := r.Reprint(ctx, sale2, both); err == nil {
		t.Fatal("a reprint with paper for one copy printed both")
	}
	if got := copiesOf(); got["2"] != nil {
		t.Fatalf("the merchant copy of 2 printed: unprinted %v", got)
	}
	p.set(printer.Status{})
	if err := r.Reprint(ctx, sale, both); err != nil {
		t.Fatal(err)
	}
	if st := r.cached(); len(st.Unprinted) != 0 || len(st.UnprintedCopies) != 0 {
		t.Fatalf("after every copy printed: %+v", st)
	}
	p.set(printer.Status{CoverOpen: true})
	settle := store.Txn{ID: "3", Kind: "settlement", State: store.StateApproved, Batch: 1, ResponseCode: "00"}
	r.auto(ctx, settle)
	if got := copiesOf(); !slices.Equal(got["3"], []receipt.Copy{ReportCopy}) {
		t.Fatalf("a report that did not print: unprinted %v", got)
	}
	p.set(printer.Status{})
	if err := r.Reprint(ctx, settle, nil); err != nil {
		t.Fatal(err)
	}
	if st := r.cached(); len(st.Unprinted) != 0 {
		t.Fatalf("after the report's reprint: %+v", st)
	}
}

// What did not print outlives a restart: the list is kept in posd.db and
// read back by the next start; a new database (a factory reset erases
// posd.db) has none; once everything printed it goes.
func TestReceiptsUnprintedSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	openDB := func(name string) *bbolt.DB {
		db, err := bbolt.Open(filepath.Join(dir, name), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	db := openDB("posd.db")
	both := []receipt.Copy{receipt.Merchant, receipt.Cardholder}
	open := func(p printer.Printer, db *bbolt.DB) *receipts {
		r := newReceipts(p, receipt.Header{TerminalID: "POS00001", Location: time.UTC}, both, false,
			func(id string) (store.Txn, error) {
				if id == "1" {
					return simSale(), nil
				}
				return store.Txn{}, store.ErrNotFound
			}, slog.New(slog.DiscardHandler))
		r.keep = &unprintedFile{db: db}
		r.restore()
		return r
	}
	kept := func() []byte {
		var b []byte
		db.View(func(tx *bbolt.Tx) error {
			if bk := tx.Bucket(receiptsBucket); bk != nil {
				b = bk.Get(unprintedKey)
			}
			return nil
		})
		return b
	}
	put := func(v string) {
		err := db.Update(func(tx *bbolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists(receiptsBucket)
			if err != nil {
				return err
			}
			return bk.Put(unprintedKey, []byte(v))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	p := newPaperPrinter()
	r := open(p, db)
	p.roll = 1
	r.auto(context.Background(), simSale())
	want := []Unprinted{{ID: "1", Copies: []receipt.Copy{receipt.Cardholder}}}
	if got := r.cached().UnprintedCopies; !reflect.DeepEqual(got, want) {
		t.Fatalf("before the restart: %v", got)
	}
	if kept() == nil {
		t.Fatal("the list is not kept")
	}
	// A restart.
	p = newPaperPrinter()
	r = open(p, db)
	if got := r.cached().UnprintedCopies; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the restart: %v", got)
	}
	// A new database: nothing kept.
	if got := open(p, openDB("new.db")).cached().UnprintedCopies; len(got) != 0 {
		t.Fatalf("a new database read %v", got)
	}
	if err := r.Reprint(context.Background(), simSale(), []receipt.Copy{receipt.Cardholder}); err != nil {
		t.Fatal(err)
	}
	if b := kept(); b != nil {
		t.Fatalf("kept after everything printed: %s", b)
	}
	if got := open(p, db).cached().UnprintedCopies; len(got) != 0 {
		t.Fatalf("after the reprint and a restart: %v", got)
	}
	// A transaction no longer on record is left out; a damaged list is
	// not read.
	put(`{"unprinted":[{"id":"7","copies":["merchant"]},{"id":"1","copies":["report"]}]}`)
	if got := open(p, db).cached().Unprinted; !slices.Equal(got, []string{"1"}) {
		t.Fatalf("with a purged record: %v", got)
	}
	put(`{"unprinted":[{"id":"1","copies":["merchant","\u001b"]}]}`)
	if got := open(p, db).cached().Unprinted; len(got) != 0 {
		t.Fatalf("a damaged list: %v", got)
	}
}

// FuzzParseUnprinted: the kept list of unprinted documents is read back
// without a panic, and what is accepted is within the bounds.
func FuzzParseUnprinted(f *testing.F) {
	f.Add([]byte(`{"unprinted":[{"id":"1","copies":["merchant","cardholder"]},{"id":"2","copies":["report"]}]}`))
	f.Add([]byte(`{"unprinted":[{"id":"x"}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseUnprinted(b)
		if err != nil {
			return
		}
		if len(d.Unprinted) > maxUnprinted {
			t.Fatalf("%d entries", len(d.Unprinted))
		}
		for _, u := range d.Unprinted {
			if !isRecordID(u.ID) || len(u.Copies) == 0 {
				t.Fatalf("entry %+v", u)
			}
		}
	})
}

// "Reprint the last one" is the newest transaction that printed a
// document as it ended: a settlement's report counts; a sale the
// cashier cancelled, a reversal, or a decline printing nothing do not.
func TestLastDocument(t *testing.T) {
	both := []receipt.Copy{receipt.Merchant, receipt.Cardholder}
	list := []store.Txn{ // newest first
		{ID: "9", Kind: "purchase", State: store.StateCreated},
		{ID: "8", Kind: "purchase", State: store.StateFailed, Failure: "cancelled"},
		{ID: "7", Kind: "purchase", State: store.StateReversalPending},
		{ID: "6", Kind: "settlement", State: store.StateApproved},
		{ID: "5", Kind: "purchase", State: store.StateDeclined, ResponseCode: "51"},
		{ID: "4", Kind: "purchase", State: store.StateApproved},
	}
	for _, tc := range []struct {
		list     []store.Txn
		copies   []receipt.Copy
		declined bool
		want     string
	}{
		{list, both, false, "6"},
		{list, both, true, "8"},
		{list[3:], nil, false, "6"},
		{list[4:], both, false, "4"},
		{list[4:], nil, false, ""},
		{list[4:], nil, true, "5"},
		{list[:3], both, false, ""},
	} {
		got, ok := lastDocument(tc.list, tc.copies, tc.declined)
		if ok != (tc.want != "") || got.ID != tc.want {
			t.Errorf("newest of %d (copies %v, declined %v): %q %v, want %q", len(tc.list), tc.copies, tc.declined, got.ID, ok, tc.want)
		}
	}
}

// A settlement's report reprinted on request says DUPLICATE at its top
// and its end, as a slip does; so does the reprint of a report that met
// an empty roll (like a slip's: the roll may have run out part way, and
// a second original must never circulate); the report printed as the
// batch closes does not.
func TestReceiptsReprintedReportSaysDuplicate(t *testing.T) {
	p := newPaperPrinter()
	r := newReceipts(p, receipt.Header{TerminalID: "POS00001", Location: time.UTC}, []receipt.Copy{receipt.Merchant}, false,
		noOriginal, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	settle := store.Txn{ID: "4", Kind: "settlement", State: store.StateApproved, Batch: 1, ResponseCode: "00",
		Totals: []store.Totals{{Currency: "156", DebitCount: 1, DebitAmount: 1234, ResponseCode: "00"}}}
	r.auto(ctx, settle)
	p.set(printer.Status{PaperOut: true})
	r.auto(ctx, settle)
	if got := r.cached().UnprintedCopies; len(got) != 1 || !slices.Equal(got[0].Copies, []receipt.Copy{ReportCopy}) {
		t.Fatalf("report with no paper: unprinted %v", got)
	}
	p.set(printer.Status{})
	for range 2 {
		if err := r.Reprint(ctx, settle, nil); err != nil {
			t.Fatal(err)
		}
	}
	docs := p.printed()
	if len(docs) != 3 {
		t.Fatalf("%d documents printed, want 3: %q", len(docs), docs)
	}
	if !strings.Contains(docs[0], "SETTLEMENT") || strings.Contains(docs[0], "DUPLICATE") {
		t.Errorf("report as the batch closed:\n%s", docs[0])
	}
	for _, d := range docs[1:] {
		if !strings.Contains(d, "SETTLEMENT") || strings.Count(d, "重打印 DUPLICATE") != 2 {
			t.Errorf("reprinted report:\n%s", d)
		}
	}
	if st := r.cached(); len(st.Unprinted) != 0 {
		t.Fatalf("after the report's reprint: %+v", st)
	}
}

// The report of a batch close gives the batch's wallet and face-pay
// takings, read for the settled batch, apart from the acquirer's
// totals; a report that cannot read them does not print without them
// (it waits to be reprinted), and the screen's layout has them too.
func TestReceiptsReportGivesPlatformTotals(t *testing.T) {
	p := newPaperPrinter()
	r := newReceipts(p, receipt.Header{TerminalID: "POS00001", Location: time.UTC}, nil, false, noOriginal, slog.New(slog.DiscardHandler))
	var asked []uint32
	fail := false
	r.platforms = func(batch uint32) ([]txn.PlatformTotal, error) {
		asked = append(asked, batch)
		if fail {
			return nil, errors.New("disk on fire")
		}
		return []txn.PlatformTotal{{Currency: "156", Platform: "wechat", SaleCount: 1, SaleAmount: 888, RefundCount: 1, RefundAmount: 300},
			{Currency: "156", Platform: txn.PlatformFace, SaleCount: 1, SaleAmount: 8800}}, nil
	}
	ctx := context.Background()
	settle := store.Txn{ID: "4", Kind: "settlement", State: store.StateApproved, Batch: 7, ResponseCode: "00",
		Totals: []store.Totals{{Currency: "156", DebitCount: 1, DebitAmount: 1234, ResponseCode: "00"}}}
	r.auto(ctx, settle)
	docs := p.printed()
	if len(docs) != 1 || !strings.Contains(docs[0], "SETTLED BY PLATFORMS") || !strings.Contains(docs[0], "WECHAT PAY") ||
		!strings.Contains(docs[0], "FACE PAY") || !strings.Contains(docs[0], "93.88") || !strings.Contains(docs[0], "12.34") {
		t.Fatalf("report: %q", docs)
	}
	if !slices.Equal(asked, []uint32{7}) {
		t.Fatalf("platform totals asked for batches %v, want [7]", asked)
	}
	fail = true
	r.auto(ctx, settle)
	if got := r.cached().UnprintedCopies; len(got) != 1 || !slices.Equal(got[0].Copies, []receipt.Copy{ReportCopy}) || len(p.printed()) != 1 {
		t.Fatalf("a report without its platform totals: unprinted %v, %d printed", got, len(p.printed()))
	}
	fail = false
	if err := r.Reprint(ctx, settle, nil); err != nil {
		t.Fatal(err)
	}
	if docs := p.printed(); len(docs) != 2 || !strings.Contains(docs[1], "WECHAT PAY") || len(r.cached().Unprinted) != 0 {
		t.Fatalf("reprint: %q", docs)
	}
}
