package repo

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"posd/conn/clock"
)

// TerminalHeader is the request header naming the terminal.
const TerminalHeader = "X-Terminal-ID"

// maxLog bounds the request log: beyond it the oldest half is dropped.
const maxLog = 1 << 17

// Request is one request Handler served.
type Request struct {
	Time       time.Time // by Opts.Clock
	TerminalID string    // X-Terminal-ID header ("" when absent)
	Method     string
	Path       string
	Range      string // Range header ("" when absent)
	Status     int
	Bytes      int64 // body bytes written
}

type cut struct {
	after int64
	times int
}

// slow is a pace: chunk bytes of a body per every.
type slow struct {
	chunk int64
	every time.Duration
}

type serveState struct {
	override map[string]http.Handler
	cuts     map[string]*cut
	slow     map[string]slow
	log      []Request
}

func (s *serveState) init() {
	s.override = map[string]http.Handler{}
	s.cuts = map[string]*cut{}
	s.slow = map[string]slow{}
}

// Tamper serves data at URL path p in place of the repository's file
// (Range requests included), until Restore.
func (r *Repo) Tamper(p string, data []byte) {
	data = bytes.Clone(data)
	r.Override(p, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.ServeContent(w, req, "", time.Time{}, bytes.NewReader(data))
	}))
}

// Override serves URL path p with h, until Restore.
func (r *Repo) Override(p string, h http.Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.srv.override[p] = h
}

// Cut makes the next times responses for URL path p stop after the first
// after bytes of their body: the connection is closed mid-file.
func (r *Repo) Cut(p string, after int64, times int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.srv.cuts[p] = &cut{after: after, times: times}
}

// Slow makes the responses for every URL path that starts with prefix
// trickle: chunk bytes of the body, then a wait of every by Opts.Clock,
// and so on (a TMS or a middlebox that keeps a download alive at a few
// bytes a second). chunk < 1 or every <= 0 undoes it, as Restore(prefix)
// does.
func (r *Repo) Slow(prefix string, chunk int64, every time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if chunk < 1 || every <= 0 {
		delete(r.srv.slow, prefix)
		return
	}
	r.srv.slow[prefix] = slow{chunk: chunk, every: every}
}

// Restore undoes Tamper, Override and Cut at URL path p, and Slow of
// prefix p.
func (r *Repo) Restore(p string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.srv.override, p)
	delete(r.srv.cuts, p)
	delete(r.srv.slow, p)
}

// Requests is the log of requests served, oldest first (the newest
// 64 Ki at least).
func (r *Repo) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.srv.log...)
}

// Handler serves the repository: GET and HEAD of /metadata/... and
// /targets/..., with Range requests, recording each request.
func (r *Repo) Handler() http.Handler {
	return http.HandlerFunc(r.serve)
}

var errCut = errors.New("repo: connection cut")

// recorder counts the status and body bytes of a response and cuts it.
type recorder struct {
	http.ResponseWriter
	status int
	n      int64
	cutAt  int64 // < 0: never
	// pace > 0: write the body pace.chunk bytes at a time, waiting
	// pace.every by clk between them, until ctx ends.
	pace slow
	clk  clock.Clock
	ctx  context.Context
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Flush passes a handler's flush on (streaming overrides).
func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *recorder) Write(b []byte) (int, error) {
	if w.pace.chunk <= 0 {
		return w.write(b)
	}
	written := 0
	for len(b) > 0 {
		if w.n > 0 && w.n%w.pace.chunk == 0 {
			if err := clock.Sleep(w.ctx, w.clk, w.pace.every); err != nil {
				return written, err
			}
		}
		k := min(int64(len(b)), w.pace.chunk-w.n%w.pace.chunk)
		n, err := w.write(b[:k])
		written += n
		if err != nil {
			return written, err
		}
		w.Flush()
		b = b[k:]
	}
	return written, nil
}

func (w *recorder) write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	cutNow := false
	if w.cutAt >= 0 && w.n+int64(len(b)) > w.cutAt {
		b = b[:max(0, w.cutAt-w.n)]
		cutNow = true
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	if err == nil && cutNow {
		// The handler stops short of its Content-Length: net/http closes
		// the connection after what was written.
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		err = errCut
	}
	return n, err
}

func (r *Repo) serve(w http.ResponseWriter, req *http.Request) {
	p := req.URL.Path
	var longest string
	rec := &recorder{ResponseWriter: w, cutAt: -1, clk: r.clk, ctx: req.Context()}
	r.mu.Lock()
	h := r.srv.override[p]
	for prefix, pace := range r.srv.slow {
		if strings.HasPrefix(p, prefix) && (rec.pace.chunk == 0 || len(prefix) > len(longest)) {
			rec.pace, longest = pace, prefix
		}
	}
	if c := r.srv.cuts[p]; c != nil && req.Method == http.MethodGet {
		rec.cutAt = c.after
		if c.times--; c.times <= 0 {
			delete(r.srv.cuts, p)
		}
	}
	r.mu.Unlock()

	switch {
	case req.Method != http.MethodGet && req.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(rec, "method not allowed", http.StatusMethodNotAllowed)
	case h != nil:
		h.ServeHTTP(rec, req)
	default:
		r.serveFile(rec, req, p)
	}

	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	q := Request{Time: r.clk.Now(), TerminalID: req.Header.Get(TerminalHeader), Method: req.Method, Path: p,
		Range: req.Header.Get("Range"), Status: rec.status, Bytes: rec.n}
	r.mu.Lock()
	if len(r.srv.log) >= maxLog {
		r.srv.log = append(r.srv.log[:0], r.srv.log[maxLog/2:]...)
	}
	r.srv.log = append(r.srv.log, q)
	hook := r.o.OnRequest
	r.mu.Unlock()
	if hook != nil {
		hook(q)
	}
}

func (r *Repo) serveFile(w http.ResponseWriter, req *http.Request, p string) {
	rel, ok := relPath(p)
	if !ok {
		http.NotFound(w, req)
		return
	}
	f, err := os.Open(filepath.Join(r.dir, filepath.FromSlash(rel)))
	if err != nil {
		http.NotFound(w, req)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		http.NotFound(w, req)
		return
	}
	// No modification time: clients resume by range alone (the files are
	// immutable under their versioned or hash-prefixed names).
	http.ServeContent(w, req, "", time.Time{}, f)
}
