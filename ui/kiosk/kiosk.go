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
	"net/http"

	"posd/ui"
)

//go:embed page.html
var files embed.FS

var page = template.Must(template.ParseFS(files, "page.html"))

// qrSize is the side of the merchant code's picture in pixels: at 4
// pixels a module at least for the payloads posd shows (version 6 to 10,
// 41 to 57 modules with the quiet zone), sharp on a 7-inch screen.
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

// jsonError answers an error as the daemon's API does: {"error": "..."}.
func jsonError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
