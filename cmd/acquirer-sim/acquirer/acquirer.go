// Package acquirer is the acquirer host simulator: an ISO 8583 server that
// speaks one dialect of terminal/host (ascii87 or cup, the same definitions
// the terminal uses), derives the DUKPT keys of every request from a BDK,
// checks MACs, decrypts the card data and answers by the magic amounts of
// the design notes. It keeps a JSONL journal of every message and a ledger
// per terminal of what it approved (ledger.go), against which voids,
// completions, reversals and settlements are decided (kinds.go).
//
// Frames that do not decode with the dialect's spec are dropped unanswered
// and journaled with the note "malformed message dropped". Requests that
// decode but whose fields do not read are answered "30" (format error),
// unMACed.
//
// Answers to a purchase (0200), and to a refund, pre-authorization or
// balance inquiry (kinds.go; the first rule that matches wins):
//
//	request MAC missing, KSN unusable or MAC wrong  "A0" (MAC failure), journal mac_ok=false
//	track 2 missing, not decryptable or without PAN "30" (format error)
//	DE55 or DE52 present, PAN not a card of the     "14" invalid card number
//	deck (Opts.Cards)
//	DE55's 5F34 not two BCD digits                  "30" (format error)
//	ARQC (DE55) does not verify under the issuer's  "Q1" card authentication failed, journal
//	keys, or 9F27 is not an ARQC, or 9F10 is not of      arqc_ok=false; no DE55 in the answer
//	the scheme's cryptogram version, or 9F02/5F2A
//	differ from DE4/DE49 (see issuer.go)
//	PIN (DE52) wrong for the 3rd time in a row, or  "75" PIN tries exceeded, journal pin_ok=false
//	the card's PIN is blocked at the issuer
//	PIN wrong, not opening, or none on file         "55" incorrect PIN, journal pin_ok=false
//	amount (minor units) ending in 51               "51" insufficient funds
//	amount ending in 05                             "05" do not honour
//	amount ending in 91                             no response at all (journal direction "drop")
//	amount ending in 96                             "96" system malfunction
//	the ledger's rules (ledger.go)                  "77" batch settled, "13" refund over its
//	                                                sale, "25" its sale not found
//	anything else                                   "00" with a 6-character auth code (DE38)
//	                                                and a 12-character RRN (DE37)
//
// An approval ("00" above) of an amount ending in 92, 93, 94, 95, 97 or 98
// goes out with a fault: cut short and the connection closed, random
// bytes in its place, a wrong MAC, too late, twice, or slow but in time
// (see fault.go; journal field fault). The control endpoint (control.go,
// Server.ControlHandler) arms the same faults, and "drop" and "delay",
// for the next approved answers of any kind.
//
// After a good ARQC every answer (the declines above it excepted) carries
// DE55 with the ARPC of its response code, and for the script card the
// issuer script (issuer.go).
//
// An advice (0220, a sale the card approved offline) is answered with a
// 0230: "00" once the simulator has it (a repeat of one it has, by
// terminal id and ref, again "00", journaled duplicate=true), "91" over
// the rate limit, "Q1" when its TC does not verify; see advice.go.
//
// A reversal (ascii87 0400 or its repeat 0401, cup 0400) of any kind is
// answered with a 0410 "00" ("A0" when its MAC fails). The simulator
// undoes an original once, in the ledger: a reversal naming an original
// it has already reversed (a repeat, or a duplicate after a lost answer,
// also across a restart with Opts.History) is answered with the same
// response code again and journaled with duplicate=true. Sign-on,
// sign-off and echo (ascii87 0800, cup 0800/0820) are answered "00".
// Requests of other types get their response MTI with "12". The host
// sends its own echo test to a connected terminal with Server.Echo (or
// the control endpoint's POST /v1/echo; echo.go). Answers to
// every MACed request are MACed under the response MAC key of the
// request's KSN whenever that KSN is usable, even when the request MAC
// failed, so the terminal can tell a genuine "A0" from a forged one.
package acquirer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/moov-io/iso8583"
	connection "github.com/moov-io/iso8583-connection"

	"posd/board/sim/deck"
	"posd/terminal/host"
	"posd/terminal/wiresec"
)

// Response codes the simulator sends.
const (
	RCApproved      = "00"
	RCDoNotHonour   = "05"
	RCInvalidTxn    = "12"
	RCFormatError   = "30"
	RCInsufficient  = "51"
	RCSystemFailure = "96"
	RCMACFailure    = "A0"
)

// Published TEST base derivation keys of the DUKPT standards. They protect
// nothing; never load them into a real terminal.
const (
	TestBDKAES  = "FEDCBA9876543210F1F1F1F1F1F1F1F1" // ANSI X9.24-3 test BDK
	TestBDKTDES = "0123456789ABCDEFFEDCBA9876543210" // ANSI X9.24-1 test BDK
)

// DefaultBDK returns the test BDK of a mode.
func DefaultBDK(mode wiresec.Mode) []byte {
	h := TestBDKAES
	if mode == wiresec.ModeTDES {
		h = TestBDKTDES
	}
	b, _ := hex.DecodeString(h)
	return b
}

// Opts configures a Server.
type Opts struct {
	// Dialect names the dialect spoken (see host.LookupDialect); "" is
	// the default, ascii87.
	Dialect string
	// Mode is the DUKPT flavour: "aes" (default) or "tdes".
	Mode wiresec.Mode
	// BDK is the base derivation key; nil means DefaultBDK(Mode).
	BDK []byte
	// TPDU is the TPDU the terminals send (the server answers with
	// destination and source swapped); nil means the dialect's default
	// (none for ascii87).
	TPDU []byte
	// Journal receives one JSON line per message; nil keeps no journal.
	Journal io.Writer
	// Logger receives server events; nil discards them.
	Logger *slog.Logger
	// Now is the clock of DE7, the RRN and the journal; nil means time.Now.
	Now func() time.Time
	// Rand supplies auth codes; nil means crypto/rand.
	Rand io.Reader
	// Issuers are the issuers' keys by scheme; nil means deck.Issuers.
	Issuers map[string]deck.Issuer
	// Cards finds the card of a PAN; nil means deck.ByPAN.
	Cards func(pan string) (deck.Card, bool)
	// ScriptCard names the card that gets the issuer script; "" means
	// DefaultScriptCard (a name no card has sends none).
	ScriptCard string
	// AdviceRate limits the advices accepted to this many a second, with
	// bursts of as many (at least 1): a token bucket on the clock Now.
	// Advices over it are answered "91" (host.AdviceBusy). 0 means no
	// limit; negative is an error.
	AdviceRate float64
	// LateDelay is how long the late answer (FaultLate, amounts ending in
	// 95) waits: longer than the terminal's response timeout. 0 means
	// DefaultLateDelay; negative is an error.
	LateDelay time.Duration
	// SlowDelay is how long the slow answer (FaultSlow, amounts ending in
	// 98) waits: shorter than the terminal's response timeout. 0 means
	// DefaultSlowDelay; negative is an error.
	SlowDelay time.Duration
	// History is a journal written before (JSONL, as Journal writes it),
	// read once by New: the advices it shows accepted are known, so a
	// restarted simulator still answers their repeats as duplicates; the
	// reversals it shows done are not done again; the ledger (approvals,
	// voids, completions, reversals, closed batches, uploads) is rebuilt
	// from its "in" lines (ledger.go). nil means none.
	History io.Reader
}

// DefaultOpts is the configuration New uses for a nil *Opts.
var DefaultOpts = Opts{Mode: wiresec.ModeAES}

// Server is the simulator. Create it with New, run it with Serve, stop it
// with Close or by cancelling Serve's context.
type Server struct {
	d      *host.Dialect
	mode   wiresec.Mode
	bdk    []byte
	framer *host.Framer
	jr     *journal
	log    *slog.Logger
	now    func() time.Time
	rnd    io.Reader

	// order is held from a request's decision to its "in" line.
	order  sync.Mutex
	mu     sync.Mutex
	closed bool
	lns    map[net.Listener]struct{}
	conns  map[*connection.Connection]struct{}
	wg     sync.WaitGroup
	seq    uint32
	done   chan struct{}
	// reversed holds the response code given to every original reversed
	// so far, by terminal id and the original as the dialect names it.
	reversed map[string]string
	// pinTries counts wrong PINs in a row by SHA-256 of the PAN.
	pinTries map[[32]byte]int
	// qrATCs are the ATCs of QR cryptograms seen, by SHA-256 of the card's
	// PAN and PSN (issuer.go).
	qrATCs map[[32]byte]*atcRing
	// advices are the advices accepted, by adviceKey.
	advices map[string]adviceRecord
	// hintAll and hintTIDs are the terminals told an update waits, until
	// the control endpoint clears them (control.go).
	hintAll  bool
	hintTIDs map[string]bool
	// ledger is what the host approved, per terminal (ledger.go).
	ledger *ledger
	// faults are the faults armed by the control endpoint (control.go),
	// oldest first; faultSeq numbers them.
	faults   []*ArmedFault
	faultSeq int
	// adviceRate is the rate limit of advices.
	adviceRate bucket
	// terminals are the connections the terminals last sent a request
	// on, by terminal id (unpadded); echoes the echo tests waiting for
	// their answers, and echoSTAN the last STAN of one (echo.go).
	terminals map[string]termConn
	echoes    map[echoKey]chan *iso8583.Message
	echoSTAN  uint32

	issuers    map[string]deck.Issuer
	cards      func(pan string) (deck.Card, bool)
	scriptCard string

	lateDelay, slowDelay time.Duration
}

// New checks opts and returns a server that is not listening yet.
func New(opts *Opts) (*Server, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.Mode == "" {
		o.Mode = wiresec.ModeAES
	}
	mode, err := wiresec.ParseMode(string(o.Mode))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	bdk := o.BDK
	if bdk == nil {
		bdk = DefaultBDK(mode)
	}
	if len(bdk) != 16 {
		return nil, fmt.Errorf("%w: BDK must be 16 bytes, got %d", ErrConfig, len(bdk))
	}
	d, err := host.LookupDialect(o.Dialect)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if o.AdviceRate < 0 || math.IsNaN(o.AdviceRate) || math.IsInf(o.AdviceRate, 0) {
		return nil, fmt.Errorf("%w: advice rate must be 0 (no limit) or more", ErrConfig)
	}
	if o.LateDelay < 0 || o.SlowDelay < 0 {
		return nil, fmt.Errorf("%w: late and slow delays must be 0 (the default) or more", ErrConfig)
	}
	if o.LateDelay == 0 {
		o.LateDelay = DefaultLateDelay
	}
	if o.SlowDelay == 0 {
		o.SlowDelay = DefaultSlowDelay
	}
	// The server's framer is the terminal's peer.
	tf, err := d.NewFramer(o.TPDU)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	s := &Server{
		d:          d,
		reversed:   map[string]string{},
		pinTries:   map[[32]byte]int{},
		qrATCs:     map[[32]byte]*atcRing{},
		advices:    map[string]adviceRecord{},
		ledger:     newLedger(),
		adviceRate: newBucket(o.AdviceRate),
		issuers:    o.Issuers,
		cards:      o.Cards,
		scriptCard: o.ScriptCard,
		lateDelay:  o.LateDelay,
		slowDelay:  o.SlowDelay,
		mode:       mode,
		bdk:        append([]byte(nil), bdk...),
		framer:     tf.Peer(),
		jr:         &journal{w: o.Journal},
		log:        o.Logger,
		now:        o.Now,
		rnd:        o.Rand,
		lns:        map[net.Listener]struct{}{},
		conns:      map[*connection.Connection]struct{}{},
		done:       make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rnd == nil {
		s.rnd = rand.Reader
	}
	if s.issuers == nil {
		s.issuers = deck.Issuers
	}
	if s.cards == nil {
		s.cards = deck.ByPAN
	}
	if s.scriptCard == "" {
		s.scriptCard = DefaultScriptCard
	}
	if o.History != nil {
		st, err := s.loadHistory(o.History)
		if err != nil {
			return nil, fmt.Errorf("%w: reading the journal: %w", ErrConfig, err)
		}
		s.log.Info("rebuilt from the journal", "advices", len(s.advices), "ledger_lines", st.applied,
			"unreadable_lines", st.skipped, "inconsistent_lines", st.inconsistent)
	}
	return s, nil
}

// Serve accepts connections on ln until ctx is cancelled or Close is
// called; then it closes ln. It returns nil after a shutdown and the accept
// error otherwise.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrClosed
	}
	s.lns[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		select {
		case <-ctx.Done():
			go s.Close()
		case <-s.done:
		}
	}()
	s.log.Info("acquirer listening", "addr", ln.Addr().String(), "mode", string(s.mode), "dialect", s.d.Name)
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			delete(s.lns, ln)
			s.mu.Unlock()
			if closed {
				return nil
			}
			_ = ln.Close()
			return fmt.Errorf("acquirer: accept: %w", err)
		}
		s.accept(nc)
	}
}

func (s *Server) accept(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = nc.Close()
		return
	}
	conn, err := connection.NewFrom(nc, s.d.Spec, nil, nil,
		connection.SetMessageReader(s.framer),
		connection.SetMessageWriter(s.framer),
		connection.InboundMessageHandler(s.handle),
		connection.ErrorHandler(s.connError),
	)
	if err != nil {
		_ = nc.Close()
		s.log.Warn("cannot serve connection", "err", err)
		return
	}
	s.conns[conn] = struct{}{}
	s.log.Info("terminal connected", "remote", nc.RemoteAddr().String())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-conn.Done():
		case <-s.done:
			return // Close closes the connection
		}
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		s.forget(conn)
	}()
}

// connError logs link errors and journals requests dropped as malformed
// (they never reach a handler).
func (s *Server) connError(err error) {
	s.log.Debug("connection error", "err", err)
	if !errors.Is(err, host.ErrMalformed) || !s.enter() {
		return
	}
	defer s.wg.Done()
	s.record(Entry{Time: s.now(), Direction: "in", Dialect: s.d.Name, Note: "malformed message dropped"})
}

// Close stops accepting, closes every connection after the replies in
// flight, and waits for all handlers. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	close(s.done)
	lns := make([]net.Listener, 0, len(s.lns))
	for ln := range s.lns {
		lns = append(lns, ln)
	}
	conns := make([]*connection.Connection, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, ln := range lns {
		_ = ln.Close()
	}
	for _, c := range conns {
		_ = c.Close()
	}
	s.wg.Wait()
	if s.jr.err != nil {
		return fmt.Errorf("acquirer: journal: %w", s.jr.err)
	}
	return nil
}

// enter registers a handler; false when the server is closing.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *Server) handle(c *connection.Connection, m *iso8583.Message) {
	if !s.enter() {
		return
	}
	defer s.wg.Done()
	if s.echoAnswer(c, m) {
		return
	}
	if mti, _ := m.GetMTI(); host.ResponseMTI(mti) != "" {
		s.remember(c, m)
	}
	// Decisions and their "in" lines keep one order, the one a restarted
	// simulator replays the journal in (loadHistory).
	s.order.Lock()
	in, resp, out := s.process(m)
	var delay time.Duration
	if resp != nil && out.ResponseCode == RCApproved && out.Fault == "" {
		if f, ok := s.takeFault(in.Kind); ok {
			in.Fault, out.Fault, delay = f.Fault, f.Fault, f.delay
			note(&in, "fault "+f.Fault+" armed by the control endpoint")
			note(&out, "fault "+f.Fault+" armed by the control endpoint")
		}
	}
	s.record(in)
	s.order.Unlock()
	if resp == nil {
		if out.Direction != "" {
			s.record(out)
		}
		return
	}
	if out.Fault != "" {
		s.deliverFault(c, resp, out, delay)
		return
	}
	// Journaled before it goes: a terminal that has the answer finds it
	// in the journal. An answer that could not go gets a "drop" line.
	s.record(out)
	if err := c.Reply(resp); err != nil {
		s.log.Warn("reply failed", "mti", out.MTI, "stan", out.STAN, "err", err)
		s.dropFault(out, "the connection failed")
	}
}

func (s *Server) record(e Entry) {
	if err := s.jr.write(e); err != nil {
		s.log.Error("journal write failed", "err", err)
	}
	s.log.Info("message", "direction", e.Direction, "mti", e.MTI, "stan", e.STAN,
		"terminal_id", e.TerminalID, "response_code", e.ResponseCode, "duplicate", e.Duplicate, "fault", e.Fault)
}

func str(m *iso8583.Message, id int) string {
	v, err := m.GetString(id)
	if err != nil {
		return ""
	}
	return v
}

// networkKind reports whether k is a network management message (no MAC,
// no money).
func networkKind(k host.Kind) bool {
	return k == host.KindSignOn || k == host.KindSignOff || k == host.KindEcho
}

// process decides on one inbound message. It returns the journal entry of
// the request, the response (nil for none) and the journal entry of the
// response (or of the drop).
func (s *Server) process(m *iso8583.Message) (in Entry, resp *iso8583.Message, out Entry) {
	now := s.now()
	req, err := s.d.DecodeRequest(m)
	// The journal reads the identifying fields as they are, so even a
	// request that does not decode gets a useful line.
	in = Entry{
		Time: now, Direction: "in", Dialect: s.d.Name, MTI: req.MTI, Kind: string(req.Kind),
		STAN: str(m, host.DESTAN), TerminalID: strings.TrimRight(str(m, host.DETerminalID), " "),
		Currency: str(m, host.DECurrency),
	}
	if a, err := host.ParseAmount(str(m, host.DEAmount)); err == nil {
		in.Amount = a
	}
	if err != nil {
		return s.reject(m, in, err)
	}
	if !s.handles(req.Kind) {
		return s.reject(m, in, fmt.Errorf("%w: %s", host.ErrUnsupported, req.Kind))
	}
	var sess *wiresec.Session
	macOK := false
	if !networkKind(req.Kind) {
		sess, macOK = s.security(m, req, &in)
		if sess != nil {
			defer sess.Wipe()
		}
	}
	in, r, out := s.decide(req, sess, macOK, in)
	if r == nil {
		return in, nil, out
	}
	if s.hinting(req.TerminalID) {
		// The terminal's TMS has an update for it (control.go, /v1/hints).
		r.UpdateWaiting, out.UpdateHint = true, true
	}
	msg, err := s.d.EncodeResponse(req, *r)
	if err != nil {
		s.log.Error("cannot answer", "mti", in.MTI, "stan", in.STAN, "err", err)
		return in, nil, Entry{}
	}
	if networkKind(req.Kind) {
		return in, msg, out
	}
	return in, s.seal(msg, sess, &out), out
}

// handles reports whether decide knows kind.
func (s *Server) handles(k host.Kind) bool {
	switch k {
	case host.KindSignOn, host.KindSignOff, host.KindEcho, host.KindPurchase, host.KindRefund, host.KindPreauth,
		host.KindBalance, host.KindAdvice, host.KindReversal, host.KindVoid, host.KindCompletion,
		host.KindSettlement, host.KindBatchUpload:
		return true
	}
	return false
}

// decide decides on a request in neutral form whose MAC was checked
// (macOK; sess is the session of its KSN, nil when unusable). It returns
// the journal entry of the request, the answer (nil for none) and the
// journal entry of the answer (or of the drop).
func (s *Server) decide(req host.Request, sess *wiresec.Session, macOK bool, in Entry) (Entry, *host.Response, Entry) {
	switch req.Kind {
	case host.KindSignOn, host.KindSignOff, host.KindEcho:
		in.Note = "network " + string(req.Kind)
		resp, out := s.reply(req, RCApproved, in)
		return in, resp, out
	case host.KindPurchase, host.KindRefund, host.KindPreauth, host.KindBalance:
		return s.cardPresent(req, sess, macOK, in)
	case host.KindAdvice:
		return s.advice(req, sess, macOK, in)
	case host.KindReversal:
		return s.reversal(req, macOK, in)
	case host.KindVoid, host.KindCompletion:
		return s.followUp(req, sess, macOK, in)
	case host.KindSettlement, host.KindBatchUpload:
		return s.batchClose(req, macOK, in)
	}
	in.Note = "unsupported message type"
	return in, nil, Entry{}
}

// reject answers a request the dialect does not map ("12") or whose fields
// do not read ("30"); a message that is not a request is ignored.
func (s *Server) reject(m *iso8583.Message, in Entry, err error) (Entry, *iso8583.Message, Entry) {
	rmti := host.ResponseMTI(in.MTI)
	if rmti == "" {
		in.Note = "not a request; ignored"
		return in, nil, Entry{}
	}
	rc := RCFormatError
	in.Note = "format error: " + err.Error()
	if errors.Is(err, host.ErrUnsupported) {
		rc, in.Note = RCInvalidTxn, "unsupported message type"
	}
	resp, rerr := s.d.EncodeReject(m, rc)
	if rerr != nil {
		in.Note += "; no answer possible"
		return in, nil, Entry{}
	}
	out := in
	out.Time, out.Direction, out.MTI, out.ResponseCode, out.Note = s.now(), "out", rmti, rc, ""
	return in, resp, out
}

// reply is the answer with response code rc to req (with the RRN and auth
// code in carries), and its journal line, made from in.
func (s *Server) reply(req host.Request, rc string, in Entry) (*host.Response, Entry) {
	resp := &host.Response{ResponseCode: rc, Time: s.now(), RRN: in.RRN, AuthCode: in.AuthCode}
	out := in
	out.Time, out.Direction, out.MTI, out.ResponseCode, out.Note = s.now(), "out", host.ResponseMTI(req.MTI), rc, ""
	out.PINPresent, out.PINOK, out.ARQCOK, out.TCOK = false, nil, nil, nil
	return resp, out
}

// security derives the session of the request's KSN and checks its MAC.
// The session is nil when the KSN is unusable.
func (s *Server) security(m *iso8583.Message, req host.Request, in *Entry) (*wiresec.Session, bool) {
	macOK := false
	in.MACOK = &macOK
	in.KSN = strings.ToUpper(hex.EncodeToString(req.KSN))
	sess, err := wiresec.ForHost(s.mode, s.bdk, req.KSN)
	if err != nil {
		in.Note = "unusable KSN"
		return nil, false
	}
	raw, err := m.Pack()
	if err != nil {
		in.Note = "cannot re-encode"
		return sess, false
	}
	input, mac, err := s.d.SplitMAC(m, raw)
	if err != nil {
		in.Note = "MAC missing or misplaced"
		return sess, false
	}
	if err := sess.VerifyRequestMAC(input, mac); err != nil {
		in.Note = "MAC does not verify"
		return sess, false
	}
	macOK = true
	return sess, true
}

// panFromTrack2 returns the PAN of ASCII track 2 data (optional ';' start
// sentinel, PAN, '=' or 'D' separator).
func panFromTrack2(t []byte) (string, bool) {
	if len(t) > 0 && t[0] == ';' {
		t = t[1:]
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i < 12 || i > 19 || i == len(t) || (t[i] != '=' && t[i] != 'D' && t[i] != 'd') {
		return "", false
	}
	return string(t[:i]), true
}

// readCard decrypts the track of a request and returns its PAN, or the
// response code of a failure ("30"). The journal gets the masked PAN.
func (s *Server) readCard(sess *wiresec.Session, req host.Request, in *Entry) (string, string) {
	track, err := sess.DecryptRequestData(req.Track2Enc)
	if err != nil {
		note(in, "track 2 missing or not decryptable")
		return "", RCFormatError
	}
	pan, ok := panFromTrack2(track)
	clear(track)
	if !ok {
		note(in, "track 2 has no PAN")
		return "", RCFormatError
	}
	in.MaskedPAN = MaskPAN(pan)
	return pan, ""
}

// cardPresent decides on a purchase, refund, pre-authorization or balance
// inquiry: MAC, card, issuer, magic amounts, then the ledger.
func (s *Server) cardPresent(req host.Request, sess *wiresec.Session, macOK bool, in Entry) (Entry, *host.Response, Entry) {
	origFields(req, &in)
	rc := ""
	var c *chip
	defer func() { c.wipe() }()
	var balance int64
	hasBalance := false
	switch {
	case !macOK:
		rc = RCMACFailure
	default:
		pan, frc := s.readCard(sess, req, &in)
		if frc != "" {
			rc = frc
			break
		}
		if rc, c = s.issue(sess, req, pan, &in); rc != "" {
			break
		}
		if req.Kind == host.KindBalance {
			card, ok := s.cards(pan)
			if !ok {
				note(&in, "card not on file")
				rc = RCInvalidCard
				break
			}
			in.Scheme = card.Scheme
			balance, hasBalance = BalanceOf(card), true
		}
		switch req.Amount % 100 {
		case 51:
			rc = RCInsufficient
		case 5:
			rc = RCDoNotHonour
		case 91:
			rc = ""
		case 96:
			rc = RCSystemFailure
		default:
			rc = s.approve(req, &in)
			if in.Fault = faultOf(req.Amount); rc == RCApproved && in.Fault != "" {
				note(&in, fmt.Sprintf("magic amount %02d: fault %s", req.Amount%100, in.Fault))
			} else {
				in.Fault = ""
			}
		}
	}
	if rc == "" {
		note(&in, "magic amount 91: no response")
		drop := in
		drop.Time, drop.Direction, drop.Note = s.now(), "drop", "no response sent (magic amount 91)"
		return in, nil, drop
	}
	in.ResponseCode = rc
	var icc []byte
	script := false
	if c != nil {
		var err error
		if icc, script, err = s.issuerData(c, rc); err != nil {
			s.log.Error("cannot build issuer data", "mti", in.MTI, "stan", in.STAN, "err", err)
			icc, script = nil, false
		}
	}
	resp, out := s.reply(req, rc, in)
	resp.ICC = icc
	out.IssuerData, out.IssuerScript = len(icc) > 0, script
	if hasBalance && rc == RCApproved {
		resp.Balance, resp.BalanceCurrency, resp.HasBalance = balance, req.Currency, true
		out.Balance = true
	}
	return in, resp, out
}

// approve gives an approved card-present request its RRN and auth code
// and, but for a balance inquiry, puts it in the ledger, whose rules may
// still decline it.
func (s *Server) approve(req host.Request, in *Entry) string {
	in.RRN, in.AuthCode = s.rrn(), s.authCode()
	if req.Kind == host.KindBalance {
		return RCApproved
	}
	res := s.ledger.do(lreqOf(req, in))
	s.applyResult(res, in)
	return res.rc
}

// applyResult journals the ledger's decision on in.
func (s *Server) applyResult(res lresult, in *Entry) {
	if res.note != "" {
		note(in, res.note)
	}
	in.Duplicate, in.OrigState = res.dup, res.origState
	in.RRN, in.AuthCode = res.rrn, res.auth
	if res.rc != RCApproved {
		in.RRN, in.AuthCode = "", ""
	}
}

func (s *Server) reversal(req host.Request, macOK bool, in Entry) (Entry, *host.Response, Entry) {
	in.OrigSTAN = fmt.Sprintf("%06d", req.OrigSTAN)
	in.OrigKind, in.OrigRef, in.Batch = string(req.OrigKind), req.OrigRef, req.Batch
	in.VoidedKind = string(req.VoidedKind)
	rc := RCApproved
	if !macOK {
		rc = RCMACFailure
	} else {
		// One original is undone once; a repeat or a duplicate gets the
		// first answer again.
		key := in.TerminalID + "|" + req.OrigRef
		s.mu.Lock()
		if prev, done := s.reversed[key]; done {
			rc, in.Duplicate = prev, true
		} else {
			s.reversed[key] = rc
		}
		s.mu.Unlock()
		in.Note = "reversal"
		if req.ReasonCode != "" {
			in.Note += ": " + req.ReasonCode
			if string(req.Reason) != req.ReasonCode {
				in.Note += " (" + string(req.Reason) + ")"
			}
		}
		if in.Duplicate {
			in.Note += "; original already reversed"
		} else {
			res := s.ledger.do(lreqOf(req, &in))
			in.OrigState = res.origState
			if res.note != "" {
				note(&in, res.note)
			}
		}
	}
	in.ResponseCode = rc
	resp, out := s.reply(req, rc, in)
	return in, resp, out
}

// seal MACs a response under the session's response key; without a session
// the response goes out unMACed (the terminal will reject it).
func (s *Server) seal(resp *iso8583.Message, sess *wiresec.Session, out *Entry) *iso8583.Message {
	if sess == nil {
		out.Note = "response not MACed (no usable KSN)"
		return resp
	}
	if _, err := s.d.Seal(resp, sess.MACResponse); err != nil {
		s.log.Error("cannot MAC response", "err", err)
		out.Note = "response not MACed"
	}
	return resp
}

// rrn returns a 12-digit retrieval reference number: last digit of the
// year, day of the year (3), hour (2) and a 6-digit sequence.
func (s *Server) rrn() string {
	s.mu.Lock()
	s.seq = (s.seq + 1) % 1000000
	n := s.seq
	s.mu.Unlock()
	t := s.now().UTC()
	return fmt.Sprintf("%d%03d%02d%06d", t.Year()%10, t.YearDay(), t.Hour(), n)
}

const authAlphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// authCode returns 6 random characters from authAlphabet.
func (s *Server) authCode() string {
	var b [6]byte
	if _, err := io.ReadFull(s.rnd, b[:]); err != nil {
		s.mu.Lock()
		n := s.seq
		s.mu.Unlock()
		return fmt.Sprintf("%06d", n)
	}
	for i := range b {
		b[i] = authAlphabet[int(b[i])%len(authAlphabet)]
	}
	return string(b[:])
}
