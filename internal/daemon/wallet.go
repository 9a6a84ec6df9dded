package daemon

import (
	"context"
	"errors"
	"time"

	"posd/terminal/txn"
	"posd/terminal/wallet"
)

// walletPlatforms is the gateway client with its resolver: what the
// engine's wallet sales need (txn.Wallets).
type walletPlatforms struct {
	*wallet.HTTPClient
	r *wallet.Resolver
}

func (w walletPlatforms) Resolve(ctx context.Context, p wallet.Platform, orderID string) (wallet.Result, error) {
	return w.r.Resolve(ctx, p, orderID)
}

// openWallet connects the wallet platforms of the configuration (nil
// when none is configured): one query limiter for the whole terminal.
func (d *Daemon) openWallet() (txn.Wallets, error) {
	cfg, set := d.Config.Wallet, d.Settings
	if cfg.URL == "" {
		return nil, nil
	}
	c, err := wallet.NewHTTPClient(wallet.Opts{BaseURL: cfg.URL, TerminalID: d.Config.Terminal.ID, Key: set.WalletKey,
		Logger: d.Log.With("part", "wallet")})
	if err != nil {
		return nil, err
	}
	r, err := wallet.NewResolver(wallet.ResolverOpts{
		Client: c, Limiter: wallet.NewLimiter(nil, cfg.QueryRate, 2),
		First: time.Duration(cfg.QueryFirst), Total: time.Duration(cfg.QueryTotal),
		Logger: d.Log.With("part", "wallet"),
	})
	if err != nil {
		return nil, err
	}
	return walletPlatforms{HTTPClient: c, r: r}, nil
}

// simCodes is the sim board's payment code reader: the simulated
// customer's code (posctl sim qr) arrives as the scanner would decode
// it. It holds one code at a time.
type simCodes struct{ ch chan string }

func newSimCodes() *simCodes { return &simCodes{ch: make(chan string, 1)} }

func (s *simCodes) FlushCodes() {
	for {
		select {
		case <-s.ch:
		default:
			return
		}
	}
}

func (s *simCodes) ReadCode(ctx context.Context) (string, error) {
	select {
	case c := <-s.ch:
		return c, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Errors of ShowCode.
var (
	// ErrCodeWaiting: a code shown to the sim board was not read yet.
	ErrCodeWaiting = errors.New("daemon: a code is already in front of the scanner")
	// ErrNotSim: the board is not simulated.
	ErrNotSim = errors.New("daemon: not the simulated board")
)

// ShowCode holds a payment code in front of the sim board's scanner.
func (d *Daemon) ShowCode(code string) error {
	if d.simCodes == nil {
		return ErrNotSim
	}
	select {
	case d.simCodes.ch <- code:
		return nil
	default:
		return ErrCodeWaiting
	}
}
