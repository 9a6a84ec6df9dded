package api

import (
	"crypto/subtle"
	"errors"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// guard is the local API's door. posd listens on loopback, but a loopback
// listener is reachable from every web page the device's browser (the
// kiosk) opens: a page can send "simple" cross-origin requests (text/plain
// POSTs) without a preflight, and DNS rebinding lets a foreign name point
// at 127.0.0.1. So:
//
//   - the Host header must be a loopback name or address (DNS rebinding);
//   - a request that carries an Origin other than the API's own, or that
//     the browser marks cross-site or same-site (another port), is
//     refused. The API's own origin is http, the port the request came in
//     on, and the address it came in on or localhost (the kiosk browser
//     may be pointed at http://127.0.0.1:7070/ or http://localhost:7070/,
//     and the kiosk page posts the customer's choices from there).
//     Another port is another origin even on loopback: a page served by
//     another local service must not drive the API;
//   - OPTIONS is refused and no CORS header is ever sent, so no preflight
//     can succeed;
//   - every /v1/ request must carry the per-boot API token (Authorization:
//     Bearer), which posd writes to a 0600 file in its data directory for
//     posctl: only a local user who may read that directory can use the
//     API;
//   - a POST must say Content-Type: application/json, which a page cannot
//     send cross-origin without a preflight.
//
// The kiosk page (/ and /display.json) stays readable without the token.
func guard(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		if !loopbackHost(r.Host) {
			fail(w, http.StatusMisdirectedRequest, errors.New("request refused: the Host header must name this device's loopback address"))
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !ownOrigin(o, r) {
			fail(w, http.StatusForbidden, errors.New("request refused: cross-origin requests are not accepted"))
			return
		}
		// same-site: a page of another port of this machine (a site
		// ignores ports), which may send no Origin on a GET.
		if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
			fail(w, http.StatusForbidden, errors.New("request refused: cross-site requests, and those of pages of other local ports, are not accepted"))
			return
		}
		if r.Method == http.MethodOptions {
			h.Set("Allow", "GET, POST")
			fail(w, http.StatusMethodNotAllowed, errors.New("OPTIONS is not supported (no cross-origin access)"))
			return
		}
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			if !tokenOK(r, token) {
				h.Set("WWW-Authenticate", `Bearer realm="posd"`)
				fail(w, http.StatusUnauthorized, errors.New("missing or wrong API token: posctl reads it from posd's data directory (--data-dir DIR or POSD_DATA_DIR)"))
				return
			}
			if r.Method == http.MethodPost {
				mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
				if err != nil || mt != "application/json" {
					fail(w, http.StatusUnsupportedMediaType, errors.New("POST requests must have Content-Type: application/json"))
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func tokenOK(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// loopbackHost reports whether a Host header (name or address, optional
// port) designates this machine's loopback interface.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ownOrigin reports whether origin is the API's own: scheme http, the
// port of the address the request arrived on, and that address or a
// loopback name of it. Without that address (not a request a server
// accepted) no origin is the API's own.
func ownOrigin(origin string, r *http.Request) bool {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	self, port, err := net.SplitHostPort(local.String())
	if err != nil {
		return false
	}
	selfIP := net.ParseIP(self)
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	oport := u.Port()
	if oport == "" {
		oport = "80"
	}
	if oport != port {
		return false
	}
	host := strings.TrimSuffix(u.Hostname(), ".")
	if strings.EqualFold(host, "localhost") {
		// The names localhost resolves to.
		return selfIP != nil && (selfIP.Equal(net.IPv4(127, 0, 0, 1)) || selfIP.Equal(net.IPv6loopback))
	}
	ip := net.ParseIP(host)
	return ip != nil && selfIP != nil && ip.Equal(selfIP)
}
