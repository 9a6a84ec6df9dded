// Command posd is the terminal daemon: it drives the card readers, PIN pad
// and camera through the board, runs sales against the acquirer over ISO
// 8583 with DUKPT, keeps every transaction in bbolt and serves the local
// API that posctl and the ECR use.
//
//	posd [-config FILE] [-data-dir DIR] [-print-config]
package main

import (
	"context"
	"crypto/rand"
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
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (JSON); defaults apply to missing keys")
	dataDir := fs.String("data-dir", "", "data directory (overrides data_dir)")
	printCfg := fs.Bool("print-config", false, "print the effective configuration and exit")
	if err := fs.Parse(args); err != nil {
		return err
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
	log.Info("shutting down")
	sdNotify("STOPPING=1")
	return d.shutdown()
}

// daemon is a running posd.
type daemon struct {
	log    *slog.Logger
	db     *store.DB
	board  *board.Board
	client *host.Client
	engine *txn.Engine
	srv    *http.Server
	cancel context.CancelFunc
	done   chan struct{}
	// closeWait bounds the host link's Close at shutdown.
	closeWait time.Duration
}

func start(parent context.Context, cfg Config, log *slog.Logger) (*daemon, error) {
	started := time.Now()
	ctx, cancel := context.WithCancel(parent)
	d := &daemon{log: log, cancel: cancel, done: make(chan struct{}),
		closeWait: time.Duration(cfg.Host.ConnectTimeout+cfg.Host.ResponseTimeout) + time.Second}
	ok := false
	defer func() {
		if !ok {
			d.shutdown()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	db, err := store.Open(filepath.Join(cfg.DataDir, "posd.db"), nil)
	if err != nil {
		return nil, err
	}
	d.db = db

	// Keys: the KEK comes from the board; on the sim board it is a 0600
	// file in the data directory.
	kek, err := keystore.LoadOrCreateKEKFile(filepath.Join(cfg.DataDir, "kek"), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("device KEK: %w", err)
	}
	ks, err := keystore.Open(db.Bolt(), kek, nil)
	if err != nil {
		return nil, err
	}
	mode, _ := wiresec.ParseMode(cfg.DUKPT.Mode)
	keys := dukptkeys.New(ks, mode, cfg.DUKPT.Slot, func(err error) bool { return errors.Is(err, keystore.ErrNotFound) })
	if _, err := keys.KSN(); errors.Is(err, dukptkeys.ErrNotProvisioned) {
		if cfg.Board == "sim" && cfg.Sim.TestKeys {
			bdk, iksn := cfg.simTestKey(mode)
			if err := keys.LoadFromBDK(bdk, iksn); err != nil {
				clear(bdk)
				return nil, fmt.Errorf("loading the sim test key: %w", err)
			}
			clear(bdk)
			log.Warn("sim board: DUKPT slot loaded from the TEST BDK", "slot", cfg.DUKPT.Slot, "mode", mode)
		} else {
			log.Error("no DUKPT key loaded: sales will fail until a key custodian loads one", "slot", cfg.DUKPT.Slot)
		}
	} else if err != nil {
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
		Addr: cfg.Host.Addr, Dialect: cfg.Host.Dialect, TPDU: tpdu,
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

	a := &api{cfg: cfg, cur: cur, engine: d.engine, client: d.client, db: db, board: d.board, sim: simBoard, log: log}
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
		go watchdog(ctx, every, d.healthy)
	}
	ok = true
	return d, nil
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

// shutdown stops the API, the engine, the host link and the board, then
// closes bbolt: in that order, so nothing writes to a closed database.
func (d *daemon) shutdown() error {
	var errs []error
	if d.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, d.srv.Shutdown(ctx))
		cancel()
		<-d.done
	}
	if d.engine != nil {
		d.engine.Halt()
	}
	if d.client != nil {
		errs = append(errs, closeWithin(d.client.Close, d.closeWait, d.log))
	}
	if d.board != nil {
		errs = append(errs, d.board.Halt())
	}
	d.cancel()
	if d.db != nil {
		errs = append(errs, d.db.Close())
	}
	err := errors.Join(errs...)
	if err == nil {
		d.log.Info("stopped cleanly")
	}
	return err
}

// closeWithin runs closeFn but gives up waiting after d: a wedged
// connection must not keep posd from closing its database on SIGTERM.
func closeWithin(closeFn func() error, d time.Duration, log *slog.Logger) error {
	done := make(chan error, 1)
	go func() { done <- closeFn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		log.Error("host link did not close in time; shutting down without it", "waited", d)
		return nil
	}
}

func jsonIndent(v any) ([]byte, error) {
	var b strings.Builder
	enc := jsonEncoder(&b)
	err := enc.Encode(v)
	return []byte(strings.TrimSpace(b.String())), err
}
