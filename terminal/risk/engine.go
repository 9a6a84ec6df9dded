package risk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"posd/conn/clock"
	"posd/terminal/money"
)

// OfflineLedger tells the engine what the terminal approved offline and has
// not yet forwarded to the host. The sale engine implements it from its own
// records (the one source of truth: the risk engine keeps no copy that
// could drift from them). It is asked only when the host is unreachable.
type OfflineLedger interface {
	OfflinePending(ctx context.Context) (OfflineSummary, error)
}

// OfflineLedgerFunc adapts a function to OfflineLedger.
type OfflineLedgerFunc func(ctx context.Context) (OfflineSummary, error)

// OfflinePending implements OfflineLedger.
func (f OfflineLedgerFunc) OfflinePending(ctx context.Context) (OfflineSummary, error) {
	return f(ctx)
}

// OfflineSummary describes the offline approvals waiting to be forwarded.
type OfflineSummary struct {
	Count int
	// Amount is their sum, in minor units of the rules' currency.
	Amount int64
	// Oldest is when the oldest of them was approved (zero when Count is 0).
	Oldest time.Time
	// Newest is when the newest of them was approved (zero when Count is
	// 0, or unknown): the clock is behind when it is later than now.
	Newest time.Time
}

// Opts configure the engine. DB and HashKey are required.
type Opts struct {
	// DB is the terminal's bbolt file (store.DB.Bolt()); the engine keeps
	// its state in its own risk_* buckets.
	DB *bolt.DB
	// HashKey is the terminal's secret key for the keyed hashes of PANs
	// (at least MinHashKeyLen bytes). It is copied.
	HashKey []byte
	// Offline reports the pending offline approvals; nil: nothing is ever
	// approved offline (RuleOfflineDisabled).
	Offline OfflineLedger
	// Clock is the engine's time (velocity windows, offline age); nil is
	// the wall clock.
	Clock clock.Clock
	// NotBefore is a time the clock cannot truly be before: the
	// firmware's build time. A clock before it (a board without a
	// battery-backed clock after a power cut, a forged NTP answer) is
	// wrong, and nothing is approved offline (RuleOfflineClock). Zero: no
	// such bound.
	NotBefore time.Time
	// HostClock is the acquirer's clock as last seen (answers of the
	// host): a clock more than ClockTolerance away from it, ahead or
	// behind, is wrong (RuleOfflineClock). Nil: only NotBefore and the
	// offline approvals waiting judge the clock, and a clock set forward
	// is not seen.
	HostClock *HostClock
	// Logger receives refusals (rule code, type, entry mode, amount: never
	// card data); nil discards.
	Logger *slog.Logger
}

// Txn is a transaction to judge, before authorization (Check) or after its
// outcome (Record).
type Txn struct {
	Type TxnType
	// Amount in minor units, 1 to MaxMinor.
	Amount int64
	// Currency, ISO 4217 alphabetic or numeric ("CNY", "156").
	Currency string
	Entry    EntryMode
	// PAN is the card number, 12 to 19 ASCII digits, required for swipe,
	// insert and tap (unless Card is set). The engine only computes its
	// keyed hash and keeps nothing of it; the caller wipes the slice when
	// the sale no longer needs it.
	PAN []byte
	// Card is the card's keyed hash (Decision.Card, Engine.Card), used when
	// PAN is empty: the caller may wipe the PAN right after Check and give
	// Record the Card instead.
	Card CardID
	// Online: the host is reachable. False means the transaction would be
	// approved offline, and the offline rules apply.
	Online bool
	// Original: a refund names the approved sale of this terminal it
	// refunds (RefundRules.RequireOriginal).
	Original bool
}

// Decision is the outcome of Check.
type Decision struct {
	// Allow: every rule passed; the sale may go on to authorization (or to
	// an offline approval, when the host is unreachable).
	Allow bool `json:"allow"`
	// Rule is the code of the rule that refused ("" when allowed).
	Rule Code `json:"rule,omitempty"`
	// CVM is the verification the terminal requires when allowed. The
	// card's own CVM list (EMV kernel) may ask for more; the stricter wins.
	CVM CVM `json:"cvm,omitempty"`
	// Reason says why, for the engineer's log and the record's detail; the
	// display words Rule instead. No card data.
	Reason string `json:"reason,omitempty"`
	// Card is the card's keyed hash, when the transaction had a card: pass
	// it to Record in Txn.Card once the PAN is wiped. Never printed.
	Card CardID `json:"-"`
	// Err is the error behind RuleInvalid and RuleUnavailable.
	Err error `json:"-"`
}

// Engine applies the rules. It is safe for concurrent use; Check and
// Record of one card are meant to bracket one authorization at a time (the
// sale engine runs one sale at a time), since Check judges the state as it
// is when called.
type Engine struct {
	db        *bolt.DB
	hasher    *Hasher
	offline   OfflineLedger
	clock     clock.Clock
	notBefore time.Time
	hostClock *HostClock
	log       *slog.Logger

	rules   atomic.Pointer[compiled]
	hotlist atomic.Pointer[Hotlist]
	ranges  atomic.Pointer[rangeSet] // card ranges on the hotlist (ranges.go)

	hlMu  sync.Mutex // serializes hotlist updates
	floor uint64     // the stored hotlist's version, even when unusable
}

// compiled is a validated Rules with its currency looked up.
type compiled struct {
	Rules
	cur money.Currency
}

func compile(r Rules) (*compiled, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	cur, _ := money.Lookup(r.Currency) // Validate looked it up
	return &compiled{Rules: r, cur: cur}, nil
}

// New builds an engine on its buckets in o.DB, creating them on first use,
// and takes up the hotlist stored there. A stored hotlist built for another
// hash key (the key was changed) is not used: it is logged, and the
// terminal runs without a hotlist until a new one is loaded.
func New(r Rules, o Opts) (*Engine, error) {
	if o.DB == nil {
		return nil, fmt.Errorf("%w: no database", ErrStorage)
	}
	c, err := compile(r)
	if err != nil {
		return nil, err
	}
	h, err := NewHasher(o.HashKey)
	if err != nil {
		return nil, err
	}
	e := &Engine{db: o.DB, hasher: h, offline: o.Offline, clock: clock.Or(o.Clock), notBefore: o.NotBefore,
		hostClock: o.HostClock, log: o.Logger}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.rules.Store(c)
	hl, err := initStorage(o.DB)
	if err != nil {
		return nil, err
	}
	if hl != nil {
		e.floor = hl.version
		if hl.kcv == h.KCV() {
			e.hotlist.Store(hl)
		} else {
			e.log.Warn("risk: the stored hotlist was built for another hash key; running without a hotlist until a new one is loaded",
				"hotlist_version", hl.version)
		}
	}
	return e, nil
}

// Rules returns the rules in force.
func (e *Engine) Rules() Rules { return e.rules.Load().Rules }

// SetRules replaces the rules, after validating them (the old ones stay
// on error). Checks already running finish under the old rules.
func (e *Engine) SetRules(r Rules) error {
	c, err := compile(r)
	if err != nil {
		return err
	}
	e.rules.Store(c)
	return nil
}

// Hotlist returns the hotlist in use, nil when none is loaded.
func (e *Engine) Hotlist() *Hotlist { return e.hotlist.Load() }

// LoadHotlist parses a hotlist file and puts it in use (SetHotlist).
func (e *Engine) LoadHotlist(file []byte) error {
	h, err := ParseHotlist(file)
	if err != nil {
		return err
	}
	return e.SetHotlist(h)
}

// SetHotlist replaces the hotlist, whole: it is committed to the database
// first, then checks use it; a crash in between leaves the new one on disk
// for the next start. It refuses a list built for another hash key
// (ErrHotlistKey) and one older than the list in use or stored
// (ErrHotlistStale); the same version with the same cards again is
// accepted and changes nothing.
func (e *Engine) SetHotlist(h *Hotlist) error {
	if h == nil {
		return fmt.Errorf("%w: no hotlist", ErrHotlist)
	}
	if h.kcv != e.hasher.KCV() {
		return fmt.Errorf("%w: file kcv %s, terminal kcv %s", ErrHotlistKey, h.kcv, e.hasher.KCV())
	}
	e.hlMu.Lock()
	defer e.hlMu.Unlock()
	cur := e.hotlist.Load()
	switch {
	case h.version < e.floor:
		return fmt.Errorf("%w: version %d, in use %d", ErrHotlistStale, h.version, e.floor)
	case h.version == e.floor && cur != nil && cur.same(h):
		return nil
	case h.version == e.floor && e.floor != 0:
		return fmt.Errorf("%w: version %d again, with other entries", ErrHotlistStale, h.version)
	}
	if err := putHotlist(e.db, h); err != nil {
		return err
	}
	e.floor = h.version
	e.hotlist.Store(h)
	e.log.Info("risk: hotlist in use", "version", h.version, "entries", h.Len())
	return nil
}

// Card returns the keyed hash of pan (see Hasher.Card).
func (e *Engine) Card(pan []byte) (CardID, error) { return e.hasher.Card(pan) }

// Check judges t before authorization. Rules apply in this order, the
// first that refuses is reported: the transaction itself (RuleInvalid),
// currency, hotlist (every type), the entry mode's maximum amount (every
// type but void), the offline rules that need no state (enabled, type,
// entry mode, magstripe, floor limit, CVM), velocity (sales and
// preauthorizations), then the offline ledger (clock, count, amount, age). When
// everything passes, CVM says what verification to ask for.
//
// Check never keeps t.PAN; see Txn.
func (e *Engine) Check(ctx context.Context, t Txn) Decision {
	r := e.rules.Load()
	d, card, ok := e.start(ctx, r, t)
	if !ok {
		return e.refused(d, t)
	}
	refuse := func(code Code, format string, a ...any) Decision {
		return e.refused(Decision{Rule: code, Reason: fmt.Sprintf(format, a...), Card: card}, t)
	}
	hasCard := !card.IsZero()
	now := e.clock.Now()
	amt := r.cur.Format

	if r.Hotlist.Enabled {
		hl := e.hotlist.Load()
		if hl == nil && r.Hotlist.Required {
			return refuse(RuleHotlistMissing, "no hotlist loaded and the rules require one")
		}
		if hasCard && hl.Contains(card) {
			return refuse(RuleHotlist, "card is on the hotlist (version %d)", hl.version)
		}
		if e.ranges.Load().contains(t.PAN) {
			return refuse(RuleHotlist, "card's range is on the hotlist")
		}
	}
	if limit := r.MaxAmount.Of(t.Entry); limit > 0 && t.Type != TypeVoid && t.Amount > limit {
		return refuse(maxAmountRule(t.Entry), "amount %s above the %s limit %s %s", amt(t.Amount), t.Entry, amt(limit), r.cur.Alpha)
	}
	if !t.Online {
		if d, ok := e.offlineStatic(r, t, refuse); !ok {
			return d
		}
	}
	if r.Velocity.Enabled && hasCard && t.Type.debit() {
		window := time.Duration(r.Velocity.Window)
		var n int
		var sum int64
		err := e.db.View(func(tx *bolt.Tx) error {
			var err error
			n, sum, err = velocitySince(tx, card, now.Add(-window))
			return err
		})
		if err != nil {
			return e.refused(Decision{Rule: RuleUnavailable, Reason: "velocity state unreadable", Card: card, Err: storageErr(err)}, t)
		}
		if limit := r.Velocity.MaxCount; limit > 0 && n+1 > limit {
			return refuse(RuleVelocityCount, "card has %d approved transactions on this terminal in the last %s; at most %d",
				n, window, limit)
		}
		if limit := r.Velocity.MaxAmount; limit > 0 && addSat(sum, t.Amount) > limit {
			return refuse(RuleVelocityAmount, "card's approved amount on this terminal in the last %s would be %s; at most %s",
				window, amt(addSat(sum, t.Amount)), amt(limit))
		}
	}
	if t.Type == TypeRefund {
		if d, ok := e.refundRules(r, t, card, now, refuse); !ok {
			return d
		}
	}
	if !t.Online {
		if d, ok := e.offlineLedger(ctx, r, t, card, now, refuse); !ok {
			return d
		}
	}
	return Decision{Allow: true, CVM: r.cvm(t), Card: card}
}

// refundRules runs the refund rules on refund t: it names its sale when
// the rules require it, and the refunds approved within the window stay
// within the cap.
func (e *Engine) refundRules(r *compiled, t Txn, card CardID, now time.Time, refuse refuser) (Decision, bool) {
	rr := r.Refund
	if rr.RequireOriginal && !t.Original {
		return refuse(RuleRefundUnreferenced, "a refund must name the sale of this terminal it refunds"), false
	}
	if rr.MaxTotal == 0 {
		return Decision{}, true
	}
	window := time.Duration(rr.Window)
	var sum int64
	err := e.db.View(func(tx *bolt.Tx) error {
		var err error
		sum, err = refundsSince(tx, now.Add(-window))
		return err
	})
	if err != nil {
		return e.refused(Decision{Rule: RuleUnavailable, Reason: "refund state unreadable", Card: card, Err: storageErr(err)}, t), false
	}
	if total := addSat(sum, t.Amount); total > rr.MaxTotal {
		return refuse(RuleRefundTotal, "refunds on this terminal in the last %s would total %s; at most %s",
			window, r.cur.Format(total), r.cur.Format(rr.MaxTotal)), false
	}
	return Decision{}, true
}

// refuser makes a refusal of rule code.
type refuser func(code Code, format string, a ...any) Decision

// offlineStatic runs the offline rules that need no state: enabled, type,
// entry mode, magstripe, floor limit, CVM.
func (e *Engine) offlineStatic(r *compiled, t Txn, refuse refuser) (Decision, bool) {
	amt := r.cur.Format
	switch {
	case !r.Offline.Enabled:
		return refuse(RuleOfflineDisabled, "host unreachable and offline approvals are disabled"), false
	case e.offline == nil:
		return refuse(RuleOfflineDisabled, "host unreachable and this terminal keeps no offline ledger"), false
	case t.Type != TypeSale:
		return refuse(RuleOfflineType, "host unreachable: only sales are approved offline, not %s", t.Type), false
	case !t.Entry.card():
		return refuse(RuleOfflineEntryMode, "host unreachable: %s payments need their platform online", t.Entry), false
	case t.Entry == EntrySwipe && !r.Offline.Magstripe:
		return refuse(RuleOfflineMagstripe, "host unreachable and swiped cards are not approved offline"), false
	case t.Amount > r.Offline.FloorLimit:
		return refuse(RuleOfflineFloorLimit, "host unreachable and amount %s above the floor limit %s",
			amt(t.Amount), amt(r.Offline.FloorLimit)), false
	case r.cvm(t) == CVMOnlinePIN:
		return refuse(RuleOfflineCVM, "host unreachable and a %s of %s needs an online PIN (no-CVM limit %s)",
			t.Entry, amt(t.Amount), amt(r.CVM.NoCVMLimit.Of(t.Entry))), false
	}
	return Decision{}, true
}

// offlineLedger runs the offline rules on what waits to be forwarded:
// the clock against it, count, amount and age.
func (e *Engine) offlineLedger(ctx context.Context, r *compiled, t Txn, card CardID, now time.Time, refuse refuser) (Decision, bool) {
	amt := r.cur.Format
	s, err := e.offline.OfflinePending(ctx)
	if err == nil && (s.Count < 0 || s.Amount < 0 || (s.Count > 0 && s.Oldest.IsZero())) {
		err = fmt.Errorf("%w: inconsistent summary (count %d, amount %d, oldest set %t)", ErrOffline, s.Count, s.Amount, !s.Oldest.IsZero())
	} else if err != nil {
		err = fmt.Errorf("%w: %w", ErrOffline, err)
	}
	if err != nil {
		return e.refused(Decision{Rule: RuleUnavailable, Reason: "offline ledger unreadable", Card: card, Err: err}, t), false
	}
	if p := e.clockProblem(now, s); p != "" {
		return refuse(RuleOfflineClock, "host unreachable and %s", p), false
	}
	o := r.Offline
	if s.Count+1 > o.MaxCount {
		return refuse(RuleOfflineCount, "%d offline approvals waiting to be forwarded; at most %d", s.Count, o.MaxCount), false
	}
	if total := addSat(s.Amount, t.Amount); total > o.MaxAmount {
		return refuse(RuleOfflineAmount, "offline approvals waiting would total %s; at most %s", amt(total), amt(o.MaxAmount)), false
	}
	if age := now.Sub(s.Oldest); s.Count > 0 && age > time.Duration(o.MaxAge) {
		return refuse(RuleOfflineAge, "oldest offline approval waiting for %s; at most %s",
			age.Truncate(time.Second), time.Duration(o.MaxAge)), false
	}
	return Decision{}, true
}

// ClockTolerance is how far the clock may be behind the newest offline
// approval, before Opts.NotBefore, or away from the acquirer's
// (Opts.HostClock), before it counts as wrong: a stepping NTP correction
// of a few seconds, or a slow answer, is no reason to refuse.
const ClockTolerance = 5 * time.Minute

// clockProblem is "" when the clock at now can date an offline approval:
// not before the engine's NotBefore, not behind the newest offline
// approval waiting (it went back since), not away from the acquirer's
// as last seen. Else it says why.
func (e *Engine) clockProblem(now time.Time, s OfflineSummary) string {
	newest := s.Newest
	if s.Oldest.After(newest) { // a ledger that does not say
		newest = s.Oldest
	}
	switch {
	case !e.notBefore.IsZero() && now.Before(e.notBefore.Add(-ClockTolerance)):
		return fmt.Sprintf("the clock (%s) is before the firmware's build time %s",
			now.UTC().Format(time.RFC3339), e.notBefore.UTC().Format(time.RFC3339))
	case s.Count > 0 && now.Before(newest.Add(-ClockTolerance)):
		return fmt.Sprintf("the clock (%s) is %s behind the newest offline approval waiting",
			now.UTC().Format(time.RFC3339), newest.Sub(now).Truncate(time.Second))
	}
	if skew, seen, ok := e.hostClock.Skew(); ok && (skew > ClockTolerance || skew < -ClockTolerance) {
		way := "ahead of"
		if skew < 0 {
			way, skew = "behind", -skew
		}
		return fmt.Sprintf("the clock (%s) is %s %s the acquirer's (its time seen at %s)",
			now.UTC().Format(time.RFC3339), skew.Truncate(time.Second), way, seen.UTC().Format(time.RFC3339))
	}
	return ""
}

// CheckClock is nil when the terminal's clock can be trusted to date an
// offline approval, else an error matching ErrClock that says why (for
// the engineer's status), or ErrOffline when the ledger is unreadable.
func (e *Engine) CheckClock(ctx context.Context) error {
	var s OfflineSummary
	if e.offline != nil {
		var err error
		if s, err = e.offline.OfflinePending(ctx); err != nil {
			return fmt.Errorf("%w: %w", ErrOffline, err)
		}
	}
	return e.CheckClockOf(s)
}

// CheckClockOf is CheckClock on a summary of the offline ledger the
// caller has read already.
func (e *Engine) CheckClockOf(s OfflineSummary) error {
	if p := e.clockProblem(e.clock.Now(), s); p != "" {
		return fmt.Errorf("%w: %s", ErrClock, p)
	}
	return nil
}

// CheckOffline judges, before the card is read, whether t may be approved
// offline should it come to that: the offline rules alone (enabled, type,
// entry mode, magstripe, floor limit, CVM, then the clock, the count, amount and age
// of what waits to be forwarded). The sale asks it before the chip kernel
// runs, to tell the kernel to go online when the answer is no; Check with
// the card still judges the sale. A refusal is logged like Check's.
func (e *Engine) CheckOffline(ctx context.Context, t Txn) Decision {
	r := e.rules.Load()
	t.Online, t.PAN = false, nil
	if err := ctx.Err(); err != nil {
		return e.refused(Decision{Rule: RuleUnavailable, Reason: "check abandoned", Err: err}, t)
	}
	refuse := func(code Code, format string, a ...any) Decision {
		return e.refused(Decision{Rule: code, Reason: fmt.Sprintf(format, a...)}, t)
	}
	if !t.Type.Known() || !t.Entry.Known() || t.Amount < 1 || t.Amount > MaxMinor {
		return refuse(RuleInvalid, "invalid transaction")
	}
	if d, ok := e.offlineStatic(r, t, refuse); !ok {
		return d
	}
	if d, ok := e.offlineLedger(ctx, r, t, CardID{}, e.clock.Now(), refuse); !ok {
		return d
	}
	return Decision{Allow: true, CVM: r.cvm(t)}
}

// start validates t and computes its card id. When !ok, d is the refusal.
func (e *Engine) start(ctx context.Context, r *compiled, t Txn) (d Decision, card CardID, ok bool) {
	if err := ctx.Err(); err != nil {
		return Decision{Rule: RuleUnavailable, Reason: "check abandoned", Err: err}, card, false
	}
	card, err := e.validate(r, t)
	if err != nil {
		code := RuleInvalid
		if errorsIsCurrency(err) {
			code = RuleCurrency
		}
		return Decision{Rule: code, Reason: err.Error(), Card: card, Err: err}, card, false
	}
	return Decision{}, card, true
}

// errCurrency marks a currency that is valid but not the rules'.
type errCurrency struct{ got, want string }

func (e *errCurrency) Error() string {
	return fmt.Sprintf("risk: invalid transaction: currency %s, the rules' amounts are %s", e.got, e.want)
}

// Is reports whether target is ErrTxn.
func (e *errCurrency) Is(target error) bool { return target == ErrTxn }

func errorsIsCurrency(err error) bool {
	var ce *errCurrency
	return errors.As(err, &ce)
}

// shown quotes a string the caller passed, for an error, unless it could
// be card data put in the wrong field (long, or more than a few digits).
func shown(s string) string {
	digits := 0
	for i := 0; i < len(s); i++ {
		if '0' <= s[i] && s[i] <= '9' {
			digits++
		}
	}
	if len(s) > 24 || digits > 4 {
		return fmt.Sprintf("(%d bytes, not shown)", len(s))
	}
	return strconv.Quote(s)
}

// validate checks t and returns its card id (zero when it has no card).
func (e *Engine) validate(r *compiled, t Txn) (CardID, error) {
	var card CardID
	switch {
	case !t.Type.Known():
		return card, fmt.Errorf("%w: type %s", ErrTxn, shown(string(t.Type)))
	case !t.Entry.Known():
		return card, fmt.Errorf("%w: entry mode %s", ErrTxn, shown(string(t.Entry)))
	case t.Type == TypeBalance && t.Amount != 0:
		return card, fmt.Errorf("%w: a balance inquiry has no amount", ErrTxn)
	case t.Type != TypeBalance && (t.Amount < 1 || t.Amount > MaxMinor):
		return card, fmt.Errorf("%w: amount %d minor units, want 1 to %d", ErrTxn, t.Amount, MaxMinor)
	}
	if t.Currency != r.cur.Alpha && t.Currency != r.cur.Numeric {
		c, err := money.Lookup(t.Currency)
		if err != nil {
			return card, fmt.Errorf("%w: unknown currency %s", ErrTxn, shown(t.Currency))
		}
		if c != r.cur {
			return card, &errCurrency{got: c.Alpha, want: r.cur.Alpha}
		}
	}
	if len(t.PAN) > 0 {
		c, err := e.hasher.Card(t.PAN)
		if err != nil {
			return card, fmt.Errorf("%w: %w", ErrTxn, err)
		}
		card = c
	} else {
		card = t.Card
	}
	if t.Entry.card() && card.IsZero() {
		return card, fmt.Errorf("%w: %s without a card number", ErrTxn, t.Entry)
	}
	return card, nil
}

// cvm is the verification tier of t. Offline, an inserted chip card's PIN
// is verified by the card; a swipe or tap that needs a PIN cannot be
// verified offline (CVMOnlinePIN, which the offline rules refuse).
func (r *compiled) cvm(t Txn) CVM {
	switch {
	case t.Type == TypeBalance && t.Entry.card():
		return CVMOnlinePIN
	case !t.Type.debit() || t.Entry == EntryQR:
		return CVMNone
	case t.Entry == EntryFace:
		return CVMPaymentPassword
	case t.Amount <= r.CVM.NoCVMLimit.Of(t.Entry):
		return CVMNone
	case !t.Online && t.Entry == EntryInsert:
		return CVMOfflinePIN
	}
	return CVMOnlinePIN
}

// refused logs d and returns it.
func (e *Engine) refused(d Decision, t Txn) Decision {
	lvl := slog.LevelInfo
	if d.Rule == RuleInvalid || d.Rule == RuleUnavailable {
		lvl = slog.LevelWarn
	}
	typ, entry := string(t.Type), string(t.Entry)
	if !t.Type.Known() {
		typ = "unknown"
	}
	if !t.Entry.Known() {
		entry = "unknown"
	}
	attrs := []any{"rule", string(d.Rule), "type", typ, "entry", entry, "amount", t.Amount, "online", t.Online}
	if d.Err != nil {
		attrs = append(attrs, "err", d.Err.Error())
	}
	e.log.Log(context.Background(), lvl, "risk: refused", attrs...)
	return d
}

// Record notes the outcome of an authorized (or offline approved)
// transaction. Approved sales and preauthorizations with a card count
// for velocity while it is enabled: the card's keyed hash, the time and
// the amount are committed (fsync) before Record returns, and approvals
// that have left the window are pruned on the way (a bounded number per
// call; Prune does the rest). Approved refunds (by card or wallet) count
// for the refund total: the time and the amount, no card. Declines keep
// nothing. Record never keeps t.PAN; see Txn.
func (e *Engine) Record(ctx context.Context, t Txn, approved bool) error {
	return e.record(ctx, t, approved, func(fn func(*bolt.Tx) error) error { return e.db.Update(fn) })
}

// RecordTx is Record inside the caller's transaction of the same bbolt
// database, so the approval and its velocity entry commit together.
func (e *Engine) RecordTx(ctx context.Context, tx *bolt.Tx, t Txn, approved bool) error {
	return e.record(ctx, t, approved, func(fn func(*bolt.Tx) error) error { return fn(tx) })
}

func (e *Engine) record(ctx context.Context, t Txn, approved bool, in func(func(*bolt.Tx) error) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := e.rules.Load()
	card, err := e.validate(r, t)
	if err != nil {
		return err
	}
	now := e.clock.Now()
	if approved && t.Type == TypeRefund {
		cutoff := now.Add(-time.Duration(r.Refund.Window))
		return storageErr(in(func(tx *bolt.Tx) error {
			if _, _, err := pruneRefunds(tx, cutoff, pruneOnRecord); err != nil {
				return err
			}
			return addRefund(tx, now, t.Amount)
		}))
	}
	if !approved || !t.Type.debit() || !r.Velocity.Enabled || card.IsZero() {
		return nil
	}
	cutoff := now.Add(-time.Duration(r.Velocity.Window))
	return storageErr(in(func(tx *bolt.Tx) error {
		if _, _, err := pruneVelocity(tx, cutoff, pruneOnRecord); err != nil {
			return err
		}
		return addVelocity(tx, card, now, t.Amount)
	}))
}

// pruneOnRecord bounds the pruning Record does, so the sale's commit stays
// small; pruneBatch bounds one transaction of Prune.
const (
	pruneOnRecord = 32
	pruneBatch    = 1000
)

// Prune deletes every recorded approval that has left the velocity window
// and returns how many. Record prunes as it goes; call Prune at start-up
// or now and then after velocity was disabled or its window shortened.
func (e *Engine) Prune(ctx context.Context) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		r := e.rules.Load()
		now := e.clock.Now()
		cutoff, refundCutoff := now.Add(-time.Duration(r.Velocity.Window)), now.Add(-time.Duration(r.Refund.Window))
		var n int
		var more bool
		err := e.db.Update(func(tx *bolt.Tx) error {
			var err error
			if n, more, err = pruneVelocity(tx, cutoff, pruneBatch); err != nil {
				return err
			}
			m, moreRefunds, err := pruneRefunds(tx, refundCutoff, pruneBatch)
			n, more = n+m, more || moreRefunds
			return err
		})
		total += n
		if err != nil || !more {
			return total, storageErr(err)
		}
	}
}
