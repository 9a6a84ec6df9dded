package api

import (
	"errors"
	"net/http"
	"strconv"

	"posd/board/sim"
	"posd/conn/printer"
	"posd/internal/daemon"
	"posd/terminal/store"
	"posd/ui/receipt"
)

// receiptView is a slip as the API shows it: the printer's lines and the
// text the paper shows.
type receiptView struct {
	ID      string         `json:"id"`
	Copy    string         `json:"copy,omitempty"`
	Columns int            `json:"columns"`
	Text    string         `json:"text"`
	Lines   []printer.Line `json:"lines"`
}

// getReceipt lays out a transaction's slip (or a settlement's report)
// without printing it: ?copy=merchant|cardholder (default cardholder),
// ?columns=N (default the printer's, else 32).
func (a *api) getReceipt(w http.ResponseWriter, r *http.Request) {
	c := receipt.Cardholder
	if s := r.URL.Query().Get("copy"); s != "" {
		var err error
		if c, err = receipt.ParseCopy(s); err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
	}
	cols := 0
	if s := r.URL.Query().Get("columns"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 16 || n > 96 {
			fail(w, http.StatusBadRequest, errors.New("columns must be from 16 to 96"))
			return
		}
		cols = n
	}
	id := r.PathValue("id")
	doc, cols, t, err := a.d.Receipt(id, c, cols)
	switch {
	case store.IsNotFound(err):
		fail(w, http.StatusNotFound, notFound(id, err))
		return
	case errors.Is(err, receipt.ErrNotPrintable):
		fail(w, http.StatusConflict, err)
		return
	case err != nil:
		fail(w, http.StatusInternalServerError, err)
		return
	}
	v := receiptView{ID: t.ID, Columns: cols, Text: printer.Preview(doc, cols), Lines: doc.Lines}
	if t.Kind != "settlement" {
		v.Copy = string(c)
	}
	writeJSON(w, http.StatusOK, v)
}

// printReceipt prints a transaction's slip again, marked DUPLICATE:
// {"copy": "merchant"|"cardholder"|"both"} (default cardholder).
func (a *api) printReceipt(w http.ResponseWriter, r *http.Request) {
	a.extendWrite(w, printRun)
	var req struct {
		Copy string `json:"copy"`
	}
	if !decode(w, r, &req) {
		return
	}
	copies := []receipt.Copy{receipt.Cardholder}
	switch req.Copy {
	case "", "cardholder", "customer":
	case "merchant":
		copies = []receipt.Copy{receipt.Merchant}
	case "both":
		copies = []receipt.Copy{receipt.Merchant, receipt.Cardholder}
	default:
		fail(w, http.StatusBadRequest, errors.New(`copy must be "merchant", "cardholder" or "both"`))
		return
	}
	id := r.PathValue("id")
	err := a.d.PrintReceipt(r.Context(), id, copies)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]string{"status": "printed"})
	case store.IsNotFound(err):
		fail(w, http.StatusNotFound, notFound(id, err))
	case errors.Is(err, daemon.ErrNoPrinter):
		fail(w, http.StatusNotFound, err)
	case errors.Is(err, receipt.ErrNotPrintable):
		fail(w, http.StatusConflict, err)
	case errors.Is(err, printer.ErrPaperOut), errors.Is(err, printer.ErrCoverOpen), errors.Is(err, printer.ErrFault):
		fail(w, http.StatusConflict, err)
	default:
		fail(w, http.StatusBadGateway, err)
	}
}

// getPrinter asks the receipt printer for its state.
func (a *api) getPrinter(w http.ResponseWriter, r *http.Request) {
	st := a.d.Printer(r.Context())
	if st == nil {
		fail(w, http.StatusNotFound, daemon.ErrNoPrinter)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// simPrinter shows the simulated printer's paper: every document it cut,
// as printed, and its state.
func (a *api) simPrinter(w http.ResponseWriter, r *http.Request) {
	if a.d.Sim == nil {
		fail(w, http.StatusNotFound, errors.New("not the simulated board"))
		return
	}
	p, err := a.d.Sim.PrinterPaper()
	if err != nil {
		fail(w, http.StatusNotFound, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// setSimPrinter changes the simulated printer's paper and cover:
// {"paper": "out"|"low"|"full", "cover": "open"|"closed"}.
func (a *api) setSimPrinter(w http.ResponseWriter, r *http.Request) {
	if a.d.Sim == nil {
		fail(w, http.StatusNotFound, errors.New("not the simulated board"))
		return
	}
	var req struct {
		Paper string `json:"paper"`
		Cover string `json:"cover"`
	}
	if !decode(w, r, &req) {
		return
	}
	if err := a.d.Sim.SetPrinter(req.Paper, req.Cover); errors.Is(err, sim.ErrNoPrinter) {
		fail(w, http.StatusNotFound, err)
		return
	} else if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	a.simPrinter(w, r)
}
