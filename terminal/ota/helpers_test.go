package ota

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"posd/cmd/tms-sim/repo"
)

// env is a TMS repository served on loopback and the terminals' options.
type env struct {
	t    *testing.T
	repo *repo.Repo
	srv  *httptest.Server
}

func newEnv(t *testing.T, o repo.Opts) *env {
	t.Helper()
	r, err := repo.New(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, repo: r, srv: srv}
}

// opts are a terminal's options against the env's server.
func (e *env) opts(id string) Opts {
	return Opts{BaseURL: e.srv.URL, TerminalID: id, Root: e.repo.RootJSON(), Dir: e.t.TempDir(),
		HTTP: e.srv.Client(), Rand: rand.New(rand.NewPCG(1, 2))}
}

func (e *env) client(id string, mod ...func(*Opts)) *Client {
	e.t.Helper()
	o := e.opts(id)
	for _, m := range mod {
		m(&o)
	}
	c, err := New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) publish() {
	e.t.Helper()
	if err := e.repo.Publish(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) add(name string, data []byte, kind string, version int) {
	e.t.Helper()
	if err := e.repo.AddTarget(name, data, map[string]any{"kind": kind, "version": version}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) file(p string) []byte {
	e.t.Helper()
	b, err := e.repo.File(p)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) targetPath(name string) string {
	e.t.Helper()
	p, err := e.repo.TargetPath(name)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// requests are the requests the repository served for path prefix p to
// terminal id.
func (e *env) requests(id, p string) []repo.Request {
	var out []repo.Request
	for _, q := range e.repo.Requests() {
		if q.TerminalID == id && strings.HasPrefix(q.Path, p) {
			out = append(out, q)
		}
	}
	return out
}

func mustCheck(t *testing.T, c *Client) []Target {
	t.Helper()
	ts, err := c.Check(context.Background())
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return ts
}

func find(t *testing.T, ts []Target, name string) Target {
	t.Helper()
	for _, x := range ts {
		if x.Name == name {
			return x
		}
	}
	t.Fatalf("no target %s in %v", name, ts)
	return Target{}
}

// refused asserts a Check or Fetch was refused for reason, returned
// nothing, and says why in its text.
func refused(t *testing.T, got any, err error, reason error, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted (%v), want refusal %v", got, reason)
	}
	if !errors.Is(err, reason) {
		t.Fatalf("error %v, want %v", err, reason)
	}
	if !Refused(err) {
		t.Fatalf("error %v is not a *RefusedError", err)
	}
	switch g := got.(type) {
	case []Target:
		if g != nil {
			t.Fatalf("refused check returned targets %v", g)
		}
	case []byte:
		if g != nil {
			t.Fatalf("refused fetch returned %d bytes", len(g))
		}
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not say %q", err, w)
		}
	}
	t.Logf("refused: %v", err)
}

// noTargetFiles asserts nothing of a fetch is kept in dir.
func noTargetFiles(t *testing.T, dir string) {
	t.Helper()
	for _, sub := range []string{"targets", "partial"} {
		es, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 0 {
			t.Fatalf("%s holds %v after a refusal", sub, es[0].Name())
		}
	}
}

// handlerTransport sends requests straight to a handler, in process: the
// fleet and the fuzz target need no sockets.
type handlerTransport struct{ h http.Handler }

func (h handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// endless serves bytes forever (no Content-Length) until the client goes
// away (at most 1 GiB); sent counts them and done closes when it stopped.
func endless() (h http.Handler, sent *atomic.Int64, done chan struct{}) {
	sent, done = new(atomic.Int64), make(chan struct{}, 1)
	h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		buf := bytes.Repeat([]byte("x"), 32<<10)
		for range 1 << 15 {
			n, err := w.Write(buf)
			sent.Add(int64(n))
			if err != nil {
				return
			}
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
		}
	})
	return h, sent, done
}

func bundleJSON(version int) []byte {
	return fmt.Appendf(nil, `{"version": %d, "created": "2026-03-01T10:00:00Z", "sections": {
  "emv": {"aids": ["A0000000031010"]},
  "risk": {"velocity": 5},
  "hotlist": ["47617300"],
  "host": {"addr": "10.0.0.1:5000"},
  "limits": {"offline": {"floor_limit": 5000}}}}`, version)
}

// httpStall announces all of data, sends its first n bytes and then
// stalls until the client goes away.
func httpStall(data []byte, n int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:n])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		<-r.Context().Done()
	})
}
