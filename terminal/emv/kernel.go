package emv

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"

	"posd/conn/apdu"
	"posd/conn/clock"
)

// Kernel runs transactions with one configuration. It holds no
// transaction state: one Kernel may run transactions one after the other
// or concurrently on different readers.
type Kernel struct {
	cfg   *Config
	clock clock.Clock
	rand  io.Reader
	log   *slog.Logger
}

// New returns a kernel for cfg. Zero Opts fields take the wall clock,
// crypto/rand and a discarding logger.
func New(cfg Config, o Opts) *Kernel {
	k := &Kernel{cfg: cfg.clone(), clock: clock.Or(o.Clock), rand: o.Rand, log: o.Logger}
	if k.rand == nil {
		k.rand = rand.Reader
	}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	return k
}

// Start runs the card from application selection to the first GENERATE
// AC (contact) or through the whole contactless kernel.
func (k *Kernel) Start(ctx context.Context, card apdu.Transceiver, iface Interface, t Txn, ui UI) (*Session, error) {
	return nil, ErrState
}
