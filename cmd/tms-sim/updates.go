package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"posd/cmd/tms-sim/repo"
	"posd/terminal/emv"
	"posd/terminal/ota"
	"posd/terminal/risk"
)

// sectionNames lists the sections a bundle has.
func sectionNames(b *ota.Bundle) []string {
	var out []string
	s := b.Sections
	for _, x := range []struct {
		name string
		raw  []byte
	}{{"emv", s.EMV}, {"risk", s.Risk}, {"hotlist", s.Hotlist}, {"host", s.Host}, {"limits", s.Limits}} {
		if x.raw != nil {
			out = append(out, x.name)
		}
	}
	return out
}

// checkSections reads the sections ota.ParseBundle leaves to the terminal
// with the terminal's own parsers: emv as the kernel's parameter file
// (inline CA keys only: a terminal has no files beside a bundle), risk as
// rules over the defaults (a terminal merges them over its
// configuration's rules instead, so a bundle can still be refused by a
// terminal whose configuration it does not fit).
func checkSections(b *ota.Bundle) error {
	if b.Sections.EMV != nil {
		if _, err := emv.LoadParams(b.Sections.EMV); err != nil {
			return fmt.Errorf("emv section: %w", err)
		}
	}
	if b.Sections.Risk != nil {
		if _, err := risk.ParseRules(b.Sections.Risk); err != nil {
			return fmt.Errorf("risk section: %w", err)
		}
	}
	return nil
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// journal serialises JSON lines of the repository's requests and the
// terminals' reports with the key distribution host's.
type journal struct {
	mu sync.Mutex
	w  io.Writer
}

// Write writes one whole line (the key distribution host's).
func (j *journal) Write(p []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.w.Write(p)
}

func (j *journal) line(v any) {
	if j == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.w.Write(append(b, '\n'))
}

// openRepo creates the group's repository, writes its root for the
// terminals and publishes the targets named on the command line.
func openRepo(dir, rootOut string, params []string, firmware string, fwVersion int, jw *journal, log *slog.Logger) (*repo.Repo, error) {
	r, err := repo.New(dir, repo.Opts{Logger: log.With("part", "repo"), OnRequest: func(q repo.Request) {
		jw.line(map[string]any{"time": q.Time, "op": "fetch", "terminal_id": q.TerminalID, "path": q.Path,
			"range": q.Range, "status": q.Status, "bytes": q.Bytes})
	}})
	if err != nil {
		return nil, fmt.Errorf("-repo: %w", err)
	}
	if rootOut != "" {
		if err := os.WriteFile(rootOut, r.RootJSON(), 0o644); err != nil {
			return nil, fmt.Errorf("-root-out: %w", err)
		}
	}
	for _, p := range params {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("-params: %w", err)
		}
		// Checked as terminals will check it (every section, hotlist, host
		// and limits included): a bundle they would refuse is not
		// published from the command line. POST /v1/admin/publish takes
		// any bytes, for tests of the refusals.
		bundle, err := ota.ParseBundle(b)
		if err == nil {
			err = checkSections(bundle)
		}
		if err != nil {
			return nil, fmt.Errorf("-params %s: %w", p, err)
		}
		if err := r.AddTarget(fmt.Sprintf("params/params-%d.json", bundle.Version), b, map[string]any{"kind": "params", "version": bundle.Version}); err != nil {
			return nil, err
		}
		log.Info("parameter bundle", "version", bundle.Version, "sections", sectionNames(bundle))
	}
	if firmware != "" {
		b, err := os.ReadFile(firmware)
		if err != nil {
			return nil, fmt.Errorf("-firmware: %w", err)
		}
		if fwVersion < 1 {
			return nil, errors.New("-firmware-version: 1 or more")
		}
		if err := r.AddTarget(fmt.Sprintf("firmware/posd-%d", fwVersion), b, map[string]any{"kind": "firmware", "version": fwVersion}); err != nil {
			return nil, err
		}
	}
	if err := r.Publish(); err != nil {
		return nil, err
	}
	return r, nil
}

// maxPublish bounds a target published at run time.
const maxPublish = 256 << 20

// publishHandler publishes one target (POST /v1/admin/publish).
func publishHandler(r *repo.Repo, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
		var req struct {
			Name    string `json:"name"`
			Kind    string `json:"kind"`
			Version int    `json:"version"`
			Data    []byte `json:"data"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, q.Body, maxPublish*4/3+4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			httpError(w, http.StatusBadRequest, "bad request: "+err.Error())
			return
		}
		if (req.Kind != "params" && req.Kind != "firmware") || req.Version < 1 || !strings.HasPrefix(req.Name, req.Kind+"/") || len(req.Data) == 0 {
			httpError(w, http.StatusBadRequest, "want name kind/..., kind params or firmware, version 1 or more, data")
			return
		}
		if err := r.AddTarget(req.Name, req.Data, map[string]any{"kind": req.Kind, "version": req.Version}); err != nil {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := r.Publish(); err != nil {
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
		log.Info("published", "target", req.Name, "version", req.Version, "bytes", len(req.Data))
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"published": req.Name, "targets_version": r.Version(repo.Targets)})
	})
}

// reportHandler journals what a terminal did with a target. A report with
// an id (a firmware rollback, sent until the TMS takes it) is journaled
// once: a repeat of an id the terminal already reported (its answer was
// lost) is answered as taken and not journaled again.
func reportHandler(jw *journal, log *slog.Logger) http.Handler {
	var mu sync.Mutex
	seen := map[string]bool{}
	return http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
		var rep struct {
			TerminalID string `json:"terminal_id"`
			Target     string `json:"target"`
			Version    int    `json:"version"`
			Result     string `json:"result"`
			Detail     string `json:"detail"`
			ID         string `json:"id"`
			Decision   string `json:"decision"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, q.Body, 8192))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rep); err != nil || rep.TerminalID == "" || rep.Target == "" || len(rep.ID) > 128 {
			httpError(w, http.StatusBadRequest, "bad report")
			return
		}
		if rep.ID != "" {
			key := rep.TerminalID + "\x00" + rep.ID
			mu.Lock()
			dup := seen[key]
			seen[key] = true
			mu.Unlock()
			if dup {
				log.Info("terminal report repeated", "terminal", rep.TerminalID, "id", rep.ID)
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		line := map[string]any{"time": time.Now().UTC(), "op": "report", "terminal_id": rep.TerminalID, "target": rep.Target,
			"version": rep.Version, "result": rep.Result, "detail": rep.Detail}
		if rep.ID != "" {
			line["id"] = rep.ID
		}
		if rep.Decision != "" {
			line["decision"] = rep.Decision
		}
		jw.line(line)
		log.Info("terminal report", "terminal", rep.TerminalID, "target", rep.Target, "result", rep.Result, "decision", rep.Decision)
		w.WriteHeader(http.StatusNoContent)
	})
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
