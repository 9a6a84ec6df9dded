// Package txn is the transaction engine: it runs a sale from the cashier's
// request to the host's answer as an explicit state machine over the
// durable record (see terminal/store), and sends the work that must reach
// the host whatever happens (reversals now, advices later) from a durable
// outbox.
//
// The sale: one step per state of the record. Each step does its work and
// commits the next state before the action that state guards: the record
// is auth_sent, with its STAN and KSN, on disk before the request leaves;
// an unknown outcome is reversal_pending together with its outbox job in
// one commit. A store error ends the sale failed with FailInternal (or, when
// even that cannot be written, leaves the record for crash recovery at the
// next start).
//
//	created --card read, key, STAN--> auth_sent --answer--> approved | declined
//	   |                                   |--nothing sent--> failed
//	   '--no card, cancel, shutdown,       '--no answer, bad MAC--> reversal_pending (+ job)
//	      expired, no key--> failed                                  '--acknowledged--> reversed
//
// The engine publishes an Event for every change (the customer display
// and the local API follow them; nothing polls the database for prompts).
package txn

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"posd/conn/clock"
	"posd/terminal/facepay"
	"posd/terminal/host"
	"posd/terminal/paycode"
	"posd/terminal/pin"
	"posd/terminal/risk"
	"posd/terminal/store"
	"posd/terminal/wallet"
	"posd/terminal/wiresec"
)

// Card is what a reader delivers. It holds sensitive data: Wipe it.
type Card struct {
	PAN         string
	Track2      []byte // track 2 equivalent data, between the sentinels
	Expiry      string // YYMM
	ServiceCode string
	EntryMode   string // ISO 8583 DE22
	// Mode is how the card was presented, for the risk rules.
	Mode risk.EntryMode
	// Chip is set for a card inserted or tapped: the EMV kernel reads
	// its data (PAN and the rest above are then empty until it has).
	Chip *Chip
	Wipe func()
}

// Release wipes the card's data and lets a chip card go.
func (c *Card) Release() {
	if c == nil {
		return
	}
	if c.Chip != nil && c.Chip.Release != nil {
		c.Chip.Release(context.Background())
		c.Chip.Release = nil
	}
	if c.Wipe != nil {
		c.Wipe()
		c.Wipe = nil
	}
}

// CardReader is what the engine needs of the card entry devices.
type CardReader interface {
	// Flush discards anything presented before the sale started.
	Flush()
	// ReadCard waits for a card. A card presented but unreadable is an
	// error wrapping ErrUnreadable (the sale asks for it again); any other
	// error ends the sale.
	ReadCard(ctx context.Context) (*Card, error)
}

// Host is the acquirer link.
type Host interface {
	Purchase(ctx context.Context, p host.Purchase, s *wiresec.Session) (host.Result, error)
	Reverse(ctx context.Context, r host.Reversal, s *wiresec.Session) (host.Result, error)
	Advice(ctx context.Context, a host.Advice, s *wiresec.Session) (host.Result, error)
	FollowUp(ctx context.Context, r host.Reference, s *wiresec.Session) (host.Result, error)
	Settle(ctx context.Context, st host.Settlement, s *wiresec.Session) (host.Result, error)
	Upload(ctx context.Context, u host.UploadItem, s *wiresec.Session) (host.Result, error)
}

// Keys yields one session (one DUKPT transaction key) per message; the
// originator state is on disk before the session is returned.
type Keys interface {
	Next() (*wiresec.Session, error)
}

// Risk is the terminal's risk rules (terminal/risk): checked before every
// authorization, told of every approval.
type Risk interface {
	Check(ctx context.Context, t risk.Txn) risk.Decision
	Record(ctx context.Context, t risk.Txn, approved bool) error
}

// PINPad reads the customer's PIN: the digits go to build (which makes the
// encrypted PIN block) and are wiped; progress gets the digit count for
// the display, never a digit. Errors: pin.ErrCancelled, pin.ErrTimeout,
// pin.ErrStopped (the context ended), others for a broken keypad.
type PINPad interface {
	ReadPIN(ctx context.Context, progress func(pin.Progress), build func(digits []byte) ([]byte, error)) ([]byte, error)
}

// Opts configure the engine. Store, Host, Keys and Reader are required.
type Opts struct {
	Store  *store.DB
	Host   Host
	Keys   Keys
	Reader CardReader
	// Risk checks each sale before authorization; nil: no rules (tests).
	Risk Risk
	// PIN reads online PINs when the rules or the card ask for one; nil:
	// a sale that needs a PIN fails (FailPINUnavailable).
	PIN PINPad
	// Kernel runs chip cards (inserted or tapped); nil: they are refused.
	Kernel Kernel
	// Modes are the entry modes the card reader takes (the display asks
	// for those); the sale narrows them (insert or swipe after a
	// contactless card asked for another interface).
	Modes  []risk.EntryMode
	Logger *slog.Logger
	// Clock is the engine's time (expiry checks, DE7, backoff); nil is
	// the wall clock.
	Clock clock.Clock
	// Rand spreads the outbox's retries (jitter); nil seeds one from
	// crypto/rand.
	Rand *mrand.Rand

	// CardTimeout bounds the wait for a card.
	CardTimeout time.Duration
	// HostTimeout bounds one exchange with the host (the host client has
	// its own connect and response timeouts inside it).
	HostTimeout time.Duration
	// ReversalRetry is the first pause between reversal attempts; it
	// doubles per attempt up to MaxRetry, with jitter.
	ReversalRetry time.Duration
	// MaxRetry caps the pause between attempts (default 10 minutes, at
	// least ReversalRetry).
	MaxRetry time.Duration
	// Sealer seals the card data an offline approval keeps for its advice;
	// nil: no offline approvals (chip cards are sent online).
	Sealer Sealer
	// AdviceRate caps the advices sent per second (0: no cap); the
	// retries of advices back off like reversals', with full jitter.
	AdviceRate float64
	// MaxAmount bounds a sale in minor units (0: no limit).
	MaxAmount int64
	// Currencies accepted (ISO 4217 numeric); empty: any.
	Currencies []string
	// Codes reads wallet payment codes and Wallet pays with them (sales
	// with Request.Method MethodQR, refunds of those sales); nil: no
	// wallet payments.
	Codes  CodeReader
	Wallet Wallets
	// Merchant is the merchant in the codes the customer display shows
	// (MethodMPM sales), with its account at each platform; nil: no
	// merchant-presented codes.
	Merchant *paycode.Merchant
	// Face is face pay (sales with Request.Method MethodFace); nil: no
	// face pay on this terminal.
	Face *FacePay
	// Apps lets the customer choose a chip card's application on the
	// keypad (EMV book 1 section 12.4); nil: the terminal takes the
	// first application the card lets it use without the cardholder's
	// confirmation.
	Apps AppChooser
}

// AppChooser is the keypad as the customer chooses a chip application:
// ChooseApp calls asked once it listens (the display then shows the
// list), and returns the index of the application taken among n: the key
// 1 to n picks one, Enter takes the first (it confirms the only one);
// ok is false when the customer refused (Cancel). Errors: the context's
// (no choice in time), others for a broken keypad.
type AppChooser interface {
	ChooseApp(ctx context.Context, n int, asked func()) (index int, ok bool, err error)
}

// Phase is what the engine is doing for the customer, as the display
// shows it.
type Phase string

// Phases.
const (
	PhaseIdle        Phase = "idle"         // no sale in progress
	PhaseWaitCard    Phase = "waiting_card" // a sale waits for a card
	PhaseRetryCard   Phase = "retry_card"   // the last card was unreadable: present it again
	PhasePIN         Phase = "pin"          // the customer enters the PIN (Event.PINDigits so far)
	PhaseSelectApp   Phase = "select_app"   // the customer chooses the chip's application on the keypad (Event.Apps), or confirms the only one
	PhaseMessage     Phase = "message"      // the chip asks the customer something (Event.Message)
	PhaseProcessing  Phase = "processing"   // card read, the host is being asked
	PhaseShowCode    Phase = "show_code"    // the display shows the merchant code (Event.Code) for the customer to scan
	PhaseFaceConsent Phase = "face_consent" // face pay: the customer is asked to consent on the keypad (Enter), amount shown
	PhaseFaceCheck   Phase = "face_check"   // face pay: the camera looks; Event.Challenge says what to do, Event.Message hints
	PhaseDone        Phase = "done"         // the sale has its outcome (Txn says which)
)

// Event is one change the engine made: the record as committed and what
// the customer is asked to do. Events carry no card data.
type Event struct {
	Seq   uint64
	Phase Phase
	Txn   store.Txn
	// PINDigits is how many digits the customer has entered (PhasePIN):
	// the display shows one '*' each.
	PINDigits int
	// PINLastTry: the card allows one more offline PIN try.
	PINLastTry bool
	// PINRefused is why the PIN pad refused the last key (PhasePIN):
	// pin.StateTooShort (Enter with too few digits) or pin.StateFull (a
	// digit past the most); "" when it took it.
	PINRefused pin.State
	// Message is the chip's prompt (PhaseMessage): "remove card", "see
	// phone", "incorrect PIN", ...
	Message string
	// Prompt says how to present the card again (PhaseRetryCard):
	// "insert" (a chip card was swiped), "insert_or_swipe" (a contactless
	// card asked for another interface), "tap_again" (a contactless card
	// left the field too early), "see_phone" (a phone asks its holder to
	// confirm on it, then to tap again), "one_card" (more than one card in
	// the contactless field), "" (the card was unreadable).
	Prompt string
	// Code is the merchant-presented payload the display shows as a QR
	// code (PhaseShowCode). It names the merchant, the amount and the
	// order: no customer data.
	Code string
	// Apps are the chip applications the customer chooses among
	// (PhaseSelectApp), by their labels, in the kernel's order: the key
	// 1 takes the first. One application: the customer confirms it
	// (Enter) or refuses it (Cancel).
	Apps []string
	// Challenge is the liveness challenge the customer is asked to do
	// (PhaseFaceCheck): "blink", "left", "right", "closer".
	Challenge string
	// OrigKind is the kind of the record the event's void or completion
	// refers to (the void of a "preauth" is its cancellation), as long as
	// the engine knows it: the transaction's events, and the later ones
	// of the same record while it is the latest.
	OrigKind string
	// Time is when the engine published the event.
	Time time.Time
	// Ended: the event is the outcome of a transaction the cashier ran
	// (a sale, refund, void... ending, a batch closing), published once:
	// its slip or report prints on it. A change the outbox makes in the
	// background (a reversal or an advice acknowledged) is PhaseDone
	// without Ended.
	Ended bool
}

// Engine runs sales one at a time and works the outbox in the background.
type Engine struct {
	o     Opts
	log   *slog.Logger
	clock clock.Clock

	mu      sync.Mutex
	room    batchRoom          // what the open batch holds, as last read (checkBatchRoom)
	lost    lostState          // the open batch's close that got no answer (readLostClose)
	active  string             // id of the sale in progress
	sale    *sale              // the sale in progress (its record may not be stored yet)
	ids     idBlock            // record ids reserved for sales
	cancel  context.CancelFunc // cancels it
	sending bool               // the active sale committed its request: no cancel from here
	changed chan struct{}      // closed and replaced on every event
	last    Event
	subs    map[chan Event]struct{}
	rng     *mrand.Rand
	// nextAdvice is when the next advice may leave (Opts.AdviceRate).
	nextAdvice time.Time
	// hostSilent and hostBusy are the runs of advices the host did not
	// answer and answered busy (see hostRefused).
	hostSilent, hostBusy int
	// counter is open while a customer's transaction is in progress
	// (from Start until its outcome is committed) and closed then; nil
	// when none is. The
	// outbox starts no attempt meanwhile (see beginAttempt).
	counter chan struct{}
	// attempt is open while an outbox attempt is under way and closed
	// when it ends; nil when none is. A sale's request waits for it
	// before its host timeout starts (see waitForOutbox).
	attempt chan struct{}
	// hostRetryAt: the acquirer left an attempt unanswered (or could not
	// be reached); its reversals and advices wait until then, unless a
	// pass over every job is asked for or an answer comes first.
	hostRetryAt time.Time

	// stranded are the transactions whose outcome could not be written
	// (see strand), by id: what their waiters got. strandMu serialises
	// the retries (retryStranded).
	stranded map[string]store.Txn
	strandMu sync.Mutex

	// aside are the transactions to settle by hand (see aside.go);
	// asideMu orders its rebuilds and updates.
	aside   map[string]SetAside
	asideMu sync.Mutex
	// handRev are the reversal_pending records settled by hand (ids):
	// reversals the terminal no longer works on, off the list too.
	handRev map[string]struct{}

	kick chan struct{} // wakes the outbox loop
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	// hostCtx bounds host exchanges; Shutdown lets an authorization in
	// flight finish until its deadline before cancelling it.
	hostCtx    context.Context
	hostCancel context.CancelFunc

	// One pass over the outbox at a time, whoever asks: the retry loop,
	// the API, a restart. Callers that arrive while a pass runs wait for
	// it instead of starting their own, so a reversal is never on the
	// wire twice at once.
	passMu  sync.Mutex
	pass    *pass
	passSeq uint64 // passes started
}

type pass struct {
	done chan struct{}
	left int
	seq  uint64 // passes started before it, plus one
	all  bool   // over every job, due or not
}

// New checks opts, recovers records left by a crash (created -> failed;
// auth_sent -> reversal_pending with its job; a reversal_pending record
// without a job gets one) and starts the outbox loop, whose first pass
// tries every job at once.
func New(opts Opts) (*Engine, error) {
	if opts.Store == nil || opts.Host == nil || opts.Keys == nil || opts.Reader == nil {
		return nil, errors.New("txn: Store, Host, Keys and Reader are required")
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
	if opts.MaxRetry <= 0 {
		opts.MaxRetry = 10 * time.Minute
	}
	opts.MaxRetry = max(opts.MaxRetry, opts.ReversalRetry)
	if opts.Rand == nil {
		var seed [16]byte
		rand.Read(seed[:])
		opts.Rand = mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	e := &Engine{o: opts, log: lg, clock: clock.Or(opts.Clock), changed: make(chan struct{}), kick: make(chan struct{}, 1),
		subs: map[chan Event]struct{}{}, rng: opts.Rand, stranded: map[string]store.Txn{}}
	e.last = Event{Phase: PhaseIdle, Time: e.clock.Now()}
	e.ctx, e.stop = context.WithCancel(context.Background())
	e.hostCtx, e.hostCancel = context.WithCancel(context.Background())
	err := e.recover()
	if err == nil {
		err = e.loadAside()
	}
	if err == nil {
		err = e.readLostClose()
	}
	if err != nil {
		e.stop()
		e.hostCancel()
		return nil, err
	}
	e.wg.Add(1)
	go e.outboxLoop()
	return e, nil
}

func (e *Engine) recover() error {
	left, err := e.o.Store.List(0, store.StateCreated, store.StateAuthSent, store.StateReversalPending)
	if err != nil {
		return err
	}
	jobs, err := e.o.Store.Jobs()
	if err != nil {
		return err
	}
	queued := map[string]bool{}
	var live [][]byte
	for _, j := range jobs {
		queued[j.TxnID] = true
		if j.Kind == store.JobAdvice && len(j.Data) > 0 {
			live = append(live, j.Data)
		}
	}
	if e.o.Sealer != nil {
		// Card data sealed for an approval a crash kept from being
		// committed, or left by an advice acknowledged just before one.
		switch n, err := e.o.Sealer.Keep(live); {
		case err != nil:
			e.log.Error("erasing the card data of advices no longer queued", "err", err)
		case n > 0:
			e.log.Info("erased the card data of advices no longer queued", "count", n)
		}
	}
	for _, t := range left {
		if err := e.recoverRecord(t, queued[t.ID]); err != nil {
			return err
		}
		e.log.Warn("recovered transaction after restart", "id", t.ID, "was", t.State)
	}
	return nil
}

// recoverRecord settles t, a record a restart (or a disk that failed)
// left in flight: one never sent fails, one sent is reversed (queued: its
// job is already in the outbox).
func (e *Engine) recoverRecord(t store.Txn, queued bool) error {
	return e.o.Store.Do(func(tx *store.Tx) error {
		switch t.State {
		case store.StateCreated:
			_, err := tx.Update(t.ID, func(r *store.Txn) error {
				r.State, r.Failure, r.Error = store.StateFailed, string(FailInterrupted), "interrupted before a card was read"
				return nil
			})
			return err
		case store.StateAuthSent:
			if t.Face != nil {
				// A face payment in flight: reverse it at its
				// platform (an order never confirmed is closed).
				if _, err := tx.Update(t.ID, func(r *store.Txn) error {
					r.State, r.Reason = store.StateReversalPending, string(host.ReasonNoResponse)
					r.Error = "interrupted while the face payment was in flight"
					return nil
				}); err != nil {
					return err
				}
				if queued {
					return nil
				}
				return tx.Enqueue(&store.Job{Kind: store.JobFaceCancel, TxnID: t.ID})
			}
			if t.Wallet != nil && t.Wallet.RefundID == "" {
				// A wallet payment in flight: cancel it at its
				// platform (a paid order is refunded).
				if _, err := tx.Update(t.ID, func(r *store.Txn) error {
					r.State, r.Reason = store.StateReversalPending, string(host.ReasonNoResponse)
					r.Error = "interrupted while the payment was in flight"
					return nil
				}); err != nil {
					return err
				}
				if queued {
					return nil
				}
				return tx.Enqueue(&store.Job{Kind: store.JobWalletCancel, TxnID: t.ID})
			}
			if t.Wallet != nil && t.Wallet.RefundID != "" {
				// A wallet refund in flight: ask its platform again
				// (same refund id) until it says whether it refunded.
				if queued {
					return nil
				}
				if _, err := tx.Update(t.ID, func(r *store.Txn) error {
					r.Failure = string(FailWalletUnknown)
					r.Error = "interrupted while the refund was in flight: the terminal asks the platform again"
					return nil
				}); err != nil {
					return err
				}
				return tx.Enqueue(&store.Job{Kind: store.JobWalletRefund, TxnID: t.ID})
			}
			if !movesMoney(host.Kind(t.Kind)) || t.Wallet != nil {
				// A balance inquiry or a settlement: nothing to undo.
				_, err := tx.Update(t.ID, func(r *store.Txn) error {
					r.State, r.Failure, r.Error = store.StateFailed, string(FailInterrupted), "interrupted while the request was in flight; nothing to reverse"
					return nil
				})
				return err
			}
			if _, err := tx.Update(t.ID, func(r *store.Txn) error {
				r.State, r.Reason = store.StateReversalPending, string(host.ReasonNoResponse)
				r.Error = "interrupted while the request was in flight"
				return nil
			}); err != nil {
				return err
			}
		}
		if queued {
			return nil
		}
		// A payment of a wallet or face-pay platform is reversed
		// there, never at the card acquirer.
		switch {
		case t.Face != nil && t.Face.Status == facepay.CodeReverseExpired:
			return nil // the platform no longer reverses it: settled by hand
		case t.Face != nil:
			return tx.Enqueue(&store.Job{Kind: store.JobFaceCancel, TxnID: t.ID})
		case t.Wallet != nil:
			return tx.Enqueue(&store.Job{Kind: store.JobWalletCancel, TxnID: t.ID})
		}
		return tx.Enqueue(&store.Job{Kind: store.JobReversal, TxnID: t.ID})
	})
}

// Halt stops the engine at once: a sale waiting for a card ends failed
// with FailShutdown, an exchange with the host is abandoned (an
// authorization in flight becomes a pending reversal), the outbox loop
// stops. It waits for all of it.
func (e *Engine) Halt() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e.Shutdown(ctx)
}

// Shutdown stops the engine like Halt, but lets an exchange with the host
// that is under way finish until ctx ends. New sales are refused from the
// start. It returns ctx's error when it had to cut an exchange short.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.stop()
	if e.cancel != nil && !e.sending {
		e.cancel()
	}
	e.mu.Unlock()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		e.hostCancel()
		<-done
	}
	e.hostCancel()
	e.mu.Lock()
	e.releaseIDsLocked()
	for ch := range e.subs {
		close(ch)
		delete(e.subs, ch)
	}
	close(e.changed)
	e.changed = make(chan struct{})
	e.mu.Unlock()
	return err
}

// Active returns the id of the sale in progress, if any.
func (e *Engine) Active() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.active
}

// Last returns the latest event: what the customer display shows.
func (e *Engine) Last() Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// Subscribe returns a channel of the engine's events and a function that
// ends the subscription. A subscriber that falls behind loses the oldest
// events (the buffer holds 16), never stalls the engine. The channel is
// closed when the engine stops.
func (e *Engine) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 16)
	e.mu.Lock()
	e.subs[ch] = struct{}{}
	e.mu.Unlock()
	return ch, func() {
		e.mu.Lock()
		if _, ok := e.subs[ch]; ok {
			delete(e.subs, ch)
			close(ch)
		}
		e.mu.Unlock()
	}
}

// publishPIN publishes the PIN entry's progress. Caller holds e.mu.
func (e *Engine) publishPIN(t store.Txn, p pin.Progress) {
	e.publishEvent(pinEvent(Event{Phase: PhasePIN, Txn: t}, p))
}

// pinEvent is ev with the PIN entry's progress p: the digits in, and the
// key refused, if any.
func pinEvent(ev Event, p pin.Progress) Event {
	ev.PINDigits = p.Digits
	if p.State == pin.StateTooShort || p.State == pin.StateFull {
		ev.PINRefused = p.State
	}
	return ev
}

// publishLocked records an event as the latest and hands it to
// subscribers. Caller holds e.mu.
func (e *Engine) publishLocked(phase Phase, t store.Txn) {
	e.publishEvent(Event{Phase: phase, Txn: t})
}

func (e *Engine) publishEvent(ev Event) {
	ev.Seq, ev.Time = e.last.Seq+1, e.clock.Now()
	if ev.OrigKind == "" && ev.Txn.OrigID != "" {
		switch {
		case e.sale != nil && e.sale.rec.ID == ev.Txn.ID && e.sale.orig != nil:
			ev.OrigKind = e.sale.orig.Kind
		case e.last.Txn.ID == ev.Txn.ID:
			ev.OrigKind = e.last.OrigKind
		}
	}
	e.last = ev
	for ch := range e.subs {
		for {
			select {
			case ch <- e.last:
			default:
				select {
				case <-ch: // drop the oldest
					continue
				default:
				}
			}
			break
		}
	}
	close(e.changed)
	e.changed = make(chan struct{})
}

// WhenIdle runs fn between transactions: while none is in progress, and
// keeping the next from starting until fn returns (fn must be quick: new
// parameters put in use). It returns ErrBusy without running fn when a
// transaction is in progress; the caller tries again later.
func (e *Engine) WhenIdle(fn func() error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.active != "" {
		return e.busyLocked()
	}
	return fn()
}

// busyLocked is ErrBusy naming what is in progress, so the cashier knows
// what to finish or cancel first. e.mu is held.
func (e *Engine) busyLocked() error {
	if s := e.sale; s != nil && s.rec.ID == e.active {
		return fmt.Errorf("%w: %s %s; finish or cancel it first", ErrBusy, s.rec.Kind, e.active)
	}
	return fmt.Errorf("%w: %s (a batch close)", ErrBusy, e.active)
}

// StartSale records a new sale and starts waiting for a card. It returns at
// once with the record in state created.
func (e *Engine) StartSale(amount int64, currency string) (store.Txn, error) {
	return e.Start(Request{Kind: host.KindPurchase, Amount: amount, Currency: currency})
}

// Start records a new transaction of any kind (see Request and kinds.go)
// and runs it: a card-present one starts waiting for a card, a void or a
// completion goes to the host at once. It returns with the record in state
// created; ErrKind, ErrAmount, ErrCurrency and ErrOriginal say what the
// cashier asked wrong, ErrBusy that another one runs, ErrBatchFull that
// the open batch must be closed first (see checkBatchRoom),
// ErrSettleAgain that its last close got no answer and it must be closed
// again (see checkLostCloseLocked), store's
// ErrNoSpace that the data partition is below its reserve.
func (e *Engine) Start(req Request) (store.Txn, error) {
	req, orig, err := e.checkRequest(req)
	if err != nil {
		return store.Txn{}, err
	}
	if req.Method != "" && req.Method != MethodQR && req.Method != MethodMPM && req.Method != MethodFace {
		return store.Txn{}, fmt.Errorf("%w: method %q", ErrKind, req.Method)
	}
	if req.Method == MethodMPM {
		if req.Kind != host.KindPurchase || e.o.Wallet == nil || e.o.Merchant == nil {
			return store.Txn{}, fmt.Errorf("%w: merchant codes pay sales only, on a terminal with wallet platforms and a merchant", ErrKind)
		}
		if _, ok := e.mpmMerchant(wallet.Platform(req.Platform)); !ok {
			return store.Txn{}, fmt.Errorf("%w: no merchant account at platform %q", ErrKind, req.Platform)
		}
	}
	if req.Method == MethodFace && req.Kind != host.KindPurchase {
		return store.Txn{}, fmt.Errorf("%w: face pay pays sales only", ErrKind)
	}
	if req.Method == MethodQR && (req.Kind != host.KindPurchase || e.o.Codes == nil) {
		return store.Txn{}, fmt.Errorf("%w: payment codes pay sales only, on a terminal with a code reader", ErrKind)
	}
	if err := e.keysFor(req, orig); err != nil {
		return store.Txn{}, err
	}
	e.retryStranded()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx.Err() != nil {
		return store.Txn{}, ErrHalted
	}
	if e.active != "" {
		return store.Txn{}, e.busyLocked()
	}
	if err := e.strandedLocked(); err != nil {
		if rerr := e.o.Store.CheckRoom(); rerr != nil {
			// A full partition is what to mend: its error says what
			// to free.
			return store.Txn{}, fmt.Errorf("%w; %w", rerr, err)
		}
		return store.Txn{}, err
	}
	// No other transaction runs, nor a close: the batch stays as read
	// until this one is recorded.
	if err := e.checkBatchRoom(req, orig); err != nil {
		return store.Txn{}, err
	}
	if err := e.checkLostCloseLocked(req, orig); err != nil {
		return store.Txn{}, err
	}
	// A sale the host approves must be recordable, and its reversal too:
	// none starts on a partition below its reserve.
	if err := e.o.Store.CheckRoom(); err != nil {
		return store.Txn{}, err
	}
	id, err := e.newIDLocked()
	if err != nil {
		return store.Txn{}, err
	}
	now := e.clock.Now().UTC()
	t := store.Txn{ID: id, Kind: string(req.Kind), State: store.StateCreated, Amount: req.Amount, Currency: req.Currency,
		OrigID: req.OrigID, Created: now, Updated: now}
	ctx, cancel := context.WithCancel(e.ctx)
	e.active, e.cancel, e.sending = t.ID, cancel, false
	s := &sale{rec: t, orig: orig, method: req.Method, platform: req.Platform}
	ev := Event{Phase: PhaseProcessing, Txn: t}
	switch {
	case req.Method == MethodQR:
		e.o.Codes.FlushCodes()
		ev.Phase, ev.Prompt = PhaseWaitCard, "code"
	case needsCard(req.Kind) && (orig == nil || orig.Wallet == nil):
		e.o.Reader.Flush()
		ev.Phase = PhaseWaitCard
	}
	e.publishEvent(ev)
	e.sale = s
	if e.counter == nil {
		e.counter = make(chan struct{})
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer cancel()
		e.runSale(ctx, s)
	}()
	return t, nil
}

// idBlock is a run of reserved record ids.
type idBlock struct{ next, end uint64 }

// KeyState is implemented by key sources that tell, without taking a
// key, whether they have one (terminal/dukptkeys.Source: its KSN).
type KeyState interface {
	KSN() (string, error)
}

// keysFor refuses, with ErrKeys, a transaction for the acquirer (every
// request to it takes a DUKPT key) when the key source says it has no
// key: the customer must not present a card, or type a password, for a
// request that cannot be sent. A wallet payment or refund (the wallet
// platform's, no DUKPT key) and a scanned code (it may be a wallet's)
// are not refused here.
func (e *Engine) keysFor(req Request, orig *store.Txn) error {
	if req.Method == MethodQR || req.Method == MethodMPM || (orig != nil && orig.Wallet != nil) {
		return nil
	}
	ks, ok := e.o.Keys.(KeyState)
	if !ok {
		return nil
	}
	if _, err := ks.KSN(); err != nil {
		return fmt.Errorf("%w: %w", ErrKeys, err)
	}
	return nil
}

// idReserve is how many record ids one commit reserves: a crash skips up to
// that many ids (never reuses one).
const idReserve = 1000

// newIDLocked hands out the next reserved record id, reserving a new block
// when the last one is used up. Caller holds e.mu.
func (e *Engine) newIDLocked() (string, error) {
	if e.ids.next >= e.ids.end {
		var first uint64
		err := e.o.Store.Do(func(tx *store.Tx) error {
			var err error
			first, err = tx.ReserveIDs(idReserve)
			return err
		})
		if err != nil {
			return "", err
		}
		e.ids = idBlock{next: first, end: first + idReserve}
	}
	id := e.ids.next
	e.ids.next++
	return strconv.FormatUint(id, 10), nil
}

// releaseIDsLocked gives back the record ids of the reserved block that
// were never handed out, once the engine has stopped: a clean restart
// then continues at the next id rather than past the block (a crash
// still skips the rest of it). Caller holds e.mu.
func (e *Engine) releaseIDsLocked() {
	if e.ids.next >= e.ids.end {
		return
	}
	var released bool
	err := e.o.Store.Do(func(tx *store.Tx) error {
		var err error
		released, err = tx.ReleaseIDs(e.ids.next, e.ids.end)
		return err
	})
	if err != nil {
		e.log.Warn("the unused record ids stay reserved (the next start skips them)", "err", err)
		return
	}
	if released {
		e.log.Info("unused record ids given back", "next", e.ids.next)
	}
	e.ids.end = e.ids.next
}

// Get returns the record id: the sale in progress from memory (it may not
// be stored yet), a stranded one as its waiters were told (what the disk
// holds is not its outcome), any other from the store.
func (e *Engine) Get(id string) (store.Txn, error) {
	e.mu.Lock()
	if t, ok := e.stranded[id]; ok {
		e.mu.Unlock()
		return t, nil
	}
	if e.sale != nil && e.sale.rec.ID == id && !e.sale.stored {
		t := e.sale.rec
		e.mu.Unlock()
		return t, nil
	}
	e.mu.Unlock()
	return e.o.Store.Get(id)
}

// List returns up to limit records, newest first, optionally only those in
// states, with the sale in progress when it is not stored yet.
func (e *Engine) List(limit int, states ...store.State) ([]store.Txn, error) {
	e.mu.Lock()
	var cur *store.Txn
	if e.sale != nil && !e.sale.stored && (len(states) == 0 || slices.Contains(states, e.sale.rec.State)) {
		t := e.sale.rec
		cur = &t
	}
	stranded := maps.Clone(e.stranded)
	e.mu.Unlock()
	if len(stranded) > 0 {
		// A stranded transaction is listed as its waiters were told
		// (Get): not as the disk holds it, and even when it holds none.
		return e.listStranded(limit, states, cur, stranded)
	}
	list, err := e.o.Store.List(limit, states...)
	if err != nil || cur == nil {
		return list, err
	}
	list = append([]store.Txn{*cur}, list...)
	if limit > 0 && len(list) > limit {
		list = list[:limit]
	}
	return list, nil
}

// listStranded is List while transactions are stranded: the records of
// any state, the stranded ones replaced by their views, then filtered by
// states, newest first.
func (e *Engine) listStranded(limit int, states []store.State, cur *store.Txn, stranded map[string]store.Txn) ([]store.Txn, error) {
	recs, err := e.o.Store.List(0)
	if err != nil {
		return nil, err
	}
	for i, t := range recs {
		if v, ok := stranded[t.ID]; ok {
			recs[i] = v
			delete(stranded, t.ID)
		}
	}
	for _, v := range stranded {
		recs = append(recs, v)
	}
	if cur != nil {
		recs = append(recs, *cur)
	}
	slices.SortFunc(recs, func(a, b store.Txn) int { // newest (highest id) first
		return cmp.Or(cmp.Compare(len(b.ID), len(a.ID)), cmp.Compare(b.ID, a.ID))
	})
	out := recs[:0]
	for _, t := range recs {
		if len(states) == 0 || slices.Contains(states, t.State) {
			out = append(out, t)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Cancel stops the sale id while it waits for a card or a PIN. Once its
// request is committed the sale runs to its outcome (it may be on the
// wire), and an approval is then reversed ("cancelled at the terminal"):
// the cashier's cancel before the transaction completed undoes it at the
// host, exactly once, through the outbox. A step nothing can undo once
// sent (a wallet refund) refuses the cancel with store.ErrState.
func (e *Engine) Cancel(id string) error {
	if _, err := e.Get(id); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.active != id || e.cancel == nil {
		return fmt.Errorf("%w: %s is not in progress", store.ErrState, id)
	}
	if e.sending {
		if e.sale != nil && e.sale.rec.ID == id && e.sale.lateCancel {
			e.sale.cancelled = true
			if e.sale.onCancel != nil {
				e.sale.onCancel()
			}
			return nil
		}
		return fmt.Errorf("%w: %s is completing and can no longer be cancelled", store.ErrState, id)
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
		view, stranded := e.stranded[id]
		freed := e.active != id
		e.mu.Unlock()
		if stranded && freed {
			// What the disk holds is not the outcome: it could not
			// be written.
			return view, nil
		}
		t, err := e.Get(id)
		if err != nil {
			return t, err
		}
		if t.State.Final() || t.State == store.StateReversalPending || refundInDoubt(t) {
			// The outcome may be on disk a moment before the engine
			// publishes it and frees the terminal: wait for that too, so
			// whoever sees the outcome can start the next one.
			e.mu.Lock()
			freed := e.active != id
			e.mu.Unlock()
			if freed {
				return t, nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return t, nil
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
