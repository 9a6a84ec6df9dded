package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"posd/board"
	"posd/board/sim"
	"posd/board/sim/deck"
	"posd/terminal/host"
	"posd/terminal/money"
	"posd/terminal/store"
	"posd/terminal/txn"
	"posd/ui"
	"posd/ui/kiosk"
)

// api is the local HTTP+JSON API (loopback only) for the ECR/cashier, the
// field engineer's posctl and the simulator controls.
type api struct {
	cfg    Config
	cur    money.Currency
	engine *txn.Engine
	client *host.Client
	db     *store.DB
	board  *board.Board
	sim    *sim.Board // nil unless board=sim
	status func() map[string]any
	log    *slog.Logger
}

func (a *api) routes() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/status", a.getStatus)
	m.HandleFunc("POST /v1/sales", a.postSale)
	m.HandleFunc("GET /v1/txns", a.listTxns)
	m.HandleFunc("GET /v1/txns/{id}", a.getTxn)
	m.HandleFunc("POST /v1/txns/{id}/cancel", a.cancelTxn)
	m.HandleFunc("POST /v1/reversals/send", a.sendReversals)
	m.HandleFunc("POST /v1/host/echo", a.hostEcho)
	m.HandleFunc("GET /v1/devices", a.getDevices)
	m.HandleFunc("POST /v1/devices/selftest", a.selfTest)
	m.HandleFunc("GET /v1/sim/cards", a.simCards)
	m.HandleFunc("POST /v1/sim/swipe", a.simSwipe)
	// The customer display (local kiosk page) at / and /display.json.
	m.Handle("/", kiosk.Handler(func() ui.Screen { return ui.Render(a.displayState(time.Now())) }))
	return m
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
	Error        string `json:"error,omitempty"`
	Reversal     string `json:"reversal_reason,omitempty"`
	Created      string `json:"created"`
	Updated      string `json:"updated"`
}

func view(t store.Txn) txnView {
	v := txnView{
		ID: t.ID, Kind: t.Kind, State: string(t.State), Currency: t.Currency,
		MaskedPAN: t.MaskedPAN, ResponseCode: t.ResponseCode, AuthCode: t.AuthCode, RRN: t.RRN,
		Error: t.Error, Reversal: t.Reason,
		Created: t.Created.Format(time.RFC3339), Updated: t.Updated.Format(time.RFC3339),
	}
	if c, err := money.Lookup(t.Currency); err == nil {
		v.Currency, v.Amount = c.Alpha, c.Format(t.Amount)
	} else {
		v.Amount = strconv.FormatInt(t.Amount, 10)
	}
	if t.STAN != 0 {
		v.STAN = fmt.Sprintf("%06d", t.STAN)
	}
	return v
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, apiError{Error: err.Error()})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		fail(w, http.StatusBadRequest, fmt.Errorf("bad request body: %w", err))
		return false
	}
	return true
}

func (a *api) getStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.status())
}

type saleRequest struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

func (a *api) postSale(w http.ResponseWriter, r *http.Request) {
	var req saleRequest
	if !decode(w, r, &req) {
		return
	}
	cur := a.cur
	if req.Currency != "" {
		c, err := money.Lookup(req.Currency)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		cur = c
	}
	amount, err := cur.Parse(req.Amount)
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	t, err := a.engine.StartSale(amount, cur.Numeric)
	switch {
	case errors.Is(err, txn.ErrBusy):
		fail(w, http.StatusConflict, err)
	case errors.Is(err, txn.ErrAmount), errors.Is(err, txn.ErrCurrency):
		fail(w, http.StatusBadRequest, err)
	case err != nil:
		fail(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusCreated, view(t))
	}
}

func (a *api) listTxns(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			fail(w, http.StatusBadRequest, errors.New("limit must be a positive number"))
			return
		}
		limit = n
	}
	var states []store.State
	if s := r.URL.Query().Get("state"); s != "" {
		states = append(states, store.State(s))
	}
	list, err := a.db.List(limit, states...)
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	out := make([]txnView, 0, len(list))
	for _, t := range list {
		out = append(out, view(t))
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
		ctx, cancel := context.WithTimeout(r.Context(), d)
		t, err = a.engine.Wait(ctx, id)
		cancel()
	} else {
		t, err = a.db.Get(id)
	}
	switch {
	case store.IsNotFound(err):
		fail(w, http.StatusNotFound, err)
	case err != nil:
		fail(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, view(t))
	}
}

func (a *api) cancelTxn(w http.ResponseWriter, r *http.Request) {
	if err := a.engine.Cancel(r.PathValue("id")); err != nil {
		fail(w, http.StatusConflict, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "cancelling"})
}

func (a *api) sendReversals(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	left := a.engine.SendReversals(ctx)
	writeJSON(w, http.StatusOK, map[string]int{"pending": left})
}

// hostEcho is the field engineer's link test: a 0800 echo (DE70 301).
func (a *api) hostEcho(w http.ResponseWriter, r *http.Request) {
	stan, err := a.db.NextSTAN()
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(a.cfg.Host.ConnectTimeout+a.cfg.Host.ResponseTimeout))
	defer cancel()
	t0 := time.Now()
	if err := a.client.Echo(ctx, stan); err != nil {
		fail(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"host": a.cfg.Host.Addr, "result": "ok", "stan": fmt.Sprintf("%06d", stan),
		"round_trip": time.Since(t0).Round(time.Millisecond).String()})
}

func (a *api) getDevices(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.board.Status())
}

func (a *api) selfTest(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.board.SelfTest(r.Context()))
}

func (a *api) simCards(w http.ResponseWriter, r *http.Request) {
	if a.sim == nil {
		fail(w, http.StatusNotFound, errors.New("not the simulated board"))
		return
	}
	writeJSON(w, http.StatusOK, deck.Cards)
}

type swipeRequest struct {
	Card string `json:"card"`
}

func (a *api) simSwipe(w http.ResponseWriter, r *http.Request) {
	if a.sim == nil {
		fail(w, http.StatusNotFound, errors.New("not the simulated board"))
		return
	}
	var req swipeRequest
	if !decode(w, r, &req) {
		return
	}
	err := a.sim.Swipe(req.Card)
	switch {
	case errors.Is(err, sim.ErrUnknownCard), errors.Is(err, sim.ErrEntryMode):
		fail(w, http.StatusBadRequest, err)
	case err != nil:
		fail(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, map[string]string{"swiped": req.Card})
	}
}
