// Package kiosk renders the display model as a local web page: the customer
// display of the simulated board, and of boards whose screen is a browser in
// kiosk mode pointed at the daemon's loopback address. The page shows the
// screen rendered on the server and then follows it by polling
// display.json, so it needs no reload between sales.
package kiosk

import (
	"embed"
	"encoding/json"
	"html/template"
	"io"
	"mime"
	"net/http"

	"posd/ui"
)

//go:embed page.html
var files embed.FS

var page = template.Must(template.ParseFS(files, "page.html"))

// qrSize is the side of the merchant code's picture in pixels: at 4
// pixels a module at least for the payloads posd shows (version 6 to 10,
// 41 to 57 modules with the quiet zone), sharp on a 7-inch screen. The
// page shows it at 40 % of the display's height at most (240 pixels on a
// 600-pixel display: still 4 a module), so that the screen's title and
// amount stay in view above it.
const qrSize = 360

// Handler serves the page at / and the current screen as JSON at
// /display.json, and the screen's merchant-presented code as a PNG at
// /display/qr.png. screen is called on every request.
func Handler(screen func() ui.Screen) http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'")
		page.Execute(w, screen())
	})
	m.HandleFunc("GET /display/qr.png", func(w http.ResponseWriter, r *http.Request) {
		// The merchant-presented code of the current screen; the page
		// adds the payload as a query only so that a browser fetches
		// the picture again when the code changes.
		code := screen().Code
		if code == "" {
			jsonError(w, http.StatusNotFound, "no merchant code is shown")
			return
		}
		b, err := ui.QRPNG(code, qrSize)
		if err != nil {
			jsonError(w, http.StatusInternalServerError, "the merchant code cannot be drawn")
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b)
	})
	m.HandleFunc("GET /display.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(screen())
	})
	return m
}

// ChooseHandler serves POST /display/choose, the customer's touch on a
// choice of the screen ({"choice": "face:12"}, the choice's ID), handed
// to choose. It takes JSON only: a page of another origin cannot send that without a
// preflight, which the daemon never allows. decode reads the body into
// its object as the daemon's API reads every body (one object, no
// unknown or repeated field, nothing after it); its error is answered
// as it words it.
func ChooseHandler(decode func(body io.Reader, v any) error, choose func(choice string) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			jsonError(w, http.StatusUnsupportedMediaType, "a choice is sent as application/json")
			return
		}
		var req struct {
			Choice string `json:"choice"`
		}
		if err := decode(io.LimitReader(r.Body, 1024), &req); err != nil {
			jsonError(w, http.StatusBadRequest, err.Error())
			return
		}
		if req.Choice == "" {
			jsonError(w, http.StatusBadRequest, `the body is {"choice": ID}`)
			return
		}
		if err := choose(req.Choice); err != nil {
			jsonError(w, http.StatusConflict, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"chosen": req.Choice})
	})
}

// jsonError answers an error as the daemon's API does: {"error": "..."}.
func jsonError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
