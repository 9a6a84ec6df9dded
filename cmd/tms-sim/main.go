// Command tms-sim is the acquirer's terminal management system on
// loopback, for the sim board and the tests: the key distribution host of
// remote key loading (package kdh: TR-34 key tokens, TR-31 DUKPT initial
// keys, and a test factory that certifies device keys) and the update
// repositories (package repo) terminals poll for parameters and firmware.
// Everything it signs and wraps uses published TEST keys: it protects
// nothing.
//
// Usage:
//
//	tms-sim -listen 127.0.0.1:8590 [-journal FILE] [-kdh-ca-out FILE]
//	        [-repo DIR -root-out FILE] [-params FILE]... [-firmware FILE -firmware-version N]
//	        [-slow-targets BYTES/DURATION]
//
// The update repository (one terminal group) is created afresh in -repo
// with new keys at each start; -root-out writes the root.json terminals
// pin. It is served under /repo/ (ota.url: http://ADDR/repo); terminals
// report what they applied to POST /v1/report, journaled with every
// fetch. POST /v1/admin/publish (loopback, for tests and the demo)
// publishes a target at run time:
//
//	{"name": "params/p-3.json", "kind": "params", "version": 3, "data": "<base64>"}
//
// A -params file is checked as terminals check a bundle (terminal/ota
// ParseBundle: every section, the hotlist's BIN prefixes, the host's
// host:port, the limits' keys and ranges) and refused at start if it does
// not read; the admin endpoint publishes whatever it is given.
//
// -slow-targets is a fault for terminals to meet: every target is served
// BYTES at a time, DURATION apart (1/5s: a byte every five seconds, a TMS
// or a middlebox that keeps a download alive without ever finishing it).
//
// It prints "tms-sim listening on ADDR" once it serves.
package main

import (
	"context"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"posd/cmd/tms-sim/kdh"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tms-sim:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:8590", "loopback address to serve on")
	journalPath := flag.String("journal", "", "append a JSON line per request to this file (default none)")
	caOut := flag.String("kdh-ca-out", "", "write the KDH CA certificate (PEM) that terminals pin to this file")
	repoDir := flag.String("repo", "", "create the update repository in this (empty) directory")
	rootOut := flag.String("root-out", "", "write the repository's root.json, which terminals pin, to this file")
	var params multiFlag
	flag.Var(&params, "params", "publish this parameter bundle (its version field numbers it); repeatable")
	firmware := flag.String("firmware", "", "publish this firmware image (a posd binary on the sim board)")
	fwVersion := flag.Int("firmware-version", 0, "the version of -firmware")
	slowTargets := flag.String("slow-targets", "", "serve every target BYTES/DURATION at a time (a fault: 1/5s trickles a byte every 5 s)")
	level := flag.String("log-level", "info", "log level: debug, info, warn, error")
	flag.Parse()
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	chunk, every, err := parsePace(*slowTargets)
	if err != nil {
		return fmt.Errorf("-slow-targets: %w", err)
	}
	if h, _, err := net.SplitHostPort(*listen); err != nil || !net.ParseIP(h).IsLoopback() {
		return errors.New("-listen: must be a loopback address (tms-sim holds test keys only)")
	}
	pki, err := kdh.TestPKI()
	if err != nil {
		return err
	}
	if *caOut != "" {
		b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.KDHCA.Raw})
		if err := os.WriteFile(*caOut, b, 0o644); err != nil {
			return fmt.Errorf("-kdh-ca-out: %w", err)
		}
	}
	ko := kdh.Opts{PKI: pki, Factory: true, Logger: log.With("part", "kdh")}
	if *journalPath != "" {
		// The initial KSNs delivered before this start are never issued
		// again.
		if old, err := os.Open(*journalPath); err == nil {
			ko.Issued, err = kdh.IssuedFromJournal(old)
			old.Close()
			if err != nil {
				return fmt.Errorf("-journal: %w", err)
			}
		}
		f, err := os.OpenFile(*journalPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("-journal: %w", err)
		}
		defer f.Close()
		ko.Journal = &journal{w: f}
	}
	keys, err := kdh.New(ko)
	if err != nil {
		return err
	}
	defer keys.Close()
	log.Warn("serving TEST keys only: the published test PKI and TEST BDKs; never use them with real cards")
	mux := http.NewServeMux()
	mux.Handle("/v1/rkl/", keys)
	mux.Handle(kdh.FactoryPath, keys)
	jw, _ := ko.Journal.(*journal)
	if *repoDir != "" {
		r, err := openRepo(*repoDir, *rootOut, params, *firmware, *fwVersion, jw, log)
		if err != nil {
			return err
		}
		if chunk > 0 {
			r.Slow("/targets/", chunk, every)
			log.Warn("serving targets slowly (fault)", "bytes", chunk, "every", every)
		}
		mux.Handle("/repo/", http.StripPrefix("/repo", r.Handler()))
		mux.Handle("POST /v1/admin/publish", publishHandler(r, log))
		mux.Handle("POST /v1/report", reportHandler(jw, log))
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	// SIGTERM is caught before the line whoever waits for it reads: a
	// stop sent right after it is a clean one, not a kill.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(os.Stderr, "tms-sim listening on %s\n", ln.Addr())
	select {
	case s := <-sig:
		log.Info("stopping", "signal", s.String())
	case err := <-done:
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}

// parsePace reads BYTES/DURATION ("1/5s"); "" is none (0, 0).
func parsePace(s string) (chunk int64, every time.Duration, err error) {
	if s == "" {
		return 0, 0, nil
	}
	b, d, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not BYTES/DURATION", s)
	}
	chunk, err = strconv.ParseInt(b, 10, 64)
	if err != nil || chunk < 1 {
		return 0, 0, fmt.Errorf("%q: BYTES must be a whole number above 0", s)
	}
	every, err = time.ParseDuration(d)
	if err != nil || every <= 0 {
		return 0, 0, fmt.Errorf("%q: DURATION must be above 0 (like 5s)", s)
	}
	return chunk, every, nil
}
