package acquirer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/moov-io/iso8583"
	connection "github.com/moov-io/iso8583-connection"

	"posd/terminal/host"
)

// The host's echo test: a real acquirer sends network management echoes
// to its terminals to tell which are alive. Server.Echo (and POST
// /v1/echo of the control endpoint) sends one to a terminal, on the
// connection it last sent a request on (the simulator never dials a
// terminal): ascii87 0800 with DE70 301, cup 0820 with 60.3 301 (the
// dialect's own echo, host.Dialect.EncodeRequest of host.KindEcho), with
// the simulator's own STAN (1 to 999999, in turn), the terminal and
// merchant ids as that terminal sent them, no MAC. The answer is matched
// by connection and STAN, whatever else is going on on the connection.
// The journal gets an "out" line for the echo (kind "echo", no response
// code) and an "in" line for the answer, or a "drop" line when none came.
//
//	POST /v1/echo   {"terminal": TID}: sends the echo and waits for the
//	                answer (at most EchoTimeout): 200 {"terminal", "mti",
//	                "stan", "response_code"}; 404 when the terminal has no
//	                connection open; 504 when no answer came.

// EchoTimeout bounds the control endpoint's wait for a terminal's answer
// to an echo.
const EchoTimeout = 10 * time.Second

// termConn is the connection a terminal last sent a request on, with its
// ids as sent (padded).
type termConn struct {
	conn     *connection.Connection
	tid, mid string
}

// echoKey names the echo a terminal's answer belongs to.
type echoKey struct {
	conn *connection.Connection
	stan string
}

// remember notes c as the connection of the terminal of request m.
func (s *Server) remember(c *connection.Connection, m *iso8583.Message) {
	raw := str(m, host.DETerminalID)
	tid := strings.TrimRight(raw, " ")
	if tid == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.terminals == nil {
		s.terminals = map[string]termConn{}
	}
	s.terminals[tid] = termConn{conn: c, tid: raw, mid: str(m, host.DEMerchantID)}
}

// forget drops the terminals whose connection c has ended.
func (s *Server) forget(c *connection.Connection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tid, tc := range s.terminals {
		if tc.conn == c {
			delete(s.terminals, tid)
		}
	}
}

// echoAnswer hands m to the echo waiting for it when it is a terminal's
// answer to one (a response MTI with the STAN of an echo sent on c).
func (s *Server) echoAnswer(c *connection.Connection, m *iso8583.Message) bool {
	mti, _ := m.GetMTI()
	if len(mti) != 4 || host.ResponseMTI(mti) != "" {
		return false
	}
	k := echoKey{conn: c, stan: str(m, host.DESTAN)}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.echoes[k]
	if !ok {
		return false
	}
	delete(s.echoes, k)
	ch <- m // capacity 1, one send: the key is gone
	return true
}

// Echo sends the echo test to terminal tid (padded or not) and returns
// its answer. Errors: ErrNoTerminal (no connection of tid open),
// ErrClosed, ErrEcho (not sent, no answer before ctx ended or the
// connection closed, or an answer of another MTI or that does not
// decode). An answer with a response code other than "00" (a refusal)
// is no error: Response.ResponseCode says it.
func (s *Server) Echo(ctx context.Context, tid string) (host.Response, error) {
	tid = strings.TrimRight(tid, " ")
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return host.Response{}, ErrClosed
	}
	tc, ok := s.terminals[tid]
	if !ok {
		s.mu.Unlock()
		return host.Response{}, fmt.Errorf("%w: %q", ErrNoTerminal, tid)
	}
	s.echoSTAN = s.echoSTAN%999999 + 1
	stan := s.echoSTAN
	k := echoKey{conn: tc.conn, stan: fmt.Sprintf("%06d", stan)}
	ch := make(chan *iso8583.Message, 1)
	if s.echoes == nil {
		s.echoes = map[echoKey]chan *iso8583.Message{}
	}
	s.echoes[k] = ch
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.echoes, k)
		s.mu.Unlock()
	}()
	req := host.Request{Kind: host.KindEcho, STAN: stan, Time: s.now(), TerminalID: tc.tid, MerchantID: tc.mid}
	m, err := s.d.EncodeRequest(req)
	if err != nil {
		return host.Response{}, fmt.Errorf("%w: %w", ErrEcho, err)
	}
	mti, _ := m.GetMTI()
	out := Entry{Time: s.now(), Direction: "out", Dialect: s.d.Name, MTI: mti, Kind: string(host.KindEcho),
		STAN: k.stan, TerminalID: tid, Note: "echo test of the host"}
	drop := func(why string, err error) (host.Response, error) {
		d := out
		d.Time, d.Direction, d.Note = s.now(), "drop", "echo test: "+why
		s.record(d)
		return host.Response{}, fmt.Errorf("%w: %s: %w", ErrEcho, why, err)
	}
	s.record(out)
	if err := tc.conn.Reply(m); err != nil {
		return drop("not sent", err)
	}
	var a *iso8583.Message
	select {
	case a = <-ch:
	case <-ctx.Done():
		return drop("no answer", ctx.Err())
	case <-tc.conn.Done():
		return drop("no answer", connection.ErrConnectionClosed)
	case <-s.done:
		return host.Response{}, ErrClosed
	}
	resp, err := s.d.DecodeResponse(a)
	amti, _ := a.GetMTI()
	in := Entry{Time: s.now(), Direction: "in", Dialect: s.d.Name, MTI: amti, Kind: string(resp.Kind),
		STAN: str(a, host.DESTAN), TerminalID: strings.TrimRight(str(a, host.DETerminalID), " "),
		ResponseCode: str(a, host.DEResponseCode), Note: "answer to the echo test of the host"}
	// A refusal need not say it answers an echo (no DE70 or DE60): the
	// response MTI and the STAN it came by are the match.
	if err == nil && amti != host.ResponseMTI(mti) {
		err = fmt.Errorf("%s answers a %s echo", amti, mti)
	}
	if err != nil {
		in.Note += "; not usable"
		s.record(in)
		return resp, fmt.Errorf("%w: %w", ErrEcho, err)
	}
	s.record(in)
	return resp, nil
}

// ParseEchoSpec reads the body of POST /v1/echo, {"terminal": TID}, and
// returns the terminal id without its padding. Errors match ErrControl.
func ParseEchoSpec(body []byte) (string, error) {
	var spec struct {
		Terminal *string `json:"terminal"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return "", fmt.Errorf("%w: body is not a JSON object of terminal: %w", ErrControl, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("%w: more than one JSON value in the body", ErrControl)
	}
	if spec.Terminal == nil {
		return "", fmt.Errorf("%w: terminal missing", ErrControl)
	}
	tid := strings.TrimRight(*spec.Terminal, " ")
	if tid == "" || len(tid) > 8 || !printable(tid) {
		return "", fmt.Errorf("%w: terminal is not 1 to 8 printable characters", ErrControl)
	}
	return tid, nil
}

// echo serves POST /v1/echo.
func (c control) echo(w http.ResponseWriter, r *http.Request) {
	body, ok := jsonBody(w, r, maxControlBody)
	if !ok {
		return
	}
	tid, err := ParseEchoSpec(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), EchoTimeout)
	defer cancel()
	resp, err := c.s.Echo(ctx, tid)
	switch {
	case errors.Is(err, ErrNoTerminal):
		writeError(w, http.StatusNotFound, "terminal "+clip(tid)+" has no connection open")
		return
	case err != nil:
		writeError(w, http.StatusGatewayTimeout, "no answer to the echo test")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"terminal": tid, "mti": resp.MTI, "stan": fmt.Sprintf("%06d", resp.STAN), "response_code": resp.ResponseCode,
	})
}
