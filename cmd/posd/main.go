// Command posd is the terminal daemon: it drives the card readers, PIN pad
// and camera through the board, runs sales against the acquirer over ISO
// 8583 with DUKPT, keeps every transaction in bbolt and serves the local
// API that posctl and the ECR use.
//
//	posd [-config FILE] [-data-dir DIR] [-print-config]
//	posd -check-db FILE
//
// This file only wires: flags and configuration (internal/config), the
// daemon (internal/daemon), the local API (internal/api), systemd
// notifications and signals.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"posd/internal/api"
	"posd/internal/config"
	"posd/internal/daemon"
	"posd/internal/procsec"
	"posd/internal/sdnotify"
	"posd/terminal/redact"
	"posd/terminal/store"
)

var version = "dev"

// exitStatus ends posd with its code, the message already printed
// (posd -check-db).
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, daemon.ErrRestart) {
		// The console asked for a restart: systemd starts posd again.
		os.Exit(daemon.ExitRestart)
	}
	var code exitStatus
	if errors.As(err, &code) {
		os.Exit(int(code))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "posd:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("posd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgPath := fs.String("config", "", "config file (JSON); defaults apply to missing keys")
	dataDir := fs.String("data-dir", "", "data directory (overrides data_dir)")
	printCfg := fs.Bool("print-config", false, "print the effective configuration and exit")
	checkDB := fs.String("check-db", "", "check a database file (posd.db, not in use) and exit: 0 whole, 1 damaged, 3 in use")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fmt.Fprintln(stdout, "usage: posd [-config FILE] [-data-dir DIR] [-print-config]\n       posd -check-db FILE")
		fs.PrintDefaults()
		return nil
	} else if err != nil {
		return fmt.Errorf("%w (posd -h for help)", err)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (posd -h for help)", fs.Arg(0))
	}
	if *checkDB != "" {
		// Also how posd checks its own database before opening it: in a
		// child process, which a damaged file may crash or hang.
		if code := store.CheckMain(*checkDB, stderr); code != store.ExitCheckOK {
			return exitStatus(code)
		}
		return nil
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if err := daemon.CheckConfig(cfg); err != nil {
		return err
	}
	if *printCfg {
		b, err := cfg.JSON()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, string(b))
		return err
	}
	log := newLogger(cfg, stderr)
	// Before any key or card is in memory: no core file, no ptrace by
	// another process of posd's user.
	if err := procsec.NoCoreDumps(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("posd's own path, to check the database: %w", err)
	}
	d, err := daemon.Open(ctx, cfg, version, log, daemon.WithDBCheck(store.CheckInChild([]string{exe, "-check-db"}, 0)),
		daemon.WithBuildTime(daemon.BuildTime()))
	if err != nil {
		return err
	}
	srv, err := api.Start(d)
	if err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.Settings().ShutdownTimeout)
		defer cancel()
		return errors.Join(err, d.Close(sctx))
	}
	st := d.Status()
	log.Info("posd ready", "version", version, "board", st.Board, "api", srv.Addr(), "host", st.Host,
		"dialect", st.Dialect, "terminal_id", st.TerminalID, "dukpt_mode", st.DUKPTMode)
	sdnotify.Notify("READY=1")

	// A trial firmware commits itself once it is healthy; an unhealthy one
	// rolls itself back (on a board with an updater the board reboots
	// into the committed slot) and stops; under posd-supervisor the
	// committed slot starts next.
	health := make(chan error, 1)
	go func() { health <- d.CheckTrial(ctx) }()
	restart := false
	var unhealthy error
	select {
	case <-ctx.Done():
	case <-d.RestartRequested():
		restart = true
	case err := <-health:
		if errors.Is(err, daemon.ErrUnhealthy) {
			unhealthy = err
			log.Error("the new firmware is not healthy: rolled back, stopping", "err", err)
			break
		}
		if err != nil && ctx.Err() == nil {
			log.Error("firmware health check", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-d.RestartRequested():
			restart = true
		}
	}
	log.Info("shutting down", "timeout", cfg.Settings().ShutdownTimeout, "restart", restart)
	sdnotify.Notify("STOPPING=1")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Settings().ShutdownTimeout)
	defer cancel()
	err = errors.Join(srv.Shutdown(sctx, d.StopSales), d.Close(sctx))
	if err != nil {
		log.Error("stopped with errors", "err", err)
		return err
	}
	log.Info("stopped cleanly")
	if unhealthy != nil {
		return unhealthy
	}
	if restart {
		return daemon.ErrRestart
	}
	return nil
}

// newLogger writes cfg's level and format to w, masking long digit runs.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	o := &slog.HandlerOptions{Level: cfg.Settings().LogLevel}
	var h slog.Handler = slog.NewTextHandler(w, o)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, o)
	}
	return slog.New(redact.NewHandler(h))
}
