package daemon

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

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
	p.state = s
	p.mu.Unlock()
}

// The slips print when the cashier's transaction ends, in the configured
// copies; background changes print nothing; a slip that meets an empty
// roll is remembered until the cashier reprints it (DUPLICATE); a batch
// closing prints its report.
func TestReceiptsPrintAsTransactionsEnd(t *testing.T) {
	p := &paperPrinter{}
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
	if st := r.status(context.Background()); len(st.Unprinted) != 0 || st.Error != "" || st.Printed != 3 {
		t.Fatalf("status after the reprint: %+v", st)
	}
	// The settlement report lists what the engine set aside.
	r.aside = func() []txn.SetAside {
		return []txn.SetAside{{ID: "2", Why: txn.AsideAdviceRefused, Amount: 1051, Currency: "156"}}
	}
	settle := store.Txn{ID: "4", Kind: "settlement", State: store.StateApproved, Batch: 1, ResponseCode: "00",
		Totals: []store.Totals{{Currency: "156", DebitCount: 1, DebitAmount: 1234, CreditCount: 1, CreditAmount: 200}}}
	events <- txn.Event{Phase: txn.PhaseDone, Txn: settle, Ended: true}
	docs = waitDocs(4)
	if !strings.Contains(docs[3], "SETTLEMENT") || !strings.Contains(docs[3], "12.34") ||
		!strings.Contains(docs[3], "BY HAND: 1") || !strings.Contains(docs[3], "10.51") {
		t.Fatalf("settlement report:\n%s", docs[3])
	}
}

// With receipt.declined a decline prints the cardholder's copy, saying
// why.
func TestReceiptsOfDeclines(t *testing.T) {
	p := &paperPrinter{}
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
