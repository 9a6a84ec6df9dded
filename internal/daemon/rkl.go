package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"posd/conn/clock"
	"posd/terminal/devid"
	"posd/terminal/dukptkeys"
	"posd/terminal/keyload"
)

// remoteKeyTimeout bounds one remote key loading exchange.
const remoteKeyTimeout = 45 * time.Second

// loadRemoteKeys fills an empty DUKPT slot from the acquirer's key
// distribution host (remote_keys): the device identity (made and
// certified at first start on the sim board), a fresh random number,
// the KBPK in a TR-34 token, the DUKPT initial key under it. Only check
// values and the initial KSN are logged.
func (d *Daemon) loadRemoteKeys(ctx context.Context) error {
	cfg := d.Config.RemoteKeys
	ctx, cancel := context.WithTimeout(ctx, remoteKeyTimeout)
	defer cancel()
	var factory devid.Factory
	if cfg.FactoryURL != "" {
		factory = devid.HTTPFactory{URL: cfg.FactoryURL}
	}
	id, err := devid.Open(ctx, d.ks, factory, &devid.Opts{Serial: d.Config.Terminal.ID, Logger: d.Log.With("part", "devid")})
	if err != nil {
		return fmt.Errorf("device identity: %w", err)
	}
	nonces, err := devid.OpenNonces(d.DB.Bolt(), nil)
	if err != nil {
		return fmt.Errorf("random numbers: %w", err)
	}
	l := &keyload.Loader{Keys: d.ks, DUKPT: d.Keys}
	got, err := l.LoadRemote(ctx, keyload.Remote{URL: cfg.URL, Device: id, Nonces: nonces,
		KDHRoots: d.Settings.KDHRoots, TerminalID: d.Config.Terminal.ID})
	if err != nil {
		return err
	}
	d.Log.Info("keys loaded from the key distribution host", "kbpk_kcv", got.KBPKKCV, "ik_kcv", got.DUKPT.KCV, "ksn", got.DUKPT.KSN)
	return nil
}

// retryRemoteKeys tries remote key loading again, backing off with
// jitter (30 s doubling to an hour; each wait between half the step and
// the step, drawn from rnd), until the slot holds a key or ctx ends: a
// terminal that started while its KDH was away gets its keys when it
// comes back. clk times the waits.
func (d *Daemon) retryRemoteKeys(ctx context.Context, clk clock.Clock, rnd *rand.Rand) {
	wait := 30 * time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case <-clk.After(wait/2 + time.Duration(rnd.Int64N(int64(wait/2)))):
		}
		if err := d.Keys.Check(); !errors.Is(err, dukptkeys.ErrNotProvisioned) {
			return
		}
		err := d.loadRemoteKeys(ctx)
		if err == nil {
			return
		}
		d.Log.Error("remote key loading failed; retrying", "err", err)
		wait = min(2*wait, time.Hour)
	}
}
