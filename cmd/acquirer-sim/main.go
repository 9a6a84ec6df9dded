// Command acquirer-sim is the acquirer host simulator: a real ISO 8583
// server (a dialect of terminal/host) with DUKPT key derivation from a BDK,
// MAC checks, card data decryption, the magic-amount rules of package
// acquirer, reversal deduplication and a JSONL journal.
//
//	acquirer-sim [-listen 127.0.0.1:8583] [-dialect ascii87|cup]
//	             [-mode aes|tdes] [-bdk HEX] [-tpdu HEX] [-journal PATH]
//	             [-script-card NAME] [-advice-rate N] [-late-delay 15s]
//	             [-slow-delay 1s] [-control 127.0.0.1:8584] [-log-level info]
//
// -dialect selects the ISO 8583 dialect (default ascii87; cup is the China
// UnionPay-style one with BCD fields, TPDU and message header); posd must
// use the same (host.dialect). Without -tpdu the dialect's default TPDU is
// expected (none for ascii87). Without -bdk it uses the published TEST BDK
// of the mode. As the issuer it checks ARQCs and online PINs against the
// deck's cards and issuer keys (board/sim/deck) and sends an issuer script
// to the deck card -script-card names (default
// acquirer.DefaultScriptCard). It receives advices (0220: sales approved
// offline): checks their TC, answers a repeat (same terminal id and ref)
// "00" again without counting it twice, and answers "91" (busy) to those
// over -advice-rate a second (bursts of as many; default 0, no limit).
// When the -journal file exists at start, the advices it shows accepted
// (kind "advice", direction "in", response_code "00") are read back first,
// so a restarted simulator still knows their repeats. Approved purchases
// of amounts ending in 92 to 98 (96 excepted) go out with a fault (see
// package acquirer): the late one (95) after -late-delay (default 15s,
// longer than the terminal's response timeout), the slow one (98) after
// -slow-delay (default 1s). The -journal file also rebuilds, at start, the
// ledger of what the host approved (voids, completions, settled batches,
// reversals done; see package acquirer).
//
// -control ADDR (off by default; a loopback address only) serves the
// control endpoint over HTTP: POST/GET/DELETE /v1/faults arm, list and
// clear faults for the next approved answers of a kind (drop, delay,
// reset, garbage, bad_mac, duplicate, late, slow), GET
// /v1/batches?terminal=TID and /v1/ledger?terminal=TID show the host's
// ledger, POST /v1/echo {"terminal": TID} sends the host's echo test to
// a connected terminal and shows its answer (acquirer.ControlHandler). It prints "control on HOST:PORT" on
// stderr, then "listening on HOST:PORT" once it accepts connections, and
// shuts down cleanly on SIGTERM or SIGINT (control endpoint, listener and
// connections closed, journal synced and closed).
//
// -wallet ADDR (off by default; a loopback address only) serves the wallet
// platforms simulator (package wallet: its protocol and magic amounts) over
// HTTP, with -wallet-pay-after queries before an amount ending 61 is paid
// and -wallet-query-rate queries a second per terminal, a JSON line per
// call appended to -wallet-journal PATH (default none), its orders kept in
// -wallet-state PATH across restarts, as real platforms keep them
// (default: in memory only). It prints "wallet on HOST:PORT".
//
// -face ADDR (off by default; a loopback address only) serves the face-pay
// platform simulator (package facepay: its protocol, enrolled customers
// and payment passwords) over HTTP. Its X25519 private key is read from
// -face-key FILE (PEM PKCS #8), created there (mode 0600) when the file
// does not exist; without -face-key a new key lives only as long as the
// process. -face-pub-out FILE writes the public key (PEM "PUBLIC KEY")
// there for the terminal's parameters (face.platform_key_file); GET
// /face/v1/key serves it too. Payment passwords are PIN blocks under
// the DUKPT keys of -mode and -bdk, as the ISO host's. -face-limit is the
// face-pay limit in minor units (default 100000: 1000.00), -face-journal
// PATH appends a JSON line per call (default none). It prints "face on
// HOST:PORT".
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"posd/cmd/acquirer-sim/acquirer"
	"posd/cmd/acquirer-sim/facepay"
	"posd/cmd/acquirer-sim/wallet"
	"posd/terminal/durable"
	"posd/terminal/host"
	"posd/terminal/wiresec"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "acquirer-sim:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:8583", "address to listen on (port 0 picks a free port)")
	dialect := flag.String("dialect", host.DefaultDialect, "ISO 8583 dialect: "+strings.Join(host.DialectNames(), " or "))
	mode := flag.String("mode", "aes", "DUKPT mode: aes (X9.24-3) or tdes (X9.24-1)")
	bdkHex := flag.String("bdk", "", "base derivation key in hex (default: the published TEST BDK of -mode: "+
		acquirer.TestBDKAES+" for aes, "+acquirer.TestBDKTDES+" for tdes)")
	tpduHex := flag.String("tpdu", "", "TPDU the terminals send, 10 hex digits starting with 60 (default: the dialect's, off for ascii87)")
	journalPath := flag.String("journal", "", "append a JSON line per message to this file (default none)")
	scriptCard := flag.String("script-card", acquirer.DefaultScriptCard, "deck card that gets the issuer script (a name no card has: none)")
	adviceRate := flag.Float64("advice-rate", 0, "advices accepted per second, in bursts of as many; over it they are answered 91 (0: no limit)")
	lateDelay := flag.Duration("late-delay", acquirer.DefaultLateDelay, "delay of the late approval (amounts ending in 95): longer than the terminal's response timeout")
	slowDelay := flag.Duration("slow-delay", acquirer.DefaultSlowDelay, "delay of the slow approval (amounts ending in 98): shorter than the terminal's response timeout")
	control := flag.String("control", "", "serve the control endpoint (faults, batches) over HTTP on this loopback address (default off)")
	walletAddr := flag.String("wallet", "", "serve the wallet platforms simulator over HTTP on this loopback address (default off)")
	walletPayAfter := flag.Int("wallet-pay-after", wallet.DefaultPayAfter, "queries before a wallet payment of an amount ending 61 is paid")
	walletRate := flag.Float64("wallet-query-rate", wallet.DefaultQueryRate, "wallet queries a second per terminal before too_frequent")
	walletJournal := flag.String("wallet-journal", "", "append a JSON line per wallet call to this file (default none)")
	walletState := flag.String("wallet-state", "", "keep the wallet platforms' orders in this file across restarts (default: in memory only)")
	faceAddr := flag.String("face", "", "serve the face-pay platform simulator over HTTP on this loopback address (default off)")
	faceKey := flag.String("face-key", "", "the face-pay platform's X25519 private key, PEM PKCS #8 (created, mode 0600, when missing; default: a new key for this run)")
	facePubOut := flag.String("face-pub-out", "", "write the face-pay platform's public key (PEM) to this file for the terminal's parameters")
	faceJournal := flag.String("face-journal", "", "append a JSON line per face-pay call to this file (default none)")
	faceLimit := flag.Int64("face-limit", facepay.DefaultLimit, "face-pay limit in minor units: identify over it answers over_limit")
	level := flag.String("log-level", "info", "log level: debug, info, warn, error")
	flag.Parse()
	// SIGTERM is caught before any server starts (the wallet and face
	// platforms serve before the acquirer's line says the simulator is
	// up): a stop sent once one of them answered is a clean one, not a
	// kill.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))

	m, err := wiresec.ParseMode(*mode)
	if err != nil {
		return fmt.Errorf("-mode: %w", err)
	}
	if _, err := host.LookupDialect(*dialect); err != nil {
		return fmt.Errorf("-dialect: %w", err)
	}
	if *adviceRate < 0 {
		return errors.New("-advice-rate: must be 0 (no limit) or more")
	}
	if *lateDelay <= 0 {
		return errors.New("-late-delay: must be more than 0")
	}
	if *slowDelay <= 0 {
		return errors.New("-slow-delay: must be more than 0")
	}
	if *control != "" {
		if err := loopbackAddr(*control); err != nil {
			return fmt.Errorf("-control: %w", err)
		}
	}
	if *walletAddr != "" {
		if err := loopbackAddr(*walletAddr); err != nil {
			return fmt.Errorf("-wallet: %w", err)
		}
		wln, err := net.Listen("tcp", *walletAddr)
		if err != nil {
			return fmt.Errorf("-wallet: %w", err)
		}
		wo := wallet.Opts{PayAfter: *walletPayAfter, QueryRate: *walletRate, Logger: log}
		if *walletJournal != "" {
			wj, err := os.OpenFile(*walletJournal, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
			if err != nil {
				return fmt.Errorf("-wallet-journal: %w", err)
			}
			defer wj.Close()
			wo.Journal = wj
		}
		var wsim *wallet.Sim
		if *walletState != "" {
			wo.StateFile = *walletState
			if wsim, err = wallet.Open(wo); err != nil {
				return fmt.Errorf("-wallet-state: %w", err)
			}
		} else {
			wsim = wallet.New(wo)
		}
		ws := &http.Server{Handler: wsim,
			ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go func() { _ = ws.Serve(wln) }()
		defer ws.Close()
		fmt.Fprintf(os.Stderr, "wallet on %s\n", wln.Addr())
	}
	if *walletAddr == "" && *walletState != "" {
		return errors.New("-wallet-state needs -wallet")
	}
	if *faceAddr == "" && (*faceKey != "" || *facePubOut != "" || *faceJournal != "") {
		return errors.New("-face-key, -face-pub-out and -face-journal need -face")
	}
	if *faceLimit <= 0 {
		return errors.New("-face-limit: must be more than 0")
	}
	opts := acquirer.Opts{Dialect: *dialect, Mode: m, Logger: log, ScriptCard: *scriptCard, AdviceRate: *adviceRate,
		LateDelay: *lateDelay, SlowDelay: *slowDelay}
	if *bdkHex != "" {
		if opts.BDK, err = hex.DecodeString(strings.TrimSpace(*bdkHex)); err != nil {
			return errors.New("-bdk: not hexadecimal")
		}
	} else {
		log.Warn("using the published TEST BDK; never use it with real cards", "mode", string(m))
	}
	if *tpduHex != "" {
		if opts.TPDU, err = hex.DecodeString(*tpduHex); err != nil {
			return errors.New("-tpdu: not hexadecimal")
		}
	}
	var jf *os.File
	if *journalPath != "" {
		// What an earlier run journaled: the advices it accepted.
		hf, err := os.Open(*journalPath)
		switch {
		case err == nil:
			defer hf.Close()
			opts.History = hf
		case !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("-journal: %w", err)
		}
		jf, err = os.OpenFile(*journalPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("-journal: %w", err)
		}
		opts.Journal = jf
	}
	if *faceAddr != "" {
		bdk := opts.BDK
		if bdk == nil {
			bdk = acquirer.DefaultBDK(m)
		}
		fs, err := startFace(faceConfig{addr: *faceAddr, keyFile: *faceKey, pubOut: *facePubOut, journal: *faceJournal,
			limit: *faceLimit, mode: m, bdk: bdk}, log)
		if err != nil {
			return err
		}
		defer fs.close()
	}
	srv, err := acquirer.New(&opts)
	if err != nil {
		return err
	}
	var ctl *http.Server
	ctlDone := make(chan error, 1)
	if *control != "" {
		cln, err := net.Listen("tcp", *control)
		if err != nil {
			_ = srv.Close()
			return fmt.Errorf("-control: %w", err)
		}
		ctl = &http.Server{Handler: srv.ControlHandler(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go func() { ctlDone <- ctl.Serve(cln) }()
		fmt.Fprintf(os.Stderr, "control on %s\n", cln.Addr())
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		if ctl != nil {
			_ = ctl.Close()
		}
		_ = srv.Close()
		return err
	}
	fmt.Fprintf(os.Stderr, "listening on %s\n", ln.Addr())
	serveErr := srv.Serve(ctx, ln)
	if ctl != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := ctl.Shutdown(sctx); err != nil {
			_ = ctl.Close()
		}
		cancel()
		if err := <-ctlDone; !errors.Is(err, http.ErrServerClosed) {
			serveErr = errors.Join(serveErr, fmt.Errorf("control: %w", err))
		}
	}
	closeErr := srv.Close()
	if jf != nil {
		if err := jf.Sync(); err != nil && closeErr == nil {
			closeErr = err
		}
		if err := jf.Close(); err != nil && closeErr == nil {
			closeErr = err
		}
	}
	log.Info("acquirer-sim stopped")
	return errors.Join(serveErr, closeErr)
}

// loopbackAddr checks addr is host:port with a loopback host (localhost or
// a loopback IP): the control endpoint is not for the network.
func loopbackAddr(addr string) error {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if h == "localhost" {
		return nil
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q is not a loopback address", h)
}

// faceConfig is what the -face flags ask for.
type faceConfig struct {
	addr, keyFile, pubOut, journal string
	limit                          int64
	mode                           wiresec.Mode
	bdk                            []byte
}

// faceServer is the running face-pay platform.
type faceServer struct {
	srv     *http.Server
	journal *os.File
}

// startFace serves the face-pay platform on cfg.addr (loopback only).
func startFace(cfg faceConfig, log *slog.Logger) (*faceServer, error) {
	if err := loopbackAddr(cfg.addr); err != nil {
		return nil, fmt.Errorf("-face: %w", err)
	}
	key, created, err := facepay.LoadOrCreateKey(cfg.keyFile)
	if err != nil {
		return nil, fmt.Errorf("-face-key: %w", err)
	}
	if created && cfg.keyFile != "" {
		log.Info("face-pay platform key created", "file", cfg.keyFile)
	}
	fo := facepay.Opts{Key: key, Mode: cfg.mode, BDK: cfg.bdk, Limit: cfg.limit, Logger: log.With("part", "facepay")}
	fs := &faceServer{}
	if cfg.journal != "" {
		if fs.journal, err = os.OpenFile(cfg.journal, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err != nil {
			return nil, fmt.Errorf("-face-journal: %w", err)
		}
		fo.Journal = fs.journal
	}
	p, err := facepay.New(fo)
	if err != nil {
		fs.close()
		return nil, fmt.Errorf("-face: %w", err)
	}
	if cfg.pubOut != "" {
		if err := durable.WriteFile(cfg.pubOut, p.PublicKeyPEM(), 0o644); err != nil {
			fs.close()
			return nil, fmt.Errorf("-face-pub-out: %w", err)
		}
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		fs.close()
		return nil, fmt.Errorf("-face: %w", err)
	}
	fs.srv = &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() { _ = fs.srv.Serve(ln) }()
	fmt.Fprintf(os.Stderr, "face on %s\n", ln.Addr())
	return fs, nil
}

// close stops the platform and syncs its journal.
func (f *faceServer) close() {
	if f.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := f.srv.Shutdown(ctx); err != nil {
			_ = f.srv.Close()
		}
		cancel()
	}
	if f.journal != nil {
		_ = f.journal.Sync()
		_ = f.journal.Close()
	}
}
