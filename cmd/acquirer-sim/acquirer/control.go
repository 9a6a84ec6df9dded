package acquirer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"posd/terminal/host"
)

// The control endpoint: HTTP+JSON for tests and engineers, served by
// Server.ControlHandler (acquirer-sim -control ADDR, loopback only, off by
// default). Every answer is JSON; an error is {"error": "..."} with a 4xx
// status, and the simulator keeps serving.
//
//	POST   /v1/faults   {"fault": F, "kind": K, "count": N, "delay": D}
//	                    arms fault F for the next N approved answers ("00")
//	                    of kind K: 201 with the armed fault. F is drop,
//	                    delay, reset, garbage, bad_mac, duplicate, late or
//	                    slow (fault.go); K a request kind (purchase, refund,
//	                    void, preauth, completion, balance, settlement,
//	                    batch_upload, advice, reversal, sign_on, sign_off,
//	                    echo) or "" / absent for any kind but the network
//	                    ones (sign-on, sign-off, echo); N 1 to MaxFaultCount
//	                    (absent: 1); D a Go duration up to MaxFaultDelay, for
//	                    delay (required), late and slow (absent: -late-delay,
//	                    -slow-delay). Unknown fields, a second JSON value, a
//	                    body over 64 KiB: 400. Content-Type must be
//	                    application/json (415).
//	GET    /v1/faults   {"faults": [armed faults with remaining > 0]}, oldest
//	                    first; an answer uses the oldest one matching its kind
//	DELETE /v1/faults   disarms them all: {"cleared": n}
//	GET    /v1/batches?terminal=TID
//	                    {"terminal": TID, "batches": [BatchTotals]}: the host's
//	                    ledger totals per batch and currency (ledger.go)
//	GET    /v1/ledger?terminal=TID
//	                    {"terminal": TID, "entries": [LedgerEntry]}
//	POST   /v1/hints    {"all": true} or {"terminals": [TID, ...]}: answers
//	                    to these terminals say an update waits at their
//	                    TMS, until DELETE /v1/hints (GET: who); hints.go
//	POST   /v1/echo     {"terminal": TID}: the host's echo test to that
//	                    terminal, and its answer (echo.go)
//
// Unknown paths: 404; other methods: 405; unknown query parameters: 400;
// a Host header that is not a loopback name or address (DNS rebinding):
// 421. A fault is used up by an answer whose response code is "00" and
// that no magic amount gives a fault already (declines, "A0", "30" pass
// untouched); bad_mac armed for an unMACed answer (sign-on, echo) sends
// it unchanged. The state is in memory: a restart disarms everything.

// Limits of an armed fault.
const (
	MaxFaultCount  = 10000
	MaxFaultDelay  = 10 * time.Minute
	maxControlBody = 64 << 10
)

// FaultSpec is what POST /v1/faults asks for.
type FaultSpec struct {
	Fault string
	Kind  string // "" for any kind but the network ones
	Count int
	Delay time.Duration // 0: the configured one
}

// ArmedFault is an armed fault, as GET /v1/faults shows it.
type ArmedFault struct {
	ID        int    `json:"id"`
	Fault     string `json:"fault"`
	Kind      string `json:"kind"`
	Count     int    `json:"count"`
	Remaining int    `json:"remaining"`
	Delay     string `json:"delay,omitempty"`
	delay     time.Duration
}

var faultNames = map[string]bool{
	FaultDrop: true, FaultDelay: true, FaultReset: true, FaultGarbage: true, FaultBadMAC: true,
	FaultDuplicate: true, FaultLate: true, FaultSlow: true,
}

var faultKinds = map[host.Kind]bool{
	host.KindPurchase: true, host.KindRefund: true, host.KindVoid: true, host.KindPreauth: true,
	host.KindCompletion: true, host.KindBalance: true, host.KindSettlement: true, host.KindBatchUpload: true,
	host.KindAdvice: true, host.KindReversal: true, host.KindSignOn: true, host.KindSignOff: true, host.KindEcho: true,
}

// ParseFaultSpec reads the body of POST /v1/faults: one JSON object with
// the fields fault (required), kind, count and delay, nothing else.
// Errors match ErrControl and say what is wrong.
func ParseFaultSpec(body []byte) (FaultSpec, error) {
	var raw struct {
		Fault *string `json:"fault"`
		Kind  *string `json:"kind"`
		Count *int64  `json:"count"`
		Delay *string `json:"delay"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return FaultSpec{}, fmt.Errorf("%w: body is not a JSON object of fault, kind, count and delay: %w", ErrControl, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return FaultSpec{}, fmt.Errorf("%w: more than one JSON value in the body", ErrControl)
	}
	var f FaultSpec
	switch {
	case raw.Fault == nil:
		return f, fmt.Errorf("%w: fault missing", ErrControl)
	case !faultNames[*raw.Fault]:
		return f, fmt.Errorf("%w: unknown fault %q (known: drop, delay, reset, garbage, bad_mac, duplicate, late, slow)", ErrControl, clip(*raw.Fault))
	}
	f.Fault = *raw.Fault
	if raw.Kind != nil && *raw.Kind != "" {
		if !faultKinds[host.Kind(*raw.Kind)] {
			return f, fmt.Errorf("%w: unknown kind %q", ErrControl, clip(*raw.Kind))
		}
		f.Kind = *raw.Kind
	}
	f.Count = 1
	if raw.Count != nil {
		if *raw.Count < 1 || *raw.Count > MaxFaultCount {
			return f, fmt.Errorf("%w: count must be 1 to %d", ErrControl, MaxFaultCount)
		}
		f.Count = int(*raw.Count)
	}
	if raw.Delay != nil {
		d, err := time.ParseDuration(*raw.Delay)
		if err != nil || d <= 0 || d > MaxFaultDelay {
			return f, fmt.Errorf("%w: delay must be a duration (e.g. \"2s\") above 0 and up to %v", ErrControl, MaxFaultDelay)
		}
		if f.Fault != FaultDelay && f.Fault != FaultLate && f.Fault != FaultSlow {
			return f, fmt.Errorf("%w: fault %s takes no delay", ErrControl, f.Fault)
		}
		f.Delay = d
	}
	if f.Fault == FaultDelay && f.Delay == 0 {
		return f, fmt.Errorf("%w: fault delay needs a delay", ErrControl)
	}
	return f, nil
}

// clip shortens what an error quotes back.
func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// ArmFault arms f (as POST /v1/faults does) and returns it armed.
func (s *Server) ArmFault(f FaultSpec) ArmedFault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faultSeq++
	a := &ArmedFault{ID: s.faultSeq, Fault: f.Fault, Kind: f.Kind, Count: f.Count, Remaining: f.Count, delay: f.Delay}
	if f.Delay > 0 {
		a.Delay = f.Delay.String()
	}
	s.faults = append(s.faults, a)
	return *a
}

// Faults returns the armed faults with answers left, oldest first.
func (s *Server) Faults() []ArmedFault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ArmedFault, 0, len(s.faults))
	for _, f := range s.faults {
		out = append(out, *f)
	}
	return out
}

// ClearFaults disarms every fault and returns how many were armed.
func (s *Server) ClearFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.faults)
	s.faults = nil
	return n
}

// takeFault uses up one answer of the oldest armed fault matching kind.
func (s *Server) takeFault(kind string) (ArmedFault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Kind != kind && (f.Kind != "" || networkKind(host.Kind(kind))) {
			continue
		}
		f.Remaining--
		if f.Remaining <= 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return *f, true
	}
	return ArmedFault{}, false
}

// ControlHandler returns the control endpoint's handler.
func (s *Server) ControlHandler() http.Handler { return control{s} }

type control struct{ s *Server }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// loopbackHost reports whether a Host header names a loopback name or
// address.
func loopbackHost(h string) bool {
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (c control) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !loopbackHost(r.Host) {
		writeError(w, http.StatusMisdirectedRequest, "the control endpoint answers loopback names only")
		return
	}
	var allowed []string
	switch r.URL.Path {
	case "/v1/faults":
		allowed = []string{http.MethodGet, http.MethodPost, http.MethodDelete}
	case "/v1/batches", "/v1/ledger":
		allowed = []string{http.MethodGet}
	case "/v1/hints":
		allowed = []string{http.MethodGet, http.MethodPost, http.MethodDelete}
	case "/v1/echo":
		allowed = []string{http.MethodPost}
	default:
		writeError(w, http.StatusNotFound, "no such path: the control endpoint has /v1/faults, /v1/hints, /v1/echo, /v1/batches and /v1/ledger")
		return
	}
	ok := false
	for _, m := range allowed {
		ok = ok || r.Method == m
	}
	if !ok {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, http.StatusMethodNotAllowed, "method "+clip(r.Method)+" not allowed on "+r.URL.Path)
		return
	}
	withTerminal := r.URL.Path == "/v1/batches" || r.URL.Path == "/v1/ledger"
	q, err := parseQuery(r.URL.RawQuery, withTerminal)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	switch {
	case r.URL.Path == "/v1/hints":
		c.hints(w, r)
	case r.URL.Path == "/v1/echo":
		c.echo(w, r)
	case r.URL.Path != "/v1/faults":
		c.ledgerView(w, r.URL.Path, q)
	case r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"faults": c.s.Faults()})
	case r.Method == http.MethodDelete:
		writeJSON(w, http.StatusOK, map[string]int{"cleared": c.s.ClearFaults()})
	default:
		c.arm(w, r)
	}
}

// parseQuery reads the query: "terminal" (1 to 8 printable characters)
// when withTerminal, nothing else.
func parseQuery(raw string, withTerminal bool) (string, error) {
	if raw == "" && !withTerminal {
		return "", nil
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return "", errors.New("query is not URL-encoded")
	}
	tid := ""
	for k, v := range vals {
		if k != "terminal" || !withTerminal {
			return "", fmt.Errorf("unknown query parameter %q", clip(k))
		}
		if len(v) != 1 {
			return "", errors.New("terminal given more than once")
		}
		tid = strings.TrimRight(v[0], " ")
	}
	if withTerminal && (tid == "" || len(tid) > 8 || !printable(tid)) {
		return "", errors.New("terminal=TID (the terminal id, 1 to 8 printable characters) is required")
	}
	return tid, nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return false
		}
	}
	return true
}

func (c control) ledgerView(w http.ResponseWriter, path, tid string) {
	if path == "/v1/batches" {
		writeJSON(w, http.StatusOK, map[string]any{"terminal": tid, "batches": c.s.Batches(tid)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"terminal": tid, "entries": c.s.Ledger(tid)})
}

// jsonBody reads a control request's JSON body of at most limit bytes;
// false when it answered the request with the error (415, 400).
func jsonBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("body unreadable or over %d bytes", limit))
		return nil, false
	}
	return body, true
}

func (c control) arm(w http.ResponseWriter, r *http.Request) {
	body, ok := jsonBody(w, r, maxControlBody)
	if !ok {
		return
	}
	f, err := ParseFaultSpec(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a := c.s.ArmFault(f)
	c.s.log.Info("fault armed", "id", a.ID, "fault", a.Fault, "kind", a.Kind, "count", a.Count, "delay", a.Delay)
	writeJSON(w, http.StatusCreated, a)
}
