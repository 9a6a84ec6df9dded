package daemon

import (
	"context"
	"strings"
	"sync"
	"time"

	"posd/board"
)

// printerSeen orders what posd last learned of the printer: a self test
// (whose result the board's status keeps) or an answer of the printer
// itself since (a status query, a document printed), with the fault
// that answer found. Status shows the printer as the latest of these
// found it: a fault the self test found is over once the printer has
// since answered ready (paper refilled, cover closed), and a fault it
// answers after that (the paper out again) is a fault again, without
// waiting for the next self test.
type printerSeen struct {
	mu     sync.Mutex
	seq    uint64 // events counted
	tested uint64 // seq of the latest self test
	heard  uint64 // seq of the printer's latest answer
	fault  string // what that answer found wrong ("": ready)
}

// selfTested records that a self test ran (the board's status has its
// result).
func (p *printerSeen) selfTested() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	p.tested = p.seq
}

// readyAgain records that the printer answered ready (nothing wrong).
func (p *printerSeen) readyAgain() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	p.heard, p.fault = p.seq, ""
}

// mark is where the record stands, for faultedSince.
func (p *printerSeen) mark() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq
}

// faultedSince records that the printer answered with fault, asked when
// the record stood at mark: when something was recorded since (a
// document printed, a self test), that is newer and the answer is
// dropped.
func (p *printerSeen) faultedSince(mark uint64, fault string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seq != mark {
		return
	}
	p.seq++
	p.heard, p.fault = p.seq, fault
}

// sinceTest reports whether the printer answered after the latest self
// test (or, with none, after start), and the fault its latest answer
// found ("": ready).
func (p *printerSeen) sinceTest() (heard bool, fault string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.heard > p.tested, p.fault
}

// deviceFaults lists the devices of list that are missing or failed, as
// "name: error" (an error that names its device already, as the
// printer's "printer: out of paper", is not prefixed twice). The printer
// is listed as its latest contact found it (printerNow).
func (d *Daemon) deviceFaults(list []board.Status) []string {
	var out []string
	for _, ds := range list {
		if ds.Name == "printer" {
			ds = d.printerNow(ds)
		}
		if ds.OK {
			continue
		}
		msg := orDefault(ds.Error, "failed")
		if !strings.HasPrefix(msg, ds.Name+": ") {
			msg = ds.Name + ": " + msg
		}
		out = append(out, msg)
	}
	return out
}

// printerAskTimeout bounds status's question to a printer it lists as
// failed.
const printerAskTimeout = 500 * time.Millisecond

// printerNow is the printer's status, test, as its latest contact found
// it: the self test's, or that of the printer's answer since. While the
// self test or that answer found a fault, the printer is asked again
// (receipts' status query, within printerAskTimeout) so a roll refilled,
// or run out again, shows at once; a printer that does not answer then
// (printing, switched off) is shown as its latest contact found it.
func (d *Daemon) printerNow(test board.Status) board.Status {
	if d.receipts != nil {
		if heard, fault := d.printer.sinceTest(); !test.OK || heard && fault != "" {
			d.askPrinter()
		}
	}
	heard, fault := d.printer.sinceTest()
	if !heard {
		return test
	}
	test.OK, test.Error = fault == "", fault
	return test
}

// askPrinter asks the printer how it is and records its answer (a
// ready answer the receipt printing records itself).
func (d *Daemon) askPrinter() {
	mark := d.printer.mark()
	// A printer that answers does so in milliseconds; one switched off
	// must not hold status up long.
	ctx, cancel := context.WithTimeout(context.Background(), printerAskTimeout)
	defer cancel()
	st := d.receipts.status(ctx)
	if st.Status == nil {
		return
	}
	if err := st.Status.Err(); err != nil {
		d.printer.faultedSince(mark, err.Error())
	}
}
