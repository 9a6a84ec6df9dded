// Command posd is the terminal daemon: it drives the card readers, PIN pad
// and camera through the board, runs sales against the acquirer over ISO
// 8583 with DUKPT, keeps every transaction in bbolt and serves the local
// API that posctl and the ECR use.
//
//	posd [-config FILE] [-data-dir DIR] [-print-config]
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"posd/board"
	"posd/board/kek"
	"posd/board/sim"
	"posd/crypto/keystore"
	"posd/terminal/dukptkeys"
	"posd/terminal/host"
	"posd/terminal/money"
	"posd/terminal/redact"
	"posd/terminal/store"
	"posd/terminal/txn"
	"posd/terminal/wiresec"
)

var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "posd:", err)
		os.Exit(1)
	}
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(cfg.LogLevel))
	o := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(w, o)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, o)
	}
	return slog.New(redact.NewHandler(h))
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("posd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgPath := fs.String("config", "", "config file (JSON); defaults apply to missing keys")
	dataDir := fs.String("data-dir", "", "data directory (overrides data_dir)")
	printCfg := fs.Bool("print-config", false, "print the effective configuration and exit")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fmt.Fprintln(stdout, "usage: posd [-config FILE] [-data-dir DIR] [-print-config]")
		fs.PrintDefaults()
		return nil
	} else if err != nil {
		return fmt.Errorf("%w (posd -h for help)", err)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (posd -h for help)", fs.Arg(0))
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *printCfg {
		b, _ := jsonIndent(cfg)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	d, err := start(ctx, cfg, log)
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down", "timeout", time.Duration(cfg.ShutdownTimeout))
	sdNotify("STOPPING=1")
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownTimeout))
	defer cancel()
	return d.shutdown(sctx)
}

// daemon is a running posd.
type daemon struct {
	log    *slog.Logger
	db     *store.DB
	board  *board.Board
	client *host.Client
	engine *txn.Engine
	srv    *http.Server
	keys   *dukptkeys.Source
	cancel context.CancelFunc
	done   chan struct{}
	// stopping is closed when shutdown begins (long polls answer).
	stopping chan struct{}
	// tokenPath is the API credential file, removed at shutdown.
	tokenPath string
	// running: start completed; only then may shutdown say it stopped
	// cleanly.
	running bool
	// watchdogDone is closed when the watchdog goroutine has returned.
	watchdogDone chan struct{}
}

func start(parent context.Context, cfg Config, log *slog.Logger) (*daemon, error) {
	started := time.Now()
	ctx, cancel := context.WithCancel(parent)
	d := &daemon{log: log, cancel: cancel, done: make(chan struct{}), stopping: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			fctx, fcancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownTimeout))
			d.shutdown(fctx)
			fcancel()
		}
	}()
	if err := prepareDataDir(cfg.DataDir, log); err != nil {
		return nil, err
	}
	db, err := store.Open(filepath.Join(cfg.DataDir, "posd.db"), nil)
	if err != nil {
		return nil, err
	}
	d.db = db

	// Keys: the device KEK comes from the board profile's KEK source
	// (board/kek): the 0600 file "kek" in the data directory on the sim
	// board, the TPM on rpi4. The returned bytes are ours: the key store's
	// KEK copies them, then they are cleared.
	devKEK, err := deviceKEK(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	ks, err := keystore.Open(db.Bolt(), devKEK, nil)
	if err != nil {
		return nil, err
	}
	mode, _ := wiresec.ParseMode(cfg.DUKPT.Mode)
	keys := dukptkeys.New(ks, mode, cfg.DUKPT.Slot, func(err error) bool { return errors.Is(err, keystore.ErrNotFound) })
	// The KSN high-water mark lives outside the database, so losing the
	// database (and the originator state in it) can never rewind the KSN.
	keys.SetMark(&dukptkeys.FileMark{Path: filepath.Join(cfg.DataDir, "dukpt-mark.json")})
	d.keys = keys
	switch err := keys.Check(); {
	case err == nil:
	case errors.Is(err, dukptkeys.ErrNotProvisioned) && cfg.Board == "sim" && cfg.Sim.TestKeys:
		bdk, iksn := cfg.simTestKey(mode)
		err := keys.LoadFromBDK(bdk, iksn)
		clear(bdk)
		if errors.Is(err, dukptkeys.ErrKSNReuse) {
			log.Error("sim board: the TEST key was already used on this data directory and its state is gone; "+
				"sales are refused (no KSN is ever reused). Start the simulated terminal afresh with an empty data directory", "err", err)
		} else if err != nil {
			return nil, fmt.Errorf("loading the sim test key: %w", err)
		} else {
			log.Warn("sim board: DUKPT slot loaded from the TEST BDK", "slot", cfg.DUKPT.Slot, "mode", mode)
		}
	case errors.Is(err, dukptkeys.ErrNotProvisioned):
		log.Error("no DUKPT key loaded: sales will fail until a key custodian loads one", "slot", cfg.DUKPT.Slot)
	case errors.Is(err, dukptkeys.ErrStateLost):
		log.Error("DUKPT key state lost: sales are refused until a key custodian loads a new initial key", "slot", cfg.DUKPT.Slot, "err", err)
	default:
		return nil, fmt.Errorf("DUKPT slot: %w", err)
	}

	// Board.
	var simBoard *sim.Board
	if cfg.Board == "sim" {
		simBoard, err = sim.Open(ctx, sim.Opts{DataDir: cfg.DataDir, Logger: log.With("part", "board")})
		if err != nil {
			return nil, err
		}
		d.board = simBoard.Board
	} else {
		p, _ := board.Lookup(cfg.Board)
		d.board, err = board.Open(ctx, p, log.With("part", "board"))
		if err != nil {
			return nil, err
		}
	}

	// Host link.
	var tpdu []byte
	if cfg.Host.TPDU != "" {
		tpdu, _ = hex.DecodeString(cfg.Host.TPDU)
	}
	d.client, err = host.New(&host.Opts{
		Addr: cfg.Host.Addr, TPDU: tpdu,
		ConnectTimeout:  time.Duration(cfg.Host.ConnectTimeout),
		ResponseTimeout: time.Duration(cfg.Host.ResponseTimeout),
		TerminalID:      cfg.Terminal.ID, MerchantID: cfg.Terminal.MerchantID,
		Logger: log.With("part", "host"),
	})
	if err != nil {
		return nil, err
	}

	cur, _ := money.Lookup(cfg.Terminal.Currency)
	var maxAmount int64
	if cfg.Terminal.MaxAmount != "" {
		maxAmount, _ = cur.Parse(cfg.Terminal.MaxAmount)
	}
	var currencies []string
	for _, c := range cfg.Terminal.Currencies {
		x, _ := money.Lookup(c)
		currencies = append(currencies, x.Numeric)
	}
	d.engine, err = txn.New(txn.Opts{
		Store: db, Host: d.client, Keys: keys, Reader: msrReader{d: d.board.Devices.MSR},
		Logger:        log.With("part", "txn"),
		CardTimeout:   time.Duration(cfg.Terminal.CardTimeout),
		HostTimeout:   time.Duration(cfg.Host.ConnectTimeout + cfg.Host.ResponseTimeout + Duration(2*time.Second)),
		ReversalRetry: time.Duration(cfg.Host.ReversalRetry),
		MaxAmount:     maxAmount, Currencies: currencies,
	})
	if err != nil {
		return nil, err
	}

	token, err := newToken()
	if err != nil {
		return nil, err
	}
	a := &api{cfg: cfg, cur: cur, maxAmount: maxAmount, engine: d.engine, client: d.client, db: db, board: d.board,
		sim: simBoard, log: log, token: token, stopping: d.stopping}
	a.status = func() map[string]any {
		ksn, kerr := keys.KSN()
		st := map[string]any{
			"version": version, "board": cfg.Board, "terminal_id": cfg.Terminal.ID,
			"merchant_id": cfg.Terminal.MerchantID, "host": cfg.Host.Addr, "dukpt_mode": string(mode),
			"active_sale": d.engine.Active(), "uptime": time.Since(started).Round(time.Second).String(),
		}
		if kerr == nil {
			st["ksn"] = ksn
		} else {
			st["key_error"] = kerr.Error()
		}
		if p, err := db.List(0, store.StateReversalPending); err == nil {
			st["pending_reversals"] = len(p)
		}
		return st
	}
	ln, err := net.Listen("tcp", cfg.API.Listen)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	d.tokenPath = filepath.Join(cfg.DataDir, tokenFile)
	if err := writeToken(d.tokenPath, "http://"+ln.Addr().String(), token); err != nil {
		ln.Close()
		return nil, err
	}
	d.srv = &http.Server{Handler: a.routes(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(d.done)
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("api stopped", "err", err)
		}
	}()
	log.Info("posd ready", "version", version, "board", cfg.Board, "api", ln.Addr().String(),
		"host", cfg.Host.Addr, "terminal_id", cfg.Terminal.ID, "dukpt_mode", string(mode))
	sdNotify("READY=1")
	if every := watchdogInterval(); every > 0 && cfg.Watchdog.Enabled {
		d.watchdogDone = make(chan struct{})
		go func() {
			defer close(d.watchdogDone)
			watchdog(ctx, every, d.healthy)
		}()
	}
	ok, d.running = true, true
	return d, nil
}

// deviceKEK obtains the device KEK from the board profile's source,
// waiting at most a minute for a TPM that does not answer.
func deviceKEK(ctx context.Context, cfg Config, log *slog.Logger) (*keystore.StaticKEK, error) {
	p, err := board.Lookup(cfg.Board)
	if err != nil {
		return nil, err
	}
	src, err := kek.New(p.KEK, kek.Opts{DataDir: cfg.DataDir, Logger: log.With("part", "kek")})
	if err != nil {
		return nil, fmt.Errorf("device KEK: %w", err)
	}
	kctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	key, err := src.KEK(kctx)
	if err != nil {
		return nil, fmt.Errorf("device KEK: %w", err)
	}
	defer clear(key)
	return keystore.NewStaticKEK(key)
}

// prepareDataDir creates the data directory (0700) or tightens one that
// others may read: it holds the database, the KEK file on the sim board
// and the API token.
func prepareDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		log.Warn("data dir was open to other users; restricting it to posd", "dir", dir, "mode", fi.Mode().Perm().String())
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
	}
	return nil
}

// healthy holds while the API still serves and the database answers; the
// systemd watchdog restarts posd when it stops holding.
func (d *daemon) healthy() bool {
	select {
	case <-d.done:
		return false
	default:
	}
	return d.db.Bolt().View(func(*bolt.Tx) error { return nil }) == nil
}

// shutdown stops, in this order: new API requests (the listener closes),
// the engine (a sale waiting for a card ends with reason shutdown, which
// answers the clients waiting on it; an exchange with the host may finish
// until ctx ends), the remaining API requests, the host link, the board,
// the key source; then it closes bbolt. "stopped cleanly" is logged only
// when all of it worked within ctx.
func (d *daemon) shutdown(ctx context.Context) error {
	var errs []error
	close(d.stopping)
	srvDone := make(chan error, 1)
	if d.srv != nil {
		go func() { srvDone <- d.srv.Shutdown(ctx) }()
	} else {
		srvDone <- nil
	}
	if d.engine != nil {
		if err := d.engine.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sale engine: %w", err))
		}
	}
	if err := <-srvDone; err != nil {
		errs = append(errs, fmt.Errorf("api: %w", err))
	}
	if d.srv != nil {
		<-d.done
	}
	if d.tokenPath != "" {
		os.Remove(d.tokenPath)
	}
	if d.client != nil {
		errs = append(errs, closeWithin(ctx, d.client.Close, d.log))
	}
	if d.board != nil {
		errs = append(errs, d.board.Halt())
	}
	d.cancel()
	if d.watchdogDone != nil {
		<-d.watchdogDone
	}
	if d.keys != nil && d.running {
		if err := d.keys.Park(); err != nil && !errors.Is(err, dukptkeys.ErrNotProvisioned) && !errors.Is(err, dukptkeys.ErrStateLost) {
			errs = append(errs, fmt.Errorf("DUKPT mark: %w", err))
		}
	}
	if d.db != nil {
		errs = append(errs, d.db.Close())
	}
	err := errors.Join(errs...)
	switch {
	case !d.running:
	case err == nil:
		d.log.Info("stopped cleanly")
	default:
		d.log.Error("stopped with errors", "err", err)
	}
	return err
}

// closeWithin runs closeFn but gives up waiting when ctx ends: a wedged
// connection must not keep posd from closing its database on SIGTERM.
func closeWithin(ctx context.Context, closeFn func() error, log *slog.Logger) error {
	done := make(chan error, 1)
	go func() { done <- closeFn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		log.Error("host link did not close in time; shutting down without it")
		return nil
	}
}

func jsonIndent(v any) ([]byte, error) {
	var b strings.Builder
	enc := jsonEncoder(&b)
	err := enc.Encode(v)
	return []byte(strings.TrimSpace(b.String())), err
}
