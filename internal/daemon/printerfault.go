package daemon

import (
	"context"
	"strings"
	"sync"
	"time"

	"posd/board"
)

// printerSeen orders what posd last learned of the printer: a self test
// (whose result the board's status keeps) or the receipt printing's own
// contact with it (a status query, a document printed). A printer fault
// the self test found is no longer a fault once the printer has since
// reported ready (paper refilled, cover closed): status shows what is
// true now, not what was until the next self test.
type printerSeen struct {
	mu     sync.Mutex
	seq    uint64 // events counted
	tested uint64 // seq of the latest self test
	ready  uint64 // seq of the latest contact that found the printer ready
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
	p.ready = p.seq
}

// readySinceTest reports whether the printer answered ready after the
// latest self test (or, with none, after start).
func (p *printerSeen) readySinceTest() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready > p.tested
}

// deviceFaults lists the devices of list that are missing or failed, as
// "name: error" (an error that names its device already, as the
// printer's "printer: out of paper", is not prefixed twice). A printer
// fault is left out once the printer has reported ready since; while
// it is listed, the printer is asked again (receipts' status query,
// within printerAskTimeout) so a roll refilled shows at once.
func (d *Daemon) deviceFaults(list []board.Status) []string {
	var out []string
	for _, ds := range list {
		if ds.OK {
			continue
		}
		if ds.Name == "printer" && d.printerReady() {
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

// printerReady reports whether the printer answered ready since the
// latest self test, asking it now when it has not.
func (d *Daemon) printerReady() bool {
	if d.printer.readySinceTest() {
		return true
	}
	if d.receipts == nil {
		return false
	}
	// A printer that answers does so in milliseconds; one switched off
	// must not hold status up long.
	ctx, cancel := context.WithTimeout(context.Background(), printerAskTimeout)
	defer cancel()
	d.receipts.status(ctx)
	return d.printer.readySinceTest()
}
