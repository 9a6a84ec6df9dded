// Package wallet is the wallet platforms simulator of acquirer-sim
// (WeChat Pay, Alipay, UnionPay QR behind one gateway): an http.Handler
// speaking the protocol of posd/terminal/wallet, on loopback only.
//
// # Protocol
//
// Every call of a terminal is POST {base}/{platform}/{op}, platform one
// of wechat, alipay, unionpay and op one of pay, precreate, query,
// cancel, refund, with a JSON body (at most 4096 bytes) and three
// headers:
//
//	X-Wallet-Terminal   the terminal id (1-32 letters and digits)
//	X-Wallet-Timestamp  unix seconds; refused when more than 5 minutes off
//	X-Wallet-Signature  hex HMAC-SHA256 under the terminal's key of
//	                    "POST\n" path "\n" terminal "\n" timestamp "\n" body
//
// The terminal's key is HMAC-SHA256(master key, terminal id)
// (TerminalKey; the master key defaults to the published TestMasterKey).
// Bodies:
//
//	pay        {"order_id","amount","currency","code"}   order id 1-32 alnum, amount > 0, code 10-32 digits
//	precreate  {"order_id","amount","currency"}          no code: the payer scans the terminal's code
//	query      {"order_id"}
//	cancel     {"order_id"}
//	refund     {"order_id","refund_id","amount"}
//
// Every answer is {"order_id","status","platform_txn_id","reason","code",
// "amount","currency"} signed in X-Wallet-Signature: hex HMAC-SHA256 of "RESP\n" path "\n"
// request signature "\n" body, which binds it to its request. Status is
// one of success, failed, user_paying, closed, refunded, unknown; amount
// and currency are what the platform holds the order at (what it
// charged, once paid; a refund's answer: the refund's amount), left out
// of refusals and of an order known only from a cancel; code is empty
// (HTTP 200) or names a refusal:
//
//	too_frequent     429  over the terminal's query limit (Opts.QueryRate, burst Opts.QueryBurst)
//	bad_signature    401  signature, terminal or timestamp wrong (unsigned: the key is unknown)
//	bad_request      400  body, path or fields not valid
//	not_found        404  query or refund of an order the platform never had
//	order_mismatch   409  pay or precreate of an order id already used for another amount, currency,
//	                      platform or kind (paid by code / precreated)
//	not_paid         409  refund of an order not paid
//	refund_exceeds   409  refunds over the paid amount
//	refund_mismatch  409  refund id reused for another amount, or for another order of the terminal
//	code_used        409  the payment code already paid another order
//	code_invalid     409  the payment code is not one of the platform's (paycode.Classify: WeChat
//	                      18 digits 10-15..., Alipay 16-24 digits 25-30..., UnionPay 19 digits 62...)
//	system_error     500  the platform failed; the request may have been executed (magic 65)
//
// # Magic amounts (last two digits of the amount in fen)
//
//	61  user_paying; the Opts.PayAfter-th query after it (default 2) finds it paid (success)
//	62  user_paying for ever; cancel closes it
//	63  failed, reason "insufficient balance"
//	64  paid, but the pay gets no answer (the connection is closed): the terminal queries
//	    and finds success
//	65  paid, but the pay is answered system_error (HTTP 500, signed): the terminal
//	    queries and finds success
//	66  paid at one fen more than asked: every answer of the order states that amount
//	    (a faulty platform); the terminal must not approve it, and cancels it (refunded)
//	67  paid in another currency than asked (HKD; CNY when HKD was asked), the same amount
//	    in minor units: as 66, the terminal must not approve it
//	else success
//
// Pay is idempotent by terminal id + order id: a repeat answers the
// order's state and never pays again (Totals.PaidTwice counts the
// impossible). Cancel closes an unpaid order (closed), reverses a paid one
// (refunded: what partial refunds left of it is given back) and remembers an order id it never had as closed, so a late
// pay of it is refused rather than paid. Refund gives back at most the
// paid amount, idempotent by refund id; the order is refunded once fully
// given back. Only queries count against the rate limit. A payment code
// pays one order (any terminal): the simulator keeps the SHA-256 of every
// code that made an order, never the code.
//
// A signed pay, precreate, cancel or refund is executed once. Its
// signature is good for as long as its timestamp is within 5 minutes, so
// the same bytes may come again: the terminal's retry within the same
// second (it signs every attempt anew, but the timestamp is in seconds,
// and the resolver's cancels are half a second apart at the least), or a
// copy replayed off the wire. A verbatim repeat — the same terminal and
// request signature, hence the same path, timestamp and body — gets the
// first copy's answer and signature and is not executed again (journal:
// repeat; Totals.Repeats); refusing it would refuse the terminal's own
// retries. A pay left unanswered (64) is not remembered: its repeat is
// executed. A query is executed every time, a verbatim repeat too: it
// reads the order's state now, and two of the resolver's queries may
// share a second and must see a payment made between them (a replayed
// query takes a token of the terminal's limit, as any query does). The
// answers are kept until their requests are stale, at most 256 a
// terminal and 16384 in all (terminal/linksig Answers: about 10 MiB at
// most for these answers); the oldest give way first, and a repeat of
// one that did is executed again, where idempotency by order id and
// refund id protects as before.
//
// # Merchant-presented payments
//
// Precreate registers an order the payer pays by scanning the terminal's
// dynamic EMV merchant-presented code (terminal/paycode BuildMPM): the
// order answers user_paying — to the precreate and to every query —
// until the simulated customer's phone pays it; magic amounts do not
// apply. A repeat precreate answers the order's state (idempotent by
// terminal id + order id). Cancel closes a waiting order (closed) and
// reverses a paid one (refunded); refunds work as for pay.
//
// The phone is the one unsigned endpoint, POST {base}/phone/pay
// (PhonePath; PhonePay calls it from Go):
//
//	{"platform":"wechat|alipay|unionpay","payload":"<the code as scanned>"}
//
// The payload must parse as a merchant-presented code (paycode.ParseMPM,
// CRC checked) holding a merchant account template whose GUI is the
// platform's (paycode.GUIWeChat, GUIAlipay, GUIUnionPay; with
// Opts.Merchants set for the platform, one whose merchant id is that
// too). The order is the one precreated on that platform by the terminal
// of the terminal label (62/07) with the bill number (62/01) as its order
// id; the payload's amount (54) and currency (53) must be the order's.
// The answer is the unsigned {"order_id","status","platform_txn_id",
// "reason","code"}: HTTP 200 and success with the platform's transaction
// id when paid — a second pay of a paid order answers the same, never
// paying twice — or a refusal:
//
//	bad_request     400  body, platform or payload not valid (not an MPM, CRC wrong), no template of the platform
//	not_found       404  no order precreated on the platform by that terminal with that bill number
//	order_mismatch  409  amount, currency or merchant id not the order's
//	order_closed    409  the terminal cancelled the order: the payer is not charged
//	order_refunded  409  the order was paid and then given back
//
// (order_ and the status, for any other final status). A phone pay is
// journaled as op phone_pay with the platform, terminal label, bill
// number, amount, status and code: fields, never the payload.
//
// # Persistence
//
// The real platforms keep their orders; a terminal recovering after a
// crash queries, cancels and refunds orders it made long before. A
// simulator made by Open keeps them too, in Opts.StateFile (JSON: the
// orders, the SHA-256 of every payment code that made one — never the
// code — and the last platform transaction number), rewritten durably
// before any call that changed an order is answered: after a restart,
// even a kill -9, a paid order is still paid, its refunds still count
// and its code still used. A call whose change cannot be saved is
// answered system_error. New keeps them in memory only (the tests, the
// storm); the verbatim-repeat answers and the query limits are never
// kept.
//
// Every call gets a JSON line in the journal (Entry): terminal,
// platform, op, order id, amount asked, charged (what a paid order is
// held at, when not the amount asked: a query's, or magic 66), status,
// code, too_frequent, and the payment
// code masked (first 2 and last 4 digits), never in full.
package wallet

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"posd/conn/clock"
	"posd/terminal/linksig"
	"posd/terminal/paycode"
	tw "posd/terminal/wallet"
)

// TestMasterKey is the published master key of the simulator. It
// protects nothing.
const TestMasterKey = "posd wallet simulator test master key"

// Defaults of Opts.
const (
	DefaultPayAfter   = 2
	DefaultQueryRate  = 1.0
	DefaultQueryBurst = 3
	maxSkew           = 5 * time.Minute
)

// TerminalKey is a terminal's signing key under master.
func TerminalKey(master []byte, terminalID string) []byte {
	return linksig.TerminalKey(master, terminalID)
}

// Opts configures a Sim.
type Opts struct {
	MasterKey  []byte  // nil: TestMasterKey
	PayAfter   int     // queries before a magic-61 order is paid (default 2)
	QueryRate  float64 // queries a second per terminal (default 1; < 0: no limit)
	QueryBurst int     // saved queries per terminal (default 3)
	// Merchants is each platform's merchant id of the merchant the
	// simulated terminals sell for; a phone pay of a code whose template
	// of that platform names another is refused order_mismatch. A
	// platform not in it accepts any merchant id.
	Merchants map[tw.Platform]string
	Journal   io.Writer
	// StateFile is where Open keeps the platforms' orders (see
	// Persistence in the package doc); New ignores it.
	StateFile string
	Clock     clock.Clock
	Logger    *slog.Logger
}

// Totals are the simulator's counters.
type Totals struct {
	Calls, BadSignature, BadRequest int
	Pays, PayRepeats, Paid          int // pay calls, repeats among them, orders that became paid (by code or phone)
	CodesReused                     int // pays refused: the code had paid another order
	CodesInvalid                    int // pays refused: the code is not one of the platform's
	PaidTwice                       int // paid transitions of an order already paid: must stay 0
	Precreates, PrecreateRepeats    int // precreate calls, repeats among them
	PhonePays, PhonePayRepeats      int // phone pay calls, pays of an order already paid among them
	Queries, TooFrequent            int
	Cancels, Reversed, Closed       int
	Refunds, RefundRepeats          int
	RefundedAmount                  int64
	Repeats                         int // verbatim repeats of a signed request answered from memory, not executed
}

// Kinds of orders: paid by the customer's code, or precreated for the
// payer to scan the merchant's code ("": known only from a cancel).
const (
	kindPay       = "pay"
	kindPrecreate = "precreate"
)

type order struct {
	kind     string
	platform tw.Platform
	amount   int64
	currency string
	// charged is the amount the platform holds the order at, which its
	// answers state: the order's, but for the magic 66 one fen more.
	// Refunds and the reversal give back what was charged.
	charged int64
	// chargedCurrency is the currency it holds the order in when not
	// the order's (magic 67).
	chargedCurrency string
	status          tw.Status
	txnID           string
	reason          string
	queries         int
	paid            bool
	refunded        int64
	refunds         map[string]int64
}

// Sim is the simulator; its ServeHTTP is safe for concurrent use.
type Sim struct {
	o   Opts
	clk clock.Clock
	log *slog.Logger

	mu     sync.Mutex
	orders map[string]*order // terminal|order id
	// used: the payment codes that paid an order (their SHA-256, never
	// the code), and which: a code pays once, as on the real platforms.
	used map[[32]byte]string
	// refundIDs are the orders of the refunds: terminal "|" refund id →
	// terminal "|" order id. A refund id names one refund of the
	// terminal, whatever the order.
	refundIDs map[string]string
	limits    map[string]*bucket
	seq       int
	totals    Totals
	// dirty: the orders, codes or seq changed since they were saved
	// (Opts.StateFile).
	dirty bool

	// answers are the answers to the signed requests of the last 5
	// minutes: a verbatim repeat is answered, not executed.
	answers *linksig.Answers
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a simulator that keeps its orders in memory only: they are
// gone when it stops (Open keeps them).
func New(o Opts) *Sim {
	o.StateFile = ""
	if o.MasterKey == nil {
		o.MasterKey = []byte(TestMasterKey)
	}
	if o.PayAfter <= 0 {
		o.PayAfter = DefaultPayAfter
	}
	if o.QueryRate == 0 {
		o.QueryRate = DefaultQueryRate
	}
	if o.QueryBurst <= 0 {
		o.QueryBurst = DefaultQueryBurst
	}
	s := &Sim{o: o, clk: clock.Or(o.Clock), log: o.Logger, orders: map[string]*order{}, limits: map[string]*bucket{},
		used: map[[32]byte]string{}, refundIDs: map[string]string{}, answers: linksig.NewAnswers(maxSkew, 0, 0)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Totals returns the counters.
func (s *Sim) Totals() Totals {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.totals
}

// Entry is a journal line.
type Entry struct {
	Time     time.Time `json:"time"`
	Terminal string    `json:"terminal"`
	Platform string    `json:"platform"`
	Op       string    `json:"op"`
	OrderID  string    `json:"order_id,omitempty"`
	RefundID string    `json:"refund_id,omitempty"`
	Amount   int64     `json:"amount,omitempty"`
	// Charged is the amount a paid order is held at, as the answer
	// states it (refunded: the refund's), when that is not Amount.
	Charged     int64  `json:"charged,omitempty"`
	Status      string `json:"status,omitempty"`
	Code        string `json:"code,omitempty"`
	TooFrequent bool   `json:"too_frequent"`
	Duplicate   bool   `json:"duplicate,omitempty"`
	MaskedCode  string `json:"masked_code,omitempty"`
	NoAnswer    bool   `json:"no_answer,omitempty"`
	Repeat      bool   `json:"repeat,omitempty"` // a verbatim repeat, answered from memory
}

// call is a decoded request.
type call struct {
	platform tw.Platform
	op       string
	terminal string
	sig      string
	ts       time.Time // the request's timestamp
	key      []byte    // set once the signature and timestamp verified
	req      tw.Request
}

// refusal is a decoding failure: its code and HTTP status.
type refusal struct {
	status int
	code   string
	reason string
	signed bool // the key is known: the answer can be signed
}

// decode checks and reads a request; the body is at most tw.MaxBody.
func (s *Sim) decode(method, path string, h http.Header, body []byte) (call, *refusal) {
	var c call
	bad := func(reason string) (call, *refusal) {
		return c, &refusal{status: http.StatusBadRequest, code: tw.CodeBadRequest, reason: reason, signed: c.key != nil}
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) == 2 {
		c.platform, c.op = tw.Platform(parts[0]), parts[1]
	}
	c.terminal = h.Get(tw.HeaderTerminal)
	c.sig = h.Get(tw.HeaderSignature)
	if !tw.ValidID(c.terminal) {
		return c, &refusal{status: http.StatusUnauthorized, code: tw.CodeBadSignature, reason: "terminal id"}
	}
	key := TerminalKey(s.o.MasterKey, c.terminal)
	ts := h.Get(tw.HeaderTimestamp)
	if !tw.VerifySignature(c.sig, tw.SignRequest(key, path, c.terminal, ts, body)) {
		return c, &refusal{status: http.StatusUnauthorized, code: tw.CodeBadSignature, reason: "signature"}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec < 0 || sec > 1<<40 {
		return c, &refusal{status: http.StatusUnauthorized, code: tw.CodeBadSignature, reason: "timestamp"}
	}
	if d := s.clk.Now().Sub(time.Unix(sec, 0)); d > maxSkew || d < -maxSkew {
		return c, &refusal{status: http.StatusUnauthorized, code: tw.CodeBadSignature, reason: "timestamp too far off"}
	}
	c.key, c.ts = key, time.Unix(sec, 0)
	if method != http.MethodPost {
		return bad("method")
	}
	if !c.platform.Valid() {
		return bad("platform")
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&c.req); err != nil {
		return bad("body")
	}
	if d.More() {
		return bad("body")
	}
	r := c.req
	if !tw.ValidID(r.OrderID) {
		return bad("order id")
	}
	switch c.op {
	case tw.OpPay:
		if err := (tw.Order{ID: r.OrderID, Amount: r.Amount, Currency: r.Currency, Code: r.Code}).Validate(); err != nil || r.RefundID != "" {
			return bad("pay fields")
		}
	case tw.OpPrecreate:
		if err := (tw.Order{ID: r.OrderID, Amount: r.Amount, Currency: r.Currency, Code: r.Code}).ValidatePrecreate(); err != nil || r.RefundID != "" {
			return bad("precreate fields")
		}
	case tw.OpQuery, tw.OpCancel:
		if r.Amount != 0 || r.Currency != "" || r.Code != "" || r.RefundID != "" {
			return bad("fields")
		}
	case tw.OpRefund:
		if !tw.ValidID(r.RefundID) || r.Amount <= 0 || r.Code != "" || r.Currency != "" {
			return bad("refund fields")
		}
	default:
		return bad("op")
	}
	return c, nil
}

// ServeHTTP implements http.Handler.
func (s *Sim) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	if hr.URL.Path == PhonePath {
		s.servePhone(w, hr)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, hr.Body, tw.MaxBody))
	c, ref := s.decode(hr.Method, hr.URL.Path, hr.Header, body)
	if err != nil && ref == nil {
		ref = &refusal{status: http.StatusBadRequest, code: tw.CodeBadRequest, reason: "body", signed: c.key != nil}
	}
	e := entry(s.clk.Now(), c)
	if c.key == nil || c.op == tw.OpQuery {
		// Not kept: a request not authenticated (answered unsigned),
		// and a query, which reads the order's state now, every time.
		resp, status, _ := s.execute(c, ref, &e)
		rb, _ := json.Marshal(resp)
		sig := ""
		if c.key != nil {
			sig = tw.SignResponse(c.key, hr.URL.Path, c.sig, rb)
		}
		write(w, status, rb, sig)
		return
	}
	// Executed once: a verbatim repeat gets the first answer.
	noAnswer := false
	ans, repeat, err := s.answers.Do(hr.Context(), c.terminal, c.sig, c.ts, s.clk.Now(), func() (linksig.Answer, bool) {
		resp, status, hang := s.execute(c, ref, &e)
		noAnswer = hang
		rb, _ := json.Marshal(resp)
		return linksig.Answer{Status: status, Body: rb}, !hang
	})
	if err != nil {
		return // gone while the first copy was executed
	}
	if repeat {
		s.repeated(e, ans)
	}
	if noAnswer {
		s.hangUp(w, hr)
		return
	}
	write(w, ans.Status, ans.Body, tw.SignResponse(c.key, hr.URL.Path, c.sig, ans.Body))
}

// entry is the journal line of call c at now, its fields from the
// request: those not valid are left out.
func entry(now time.Time, c call) Entry {
	e := Entry{Time: now, Terminal: c.terminal, Platform: string(c.platform), Op: c.op, OrderID: c.req.OrderID,
		Amount: c.req.Amount, RefundID: c.req.RefundID}
	if c.op == tw.OpPay && c.req.Code != "" {
		e.MaskedCode = tw.MaskCode(c.req.Code)
	}
	if !tw.ValidID(e.OrderID) {
		e.OrderID = ""
	}
	if !tw.ValidID(e.Terminal) {
		e.Terminal = ""
	}
	if !c.platform.Valid() {
		e.Platform = ""
	}
	if len(e.Op) > 16 {
		e.Op = ""
	}
	if !tw.ValidID(e.RefundID) {
		e.RefundID = ""
	}
	return e
}

// execute answers c, or its refusal ref, counts and journals it. It
// returns the answer, its HTTP status and whether to leave it
// unanswered.
func (s *Sim) execute(c call, ref *refusal, e *Entry) (tw.Response, int, bool) {
	s.mu.Lock()
	s.totals.Calls++
	var resp tw.Response
	status := http.StatusOK
	noAnswer := false
	if ref != nil {
		if ref.code == tw.CodeBadSignature {
			s.totals.BadSignature++
		} else {
			s.totals.BadRequest++
		}
		resp = tw.Response{OrderID: c.req.OrderID, Code: ref.code, Reason: ref.reason}
		status = ref.status
	} else {
		resp, status, noAnswer = s.do(c, e)
		if err := s.save(); err != nil {
			resp, status, noAnswer = s.notSaved(c.req.OrderID, err)
		}
	}
	s.mu.Unlock()
	e.Status, e.Code, e.NoAnswer = string(resp.Status), resp.Code, noAnswer
	e.TooFrequent = resp.Code == tw.CodeTooFrequent
	e.Charged = charged(resp, e.Amount)
	s.journal(*e)
	return resp, status, noAnswer
}

// repeated counts and journals a verbatim repeat answered ans from
// memory.
func (s *Sim) repeated(e Entry, ans linksig.Answer) {
	var resp tw.Response
	_ = json.Unmarshal(ans.Body, &resp)
	e.Status, e.Code, e.Repeat = string(resp.Status), resp.Code, true
	e.TooFrequent = resp.Code == tw.CodeTooFrequent
	e.Charged = charged(resp, e.Amount)
	s.mu.Lock()
	s.totals.Calls++
	s.totals.Repeats++
	s.mu.Unlock()
	s.journal(e)
}

// charged is the journal's Charged of answer resp to a request of
// amount: what a paid (or refunded) order is held at, when not amount.
func charged(resp tw.Response, amount int64) int64 {
	if (resp.Status == tw.StatusSuccess || resp.Status == tw.StatusRefunded) && resp.Amount != amount {
		return resp.Amount
	}
	return 0
}

// write sends an answer's body with its status and, unless empty, its
// signature.
func write(w http.ResponseWriter, status int, b []byte, sig string) {
	if sig != "" {
		w.Header().Set(tw.HeaderSignature, sig)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// hangUp closes the connection without an answer (or, where it cannot,
// holds the answer back until the caller gives up).
func (s *Sim) hangUp(w http.ResponseWriter, hr *http.Request) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	<-hr.Context().Done()
}

func (s *Sim) journal(e Entry) {
	if s.o.Journal == nil {
		return
	}
	b, _ := json.Marshal(e)
	b = append(b, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.o.Journal.Write(b); err != nil {
		s.log.Warn("wallet journal", "err", err)
	}
}

// allow takes a query token of the terminal; s.mu is held.
func (s *Sim) allow(tid string) bool {
	if s.o.QueryRate < 0 {
		return true
	}
	now := s.clk.Now()
	b := s.limits[tid]
	if b == nil {
		b = &bucket{tokens: float64(s.o.QueryBurst), last: now}
		s.limits[tid] = b
	}
	if now.After(b.last) {
		b.tokens = min(float64(s.o.QueryBurst), b.tokens+now.Sub(b.last).Seconds()*s.o.QueryRate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (s *Sim) txnID(p tw.Platform) string {
	s.seq++
	return fmt.Sprintf("%s%012d", strings.ToUpper(string(p[:2])), s.seq)
}

// pay marks o paid; s.mu is held.
func (s *Sim) pay(o *order, p tw.Platform) {
	if o.paid {
		s.totals.PaidTwice++
		return
	}
	o.paid = true
	o.status = tw.StatusSuccess
	o.txnID = s.txnID(p)
	s.totals.Paid++
}

// same reports whether a repeat of r on platform p is the order's
// (an order known only from a cancel has no amount or currency yet).
func (o *order) same(p tw.Platform, r tw.Request) bool {
	return o.platform == p && (o.amount == r.Amount || o.amount == 0) && (o.currency == r.Currency || o.currency == "")
}

// codeKinds are the kinds of payment code each platform takes.
var codeKinds = map[tw.Platform]paycode.Kind{
	tw.WeChat:   paycode.KindWeChat,
	tw.Alipay:   paycode.KindAlipay,
	tw.UnionPay: paycode.KindUnionPay,
}

// ownCode reports whether code is a payment code of platform p (by its
// documented prefix and length, terminal/paycode).
func ownCode(p tw.Platform, code string) bool {
	return paycode.Classify(code).Kind == codeKinds[p]
}

// answer is the answer stating order o (id): its status and what the
// platform holds it at (none for an order known only from a cancel).
func answer(id string, o *order) tw.Response {
	return tw.Response{OrderID: id, Status: o.status, PlatformTxnID: o.txnID, Reason: o.reason,
		Amount: o.charged, Currency: o.heldCurrency()}
}

// heldCurrency is the currency the platform holds o in.
func (o *order) heldCurrency() string {
	if o.chargedCurrency != "" {
		return o.chargedCurrency
	}
	return o.currency
}

// do runs a decoded call; s.mu is held. It returns the answer, its HTTP
// status and whether to leave it unanswered.
func (s *Sim) do(c call, e *Entry) (tw.Response, int, bool) {
	r := c.req
	key := c.terminal + "|" + r.OrderID
	o := s.orders[key]
	refuse := func(st int, code, reason string) (tw.Response, int, bool) {
		return tw.Response{OrderID: r.OrderID, Code: code, Reason: reason}, st, false
	}
	// Whatever changes an order is saved; a refusal changes nothing.
	s.dirty = s.dirty || c.op != tw.OpQuery || o != nil && o.status == tw.StatusUserPaying
	switch c.op {
	case tw.OpPay:
		s.totals.Pays++
		if o != nil {
			// A repeat is the same payment: the same code too (the
			// code that made the order is on record by its hash; an
			// order a cancel closed before any pay has none).
			by, ok := s.used[sha256.Sum256([]byte(r.Code))]
			if o.kind == kindPrecreate || !o.same(c.platform, r) || o.amount != 0 && (!ok || by != key) {
				return refuse(http.StatusConflict, tw.CodeOrderMismatch, "order id used for another payment")
			}
			s.totals.PayRepeats++
			e.Duplicate = true
			return answer(r.OrderID, o), http.StatusOK, false
		}
		if !ownCode(c.platform, r.Code) {
			s.totals.CodesInvalid++
			return refuse(http.StatusConflict, tw.CodeCodeInvalid, "payment code is not one of the platform's")
		}
		h := sha256.Sum256([]byte(r.Code))
		if by, ok := s.used[h]; ok && by != key {
			s.totals.CodesReused++
			return refuse(http.StatusConflict, tw.CodeCodeUsed, "payment code already used")
		}
		s.used[h] = key
		o = &order{kind: kindPay, platform: c.platform, amount: r.Amount, currency: r.Currency, charged: r.Amount}
		s.orders[key] = o
		switch r.Amount % 100 {
		case 66:
			o.charged = r.Amount + 1
			s.pay(o, c.platform)
		case 67:
			o.chargedCurrency = "HKD"
			if r.Currency == "HKD" || r.Currency == "344" {
				o.chargedCurrency = "CNY"
			}
			s.pay(o, c.platform)
		case 61, 62:
			o.status = tw.StatusUserPaying
		case 63:
			o.status, o.reason = tw.StatusFailed, "insufficient balance"
		case 64:
			s.pay(o, c.platform)
			return answer(r.OrderID, o), http.StatusOK, true
		case 65:
			s.pay(o, c.platform)
			return refuse(http.StatusInternalServerError, tw.CodeSystemError, "system error, query the order")
		default:
			s.pay(o, c.platform)
		}
		return answer(r.OrderID, o), http.StatusOK, false
	case tw.OpPrecreate:
		s.totals.Precreates++
		if o != nil {
			if o.kind == kindPay || !o.same(c.platform, r) {
				return refuse(http.StatusConflict, tw.CodeOrderMismatch, "order id used for another payment")
			}
			s.totals.PrecreateRepeats++
			e.Duplicate = true
			return answer(r.OrderID, o), http.StatusOK, false
		}
		// It waits for the payer's phone (servePhone).
		o = &order{kind: kindPrecreate, platform: c.platform, amount: r.Amount, currency: r.Currency, charged: r.Amount,
			status: tw.StatusUserPaying}
		s.orders[key] = o
		return answer(r.OrderID, o), http.StatusOK, false
	case tw.OpQuery:
		s.totals.Queries++
		if !s.allow(c.terminal) {
			s.totals.TooFrequent++
			return refuse(http.StatusTooManyRequests, tw.CodeTooFrequent, "query rate limit")
		}
		if o == nil || o.platform != c.platform {
			return refuse(http.StatusNotFound, tw.CodeNotFound, "")
		}
		if o.status == tw.StatusUserPaying {
			o.queries++
			if o.kind == kindPay && o.amount%100 == 61 && o.queries >= s.o.PayAfter {
				s.pay(o, c.platform)
			}
		}
		return answer(r.OrderID, o), http.StatusOK, false
	case tw.OpCancel:
		s.totals.Cancels++
		if o == nil {
			// Remember it closed: a late pay of it is never paid.
			o = &order{platform: c.platform, status: tw.StatusClosed, reason: "cancelled before pay"}
			s.orders[key] = o
			s.totals.Closed++
			return answer(r.OrderID, o), http.StatusOK, false
		}
		if o.platform != c.platform {
			return refuse(http.StatusNotFound, tw.CodeNotFound, "")
		}
		switch o.status {
		case tw.StatusUserPaying, tw.StatusFailed:
			o.status, o.reason = tw.StatusClosed, "cancelled"
			s.totals.Closed++
		case tw.StatusSuccess:
			// The reversal gives back what partial refunds left.
			o.status, o.reason = tw.StatusRefunded, "reversed"
			s.totals.Reversed++
			s.totals.RefundedAmount += o.charged - o.refunded
			o.refunded = o.charged
		default:
			e.Duplicate = true
		}
		return answer(r.OrderID, o), http.StatusOK, false
	case tw.OpRefund:
		s.totals.Refunds++
		if o == nil || o.platform != c.platform {
			return refuse(http.StatusNotFound, tw.CodeNotFound, "")
		}
		if by, ok := s.refundIDs[c.terminal+"|"+r.RefundID]; ok && by != key {
			return refuse(http.StatusConflict, tw.CodeRefundMismatch, "refund id used for another order")
		}
		if amt, ok := o.refunds[r.RefundID]; ok {
			if amt != r.Amount {
				return refuse(http.StatusConflict, tw.CodeRefundMismatch, "refund id used for another amount")
			}
			s.totals.RefundRepeats++
			e.Duplicate = true
			return tw.Response{OrderID: r.OrderID, Status: tw.StatusRefunded, PlatformTxnID: o.txnID + "R" + r.RefundID,
				Amount: amt, Currency: o.heldCurrency()}, http.StatusOK, false
		}
		if !o.paid || o.status != tw.StatusSuccess {
			return refuse(http.StatusConflict, tw.CodeNotPaid, "order not paid")
		}
		if r.Amount > o.charged-o.refunded {
			return refuse(http.StatusConflict, tw.CodeRefundExceeds, "refunds over the paid amount")
		}
		if o.refunds == nil {
			o.refunds = map[string]int64{}
		}
		o.refunds[r.RefundID] = r.Amount
		s.refundIDs[c.terminal+"|"+r.RefundID] = key
		o.refunded += r.Amount
		s.totals.RefundedAmount += r.Amount
		if o.refunded == o.charged {
			o.status, o.reason = tw.StatusRefunded, "refunded"
		}
		return tw.Response{OrderID: r.OrderID, Status: tw.StatusRefunded, PlatformTxnID: o.txnID + "R" + r.RefundID,
			Amount: r.Amount, Currency: o.heldCurrency()}, http.StatusOK, false
	}
	return refuse(http.StatusBadRequest, tw.CodeBadRequest, "op")
}
