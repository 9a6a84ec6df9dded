package acquirer

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"

	"posd/terminal/host"
)

// The ledger: what the host has approved, per terminal id. Every approved
// financial request is an entry: its kind, batch number (Request.Batch,
// 0 when the dialect sends none), currency, amount, STAN, the RRN and
// auth code the host gave it (none for an advice: its ref instead) and a
// state:
//
//	approved   as answered
//	voided     a void of it was approved (of a pre-authorization: its
//	           cancellation, the hold released)
//	reversed   a reversal of it came (the first one: repeats change nothing)
//	completed  a pre-authorization a completion was approved for
//
// Purchases, refunds, pre-authorizations, completions, voids and accepted
// advices (each once, duplicates not again) go in; balance inquiries,
// declines and requests left unanswered do not. A batch's totals in one
// currency (what a settlement is compared with) are those of its entries
// still approved: debits are purchases, completions and advices, credits
// are refunds; pre-authorizations and voids do not count, and neither do
// voided or reversed entries.
//
// The rules, after the MAC check (and, for requests with card data, the
// issuer's checks and the magic amounts of acquirer.go):
//
//	any financial request but an advice or a    "77" batch closed (the terminal must
//	reversal, in a batch settled before              sign on and open a new batch)
//	refund naming an original (OrigRRN, else    "25" original not found (or voided,
//	OrigAuthCode): a purchase, completion or         reversed)
//	advice of the terminal, any batch
//	  its refunds (this one included) over      "13" invalid amount
//	  its amount, another currency, amount 0
//	void: the original in the open batch by     "25" (none named, not found, reversed)
//	the given OrigRRN, OrigAuthCode, OrigSTAN,
//	OrigBatch and OrigKind (a purchase names
//	advices too)
//	  a pre-authorization (its cancellation):
//	    the void does not name a preauth        "12"
//	    reversed                                "25"
//	    completed                               "12" (void its completion first)
//	    already cancelled                       "12" (a cancellation has no repeat:
//	                                                 the terminal reverses a lost one)
//	    amount or currency not the original's   "13"
//	    otherwise                               "00": pre-authorization voided, its
//	                                                 hold released (no money in the totals)
//	  amount or currency not the original's     "13"
//	  already voided                            "00" again, duplicate=true (the first
//	                                                 void's RRN and auth code), nothing undone
//	  otherwise                                 "00": original voided; a voided
//	                                                 completion re-opens its pre-authorization
//	completion: an open pre-authorization of    "25" (none named, not found,
//	the terminal (any batch) by OrigAuthCode         reversed)
//	(else OrigRRN), and OrigSTAN when given
//	  cancelled (voided)                        "12"
//	  amount 0, over the pre-authorized one,    "13"
//	  another currency
//	  already completed                         "00" again, duplicate=true (the first
//	                                                 completion's RRN and auth code)
//	  otherwise                                 "00": pre-authorization completed
//	reversal (by OrigKind, OrigSTAN and, of a   "00" (as ever): the original reversed once;
//	void, VoidedKind: what the void voided,          a reversed void re-opens its original (a
//	when its codes tell; the latest such             cancelled pre-authorization holds again, a
//	entry not reversed yet)                          voided completion counts and completes its
//	                                                 pre-authorization again), a reversed
//	                                                 completion its pre-authorization; an
//	                                                 original in a settled batch (a
//	                                                 pre-authorization excepted) is not undone;
//	                                                 a void that voided another kind than its
//	                                                 reversal's codes say is not undone (noted)
//	settlement of a settled batch               "00" duplicate=true when its totals and
//	                                                 currency are those that closed it (or,
//	                                                 closed after an upload, those of the first
//	                                                 settlement answered "95": the terminal that
//	                                                 lost the closing answer starts again), else "77"
//	settlement with AfterUpload                 "00", batch closed (host's and terminal's
//	                                                 totals journaled)
//	settlement, totals equal to the host's      "00", batch closed
//	settlement, totals differ                   "95" (host.SettlementOutOfBalance)
//	batch upload                                "00" (a repeat of an item: duplicate=true)
//
// A batch is closed per terminal id and batch number, whatever the
// currency. posd's batch numbers wrap (999999, then 1): the close of
// batch n makes a settled batch n+1 (from before the wrap) a new one, the
// old one kept under n+1 + k×1000000 (reopen). An advice is accepted whatever its batch (the card approved
// it; an advice of a closed batch is noted and kept, its batch's settled
// totals stay as they were).
//
// The ledger lives in memory. Opts.History rebuilds it at start: the
// journal's "in" lines, in order, carry each request's decision
// (response_code, rrn, auth_code, batch, the orig_* fields, totals) and
// are applied again (loadHistory). Lines written before the ledger
// existed carry no decision for purchases and rebuild nothing.

// Batch numbers: a request names its batch when its dialect carries one
// (cup: DE60.2 of every financial request; ascii87: settlements and
// batch uploads only, DE60). An entry without one (batch 0) is in the
// terminal's open batch, whatever its number: it counts in the totals of
// any batch not settled yet, and the settlement that closes a batch
// gives it that batch's number. A request without a batch number is
// never declined "77"; a void then finds its original among the entries
// of batches not settled. Settlements and uploads of batch 0 are "30"
// (posd numbers batches from 1).

// Ledger states.
const (
	StateApproved  = "approved"
	StateVoided    = "voided"
	StateReversed  = "reversed"
	StateCompleted = "completed"
)

// Response codes of the ledger's rules.
const (
	RCInvalidAmount = "13"
	RCNotFound      = "25"
	RCBatchClosed   = "77"
	RCOutOfBalance  = host.SettlementOutOfBalance
)

type ledgerEntry struct {
	kind      host.Kind
	batch     uint32
	currency  string
	amount    int64
	stan      uint32
	rrn, auth string
	ref       string
	state     string
	// orig: a refund's sale (nil when none named), a void's voided
	// entry, a completion's pre-authorization.
	orig *ledgerEntry
	// by: the void that voided this entry, the completion that completed
	// this pre-authorization.
	by *ledgerEntry
}

func debitKind(k host.Kind) bool {
	return k == host.KindPurchase || k == host.KindCompletion || k == host.KindAdvice
}

type batchKey struct {
	tid   string
	batch uint32
}

// closure is how a batch was closed.
type closure struct {
	currency    string
	host, term  host.Totals
	afterUpload bool
	uploadCount int // the terminal's
	uploads     int // the host's
	// first are the terminal's totals of the first settlement the host
	// answered out of balance, when the batch closed after an upload:
	// the terminal sends them again when the closing answer was lost.
	first *host.Totals
}

// repeats reports whether r is a settlement the terminal sends again
// for the close c: the closing one itself, or, when the batch closed
// after an upload, the first settlement of that close (a terminal that
// lost the closing answer starts its close again; in the cup dialect
// the closing settlement does not even carry the totals).
func (c closure) repeats(r lreq) bool {
	if c.currency != r.currency {
		return false
	}
	if c.term == r.totals && c.afterUpload == r.afterUpload && c.uploadCount == r.uploadCount {
		return true
	}
	return c.afterUpload && !r.afterUpload && c.first != nil && *c.first == r.totals
}

type ledger struct {
	mu      sync.Mutex
	entries map[string][]*ledgerEntry // by terminal id, oldest first
	closed  map[batchKey]closure
	uploads map[batchKey]map[string]bool
	// offered are the terminal's totals of the last settlement of an
	// open batch answered out of balance.
	offered map[batchKey]host.Totals
}

func newLedger() *ledger {
	return &ledger{entries: map[string][]*ledgerEntry{}, closed: map[batchKey]closure{}, uploads: map[batchKey]map[string]bool{},
		offered: map[batchKey]host.Totals{}}
}

// lreq is a request as the ledger sees it: from a host.Request live, from
// a journal line on replay.
type lreq struct {
	kind        host.Kind
	tid         string
	batch       uint32
	currency    string
	amount      int64
	stan        uint32
	rrn, auth   string // the host's answer, when approved
	ref         string
	origKind    host.Kind
	voidedKind  host.Kind // a reversal's of a void: what the void voided ("" not told)
	origSTAN    uint32
	origRRN     string
	origAuth    string
	origBatch   uint32
	totals      host.Totals
	afterUpload bool
	uploadCount int
}

// lresult is the ledger's decision.
type lresult struct {
	rc   string
	dup  bool
	note string
	// rrn and auth are the answer's: the request's own, or for a
	// duplicate the first answer's.
	rrn, auth string
	origState string
	host      *host.Totals
	uploads   int
	settled   bool
}

// do decides on r and applies it when approved.
func (l *ledger) do(r lreq) lresult {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch r.kind {
	case host.KindPurchase, host.KindRefund, host.KindPreauth, host.KindAdvice:
		return l.approve(r)
	case host.KindVoid:
		return l.void(r)
	case host.KindCompletion:
		return l.complete(r)
	case host.KindReversal:
		return l.reverse(r)
	case host.KindSettlement:
		return l.settle(r)
	case host.KindBatchUpload:
		return l.upload(r)
	}
	return lresult{rc: RCInvalidTxn, note: "not a ledger request"}
}

// isClosed reports whether batch of tid is settled; batch 0 (none on the
// wire) never is.
func (l *ledger) isClosed(tid string, batch uint32) bool {
	_, ok := l.closed[batchKey{tid, batch}]
	return ok
}

// inOpen reports whether entry e of tid is in the open batch of a request
// of batch: an entry without a batch number is; one with a number is when
// it is batch (or, for a request without a number, when its batch is not
// settled).
func (l *ledger) inOpen(tid string, e *ledgerEntry, batch uint32) bool {
	switch {
	case e.batch == 0:
		return true
	case batch == 0:
		return !l.isClosed(tid, e.batch)
	}
	return e.batch == batch
}

func closedResult(batch uint32) lresult {
	return lresult{rc: RCBatchClosed, note: fmt.Sprintf("batch %d already settled", batch)}
}

// find returns the latest entry of tid that match accepts.
func (l *ledger) find(tid string, match func(*ledgerEntry) bool) *ledgerEntry {
	es := l.entries[tid]
	for i := len(es) - 1; i >= 0; i-- {
		if match(es[i]) {
			return es[i]
		}
	}
	return nil
}

func (l *ledger) add(tid string, r lreq, orig *ledgerEntry) *ledgerEntry {
	e := &ledgerEntry{
		kind: r.kind, batch: r.batch, currency: r.currency, amount: r.amount, stan: r.stan,
		rrn: r.rrn, auth: r.auth, ref: r.ref, state: StateApproved, orig: orig,
	}
	l.entries[tid] = append(l.entries[tid], e)
	return e
}

// names reports whether e is what r names by RRN, auth code and STAN
// (each when given) and kind (a purchase covers advices, the offline
// sales).
func (r lreq) names(e *ledgerEntry) bool {
	if r.origRRN != "" && e.rrn != r.origRRN {
		return false
	}
	if r.origAuth != "" && e.auth != r.origAuth {
		return false
	}
	if r.origSTAN != 0 && e.stan != r.origSTAN {
		return false
	}
	if r.origBatch != 0 && e.batch != 0 && e.batch%(maxBatch+1) != r.origBatch { // a batch reopened keeps its number modulo
		return false
	}
	switch r.origKind {
	case "":
		return true
	case host.KindPurchase:
		return e.kind == host.KindPurchase || e.kind == host.KindAdvice
	}
	return e.kind == r.origKind
}

// voids reports whether e, when it is a void, voided what r, its
// reversal, says (by the void's codes) it voided: anything when r does
// not say; a purchase covers advices.
func (r lreq) voids(e *ledgerEntry) bool {
	if e.kind != host.KindVoid || r.voidedKind == "" || e.orig == nil {
		return true
	}
	return lreq{origKind: r.voidedKind}.names(e.orig)
}

func (l *ledger) approve(r lreq) lresult {
	closed := l.isClosed(r.tid, r.batch)
	if closed && r.kind != host.KindAdvice {
		return closedResult(r.batch)
	}
	res := lresult{rc: RCApproved, rrn: r.rrn, auth: r.auth}
	if closed {
		res.note = fmt.Sprintf("batch %d already settled; kept, its settled totals unchanged", r.batch)
	}
	var orig *ledgerEntry
	if r.kind == host.KindRefund {
		if r.amount <= 0 {
			return lresult{rc: RCInvalidAmount, note: "refund of nothing"}
		}
		if r.origRRN != "" || r.origAuth != "" {
			byRRN := lreq{origRRN: r.origRRN}
			if r.origRRN == "" {
				byRRN.origAuth = r.origAuth
			}
			orig = l.find(r.tid, func(e *ledgerEntry) bool { return debitKind(e.kind) && byRRN.names(e) })
			switch {
			case orig == nil:
				return lresult{rc: RCNotFound, note: "the refunded sale is not in the ledger"}
			case orig.state != StateApproved:
				return lresult{rc: RCNotFound, note: "the refunded sale is " + orig.state, origState: orig.state}
			case orig.currency != r.currency:
				return lresult{rc: RCInvalidAmount, note: "currency differs from the refunded sale's", origState: orig.state}
			}
			if done := l.refunded(r.tid, orig); done+r.amount > orig.amount {
				return lresult{rc: RCInvalidAmount, origState: orig.state,
					note: fmt.Sprintf("refunds would total %d of a sale of %d", done+r.amount, orig.amount)}
			}
			res.origState = orig.state
		}
	}
	l.add(r.tid, r, orig)
	return res
}

// refunded is the total of the approved refunds of sale.
func (l *ledger) refunded(tid string, sale *ledgerEntry) int64 {
	var n int64
	for _, e := range l.entries[tid] {
		if e.kind == host.KindRefund && e.orig == sale && e.state == StateApproved {
			n += e.amount
		}
	}
	return n
}

func (l *ledger) void(r lreq) lresult {
	if l.isClosed(r.tid, r.batch) {
		return closedResult(r.batch)
	}
	if r.origRRN == "" && r.origAuth == "" && r.origSTAN == 0 {
		return lresult{rc: RCNotFound, note: "the void names no original"}
	}
	o := l.find(r.tid, func(e *ledgerEntry) bool { return e.kind != host.KindVoid && l.inOpen(r.tid, e, r.batch) && r.names(e) })
	switch {
	case o == nil:
		return lresult{rc: RCNotFound, note: "original not in the ledger's open batch"}
	case o.kind == host.KindPreauth:
		return l.cancel(r, o)
	case o.state == StateReversed:
		return lresult{rc: RCNotFound, note: "original reversed", origState: o.state}
	case o.amount != r.amount || o.currency != r.currency:
		return lresult{rc: RCInvalidAmount, note: fmt.Sprintf("amount or currency not the original's (%d %s)", o.amount, o.currency), origState: o.state}
	case o.state == StateVoided:
		res := lresult{rc: RCApproved, dup: true, note: "original already voided", origState: o.state}
		if o.by != nil {
			res.rrn, res.auth = o.by.rrn, o.by.auth
		}
		return res
	}
	if done := l.refunded(r.tid, o); done > 0 {
		// Voided whole, the sale would come back on top of its refunds.
		return lresult{rc: RCInvalidTxn, note: fmt.Sprintf("the sale has approved refunds of %d: void them first", done), origState: o.state}
	}
	v := l.add(r.tid, r, o)
	o.state, o.by = StateVoided, v
	if p := o.orig; o.kind == host.KindCompletion && p != nil && p.by == o {
		p.state, p.by = StateApproved, nil
	}
	return lresult{rc: RCApproved, rrn: r.rrn, auth: r.auth, origState: o.state}
}

// cancel decides on the void of pre-authorization o (its cancellation):
// the hold is released, no money moves. Only a void that names a
// pre-authorization cancels one; a completed one is not (its completion
// is voided first), nor one already cancelled: a cancellation has no
// repeat, the terminal reverses it when its answer is lost.
func (l *ledger) cancel(r lreq, o *ledgerEntry) lresult {
	switch {
	case r.origKind != host.KindPreauth:
		return lresult{rc: RCInvalidTxn, note: "a pre-authorization is cancelled by a void that names it as one", origState: o.state}
	case o.state == StateReversed:
		return lresult{rc: RCNotFound, note: "pre-authorization reversed", origState: o.state}
	case o.state == StateCompleted:
		return lresult{rc: RCInvalidTxn, note: "pre-authorization completed: void its completion first", origState: o.state}
	case o.state == StateVoided:
		return lresult{rc: RCInvalidTxn, note: "pre-authorization already cancelled", origState: o.state}
	case o.amount != r.amount || o.currency != r.currency:
		return lresult{rc: RCInvalidAmount, note: fmt.Sprintf("amount or currency not the pre-authorization's (%d %s)", o.amount, o.currency), origState: o.state}
	}
	v := l.add(r.tid, r, o)
	o.state, o.by = StateVoided, v
	return lresult{rc: RCApproved, rrn: r.rrn, auth: r.auth, origState: o.state}
}

func (l *ledger) complete(r lreq) lresult {
	if l.isClosed(r.tid, r.batch) {
		return closedResult(r.batch)
	}
	if r.origAuth == "" && r.origRRN == "" {
		return lresult{rc: RCNotFound, note: "the completion names no pre-authorization"}
	}
	by := lreq{origAuth: r.origAuth, origSTAN: r.origSTAN}
	if r.origAuth == "" {
		by.origRRN = r.origRRN
	}
	p := l.find(r.tid, func(e *ledgerEntry) bool { return e.kind == host.KindPreauth && by.names(e) })
	switch {
	case p == nil:
		return lresult{rc: RCNotFound, note: "pre-authorization not in the ledger"}
	case p.state == StateReversed:
		return lresult{rc: RCNotFound, note: "pre-authorization " + p.state, origState: p.state}
	case p.state == StateVoided:
		return lresult{rc: RCInvalidTxn, note: "pre-authorization cancelled: its hold was released", origState: p.state}
	case r.amount <= 0 || r.amount > p.amount || r.currency != p.currency:
		return lresult{rc: RCInvalidAmount, note: fmt.Sprintf("amount not within the pre-authorized %d %s", p.amount, p.currency), origState: p.state}
	case p.state == StateCompleted:
		res := lresult{rc: RCApproved, dup: true, note: "pre-authorization already completed", origState: p.state}
		if p.by != nil {
			res.rrn, res.auth = p.by.rrn, p.by.auth
			if p.by.amount != r.amount {
				res.note += fmt.Sprintf(" for %d", p.by.amount)
			}
		}
		return res
	}
	c := l.add(r.tid, r, p)
	p.state, p.by = StateCompleted, c
	return lresult{rc: RCApproved, rrn: r.rrn, auth: r.auth, origState: p.state}
}

func (l *ledger) reverse(r lreq) lresult {
	kind := r.origKind
	if kind == "" {
		kind = host.KindPurchase
	}
	same := func(e *ledgerEntry) bool { return e.kind == kind && e.stan == r.origSTAN && e.state != StateReversed }
	o := l.find(r.tid, func(e *ledgerEntry) bool { return same(e) && r.voids(e) })
	if o == nil {
		// Never approved (or reversed before): nothing to undo; the
		// journal's orig_state stays empty (and its note as it was).
		if v := l.find(r.tid, same); v != nil && v.orig != nil {
			// The void of that STAN voided something else: the
			// reversal resends another void's codes.
			return lresult{rc: RCApproved, note: fmt.Sprintf("the void of STAN %06d voided a %s, not a %s: not undone", r.origSTAN, v.orig.kind, r.voidedKind)}
		}
		return lresult{rc: RCApproved}
	}
	if o.kind != host.KindPreauth && l.isClosed(r.tid, o.batch) {
		return lresult{rc: RCApproved, origState: o.state, note: fmt.Sprintf("original's batch %d already settled: not undone", o.batch)}
	}
	o.state = StateReversed
	switch o.kind {
	case host.KindCompletion:
		if p := o.orig; p != nil && p.by == o {
			p.state, p.by = StateApproved, nil
		}
	case host.KindVoid:
		if v := o.orig; v != nil && v.by == o && v.state == StateVoided {
			v.state, v.by = StateApproved, nil
			if p := v.orig; v.kind == host.KindCompletion && p != nil && p.state == StateApproved && p.by == nil {
				p.state, p.by = StateCompleted, v
			}
		}
	}
	return lresult{rc: RCApproved, origState: o.state}
}

// totals are the host's totals of a batch in a currency: of its entries,
// and while it is open of the entries without a batch number.
func (l *ledger) totals(tid string, batch uint32, currency string) host.Totals {
	var t host.Totals
	open := !l.isClosed(tid, batch)
	for _, e := range l.entries[tid] {
		if (e.batch != batch && (e.batch != 0 || !open)) || e.currency != currency || e.state != StateApproved {
			continue
		}
		switch {
		case debitKind(e.kind):
			t.DebitCount++
			t.DebitAmount += e.amount
		case e.kind == host.KindRefund:
			t.CreditCount++
			t.CreditAmount += e.amount
		}
	}
	return t
}

func (l *ledger) settle(r lreq) lresult {
	if r.batch == 0 {
		return lresult{rc: RCFormatError, note: "batch number 0: batches are numbered from 1"}
	}
	k := batchKey{r.tid, r.batch}
	if c, ok := l.closed[k]; ok {
		h := c.host
		if c.repeats(r) {
			note := "batch already settled with these totals"
			if c.afterUpload && !r.afterUpload {
				note = "batch already settled after an upload; its first settlement repeated"
			}
			return lresult{rc: RCApproved, dup: true, settled: true, host: &h, uploads: c.uploads, note: note}
		}
		res := closedResult(r.batch)
		res.host = &h
		return res
	}
	h := l.totals(r.tid, r.batch, r.currency)
	res := lresult{rc: RCOutOfBalance, host: &h, uploads: len(l.uploads[k])}
	switch {
	case r.afterUpload:
		res.note = fmt.Sprintf("settled after an upload of %d items", res.uploads)
	case h == r.totals:
		res.note = "totals agree"
	default:
		res.note = "totals differ"
		if !r.afterUpload {
			l.offered[k] = r.totals
		}
		return res
	}
	res.rc, res.settled = RCApproved, true
	c := closure{currency: r.currency, host: h, term: r.totals, afterUpload: r.afterUpload,
		uploadCount: r.uploadCount, uploads: res.uploads}
	if f, ok := l.offered[k]; ok && r.afterUpload {
		c.first = &f
	}
	delete(l.offered, k)
	l.closed[k] = c
	l.reopen(r.tid, nextBatch(r.batch))
	// The entries without a batch number were the open batch: they are
	// this one now.
	for _, e := range l.entries[r.tid] {
		if e.batch == 0 {
			e.batch = r.batch
		}
	}
	return res
}

// maxBatch is the highest batch number: posd numbers batches 1 to
// 999999, then 1 again.
const maxBatch = 999999

// nextBatch is the number of the batch a terminal opens when it closes n.
func nextBatch(n uint32) uint32 { return n%maxBatch + 1 }

// reopen makes batch n of tid, settled long ago, a new batch: the
// terminal's batch numbers wrapped and it is about to use n again. The
// settled one keeps its entries, totals and uploads under the number
// n + k×1000000 (the first k free), which no terminal sends.
func (l *ledger) reopen(tid string, n uint32) {
	old := batchKey{tid, n}
	c, ok := l.closed[old]
	if !ok {
		return
	}
	to := batchKey{tid, n}
	for to.batch = n + maxBatch + 1; l.isClosed(tid, to.batch); to.batch += maxBatch + 1 {
	}
	l.closed[to] = c
	delete(l.closed, old)
	if u, ok := l.uploads[old]; ok {
		l.uploads[to] = u
		delete(l.uploads, old)
	}
	delete(l.offered, old)
	for _, e := range l.entries[tid] {
		if e.batch == n {
			e.batch = to.batch
		}
	}
}

// offer notes the totals of a settlement the host answered out of
// balance (replayed from the journal), as settle does.
func (l *ledger) offer(r lreq) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if k := (batchKey{r.tid, r.batch}); r.batch != 0 && !r.afterUpload && !l.isClosed(r.tid, r.batch) {
		l.offered[k] = r.totals
	}
}

func (l *ledger) upload(r lreq) lresult {
	if r.batch == 0 {
		return lresult{rc: RCFormatError, note: "batch number 0: batches are numbered from 1"}
	}
	if l.isClosed(r.tid, r.batch) {
		return closedResult(r.batch)
	}
	k := batchKey{r.tid, r.batch}
	item := fmt.Sprintf("%s|%d|%s|%s", r.origKind, r.origSTAN, r.origRRN, r.ref)
	if l.uploads[k][item] {
		return lresult{rc: RCApproved, dup: true, note: "item already uploaded"}
	}
	if l.uploads[k] == nil {
		l.uploads[k] = map[string]bool{}
	}
	l.uploads[k][item] = true
	return lresult{rc: RCApproved, uploads: len(l.uploads[k])}
}

// BatchTotals are the host's totals of one batch of a terminal in one
// currency, as GET /v1/batches shows them.
type BatchTotals struct {
	Batch    uint32 `json:"batch"`
	Currency string `json:"currency"`
	Totals
	// Entries counts the ledger's entries of the batch in the currency,
	// whatever their kind and state.
	Entries int `json:"entries"`
	// Uploads counts the batch upload items the host has (whatever the
	// currency).
	Uploads int `json:"uploads"`
	// Closed: the batch is settled; Settled are then the totals that
	// closed it (the host's at the time, and the terminal's).
	Closed      bool              `json:"closed"`
	Settled     *SettlementTotals `json:"settled,omitempty"`
	AfterUpload bool              `json:"after_upload,omitempty"`
}

// LedgerEntry is one entry of the ledger, as Server.Ledger and GET
// /v1/ledger show it. It holds no card data.
type LedgerEntry struct {
	Kind     string `json:"kind"`
	Batch    uint32 `json:"batch"`
	Currency string `json:"currency"`
	Amount   int64  `json:"amount"`
	STAN     string `json:"stan"`
	RRN      string `json:"rrn,omitempty"`
	AuthCode string `json:"auth_code,omitempty"`
	Ref      string `json:"ref,omitempty"`
	State    string `json:"state"`
	// OrigRRN is the RRN of the entry a refund, void or completion
	// refers to.
	OrigRRN string `json:"orig_rrn,omitempty"`
}

// Ledger returns the ledger of terminal id tid (as in DE41, without its
// padding), oldest first.
func (s *Server) Ledger(tid string) []LedgerEntry {
	l := s.ledger
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []LedgerEntry{}
	for _, e := range l.entries[tid] {
		le := LedgerEntry{Kind: string(e.kind), Batch: e.batch, Currency: e.currency, Amount: e.amount,
			STAN: fmt.Sprintf("%06d", e.stan), RRN: e.rrn, AuthCode: e.auth, Ref: e.ref, State: e.state}
		if e.orig != nil {
			le.OrigRRN = e.orig.rrn
		}
		out = append(out, le)
	}
	return out
}

// Batches returns the host's totals of every batch of terminal tid the
// ledger knows, by batch number then currency.
func (s *Server) Batches(tid string) []BatchTotals {
	l := s.ledger
	l.mu.Lock()
	defer l.mu.Unlock()
	type bc struct {
		batch    uint32
		currency string
	}
	count := map[bc]int{}
	for _, e := range l.entries[tid] {
		count[bc{e.batch, e.currency}]++
	}
	for k, c := range l.closed {
		if k.tid == tid {
			if _, ok := count[bc{k.batch, c.currency}]; !ok {
				count[bc{k.batch, c.currency}] = 0
			}
		}
	}
	out := []BatchTotals{}
	for k, n := range count {
		b := BatchTotals{Batch: k.batch, Currency: k.currency, Totals: *totalsOf(l.totals(tid, k.batch, k.currency)),
			Entries: n, Uploads: len(l.uploads[batchKey{tid, k.batch}])}
		if c, ok := l.closed[batchKey{tid, k.batch}]; ok {
			b.Closed = true
			if c.currency == k.currency {
				b.Settled = &SettlementTotals{Host: totalsOf(c.host), Terminal: totalsOf(c.term)}
				b.AfterUpload = c.afterUpload
			}
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Batch != out[j].Batch {
			return out[i].Batch < out[j].Batch
		}
		return out[i].Currency < out[j].Currency
	})
	return out
}

// historyStats says what loadHistory read.
type historyStats struct {
	skipped      int // lines that are not JSON
	applied      int // lines that changed (or could have changed) the ledger
	inconsistent int // lines whose decision the rebuilt ledger does not repeat
}

// loadHistory rebuilds from a journal written before the advices
// accepted, the reversals done (their deduplication), the ledger and the
// RRN sequence. Lines that are not JSON (a line cut short by a crash) are
// skipped and counted.
func (s *Server) loadHistory(r io.Reader) (historyStats, error) {
	var st historyStats
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			var e Entry
			if json.Unmarshal(line, &e) != nil {
				st.skipped++
			} else if e.Direction == "in" {
				s.replay(e, &st)
			}
		}
		if errors.Is(err, io.EOF) {
			return st, nil
		}
		if err != nil {
			return st, err
		}
	}
}

// replay applies one "in" line of the journal.
func (s *Server) replay(e Entry, st *historyStats) {
	if len(e.RRN) == 12 {
		if n, err := strconv.ParseUint(e.RRN[6:], 10, 32); err == nil && uint32(n) > s.seq {
			s.seq = uint32(n)
		}
	}
	macOK := e.MACOK != nil && *e.MACOK
	kind := host.Kind(e.Kind)
	switch {
	case !macOK:
		return
	case kind == host.KindAdvice:
		if e.ResponseCode != host.AdviceAccepted || e.Ref == "" {
			return
		}
		k := adviceKey(e.TerminalID, e.Ref)
		if _, ok := s.advices[k]; ok {
			return
		}
		s.advices[k] = adviceRecord{amount: e.Amount, currency: e.Currency}
	case kind == host.KindReversal:
		if e.Duplicate || (e.ResponseCode != "" && e.ResponseCode != RCApproved) {
			return
		}
		if e.OrigRef != "" {
			s.reversed[e.TerminalID+"|"+e.OrigRef] = RCApproved
		}
	case kind == host.KindSettlement && e.ResponseCode == RCOutOfBalance && !e.Duplicate:
		// Out of balance: nothing applied, but the close after the
		// upload remembers what the terminal offered first.
		s.ledger.offer(lreqOfEntry(e))
		return
	case e.ResponseCode != RCApproved || e.Duplicate:
		return
	}
	switch kind {
	case host.KindAdvice, host.KindReversal, host.KindPurchase, host.KindRefund, host.KindPreauth,
		host.KindVoid, host.KindCompletion, host.KindSettlement, host.KindBatchUpload:
	default:
		return
	}
	st.applied++
	if res := s.ledger.do(lreqOfEntry(e)); res.rc != RCApproved || res.dup {
		st.inconsistent++
		s.log.Warn("journal line not repeated by the rebuilt ledger", "kind", e.Kind, "stan", e.STAN,
			"terminal_id", e.TerminalID, "response_code", res.rc, "note", res.note)
	}
}

func parseSTAN(s string) uint32 {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}

// lreqOfEntry is the ledger's request of a journal line.
func lreqOfEntry(e Entry) lreq {
	r := lreq{
		kind: host.Kind(e.Kind), tid: e.TerminalID, batch: e.Batch, currency: e.Currency, amount: e.Amount,
		stan: parseSTAN(e.STAN), rrn: e.RRN, auth: e.AuthCode, ref: e.Ref, origKind: host.Kind(e.OrigKind),
		voidedKind: host.Kind(e.VoidedKind),
		origSTAN:   parseSTAN(e.OrigSTAN), origRRN: e.OrigRRN, origAuth: e.OrigAuthCode, origBatch: e.OrigBatch,
		afterUpload: e.AfterUpload, uploadCount: e.UploadCount,
	}
	if e.Totals != nil {
		r.totals = e.Totals.Terminal.host()
	}
	return r
}

// lreqOf is the ledger's request of req, journaled as in.
func lreqOf(req host.Request, in *Entry) lreq {
	return lreq{
		kind: req.Kind, tid: in.TerminalID, batch: req.Batch, currency: req.Currency, amount: req.Amount,
		stan: req.STAN, rrn: in.RRN, auth: in.AuthCode, ref: req.Ref, origKind: req.OrigKind,
		voidedKind: req.VoidedKind,
		origSTAN:   req.OrigSTAN, origRRN: req.OrigRRN, origAuth: req.OrigAuthCode, origBatch: req.OrigBatch,
		totals: req.Totals, afterUpload: req.AfterUpload, uploadCount: req.UploadCount,
	}
}
