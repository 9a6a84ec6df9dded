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
	// platforms reads a batch's wallet and face-pay totals, for the
	// settlement report (nil: none).
	platforms func(batch uint32) ([]txn.PlatformTotal, error)
	log       *slog.Logger

	// printMu serialises the printer's use (documents, status queries).
	printMu sync.Mutex

	mu        sync.Mutex  // guards the fields below
	unprinted []Unprinted // what did not print, oldest first
	lastErr   string
	printed   int64

	// keep saves unprinted so that it outlives a restart (nil: kept in
	// memory only); keepMu orders its writes.
	keep   *unprintedFile
	keepMu sync.Mutex

	jobs chan store.Txn
	done chan struct{}

	// ready is told when the printer answers ready or prints (nil:
	// nobody listens): a fault a self test found is then over.
	ready func()
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
	// UnprintedCopies says which of their copies did not print.
	UnprintedCopies []Unprinted `json:"unprinted_copies,omitempty"`
}

// Unprinted is a transaction whose documents did not all print: the
// copies of its slip that did not, or a settlement's report.
type Unprinted struct {
	ID     string         `json:"id"`
	Copies []receipt.Copy `json:"copies"`
}

// ReportCopy names a settlement's report among the Unprinted copies.
const ReportCopy receipt.Copy = "report"

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
				r.failed(ev.Txn.ID, docCopies(ev.Txn, r.autoCopies(ev.Txn)), errors.New("too many receipts waiting for the printer"))
			}
		}
	}
}

// wants reports whether t prints by itself as it ends.
func (r *receipts) wants(t store.Txn) bool { return printsItself(t, r.copies, r.declined) }

// printsItself reports whether the terminal prints a document for t as
// it ends, with receipt.copies and receipt.declined as given: a
// settlement's report, the slip of an approval (when copies are
// configured), a decline's or failure's cardholder copy (with
// declined).
func printsItself(t store.Txn, copies []receipt.Copy, declined bool) bool {
	switch {
	case t.Kind == "settlement":
		return true
	case t.State == store.StateApproved || t.State == store.StateOfflineApproved:
		return len(copies) > 0
	case t.State == store.StateDeclined || t.State == store.StateFailed:
		return declined
	}
	return false
}

// autoCopies is the copies of t's slip that print as it ends: those of
// receipt.copies for an approval, the cardholder's otherwise.
func (r *receipts) autoCopies(t store.Txn) []receipt.Copy {
	if t.State != store.StateApproved && t.State != store.StateOfflineApproved {
		return []receipt.Copy{receipt.Cardholder}
	}
	return r.copies
}

// docCopies names the documents layout makes for t: its report for a
// settlement, else the copies.
func docCopies(t store.Txn, copies []receipt.Copy) []receipt.Copy {
	if t.Kind == "settlement" {
		return []receipt.Copy{ReportCopy}
	}
	return copies
}

// auto prints t's documents as it ended: the copies of receipt.copies
// for an approval, the cardholder's for a decline, a settlement's report.
// The copies that did not print are remembered.
func (r *receipts) auto(ctx context.Context, t store.Txn) {
	names := docCopies(t, r.autoCopies(t))
	docs, err := layout(r.hdr, t, r.autoCopies(t), false, r.p.Columns(), r.get, r.aside, r.platforms)
	n := 0
	if err == nil {
		n, err = r.print(ctx, docs)
	}
	if err != nil {
		r.failed(t.ID, names[min(n, len(names)):], err)
	}
}

// layout is t's documents for a printer of cols columns: a settlement's
// report, or the slip's copies (get finds the original of a refund, void
// or completion). A report lists what aside has to settle by hand and
// the wallet and face-pay totals platforms reads for its batch (nil:
// none); when they cannot be read it is not laid out (printed without
// them, it would leave those takings out with no word).
func layout(h receipt.Header, t store.Txn, copies []receipt.Copy, reprint bool, cols int, get func(string) (store.Txn, error),
	aside func() []txn.SetAside, platforms func(uint32) ([]txn.PlatformTotal, error)) ([]printer.Doc, error) {
	if t.Kind == "settlement" {
		o := receipt.ReportOpts{Reprint: reprint}
		if aside != nil {
			o.ByHand = aside()
		}
		if platforms != nil {
			var err error
			if o.Platforms, err = platforms(t.Batch); err != nil {
				return nil, fmt.Errorf("settlement %s: %w", t.ID, err)
			}
		}
		d, err := receipt.Settlement(h, t, o, cols)
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
// fails; n is how many printed.
func (r *receipts) print(ctx context.Context, docs []printer.Doc) (n int, _ error) {
	r.printMu.Lock()
	defer r.printMu.Unlock()
	for i, d := range docs {
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
			return i, err
		}
	}
	r.mu.Lock()
	r.lastErr = ""
	r.mu.Unlock()
	if len(docs) > 0 && r.ready != nil {
		r.ready() // it printed: paper in, cover closed
	}
	return len(docs), nil
}

// failed remembers that copies of id's documents did not print.
func (r *receipts) failed(id string, copies []receipt.Copy, err error) {
	r.log.Warn("receipt not printed: reprint it", "id", id, "copies", copies, "err", err)
	r.mu.Lock()
	r.lastErr = err.Error()
	r.unprinted = addUnprinted(r.unprinted, id, copies)
	r.mu.Unlock()
	r.save()
}

// addUnprinted adds id's copies to list, at most maxUnprinted
// transactions (the oldest dropped first).
func addUnprinted(list []Unprinted, id string, copies []receipt.Copy) []Unprinted {
	if len(copies) == 0 {
		return list
	}
	i := slices.IndexFunc(list, func(u Unprinted) bool { return u.ID == id })
	if i < 0 {
		list = append(list, Unprinted{ID: id})
		i = len(list) - 1
	}
	for _, c := range copies {
		if !slices.Contains(list[i].Copies, c) {
			list[i].Copies = append(list[i].Copies, c)
		}
	}
	if len(list) > maxUnprinted {
		list = slices.Delete(list, 0, len(list)-maxUnprinted)
	}
	return list
}

// removeUnprinted takes id's copies off list; a transaction none of
// whose copies is left goes.
func removeUnprinted(list []Unprinted, id string, copies []receipt.Copy) []Unprinted {
	i := slices.IndexFunc(list, func(u Unprinted) bool { return u.ID == id })
	if i < 0 {
		return list
	}
	left := slices.DeleteFunc(slices.Clone(list[i].Copies), func(c receipt.Copy) bool { return slices.Contains(copies, c) })
	if len(left) == 0 {
		return slices.Delete(list, i, i+1)
	}
	list[i].Copies = left
	return list
}

// Reprint prints t again on request: the copies asked for (a slip) or
// the report (a settlement), marked DUPLICATE, and forgets that those
// that printed had not (the copies not asked for stay unprinted).
func (r *receipts) Reprint(ctx context.Context, t store.Txn, copies []receipt.Copy) error {
	docs, err := layout(r.hdr, t, copies, true, r.p.Columns(), r.get, r.aside, r.platforms)
	if err != nil {
		return err
	}
	n, err := r.print(ctx, docs)
	if done := docCopies(t, copies)[:n]; len(done) > 0 {
		r.mu.Lock()
		r.unprinted = removeUnprinted(r.unprinted, t.ID, done)
		r.mu.Unlock()
		r.save()
	}
	return err
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
			if st.Err() == nil && r.ready != nil {
				r.ready()
			}
		}
	} else {
		out.Printing = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out.Error, out.Printed = r.lastErr, r.printed
	out.Unprinted, out.UnprintedCopies = r.unprintedLocked()
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
	d.receipts.platforms = d.Engine.PlatformTotals
	d.receipts.ready = d.printer.readyAgain
	if d.Config.DataDir != "" && d.DB != nil {
		d.receipts.keep = &unprintedFile{db: d.DB.Bolt()}
		d.receipts.restore()
	}
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
// (LastReceipt: the newest that printed one) as the printer would print it,
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
	docs, err := layout(d.Settings.Receipt, t, []receipt.Copy{c}, false, cols, d.Engine.Get, d.Engine.Aside, d.Engine.PlatformTotals)
	if err != nil {
		return printer.Doc{}, cols, t, err
	}
	return docs[0], cols, t, nil
}

// LastReceipt names the newest transaction that printed a slip or a
// settlement report (the cashier's "reprint the last one"), for Receipt
// and PrintReceipt.
const LastReceipt = "last"

// receiptTxn is transaction id, or for LastReceipt the newest one the
// terminal printed (or would have printed, had the printer worked) a
// slip or a settlement report for as it ended: a transaction that
// printed nothing (a cancelled sale, a reversal; a decline without
// receipt.declined) is not the cashier's "last receipt".
func (d *Daemon) receiptTxn(id string) (store.Txn, error) {
	if id != LastReceipt {
		return d.Engine.Get(id)
	}
	list, err := d.Engine.List(50)
	if err != nil {
		return store.Txn{}, err
	}
	if t, ok := lastDocument(list, d.Settings.ReceiptCopies, d.Config.Receipt.Declined); ok {
		return t, nil
	}
	return store.Txn{}, fmt.Errorf("%w: no transaction with a slip or report yet", store.ErrNotFound)
}

// lastDocument is the first of list (newest first) that has ended and
// that the terminal prints a document for as it ends (printsItself),
// whether or not it printed.
func lastDocument(list []store.Txn, copies []receipt.Copy, declined bool) (store.Txn, bool) {
	for _, t := range list {
		if t.State.Final() && printsItself(t, copies, declined) {
			return t, true
		}
	}
	return store.Txn{}, false
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
	ids, copies := r.unprintedLocked()
	return PrinterStatus{Error: r.lastErr, Printed: r.printed, Unprinted: ids, UnprintedCopies: copies}
}

// unprintedLocked is what did not print: the ids and, a copy, the
// copies. Caller holds r.mu.
func (r *receipts) unprintedLocked() ([]string, []Unprinted) {
	var ids []string
	var copies []Unprinted
	for _, u := range r.unprinted {
		ids = append(ids, u.ID)
		copies = append(copies, Unprinted{ID: u.ID, Copies: slices.Clone(u.Copies)})
	}
	return ids, copies
}

// PrintsItself reports whether posd's configuration prints a document
// for t by itself as it ends (see printsItself), printer or not.
func (d *Daemon) PrintsItself(t store.Txn) bool {
	return printsItself(t, d.Settings.ReceiptCopies, d.Config.Receipt.Declined)
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
