package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"posd/internal/daemon"
)

// Server serves the local API over a Daemon on its loopback address.
type Server struct {
	srv      *http.Server
	ln       net.Listener
	done     chan struct{}
	stopping chan struct{}
	// salesStopped is closed once the engine has ended the sale that
	// waited for a card (or the shutdown's time ran out).
	salesStopped chan struct{}
	tokenPath    string
	log          *slog.Logger
}

// timeouts are the HTTP server's bounds on a connection (0: none).
type timeouts struct {
	// ReadHeader bounds reading a request's headers, Read the whole
	// request, body included.
	ReadHeader, Read time.Duration
	// Write bounds a request from its headers to the end of its answer.
	Write time.Duration
	// Idle bounds the wait for the next request on a kept-alive
	// connection.
	Idle time.Duration
}

// defaultTimeouts are the bounds Start serves with. Read leaves a face
// clip (up to 96 MiB of JSON) time to arrive and be decoded on a slow
// board; Write leaves the handlers bounded at a minute (sync, reversals,
// sim keys) room to answer, and the long ones, a ?wait= long poll (up to
// 5 minutes) and a batch close, extend it for their request (see
// api.extendWrite). Idle keeps the kiosk page's connection, which polls
// every half second.
var defaultTimeouts = timeouts{ReadHeader: 5 * time.Second, Read: time.Minute, Write: 2 * time.Minute, Idle: 2 * time.Minute}

// server is the http.Server for h with the bounds of tm.
func (tm timeouts) server(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: tm.ReadHeader, ReadTimeout: tm.Read, WriteTimeout: tm.Write, IdleTimeout: tm.Idle}
}

// Start listens on the configured address, writes the per-boot token (and
// the address) to the data directory for posctl, and serves.
func Start(d *daemon.Daemon) (*Server, error) {
	return startWith(d, defaultTimeouts)
}

// startWith is Start with the server's bounds tm.
func startWith(d *daemon.Daemon, tm timeouts) (*Server, error) {
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", d.Config.API.Listen)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	s := &Server{ln: ln, done: make(chan struct{}), stopping: make(chan struct{}), salesStopped: make(chan struct{}),
		log: d.Log, tokenPath: filepath.Join(d.Config.DataDir, TokenFile)}
	if err := writeToken(s.tokenPath, "http://"+ln.Addr().String(), token); err != nil {
		ln.Close()
		return nil, err
	}
	a := &api{d: d, token: token, stopping: s.stopping, salesStopped: s.salesStopped, writeBound: tm.Write}
	s.srv = tm.server(a.routes())
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.Log.Error("api stopped", "err", err)
		}
	}()
	return s, nil
}

// How long the requests that do slow work may run before their answer:
// a face check of the largest clip on a slow board (posctl waits 10
// minutes), a reprint queued behind the documents printing (each up to
// 30 s a copy), a self test of every device.
const (
	faceCheckRun = 10 * time.Minute
	printRun     = 5 * time.Minute
	selfTestRun  = 2 * time.Minute
)

// extendWrite gives the answer of a request that may run for d (a long
// poll, a batch close) the server's write bound after d, instead of
// from the request's start. Nothing to do when the server has no write
// bound, or w is not a server's (a test's recorder).
func (a *api) extendWrite(w http.ResponseWriter, d time.Duration) {
	if a.writeBound <= 0 {
		return
	}
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d + a.writeBound))
}

// Addr is the address the API listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops accepting requests at once, then runs stopSales (the
// engine: a sale waiting for a card ends and its waiters get the record)
// while the requests in flight finish; long polls answer once stopSales
// has returned, with the record as the engine left it (503 for a
// transaction that is still not final). The token file goes last. Every
// step is bounded by ctx.
func (s *Server) Shutdown(ctx context.Context, stopSales func(context.Context) error) error {
	close(s.stopping)
	srvDone := make(chan error, 1)
	go func() { srvDone <- s.srv.Shutdown(ctx) }()
	var errs []error
	if stopSales != nil {
		errs = append(errs, stopSales(ctx))
	}
	close(s.salesStopped)
	if err := <-srvDone; err != nil {
		errs = append(errs, fmt.Errorf("api: %w", err))
	}
	<-s.done
	if err := os.Remove(s.tokenPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
