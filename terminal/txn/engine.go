// Package txn is the transaction engine: it runs a sale from the cashier's
// request to the host's answer, moving the durable record through its
// states (see terminal/store) and deciding what happens when something
// fails: nothing sent (failed), outcome unknown (a reversal, queued durably
// and retried until the host acknowledges it).
package txn

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"posd/terminal/host"
	"posd/terminal/redact"
	"posd/terminal/store"
	"posd/terminal/wiresec"
)

// Card is what a reader delivers. It holds sensitive data: Wipe it.
type Card struct {
	PAN         string
	Track2      []byte // track 2 equivalent data, between the sentinels
	Expiry      string // YYMM
	ServiceCode string
	EntryMode   string // ISO 8583 DE22
	Wipe        func()
}

// CardReader is what the engine needs of the card entry devices.
type CardReader interface {
	// Flush discards anything presented before the sale started.
	Flush()
	// ReadCard waits for a card.
	ReadCard(ctx context.Context) (*Card, error)
}

// Host is the acquirer link.
type Host interface {
	Purchase(ctx context.Context, p host.Purchase, s *wiresec.Session) (host.Result, error)
	Reverse(ctx context.Context, r host.Reversal, s *wiresec.Session) (host.Result, error)
}

// Keys yields one session (one DUKPT transaction key) per message; the
// originator state is on disk before the session is returned.
type Keys interface {
	Next() (*wiresec.Session, error)
}

// Opts configure the engine. Store, Host, Keys and Reader are required.
type Opts struct {
	Store  *store.DB
	Host   Host
	Keys   Keys
	Reader CardReader
	Logger *slog.Logger
	Now    func() time.Time

	// CardTimeout bounds the wait for a card.
	CardTimeout time.Duration
	// HostTimeout bounds one exchange with the host (the host client has
	// its own connect and response timeouts inside it).
	HostTimeout time.Duration
	// ReversalRetry is the pause between reversal attempts.
	ReversalRetry time.Duration
	// MaxAmount bounds a sale in minor units (0: no limit).
	MaxAmount int64
	// Currencies accepted (ISO 4217 numeric); empty: any.
	Currencies []string
}

// Engine runs sales one at a time and sends reversals in the background.
type Engine struct {
	o   Opts
	log *slog.Logger

	mu       sync.Mutex
	active   string             // id of the sale in progress
	cancel   context.CancelFunc // cancels it
	cardRead bool               // the active sale has its card
	changed  chan struct{}      // closed and replaced on every record change

	kick chan struct{} // wakes the reversal loop
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// New checks opts, recovers records left by a crash (created -> failed;
// auth_sent -> reversal_pending) and starts the reversal loop.
func New(opts Opts) (*Engine, error) {
	if opts.Store == nil || opts.Host == nil || opts.Keys == nil || opts.Reader == nil {
		return nil, errors.New("txn: Store, Host, Keys and Reader are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CardTimeout <= 0 {
		opts.CardTimeout = 60 * time.Second
	}
	if opts.HostTimeout <= 0 {
		opts.HostTimeout = 30 * time.Second
	}
	if opts.ReversalRetry <= 0 {
		opts.ReversalRetry = 30 * time.Second
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	e := &Engine{o: opts, log: lg, changed: make(chan struct{}), kick: make(chan struct{}, 1)}
	e.ctx, e.stop = context.WithCancel(context.Background())
	if err := e.recover(); err != nil {
		return nil, err
	}
	e.wg.Add(1)
	go e.reversalLoop()
	return e, nil
}

func (e *Engine) recover() error {
	left, err := e.o.Store.List(0, store.StateCreated, store.StateAuthSent)
	if err != nil {
		return err
	}
	for _, t := range left {
		_, err := e.o.Store.Update(t.ID, func(r *store.Txn) error {
			if r.State == store.StateCreated {
				r.State, r.Error = store.StateFailed, "interrupted before a card was read"
			} else {
				r.State, r.Reason = store.StateReversalPending, "interrupted while the request was in flight"
			}
			return nil
		})
		if err != nil {
			return err
		}
		e.log.Warn("recovered transaction after restart", "id", t.ID, "was", t.State)
	}
	return nil
}

// Halt cancels the sale in progress and stops the reversal loop, waiting
// for both.
func (e *Engine) Halt() {
	e.stop()
	e.mu.Lock()
	if e.cancel != nil {
		e.cancel()
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// Active returns the id of the sale in progress, if any.
func (e *Engine) Active() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.active
}

// StartSale records a new sale and starts waiting for a card. It returns at
// once with the record in state created.
func (e *Engine) StartSale(amount int64, currency string) (store.Txn, error) {
	if amount <= 0 || (e.o.MaxAmount > 0 && amount > e.o.MaxAmount) {
		return store.Txn{}, ErrAmount
	}
	if len(e.o.Currencies) > 0 && !contains(e.o.Currencies, currency) {
		return store.Txn{}, ErrCurrency
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx.Err() != nil {
		return store.Txn{}, ErrHalted
	}
	if e.active != "" {
		return store.Txn{}, ErrBusy
	}
	t := store.Txn{Kind: "purchase", Amount: amount, Currency: currency}
	if err := e.o.Store.Create(&t); err != nil {
		return store.Txn{}, err
	}
	e.o.Reader.Flush()
	ctx, cancel := context.WithTimeout(e.ctx, e.o.CardTimeout+2*e.o.HostTimeout)
	e.active, e.cancel, e.cardRead = t.ID, cancel, false
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer cancel()
		e.runSale(ctx, t)
		e.mu.Lock()
		e.release(t.ID)
		e.notifyLocked()
		e.mu.Unlock()
	}()
	return t, nil
}

// Cancel stops the sale id while it still waits for a card. Once a card
// was read the sale runs to its outcome (a request may be on the wire).
func (e *Engine) Cancel(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.active != id || e.cancel == nil {
		return fmt.Errorf("%w: %s is not in progress", store.ErrState, id)
	}
	if e.cardRead {
		return fmt.Errorf("%w: %s: the card was read, the sale can no longer be cancelled", store.ErrState, id)
	}
	e.cancel()
	return nil
}

// Wait returns the record once it reaches a final state or
// reversal_pending, or when ctx ends (then with the current record).
func (e *Engine) Wait(ctx context.Context, id string) (store.Txn, error) {
	for {
		e.mu.Lock()
		ch := e.changed
		e.mu.Unlock()
		t, err := e.o.Store.Get(id)
		if err != nil || t.State.Final() || t.State == store.StateReversalPending {
			return t, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return t, nil
		}
	}
}

func (e *Engine) notifyLocked() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// release frees the terminal for the next sale once sale id has an
// outcome. Caller holds e.mu.
func (e *Engine) release(id string) {
	if e.active == id {
		e.active, e.cancel = "", nil
	}
}

func (e *Engine) update(id string, fn func(*store.Txn)) (store.Txn, error) {
	t, err := e.o.Store.Update(id, func(r *store.Txn) error { fn(r); return nil })
	e.mu.Lock()
	if err == nil && (t.State.Final() || t.State == store.StateReversalPending) {
		// Whoever sees the outcome (Wait) may start the next sale at once.
		e.release(id)
	}
	e.notifyLocked()
	e.mu.Unlock()
	if err != nil {
		e.log.Error("transaction record update failed", "id", id, "err", err)
	}
	return t, err
}

func (e *Engine) fail(id string, err error) {
	e.log.Info("sale failed", "id", id, "err", err)
	e.update(id, func(r *store.Txn) { r.State, r.Error = store.StateFailed, err.Error() })
}

func (e *Engine) runSale(ctx context.Context, t store.Txn) {
	cardCtx, cancel := context.WithTimeout(ctx, e.o.CardTimeout)
	card, err := e.o.Reader.ReadCard(cardCtx)
	cancel()
	e.mu.Lock()
	cancelled := ctx.Err() != nil
	e.cardRead = err == nil && !cancelled
	e.mu.Unlock()
	if err == nil && cancelled {
		// Cancelled as the card arrived: drop it.
		card.Wipe()
		err = ctx.Err()
	}
	switch {
	case err == nil:
	case ctx.Err() != nil && e.ctx.Err() == nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		e.fail(t.ID, fmt.Errorf("%w: cancelled", ErrNoCard))
		return
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		e.fail(t.ID, ErrNoCard)
		return
	default:
		e.fail(t.ID, fmt.Errorf("%w: %w", ErrCardRead, err))
		return
	}
	defer card.Wipe()
	masked := redact.MaskPAN(card.PAN)
	if expired(card.Expiry, e.o.Now()) {
		e.update(t.ID, func(r *store.Txn) { r.MaskedPAN = masked })
		e.fail(t.ID, ErrCardExpired)
		return
	}

	sess, err := e.o.Keys.Next()
	if err != nil {
		e.fail(t.ID, fmt.Errorf("%w: %w", ErrKeys, err))
		return
	}
	defer sess.Wipe()
	stan, err := e.o.Store.NextSTAN()
	if err != nil {
		e.fail(t.ID, err)
		return
	}
	now := e.o.Now()
	// The record reaches auth_sent on disk before anything is sent: a crash
	// from here on ends in a reversal, never in a lost or doubled sale.
	if _, err := e.update(t.ID, func(r *store.Txn) {
		r.State, r.STAN, r.KSN = store.StateAuthSent, stan, hex.EncodeToString(sess.KSN())
		r.MaskedPAN, r.EntryMode, r.SentAt = masked, card.EntryMode, now.UTC()
	}); err != nil {
		return
	}
	hctx, hcancel := context.WithTimeout(e.ctx, e.o.HostTimeout)
	res, err := e.o.Host.Purchase(hctx, host.Purchase{
		STAN: stan, Amount: t.Amount, Currency: t.Currency, EntryMode: card.EntryMode,
		Track2: card.Track2, Time: now,
	}, sess)
	hcancel()
	switch {
	case err == nil && res.ResponseCode == "00":
		e.update(t.ID, func(r *store.Txn) {
			r.State, r.ResponseCode, r.AuthCode, r.RRN = store.StateApproved, res.ResponseCode, res.AuthCode, res.RRN
		})
		e.log.Info("sale approved", "id", t.ID, "stan", stan, "pan", masked)
	case err == nil:
		e.update(t.ID, func(r *store.Txn) {
			r.State, r.ResponseCode, r.RRN = store.StateDeclined, res.ResponseCode, res.RRN
		})
		e.log.Info("sale declined", "id", t.ID, "stan", stan, "rc", res.ResponseCode)
	case errors.Is(err, host.ErrUnreachable):
		// Nothing reached the host: no reversal needed.
		e.fail(t.ID, fmt.Errorf("host unreachable: %w", err))
	default:
		// Sent, outcome unknown (no response, bad MAC, bad response): the
		// host may have approved; reverse.
		e.update(t.ID, func(r *store.Txn) {
			r.State, r.Error, r.Reason = store.StateReversalPending, err.Error(), reversalReason(err)
		})
		e.log.Warn("sale outcome unknown, reversal queued", "id", t.ID, "stan", stan, "err", err)
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}
}

func reversalReason(err error) string {
	switch {
	case errors.Is(err, host.ErrNoResponse):
		return "no response"
	case errors.Is(err, host.ErrBadMAC):
		return "response MAC failed"
	default:
		return "bad response"
	}
}

// reversalLoop sends pending reversals until each is acknowledged.
func (e *Engine) reversalLoop() {
	defer e.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		case <-e.kick:
		}
		e.SendReversals(e.ctx)
		t.Reset(e.o.ReversalRetry)
	}
}

// SendReversals tries every pending reversal once and returns how many are
// still pending.
func (e *Engine) SendReversals(ctx context.Context) int {
	pending, err := e.o.Store.List(0, store.StateReversalPending)
	if err != nil {
		e.log.Error("listing reversals", "err", err)
		return -1
	}
	left := 0
	for _, t := range pending {
		if ctx.Err() != nil {
			return len(pending)
		}
		if err := e.reverse(ctx, t); err != nil {
			left++
			e.log.Warn("reversal not acknowledged", "id", t.ID, "err", err)
		}
	}
	return left
}

func (e *Engine) reverse(ctx context.Context, t store.Txn) error {
	e.update(t.ID, func(r *store.Txn) { r.Attempts++ })
	sess, err := e.o.Keys.Next()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeys, err)
	}
	defer sess.Wipe()
	stan, err := e.o.Store.NextSTAN()
	if err != nil {
		return err
	}
	hctx, cancel := context.WithTimeout(ctx, e.o.HostTimeout)
	defer cancel()
	origKSN, _ := hex.DecodeString(t.KSN)
	res, err := e.o.Host.Reverse(hctx, host.Reversal{
		STAN: stan, OrigSTAN: t.STAN, OrigTime: t.SentAt, OrigEntryMode: t.EntryMode, OrigKSN: origKSN,
		Amount: t.Amount, Currency: t.Currency, Reason: host.ReversalReason(t.Reason),
	}, sess)
	if err != nil {
		return err
	}
	if res.ResponseCode != "00" && res.ResponseCode != "25" { // 25: original not found, nothing to undo
		return fmt.Errorf("reversal answered %q", res.ResponseCode)
	}
	_, err = e.update(t.ID, func(r *store.Txn) { r.State = store.StateReversed })
	e.log.Info("reversal acknowledged", "id", t.ID, "stan", stan)
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// expired reports whether a YYMM expiry is before now's month.
func expired(yymm string, now time.Time) bool {
	if len(yymm) != 4 {
		return true
	}
	y := 2000 + int(yymm[0]-'0')*10 + int(yymm[1]-'0')
	m := int(yymm[2]-'0')*10 + int(yymm[3]-'0')
	ny, nm := now.Year(), int(now.Month())
	return y < ny || (y == ny && m < nm)
}
