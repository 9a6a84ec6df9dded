package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"posd/conn/printer"
	"posd/terminal/store"
	"posd/terminal/txn"
	"posd/ui/receipt"
)

// ErrNoPrinter: the board has no working receipt printer.
var ErrNoPrinter = errors.New("daemon: no receipt printer")

// maxUnprinted bounds the slips remembered as not printed.
const maxUnprinted = 20

// printTimeout bounds one document: a printer that stops answering does
// not hold the queue.
const printTimeout = 30 * time.Second

// receipts prints the slip of every transaction the cashier runs as it
// ends (receipt.copies; a decline's cardholder copy with
// receipt.declined) and the report of every batch closed, one document
// after the other, never holding up the sale: a slip that does not
// print (paper out, cover open) is remembered so that the cashier
// reprints it.
type receipts struct {
	p        printer.Printer
	hdr      receipt.Header
	copies   []receipt.Copy
	declined bool
	get      func(id string) (store.Txn, error)
	// aside lists the transactions to settle by hand, for the
	// settlement report (nil: none).
	aside func() []txn.SetAside
	log   *slog.Logger

	// printMu serialises the printer's use (documents, status queries).
	printMu sync.Mutex

	mu        sync.Mutex // guards the fields below
	unprinted []string   // ids whose slip or report did not print, oldest first
	lastErr   string
	printed   int64

	jobs chan store.Txn
	done chan struct{}
}

// PrinterStatus is the receipt printer as posctl status shows it.
type PrinterStatus struct {
	Status  *printer.Status `json:"status,omitempty"` // nil: the printer did not answer
	Error   string          `json:"error,omitempty"`  // why the last document did not print
	Printed int64           `json:"documents_printed"`
	// Printing: a document is printing now (the printer is not asked
	// for its state meanwhile).
	Printing bool `json:"printing,omitempty"`
	// Unprinted are the transactions whose slip (or the settlements whose
	// report) did not print by itself: reprint them (posctl receipt
	// print ID).
	Unprinted []string `json:"unprinted,omitempty"`
}

func newReceipts(p printer.Printer, hdr receipt.Header, copies []receipt.Copy, declined bool, get func(string) (store.Txn, error), log *slog.Logger) *receipts {
	return &receipts{p: p, hdr: hdr, copies: copies, declined: declined, get: get, log: log,
		jobs: make(chan store.Txn, 16), done: make(chan struct{})}
}

// run follows the engine's events until they end (the engine stopped) or
// ctx ends, and prints what they call for.
func (r *receipts) run(ctx context.Context, events <-chan txn.Event) {
	defer close(r.done)
	printing := make(chan struct{})
	go func() {
		defer close(printing)
		for t := range r.jobs {
			r.auto(ctx, t)
		}
	}()
	defer func() { close(r.jobs); <-printing }()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if !ev.Ended || !r.wants(ev.Txn) {
				continue
			}
			select {
			case r.jobs <- ev.Txn:
			default:
				r.failed(ev.Txn.ID, errors.New("too many receipts waiting for the printer"))
			}
		}
	}
}

// wants reports whether t prints by itself as it ends.
func (r *receipts) wants(t store.Txn) bool {
	switch {
	case t.Kind == "settlement":
		return true
	case t.State == store.StateApproved || t.State == store.StateOfflineApproved:
		return len(r.copies) > 0
	case t.State == store.StateDeclined || t.State == store.StateFailed:
		return r.declined
	}
	return false
}

// auto prints t's documents as it ended: the copies of receipt.copies
// for an approval, the cardholder's for a decline, a settlement's report.
func (r *receipts) auto(ctx context.Context, t store.Txn) {
	copies := r.copies
	if t.State != store.StateApproved && t.State != store.StateOfflineApproved {
		copies = []receipt.Copy{receipt.Cardholder}
	}
	docs, err := layout(r.hdr, t, copies, false, r.p.Columns(), r.get, r.aside)
	if err == nil {
		err = r.print(ctx, docs)
	}
	if err != nil {
		r.failed(t.ID, err)
	}
}

// layout is t's documents for a printer of cols columns: a settlement's
// report, or the slip's copies (get finds the original of a refund, void
// or completion).
func layout(h receipt.Header, t store.Txn, copies []receipt.Copy, reprint bool, cols int, get func(string) (store.Txn, error),
	aside func() []txn.SetAside) ([]printer.Doc, error) {
	if t.Kind == "settlement" {
		var byHand []txn.SetAside
		if aside != nil {
			byHand = aside()
		}
		d, err := receipt.Settlement(h, t, byHand, cols)
		return []printer.Doc{d}, err
	}
	o := receipt.Opts{Reprint: reprint}
	if t.OrigID != "" {
		if orig, err := get(t.OrigID); err == nil {
			o.Original = &orig
		}
	}
	var docs []printer.Doc
	for _, c := range copies {
		o.Copy = c
		d, err := receipt.Slip(h, t, o, cols)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// print prints docs one after the other, stopping at the first that
// fails.
func (r *receipts) print(ctx context.Context, docs []printer.Doc) error {
	r.printMu.Lock()
	defer r.printMu.Unlock()
	for _, d := range docs {
		pctx, cancel := context.WithTimeout(ctx, printTimeout)
		err := r.p.Print(pctx, d)
		cancel()
		r.mu.Lock()
		if err != nil {
			r.lastErr = err.Error()
		} else {
			r.printed++
		}
		r.mu.Unlock()
		if err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.lastErr = ""
	r.mu.Unlock()
	return nil
}

// failed remembers that id's documents did not print.
func (r *receipts) failed(id string, err error) {
	r.log.Warn("receipt not printed: reprint it", "id", id, "err", err)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastErr = err.Error()
	if !slices.Contains(r.unprinted, id) {
		r.unprinted = append(r.unprinted, id)
		if len(r.unprinted) > maxUnprinted {
			r.unprinted = r.unprinted[len(r.unprinted)-maxUnprinted:]
		}
	}
}

// Reprint prints t again on request: the copies asked for (a slip) or
// the report (a settlement), marked DUPLICATE, and forgets that it did
// not print.
func (r *receipts) Reprint(ctx context.Context, t store.Txn, copies []receipt.Copy) error {
	docs, err := layout(r.hdr, t, copies, true, r.p.Columns(), r.get, r.aside)
	if err != nil {
		return err
	}
	if err := r.print(ctx, docs); err != nil {
		return err
	}
	r.mu.Lock()
	r.unprinted = slices.DeleteFunc(r.unprinted, func(id string) bool { return id == t.ID })
	r.mu.Unlock()
	return nil
}

// status asks the printer how it is and reports what did not print.
func (r *receipts) status(ctx context.Context) PrinterStatus {
	var out PrinterStatus
	var err error
	if r.printMu.TryLock() {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		var st printer.Status
		st, err = r.p.Status(sctx)
		cancel()
		r.printMu.Unlock()
		if err == nil {
			out.Status = &st
		}
	} else {
		out.Printing = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out.Error, out.Printed, out.Unprinted = r.lastErr, r.printed, slices.Clone(r.unprinted)
	if err != nil && out.Error == "" {
		out.Error = err.Error()
	}
	return out
}

// openReceipts starts printing when the board has a printer.
func (d *Daemon) openReceipts(ctx context.Context) {
	if d.Board == nil || d.Board.Devices.Printer == nil {
		return
	}
	set := d.Settings
	d.receipts = newReceipts(d.Board.Devices.Printer, set.Receipt, set.ReceiptCopies, d.Config.Receipt.Declined,
		d.Engine.Get, d.Log.With("part", "receipt"))
	d.receipts.aside = d.Engine.Aside
	events, _ := d.Engine.Subscribe()
	rctx, cancel := context.WithCancel(ctx)
	d.receiptsStop = cancel
	go d.receipts.run(rctx, events)
}

// closeReceipts lets the slip of the last transaction finish printing
// (the engine has stopped: no new one comes), for a few seconds at most,
// then stops the printing.
func (d *Daemon) closeReceipts(ctx context.Context) {
	if d.receipts == nil {
		return
	}
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-d.receipts.done:
	case <-t.C:
	case <-ctx.Done():
	}
	d.receiptsStop()
	<-d.receipts.done
}

// Receipt lays out the slip (or a settlement's report) of transaction id
// (LastReceipt: the newest with a slip) as the printer would print it,
// for a screen: cols columns (0: the printer's, else 32, 58 mm paper). It
// returns the record too.
func (d *Daemon) Receipt(id string, c receipt.Copy, cols int) (printer.Doc, int, store.Txn, error) {
	t, err := d.receiptTxn(id)
	if err != nil {
		return printer.Doc{}, 0, t, err
	}
	if cols <= 0 {
		cols = 32
		if d.receipts != nil {
			cols = d.receipts.p.Columns()
		}
	}
	docs, err := layout(d.Settings.Receipt, t, []receipt.Copy{c}, false, cols, d.Engine.Get, d.Engine.Aside)
	if err != nil {
		return printer.Doc{}, cols, t, err
	}
	return docs[0], cols, t, nil
}

// LastReceipt names the newest transaction that has a slip (the cashier's
// "reprint the last one"), for Receipt and PrintReceipt.
const LastReceipt = "last"

// receiptTxn is transaction id, or for LastReceipt the newest one that
// ended with a slip (not a settlement, not one still running).
func (d *Daemon) receiptTxn(id string) (store.Txn, error) {
	if id != LastReceipt {
		return d.Engine.Get(id)
	}
	list, err := d.Engine.List(50)
	if err != nil {
		return store.Txn{}, err
	}
	for _, t := range list {
		if t.Kind != "settlement" && (t.State.Final() || t.State == store.StateReversalPending) {
			return t, nil
		}
	}
	return store.Txn{}, fmt.Errorf("%w: no transaction with a slip yet", store.ErrNotFound)
}

// PrintReceipt reprints transaction id's copies (a settlement: its
// report), marked DUPLICATE.
func (d *Daemon) PrintReceipt(ctx context.Context, id string, copies []receipt.Copy) error {
	if d.receipts == nil {
		return ErrNoPrinter
	}
	t, err := d.receiptTxn(id)
	if err != nil {
		return err
	}
	if err := d.receipts.Reprint(ctx, t, copies); err != nil {
		return fmt.Errorf("transaction %s: %w", t.ID, err)
	}
	return nil
}

// cached is status without asking the printer.
func (r *receipts) cached() PrinterStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return PrinterStatus{Error: r.lastErr, Printed: r.printed, Unprinted: slices.Clone(r.unprinted)}
}

// Printer reports the receipt printer, asking it for its state (nil: the
// board has none).
func (d *Daemon) Printer(ctx context.Context) *PrinterStatus {
	if d.receipts == nil {
		return nil
	}
	st := d.receipts.status(ctx)
	return &st
}
