package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"posd/board/sim"
	"posd/board/sim/deck"
	"posd/board/sim/icc"
	"posd/internal/daemon"
	"posd/terminal/host"
	"posd/terminal/money"
	"posd/terminal/redact"
	"posd/terminal/store"
	"posd/terminal/txn"
	"posd/ui"
	"posd/ui/kiosk"
)

// api is the local HTTP+JSON API (loopback only) for the ECR/cashier, the
// field engineer's posctl and the simulator controls, over a Daemon.
type api struct {
	d *daemon.Daemon
	// token is the per-boot credential of /v1/ requests.
	token string
	// stopping is closed when the daemon starts shutting down: new
	// transactions are refused.
	stopping <-chan struct{}
	// salesStopped is closed once the engine has ended the sale waiting
	// for a card: long polls answer then, with that outcome. Nil: they
	// answer when stopping is closed.
	salesStopped <-chan struct{}
	// writeBound is the server's write timeout (0: none), which the
	// long requests extend (extendWrite).
	writeBound time.Duration
	// printerState and printerAsk stand for the daemon's receipts (as
	// last known, and asked now) in tests; nil: the daemon's.
	printerState func() *daemon.PrinterStatus
	printerAsk   func(context.Context) *daemon.PrinterStatus
}

func (a *api) routes() http.Handler {
	kh := kiosk.Handler(func() ui.Screen {
		s := displayState(a.d.Engine.Last(), a.d.Settings.Receipt.MerchantName, a.d.Modes, time.Now())
		s.FaceChoice = a.d.FaceEnabled()
		return ui.Render(s)
	})
	routes := []struct {
		method, path string
		h            http.Handler
	}{
		{"GET", "/v1/status", http.HandlerFunc(a.getStatus)},
		{"POST", "/v1/sales", http.HandlerFunc(a.postSale)},
		{"POST", "/v1/txns", http.HandlerFunc(a.postTxn)},
		{"GET", "/v1/batch", http.HandlerFunc(a.getBatch)},
		{"GET", "/v1/audit", http.HandlerFunc(a.getAudit)},
		{"GET", "/v1/ota", http.HandlerFunc(a.getOTA)},
		{"POST", "/v1/ota/check", http.HandlerFunc(a.checkOTA)},
		{"GET", "/v1/ota/history", http.HandlerFunc(a.getOTAHistory)},
		{"POST", "/v1/batch/close", http.HandlerFunc(a.closeBatch)},
		{"GET", "/v1/txns", http.HandlerFunc(a.listTxns)},
		{"GET", "/v1/txns/{id}", http.HandlerFunc(a.getTxn)},
		{"POST", "/v1/txns/{id}/cancel", http.HandlerFunc(a.cancelTxn)},
		{"GET", "/v1/txns/{id}/receipt", http.HandlerFunc(a.getReceipt)},
		{"POST", "/v1/txns/{id}/print", http.HandlerFunc(a.printReceipt)},
		{"GET", "/v1/printer", http.HandlerFunc(a.getPrinter)},
		{"POST", "/v1/reversals/send", http.HandlerFunc(a.sendReversals)},
		{"POST", "/v1/sync", http.HandlerFunc(a.sync)},
		{"POST", "/v1/host/echo", http.HandlerFunc(a.hostEcho)},
		{"GET", "/v1/devices", http.HandlerFunc(a.getDevices)},
		{"POST", "/v1/devices/selftest", http.HandlerFunc(a.selfTest)},
		{"GET", "/v1/sim/cards", http.HandlerFunc(a.simCards)},
		{"POST", "/v1/sim/swipe", http.HandlerFunc(a.simSwipe)},
		{"POST", "/v1/sim/keys", http.HandlerFunc(a.simKeys)},
		{"POST", "/v1/sim/tap", http.HandlerFunc(a.simTap)},
		{"POST", "/v1/sim/insert", http.HandlerFunc(a.simInsert)},
		{"POST", "/v1/sim/remove", http.HandlerFunc(a.simRemove)},
		{"GET", "/v1/sim/printer", http.HandlerFunc(a.simPrinter)},
		{"POST", "/v1/sim/printer", http.HandlerFunc(a.setSimPrinter)},
		{"POST", "/v1/sim/qr", http.HandlerFunc(a.simQR)},
		{"POST", "/v1/qr/decode", http.HandlerFunc(a.qrDecode)},
		{"POST", "/v1/sim/face", http.HandlerFunc(a.simFace)},
		{"POST", "/v1/face/check", http.HandlerFunc(a.faceCheck)},
		// The customer display (local kiosk page).
		{"GET", "/{$}", kh},
		{"GET", "/display.json", kh},
		{"GET", "/display/qr.png", kh},
		{"POST", "/display/choose", kiosk.ChooseHandler(decodeBody, func(choice string) error {
			if err := a.choose(choice); err != nil {
				return maskedError{err}
			}
			return nil
		})},
	}
	m := http.NewServeMux()
	allowed := map[string][]string{}
	var paths []string
	for _, r := range routes {
		m.Handle(r.method+" "+r.path, r.h)
		if allowed[r.path] == nil {
			paths = append(paths, r.path)
		}
		allowed[r.path] = append(allowed[r.path], r.method)
	}
	// Every other method of a known path, and every unknown path, gets the
	// API's JSON error, not the mux's plain text.
	for _, p := range paths {
		methods := strings.Join(allowed[p], ", ")
		m.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", methods)
			fail(w, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed here (allowed: %s)", r.Method, methods))
		})
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, fmt.Errorf("no such endpoint: %s", r.URL.Path))
	})
	return guard(a.token, m)
}

// txnView is a transaction as the API shows it.
type txnView struct {
	ID           string `json:"id"`
	Kind         string `json:"kind"`
	State        string `json:"state"`
	Amount       string `json:"amount"`
	Currency     string `json:"currency"`
	MaskedPAN    string `json:"masked_pan,omitempty"`
	STAN         string `json:"stan,omitempty"`
	ResponseCode string `json:"response_code,omitempty"`
	AuthCode     string `json:"auth_code,omitempty"`
	RRN          string `json:"rrn,omitempty"`
	Failure      string `json:"failure,omitempty"`
	RiskRule     string `json:"risk_rule,omitempty"`
	CVM          string `json:"cvm,omitempty"`
	Error        string `json:"error,omitempty"`
	Reversal     string `json:"reversal_reason,omitempty"`
	// EntryMode is the POS entry mode sent (DE22: 901 swipe, 051 chip,
	// 071 contactless, 801 fallback).
	EntryMode string `json:"entry_mode,omitempty"`
	// Chip is the EMV kernel's summary of a chip sale (nothing sensitive).
	Chip *store.Chip `json:"chip,omitempty"`
	// AdviceSent: when the host acknowledged an offline approval's
	// advice; AdviceCode: its answer when it refused the advice.
	AdviceSent string `json:"advice_sent,omitempty"`
	AdviceCode string `json:"advice_code,omitempty"`
	// Batch and Invoice are the batch and invoice numbers; OrigID the
	// record a void, completion or refund refers to; VoidedBy and
	// CompletedBy the void or completion that took this one.
	Batch       uint32 `json:"batch,omitempty"`
	Invoice     uint32 `json:"invoice,omitempty"`
	OrigID      string `json:"orig_id,omitempty"`
	VoidedBy    string `json:"voided_by,omitempty"`
	CompletedBy string `json:"completed_by,omitempty"`
	// Refunded is what the approved refunds of a sale or completion add
	// up to (voided ones not counted).
	Refunded string `json:"refunded,omitempty"`
	// Balance is a balance inquiry's answer ("1234.56 CNY").
	Balance string `json:"balance,omitempty"`
	// Totals are a settlement's, per currency; Uploaded the transactions
	// its batch upload sent.
	Totals   []totalsView `json:"totals,omitempty"`
	Uploaded int          `json:"uploaded,omitempty"`
	// Wallet is a wallet payment's platform, order number, platform
	// transaction id and masked code.
	Wallet *store.Wallet `json:"wallet,omitempty"`
	// Face is a face payment's consent time, liveness decision and
	// scores, and the platform's answer (the account masked).
	Face *store.Face `json:"face,omitempty"`
	// Hand says that a transaction the terminal set aside was settled
	// by hand (on the service console): when, by whom, why it had been
	// set aside, the outcome and the reference.
	Hand *store.Hand `json:"settled_by_hand,omitempty"`
	// Slip says that its slip (a settlement's report) did not print, or
	// may not have, and how to reprint it: for the cashier.
	Slip    *slipView `json:"slip,omitempty"`
	Created string    `json:"created"`
	Updated string    `json:"updated"`
}

// totalsView is a batch's totals in one currency, amounts formatted.
type totalsView struct {
	Currency     string     `json:"currency"`
	DebitCount   int        `json:"debit_count"`
	DebitAmount  string     `json:"debit_amount"`
	CreditCount  int        `json:"credit_count"`
	CreditAmount string     `json:"credit_amount"`
	Lines        []lineView `json:"lines,omitempty"`
	ResponseCode string     `json:"response_code,omitempty"`
}

type lineView struct {
	Scheme string `json:"scheme"`
	Kind   string `json:"kind"`
	Count  int    `json:"count"`
	Amount string `json:"amount"`
}

func viewTotals(list []store.Totals) []totalsView {
	out := make([]totalsView, 0, len(list))
	for _, t := range list {
		f := func(n int64) string { return strconv.FormatInt(n, 10) }
		cur := t.Currency
		if c, err := money.Lookup(t.Currency); err == nil {
			f, cur = c.Format, c.Alpha
		}
		v := totalsView{Currency: cur, DebitCount: t.DebitCount, DebitAmount: f(t.DebitAmount), CreditCount: t.CreditCount,
			CreditAmount: f(t.CreditAmount), ResponseCode: t.ResponseCode}
		for _, l := range t.Lines {
			v.Lines = append(v.Lines, lineView{Scheme: l.Scheme, Kind: l.Kind, Count: l.Count, Amount: f(l.Amount)})
		}
		out = append(out, v)
	}
	return out
}

func view(t store.Txn) txnView {
	v := txnView{
		ID: t.ID, Kind: t.Kind, State: string(t.State), Currency: t.Currency,
		MaskedPAN: t.MaskedPAN, ResponseCode: t.ResponseCode, AuthCode: t.AuthCode, RRN: t.RRN,
		Failure: t.Failure, RiskRule: t.RiskRule, CVM: t.CVM, Error: redact.Digits(t.Error), Reversal: t.Reason,
		EntryMode: t.EntryMode, Chip: t.Chip,
		Created: t.Created.Format(time.RFC3339), Updated: t.Updated.Format(time.RFC3339),
	}
	format := func(n int64) string { return strconv.FormatInt(n, 10) }
	if c, err := money.Lookup(t.Currency); err == nil {
		v.Currency, format = c.Alpha, c.Format
	}
	v.Amount = format(t.Amount)
	if t.Refunded != 0 {
		v.Refunded = format(t.Refunded)
	}
	if t.STAN != 0 {
		v.STAN = fmt.Sprintf("%06d", t.STAN)
	}
	if !t.AdviceSent.IsZero() {
		v.AdviceSent, v.AdviceCode = t.AdviceSent.Format(time.RFC3339), t.AdviceCode
	}
	v.Batch, v.Invoice, v.OrigID, v.VoidedBy, v.CompletedBy = t.Batch, t.Invoice, t.OrigID, t.VoidedBy, t.CompletedBy
	if t.Balance != nil {
		if c, err := money.Lookup(t.BalanceCurrency); err == nil {
			v.Balance = c.Format(*t.Balance) + " " + c.Alpha
		} else {
			v.Balance = strconv.FormatInt(*t.Balance, 10)
		}
	}
	if len(t.Totals) > 0 {
		v.Totals = viewTotals(t.Totals)
	}
	v.Uploaded, v.Wallet, v.Face = t.Uploaded, t.Wallet, t.Face
	if t.Hand != nil {
		h := *t.Hand
		h.Ref = redact.Digits(h.Ref) // refused when it holds card data; masked all the same
		v.Hand = &h
	}
	return v
}

// maxList bounds GET /v1/txns?limit=.
const maxList = 1000

func (a *api) isStopping() bool {
	select {
	case <-a.stopping:
		return true
	default:
		return false
	}
}

type apiError struct {
	Error string `json:"error"`
}

// codeShuttingDown is the "code" of the answer a ?wait= long poll gets
// when posd stops before the transaction ended (503, with its record):
// a client decides on it, not on the words. Other error answers carry
// no code yet: their HTTP status says what the client may do.
const codeShuttingDown = "shutting_down"

// maskedError is an error whose text is the API's (errorText), for the
// handlers that answer an error's text themselves.
type maskedError struct{ err error }

func (e maskedError) Error() string { return errorText(e.err) }
func (e maskedError) Unwrap() error { return e.err }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// fail answers err as the API's JSON error.
func fail(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, apiError{Error: errorText(err)})
}

// errorText is the text of an error answer. What the caller sent (an id,
// a type, a field name, a path) may be a card number typed in the wrong
// place: every run of digits as long as a PAN is masked as
// terminal/redact masks them in the log, whatever error carries it.
func errorText(err error) string {
	return redact.Digits(cashierText(err))
}

// maxBody bounds a request body.
const maxBody = 1 << 16

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := decodeBody(http.MaxBytesReader(w, r.Body, maxBody), v); err != nil {
		fail(w, http.StatusBadRequest, err)
		return false
	}
	return true
}

type saleRequest struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	// Method is how the customer pays: "" a card, "qr" a payment code
	// the customer shows (wallet or EMV), "mpm" the terminal's code the
	// customer scans with the wallet app of Platform (unionpay, wechat,
	// alipay; default: the configured one).
	Method   string `json:"method"`
	Platform string `json:"platform"`
}

// txnRequest starts any kind of transaction (POST /v1/txns): type is
// purchase (the default), refund, preauth, balance, void or completion;
// amount is empty for a balance inquiry and may be for a void (the
// original's); orig_id names the original of a void or completion
// (required) or of a refund (optional).
type txnRequest struct {
	Type     string `json:"type"`
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	OrigID   string `json:"orig_id"`
	Method   string `json:"method"`
	Platform string `json:"platform"`
}

func (a *api) postSale(w http.ResponseWriter, r *http.Request) {
	var req saleRequest
	if !decode(w, r, &req) {
		return
	}
	a.start(w, txnRequest{Amount: req.Amount, Currency: req.Currency, Method: req.Method, Platform: req.Platform})
}

func (a *api) postTxn(w http.ResponseWriter, r *http.Request) {
	var req txnRequest
	if !decode(w, r, &req) {
		return
	}
	a.start(w, req)
}

// start checks req and starts it.
func (a *api) start(w http.ResponseWriter, req txnRequest) {
	kind := host.Kind(req.Type)
	if req.Type == "" {
		kind = host.KindPurchase
	}
	if !slices.Contains(txn.Kinds, kind) {
		names := make([]string, len(txn.Kinds))
		for i, k := range txn.Kinds {
			names[i] = string(k)
		}
		fail(w, http.StatusBadRequest, fmt.Errorf("unknown type %q (known: %s)", shorten(req.Type), strings.Join(names, ", ")))
		return
	}
	if len(req.OrigID) > 20 {
		fail(w, http.StatusBadRequest, errors.New("orig_id is too long to be a transaction id"))
		return
	}
	cur := a.d.Settings.Currency
	if req.Currency != "" {
		c, err := money.Lookup(req.Currency)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		cur = c
	}
	var amount int64
	switch {
	case kind == host.KindBalance && req.Amount != "":
		fail(w, http.StatusBadRequest, errors.New("a balance inquiry has no amount"))
		return
	case req.Amount == "" && (kind == host.KindBalance || kind == host.KindVoid):
		// None, or the original's.
	default:
		var err error
		amount, err = cur.Parse(req.Amount)
		if err != nil {
			fail(w, http.StatusBadRequest, fmt.Errorf("amount: %w", err))
			return
		}
		if amount <= 0 {
			fail(w, http.StatusBadRequest, errors.New("amount must be greater than zero"))
			return
		}
	}
	currency := cur.Numeric
	if req.Currency == "" && !slices.Contains([]host.Kind{host.KindPurchase, host.KindRefund, host.KindPreauth, host.KindBalance}, kind) {
		currency = "" // the original's
	}
	if limit := a.d.Settings.MaxAmount; limit > 0 && cur.Numeric == a.d.Settings.Currency.Numeric && amount > limit {
		fail(w, http.StatusBadRequest, fmt.Errorf("amount %s %s is over the terminal's limit of %s %s",
			cur.Format(amount), cur.Alpha, cur.Format(limit), cur.Alpha))
		return
	}
	if req.Method != "" && req.Method != txn.MethodQR && req.Method != txn.MethodMPM && req.Method != txn.MethodFace {
		fail(w, http.StatusBadRequest, fmt.Errorf("unknown method %q (known: qr, mpm, face; none for a card)", shorten(req.Method)))
		return
	}
	platform := req.Platform
	if req.Method == txn.MethodMPM && platform == "" {
		platform = a.d.Config.Wallet.MPM.Platform
	}
	if req.Method != txn.MethodMPM && platform != "" {
		fail(w, http.StatusBadRequest, errors.New("platform is for method mpm only"))
		return
	}
	t, err := a.d.Engine.Start(txn.Request{Kind: kind, Amount: amount, Currency: currency, OrigID: req.OrigID, Method: req.Method, Platform: platform})
	var full *txn.BatchFullError
	var again *txn.SettleAgainError
	switch {
	case errors.As(err, &full):
		// The terminal is fine; the open batch is not: close it first.
		en, zh, _ := ui.BatchText(txn.BatchFull)
		fail(w, http.StatusConflict, fmt.Errorf("%s / %s (%s)", en, zh, full.Detail()))
	case errors.As(err, &again):
		// The last close got no answer: the host may have closed the
		// batch, and would decline what names it. Close it again first.
		en, zh, _ := ui.BatchText(txn.BatchSettleAgain)
		fail(w, http.StatusConflict, fmt.Errorf("%s / %s (%s)", en, zh, again.Detail()))
	case errors.Is(err, txn.ErrBusy):
		fail(w, http.StatusConflict, err)
	case errors.Is(err, txn.ErrHalted):
		fail(w, http.StatusServiceUnavailable, errors.New(haltedWords))
	case errors.Is(err, txn.ErrUnrecorded):
		en, zh, _ := ui.FailureText(string(txn.FailInternal))
		fail(w, http.StatusServiceUnavailable, fmt.Errorf("%s / %s (%w)", en, zh, err))
	case errors.Is(err, store.ErrNoSpace):
		// The terminal cannot record a sale: service, not the cashier.
		en, zh := ui.StorageFullText()
		fail(w, http.StatusServiceUnavailable, fmt.Errorf("%s / %s (%w)", en, zh, err))
	case errors.Is(err, txn.ErrKeys):
		// No DUKPT key (not loaded, lost): nothing can be sent to the
		// acquirer until an engineer loads one.
		en, zh, _ := ui.FailureText(string(txn.FailKeys))
		fail(w, http.StatusServiceUnavailable, fmt.Errorf("%s / %s (%w)", en, zh, err))
	case errors.Is(err, txn.ErrOriginal) && store.IsNotFound(err):
		fail(w, http.StatusNotFound, fmt.Errorf("original %w", notFound(req.OrigID, err)))
	case errors.Is(err, txn.ErrAmount), errors.Is(err, txn.ErrCurrency), errors.Is(err, txn.ErrKind), errors.Is(err, txn.ErrOriginal):
		fail(w, http.StatusBadRequest, err)
	case err != nil:
		fail(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusCreated, view(t))
	}
}

// shorten keeps an echoed input short, masked first so that the cut
// cannot leave part of a card number unmasked.
func shorten(s string) string {
	s = redact.Digits(s)
	if len(s) > 24 {
		return s[:24] + "..."
	}
	return s
}

// auditView is one entry of the service console's audit log.
type auditView struct {
	Seq      uint64 `json:"seq"`
	Time     string `json:"time"`
	Engineer string `json:"engineer,omitempty"`
	Role     string `json:"role,omitempty"`
	Event    string `json:"event"`
	Detail   string `json:"detail,omitempty"`
}

// getAudit shows the newest entries of the service console's audit log
// (posctl audit): who, when, what, never a secret.
func (a *api) getAudit(w http.ResponseWriter, r *http.Request) {
	limit, ok := queryLimit(w, r, 50)
	if !ok {
		return
	}
	if a.d.Console == nil {
		fail(w, http.StatusNotFound, errors.New("this terminal has no service console"))
		return
	}
	list, err := a.d.Console.Audit(limit)
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	out := make([]auditView, 0, len(list))
	for _, e := range list {
		out = append(out, auditView{Seq: e.Seq, Time: e.Time.UTC().Format(time.RFC3339), Engineer: e.Engineer, Role: e.Role,
			Event: e.Event, Detail: e.Detail})
	}
	writeJSON(w, http.StatusOK, out)
}

// getBatch shows the open batch and its totals so far.
func (a *api) getBatch(w http.ResponseWriter, r *http.Request) {
	n, totals, err := a.d.Engine.OpenBatch()
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	_, load, err := a.d.Engine.BatchLoad()
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	pending, err := a.d.Engine.OpenBatchPending()
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Open   uint32          `json:"open"`
		Totals []totalsView    `json:"totals"`
		Load   []batchLoadView `json:"load"`
		// Pending are the offline approvals the totals leave out.
		Pending []pendingView `json:"pending_offline,omitempty"`
	}{n, viewTotals(totals), viewLoad(load), viewPending(pending)})
}

// pendingView is, in one currency, what the open batch took offline and
// the bank has not been told yet (the advices wait for the host): not in
// the totals until the host acknowledges them.
type pendingView struct {
	Currency string `json:"currency"`
	// Count and Amount are the offline approvals (sales, completions);
	// Refunds and RefundAmount the offline refunds, when any.
	Count        int    `json:"count"`
	Amount       string `json:"amount"`
	Refunds      int    `json:"refunds,omitempty"`
	RefundAmount string `json:"refund_amount,omitempty"`
	Message      string `json:"message"`
}

func viewPending(list []store.Totals) []pendingView {
	var out []pendingView
	for _, t := range viewTotals(list) {
		v := pendingView{Currency: t.Currency, Count: t.DebitCount, Amount: t.DebitAmount}
		var what []string
		if t.DebitCount > 0 {
			what = append(what, fmt.Sprintf("%d offline %s (%s %s)", t.DebitCount, plural(t.DebitCount, "approval", "approvals"), t.DebitAmount, t.Currency))
		}
		if t.CreditCount > 0 {
			v.Refunds, v.RefundAmount = t.CreditCount, t.CreditAmount
			what = append(what, fmt.Sprintf("%d offline %s (%s %s)", t.CreditCount, plural(t.CreditCount, "refund", "refunds"), t.CreditAmount, t.Currency))
		}
		it := plural(t.DebitCount+t.CreditCount, "it", "them")
		v.Message = strings.Join(what, " and ") + " taken but not yet sent to the bank: not in the totals until the host acknowledges " + it +
			"; posctl sync sends " + it + " now"
		out = append(out, v)
	}
	return out
}

// plural is one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// batchLoadView is how full the open batch is in one currency, against
// the host's limit, with the cashier's hint worded.
type batchLoadView struct {
	Currency string `json:"currency"`
	Debits   int    `json:"debits"`
	Credits  int    `json:"credits"`
	Limit    int    `json:"limit,omitempty"`
	Hint     string `json:"hint,omitempty"`
	Message  string `json:"message,omitempty"`
}

func viewLoad(load []txn.BatchLoad) []batchLoadView {
	out := make([]batchLoadView, 0, len(load))
	for _, l := range load {
		v := batchLoadView{Currency: l.Currency, Debits: l.Debits, Credits: l.Credits, Limit: l.Limit, Hint: l.Hint}
		if c, err := money.Lookup(l.Currency); err == nil {
			v.Currency = c.Alpha
		}
		if en, zh, ok := ui.BatchText(l.Hint); ok {
			v.Message = en + " / " + zh
		}
		out = append(out, v)
	}
	return out
}

// closeBatchTimeout bounds a batch close (the settlement, a batch
// upload, the settlement again).
const closeBatchTimeout = 5 * time.Minute

// closeBatch settles the open batch with the host (posctl batch close).
func (a *api) closeBatch(w http.ResponseWriter, r *http.Request) {
	if !decode(w, r, &struct{}{}) {
		return
	}
	a.extendWrite(w, closeBatchTimeout)
	ctx, cancel := context.WithTimeout(r.Context(), closeBatchTimeout)
	defer cancel()
	t, err := a.d.Engine.CloseBatch(ctx)
	switch {
	case errors.Is(err, txn.ErrBusy), errors.Is(err, txn.ErrPending):
		fail(w, http.StatusConflict, err)
	case errors.Is(err, txn.ErrHalted):
		fail(w, http.StatusServiceUnavailable, errors.New(haltedWords))
	case errors.Is(err, txn.ErrSettlement):
		v := view(t)
		v.Slip = a.slipAfterWait(ctx, t)
		writeJSON(w, http.StatusBadGateway, struct {
			Error string   `json:"error"`
			Txn   *txnView `json:"txn"`
		}{errorText(err), &v})
	case err != nil:
		fail(w, http.StatusInternalServerError, err)
	default:
		// The report prints after the close, as a slip after a sale.
		v := view(t)
		v.Slip = a.slipAfterWait(ctx, t)
		writeJSON(w, http.StatusOK, v)
	}
}

// queryLimit reads the "limit" query parameter (def when absent, 1 to
// maxList); false when it answered a bad one.
func queryLimit(w http.ResponseWriter, r *http.Request, def int) (int, bool) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxList {
		fail(w, http.StatusBadRequest, fmt.Errorf("limit must be a number from 1 to %d", maxList))
		return 0, false
	}
	return n, true
}

func (a *api) listTxns(w http.ResponseWriter, r *http.Request) {
	limit, ok := queryLimit(w, r, 50)
	if !ok {
		return
	}
	var states []store.State
	if s := r.URL.Query().Get("state"); s != "" {
		st := store.State(s)
		if !st.Known() {
			fail(w, http.StatusBadRequest, fmt.Errorf("unknown state %q (known: %s)", s, strings.Join(store.StateNames(), ", ")))
			return
		}
		states = append(states, st)
	}
	list, err := a.d.Engine.List(limit, states...)
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	st := a.printerCached()
	out := make([]txnView, 0, len(list))
	for _, t := range list {
		v := view(t)
		v.Slip = unprintedSlip(t, st)
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) getTxn(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var (
		t   store.Txn
		err error
	)
	if s := r.URL.Query().Get("wait"); s != "" {
		d, perr := time.ParseDuration(s)
		if perr != nil || d < 0 || d > 5*time.Minute {
			fail(w, http.StatusBadRequest, errors.New("wait must be a duration up to 5m"))
			return
		}
		a.extendWrite(w, d)
		ctx, cancel := context.WithTimeout(r.Context(), d)
		stopped := a.salesStopped
		if stopped == nil {
			stopped = a.stopping
		}
		go func() {
			// At shutdown the engine ends a sale waiting for a card
			// (failed, shutdown): the cashier is told that, not the state
			// the sale had when the shutdown began.
			select {
			case <-stopped:
				cancel()
			case <-ctx.Done():
			}
		}()
		t, err = a.d.Engine.Wait(ctx, id)
		cancel()
		if err == nil && !t.State.Final() && t.State != store.StateReversalPending && a.isStopping() {
			v := view(t)
			writeJSON(w, http.StatusServiceUnavailable, struct {
				Error string   `json:"error"`
				Code  string   `json:"code"`
				Txn   *txnView `json:"txn"`
			}{"posd is shutting down; the transaction is " + string(t.State), codeShuttingDown, &v})
			return
		}
	} else {
		t, err = a.d.Engine.Get(id)
	}
	switch {
	case store.IsNotFound(err):
		fail(w, http.StatusNotFound, notFound(id, err))
	case err != nil:
		fail(w, http.StatusInternalServerError, err)
	default:
		v := view(t)
		v.Slip = unprintedSlip(t, a.printerCached())
		if v.Slip == nil && r.URL.Query().Get("wait") != "" && t.State.Final() && a.d.PrintsItself(t) {
			// The slip prints after the outcome: the cashier who
			// waited for the outcome is told at once how it went.
			v.Slip = a.slipAfterWait(r.Context(), t)
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (a *api) cancelTxn(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	switch err := a.d.Engine.Cancel(id); {
	case store.IsNotFound(err):
		fail(w, http.StatusNotFound, notFound(id, err))
	case errors.Is(err, store.ErrState):
		fail(w, http.StatusConflict, a.cannotCancel(id))
	case err != nil:
		fail(w, http.StatusConflict, err)
	default:
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "cancelling"})
	}
}

func (a *api) sendReversals(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	left := a.d.Engine.SendReversals(ctx)
	if left < 0 {
		fail(w, http.StatusServiceUnavailable, errors.New("the reversal pass did not finish (shutting down, or the records could not be read)"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"pending": left})
}

// hostEcho is the field engineer's link test (posctl host test).
func (a *api) hostEcho(w http.ResponseWriter, r *http.Request) {
	res, err := a.d.Echo(r.Context())
	if err != nil {
		fail(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *api) getDevices(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.d.Board.Status())
}

func (a *api) selfTest(w http.ResponseWriter, r *http.Request) {
	a.extendWrite(w, selfTestRun)
	list, err := a.d.SelfTest(r.Context())
	switch {
	case errors.Is(err, txn.ErrBusy):
		// The customer may be at the PIN pad: the test would press a
		// key on the simulated board and talk to the readers.
		fail(w, http.StatusConflict, err)
		return
	case err != nil:
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (a *api) simCards(w http.ResponseWriter, r *http.Request) {
	if a.d.Sim == nil {
		fail(w, http.StatusNotFound, errors.New("not the simulated board"))
		return
	}
	writeJSON(w, http.StatusOK, deck.Cards)
}

// presentRequest presents a deck card. PullAfter (tap and insert only)
// arms the card to be pulled out right after a step of the transaction:
// "gpo" (the quick contactless kernels' cryptogram), "first_ac" (the
// first GENERATE AC: after the ARQC) or "second_ac".
type presentRequest struct {
	Card      string `json:"card"`
	PullAfter string `json:"pull_after,omitempty"`
}

// pullTriggers are the card's commands a pull can follow.
var pullTriggers = map[string]func() func(cmd, resp []byte) bool{
	"gpo":       func() func(cmd, resp []byte) bool { return icc.AfterCommand(0xA8, 1) },
	"first_ac":  func() func(cmd, resp []byte) bool { return icc.AfterGenerateAC(1) },
	"second_ac": func() func(cmd, resp []byte) bool { return icc.AfterGenerateAC(2) },
}

// maxPicture bounds a picture shown to the simulated camera.
const maxPicture = 4 << 20

// simQR shows the customer's payment code on the sim board: a code (to
// the camera, drawn as a QR code, or under the scanner: "to"), or a
// picture of one (base64 PNG or JPEG, to the camera). The code is never
// logged nor repeated in the answer.
func (a *api) simQR(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Code  string `json:"code"`
		Image []byte `json:"image"`
		To    string `json:"to"`
		// Card: the customer's phone shows the EMV consumer-presented
		// code of this deck card (a fresh cryptogram each time).
		Card string `json:"card"`
	}
	if err := decodeBody(http.MaxBytesReader(w, r.Body, maxPicture*4/3+1024), &req); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	var (
		where string
		err   error
	)
	if req.Card != "" {
		if req.Code != "" || len(req.Image) > 0 {
			fail(w, http.StatusBadRequest, errors.New("give a code, an image or a card (one of them)"))
			return
		}
		if a.d.Sim == nil {
			fail(w, http.StatusNotFound, errors.New("no simulated phone: the board is not simulated"))
			return
		}
		cpm, err := a.d.Sim.PhoneCPM(req.Card)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		req.Code = cpm
	}
	switch {
	case (req.Code == "") == (len(req.Image) == 0):
		fail(w, http.StatusBadRequest, errors.New("give a code, an image or a card (one of them)"))
		return
	case req.To != daemon.ShowAuto && req.To != daemon.ShowCamera && req.To != daemon.ShowScanner:
		fail(w, http.StatusBadRequest, errors.New("to must be camera or scanner"))
		return
	case req.Code != "" && len(req.Code) > 512:
		fail(w, http.StatusBadRequest, errors.New("code must be 1 to 512 characters"))
		return
	case req.Code != "":
		where, err = a.d.ShowCode(req.Code, req.To)
	case req.To == daemon.ShowScanner:
		fail(w, http.StatusBadRequest, errors.New("a picture is shown to the camera"))
		return
	default:
		where, err = daemon.ShowCamera, a.d.ShowPicture(req.Image)
	}
	switch {
	case errors.Is(err, daemon.ErrNotSim):
		fail(w, http.StatusNotFound, errors.New("no simulated code reader: the board is not simulated"))
	case errors.Is(err, daemon.ErrNoReader):
		fail(w, http.StatusNotFound, err)
	case errors.Is(err, sim.ErrImage):
		fail(w, http.StatusBadRequest, err)
	case err != nil:
		fail(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"shown_to": where})
	}
}

func (a *api) simSwipe(w http.ResponseWriter, r *http.Request) {
	a.simPresent(w, r, "swiped", "swipe")
}

// simTap holds a deck card in the contactless field until
// /v1/sim/remove.
func (a *api) simTap(w http.ResponseWriter, r *http.Request) {
	a.simPresent(w, r, "tapped", "tap")
}

// simInsert puts a deck card in the contact slot until /v1/sim/remove.
func (a *api) simInsert(w http.ResponseWriter, r *http.Request) {
	a.simPresent(w, r, "inserted", "insert")
}

// simPresent presents a deck card one way: 400 for an unknown card, one
// that cannot be presented that way or an unknown pull_after.
func (a *api) simPresent(w http.ResponseWriter, r *http.Request, done, mode string) {
	if a.d.Sim == nil {
		fail(w, http.StatusNotFound, errors.New("not the simulated board"))
		return
	}
	var req presentRequest
	if !decode(w, r, &req) {
		return
	}
	var pull func(cmd, resp []byte) bool
	if req.PullAfter != "" {
		trigger, ok := pullTriggers[req.PullAfter]
		if !ok || mode == "swipe" {
			fail(w, http.StatusBadRequest, fmt.Errorf("pull_after %q: want gpo, first_ac or second_ac, for a tapped or inserted card", req.PullAfter))
			return
		}
		pull = trigger()
	}
	var err error
	if mode == "swipe" {
		err = a.d.Sim.Swipe(req.Card)
	} else {
		err = a.d.Sim.Present(req.Card, mode, pull)
	}
	switch {
	case errors.Is(err, sim.ErrUnknownCard), errors.Is(err, sim.ErrEntryMode):
		fail(w, http.StatusBadRequest, err)
	case err != nil:
		fail(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, map[string]string{done: req.Card})
	}
}

type keysRequest struct {
	Keys string `json:"keys"`
}

// simKeysTimeout bounds the typing of one key string (sim.MaxKeys keys
// take some 16 s).
const simKeysTimeout = time.Minute

// simKeys types a key string on the simulated PIN pad. The keys may be a
// PIN: they are never logged nor repeated in the answer, not even in a
// JSON decoding error, which may quote a character of the body.
func (a *api) simKeys(w http.ResponseWriter, r *http.Request) {
	if a.d.Sim == nil {
		fail(w, http.StatusNotFound, errors.New("not the simulated board"))
		return
	}
	var req keysRequest
	if err := decodeBody(http.MaxBytesReader(w, r.Body, maxBody), &req); err != nil {
		fail(w, http.StatusBadRequest, fmt.Errorf(`bad request body: want {"keys":"1234E"} (%s)`, sim.KeyStringHelp))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), simKeysTimeout)
	defer cancel()
	err := a.d.Sim.Keys(ctx, req.Keys)
	switch {
	case errors.Is(err, sim.ErrKeyString):
		fail(w, http.StatusBadRequest, err)
	case errors.Is(err, sim.ErrKeypad):
		fail(w, http.StatusServiceUnavailable, err)
	case err != nil:
		fail(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, map[string]int{"typed": len(req.Keys)})
	}
}

// simRemove takes the tapped and inserted cards away (body {}).
func (a *api) simRemove(w http.ResponseWriter, r *http.Request) {
	if a.d.Sim == nil {
		fail(w, http.StatusNotFound, errors.New("not the simulated board"))
		return
	}
	var req struct{}
	if !decode(w, r, &req) {
		return
	}
	a.d.Sim.RemoveCard()
	writeJSON(w, http.StatusOK, map[string]bool{"removed": true})
}
