package emv

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"posd/conn/apdu"
	"posd/conn/clock"
)

// Kernel runs transactions with one configuration. It holds no
// transaction state: one Kernel may run transactions one after the other
// or at the same time on different readers.
type Kernel struct {
	// cfg is the configuration; a transaction keeps the one it started
	// with (SetConfig swaps it for the next ones).
	cfg   atomic.Pointer[Config]
	clock clock.Clock
	rand  io.Reader
	log   *slog.Logger
}

// New returns a kernel for cfg. Zero Opts fields take the wall clock,
// crypto/rand and a discarding logger.
func New(cfg Config, o Opts) *Kernel {
	k := &Kernel{clock: clock.Or(o.Clock), rand: rand.Reader, log: o.Logger}
	k.cfg.Store(cfg.clone())
	if o.Rand != nil {
		k.rand = &lockedReader{r: o.Rand}
	}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	return k
}

// SetConfig puts a new configuration (the acquirer's parameters, AIDs
// and CA keys) in use for the transactions that start from now on; those
// under way finish with the one they started with.
func (k *Kernel) SetConfig(cfg Config) { k.cfg.Store(cfg.clone()) }

// lockedReader serialises reads of a random source that may not be safe
// for concurrent use (a seeded math/rand/v2 generator in tests), since
// one Kernel may run transactions at the same time.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// Start runs the card: for Contact, application selection through the
// first GENERATE AC; for Contactless, the entry point and the whole
// kernel. The Session's Outcome is one of OutcomeApprovedOffline,
// OutcomeDeclinedOffline, OutcomeOnlineRequest (then Complete),
// OutcomeTryAnotherInterface or OutcomeEndApplication; the error is nil
// except for OutcomeEndApplication, whose error says why (errors.go).
// The Session is nil only when t or iface is invalid (ErrParams). ui may
// be nil: the first application is taken and PIN entry is bypassed.
func (k *Kernel) Start(ctx context.Context, card apdu.Transceiver, iface Interface, t Txn, ui UI) (*Session, error) {
	return k.start(ctx, card, iface, t, ui, nil)
}

func (k *Kernel) start(ctx context.Context, card apdu.Transceiver, iface Interface, t Txn, ui UI, over map[tag][]byte) (*Session, error) {
	if iface != Contact && iface != Contactless {
		return nil, fmt.Errorf("%w: interface %d", ErrParams, iface)
	}
	if card == nil {
		return nil, fmt.Errorf("%w: no card", ErrParams)
	}
	st := k.newState(ctx, card, iface, t, ui, over)
	if err := st.initTerminal(); err != nil {
		return nil, err
	}
	var err error
	if iface == Contact {
		err = st.runContact()
	} else {
		err = st.runContactless()
	}
	return &Session{st: st}, st.finish(err)
}
