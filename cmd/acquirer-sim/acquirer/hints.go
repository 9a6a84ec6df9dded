package acquirer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
)

// Update hints: the acquirer tells terminals, in its ordinary answers,
// that their terminal management system has an update for them (DE62
// notice DF01 of every answer; terminal/host notice.go). The control
// endpoint says which terminals, until told otherwise:
//
//	POST   /v1/hints  {"all": true} or {"terminals": ["T0000001", ...]}
//	                  hints every terminal, or these ones too (added to
//	                  those hinted already): 200 with the hinted set
//	GET    /v1/hints  {"all": bool, "terminals": [...]}
//	DELETE /v1/hints  stops hinting: {"cleared": true}
//
// Every answer to a hinted terminal carries the notice (approvals,
// declines, echoes, reversals...), journaled with update_hint=true on its
// "out" line. Terminals check their TMS within their own jitter and at
// most once a minute for it, so hinting a whole fleet is safe.

// maxHintTerminals bounds the list of one POST.
const maxHintTerminals = 10000

// HintSpec is what POST /v1/hints asks for.
type HintSpec struct {
	All       bool     `json:"all"`
	Terminals []string `json:"terminals"`
}

// Hinted is the set of terminals hinted (GET /v1/hints).
type Hinted struct {
	All       bool     `json:"all"`
	Terminals []string `json:"terminals"`
}

// ParseHintSpec reads the body of POST /v1/hints. Errors match ErrControl.
func ParseHintSpec(body []byte) (HintSpec, error) {
	var h HintSpec
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return h, fmt.Errorf("%w: body is not a JSON object of all and terminals: %w", ErrControl, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return h, fmt.Errorf("%w: more than one JSON value in the body", ErrControl)
	}
	switch {
	case h.All && len(h.Terminals) > 0:
		return h, fmt.Errorf("%w: all or terminals, not both", ErrControl)
	case !h.All && len(h.Terminals) == 0:
		return h, fmt.Errorf("%w: say all: true or list terminals", ErrControl)
	case len(h.Terminals) > maxHintTerminals:
		return h, fmt.Errorf("%w: at most %d terminals at a time", ErrControl, maxHintTerminals)
	}
	for i, tid := range h.Terminals {
		tid = strings.TrimRight(tid, " ")
		if tid == "" || len(tid) > 8 || !printable(tid) {
			return h, fmt.Errorf("%w: terminal %d is not 1 to 8 printable characters", ErrControl, i)
		}
		h.Terminals[i] = tid
	}
	return h, nil
}

// Hint starts hinting the terminals of h (added to those hinted).
func (s *Server) Hint(h HintSpec) Hinted {
	s.mu.Lock()
	if h.All {
		s.hintAll = true
	}
	for _, tid := range h.Terminals {
		if s.hintTIDs == nil {
			s.hintTIDs = map[string]bool{}
		}
		s.hintTIDs[tid] = true
	}
	s.mu.Unlock()
	return s.Hinted()
}

// Hinted returns the terminals hinted.
func (s *Server) Hinted() Hinted {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Hinted{All: s.hintAll, Terminals: []string{}}
	for tid := range s.hintTIDs {
		out.Terminals = append(out.Terminals, tid)
	}
	sort.Strings(out.Terminals)
	return out
}

// ClearHints stops hinting.
func (s *Server) ClearHints() {
	s.mu.Lock()
	s.hintAll, s.hintTIDs = false, nil
	s.mu.Unlock()
}

// hinting reports whether answers to terminal tid (DE41, padded or not)
// carry the update notice.
func (s *Server) hinting(tid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hintAll || s.hintTIDs[strings.TrimRight(tid, " ")]
}

func (c control) hints(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, c.s.Hinted())
		return
	case http.MethodDelete:
		c.s.ClearHints()
		c.s.log.Info("update hints cleared")
		writeJSON(w, http.StatusOK, map[string]bool{"cleared": true})
		return
	}
	body, ok := jsonBody(w, r, maxControlBody*4)
	if !ok {
		return
	}
	h, err := ParseHintSpec(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	got := c.s.Hint(h)
	c.s.log.Info("hinting terminals that an update waits", "all", got.All, "terminals", len(got.Terminals))
	writeJSON(w, http.StatusOK, got)
}
