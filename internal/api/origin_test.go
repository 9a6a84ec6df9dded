package api

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startTestServer serves a test API on a free loopback port as posd does
// and gives its base URL and token.
func startTestServer(t *testing.T) (*api, string, string) {
	t.Helper()
	a, addr, tok := startShort(t, defaultTimeouts)
	return a, "http://" + addr, tok
}

// send makes one request to a served API.
func send(t *testing.T, method, url, token string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if method == "POST" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 30 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// The API's own origin is http on its own port, by its address or the
// name localhost (the kiosk page posts from there); every other origin,
// a loopback one on another port included, is foreign.
func TestAPIOriginIsExactlyTheAPIs(t *testing.T) {
	_, base, token := startTestServer(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	n, _ := strconv.Atoi(port)
	other := strconv.Itoa(n + 1)
	if n == 65535 {
		other = strconv.Itoa(n - 1)
	}
	for origin, ok := range map[string]bool{
		"http://127.0.0.1:" + port:    true,
		"http://localhost:" + port:    true,
		"http://LocalHost:" + port:    true,
		"http://localhost.:" + port:   true,
		"http://localhost:" + other:   false,
		"http://127.0.0.1:" + other:   false,
		"http://localhost":            false,
		"http://127.0.0.1":            false,
		"https://127.0.0.1:" + port:   false,
		"https://localhost:" + port:   false,
		"http://127.0.0.2:" + port:    false,
		"http://[::1]:" + port:        false,
		"http://evil.example:" + port: false,
		"http://localhost:8080":       false,
		"null":                        false,
		"file://":                     false,
	} {
		code, body := send(t, "GET", base+"/v1/status", token, map[string]string{"Origin": origin}, "")
		if got := code == 200; got != ok {
			t.Errorf("Origin %s: %d %s", origin, code, body)
		}
		if !ok && (code != 403 || !strings.Contains(body, "cross-origin")) {
			t.Errorf("Origin %s: %d %s, want 403 cross-origin", origin, code, body)
		}
	}
	// The kiosk page's POST from its own origin reaches the display's
	// handler (which refuses the choice: no sale); from another local
	// port it does not.
	for origin, want := range map[string]int{
		"http://127.0.0.1:" + port:  409,
		"http://localhost:" + port:  409,
		"http://localhost:" + other: 403,
	} {
		if code, body := send(t, "POST", base+"/display/choose", "", map[string]string{"Origin": origin}, `{"choice":"face:1"}`); code != want {
			t.Errorf("choose from %s: %d %s, want %d", origin, code, body, want)
		}
	}
	// posctl sends no Origin.
	if code, body := send(t, "GET", base+"/v1/status", token, nil, ""); code != 200 {
		t.Errorf("no Origin: %d %s", code, body)
	}
}

// A browser marks a request from a page of another local port
// "same-site" (a site ignores ports): that page is not the API's own.
func TestAPISameSiteIsNotSameOrigin(t *testing.T) {
	_, base, token := startTestServer(t)
	for site, want := range map[string]int{"same-origin": 200, "none": 200, "same-site": 403, "cross-site": 403} {
		if code, body := send(t, "GET", base+"/v1/status", token, map[string]string{"Sec-Fetch-Site": site}, ""); code != want {
			t.Errorf("Sec-Fetch-Site %s: %d %s, want %d", site, code, body, want)
		}
	}
}

// FuzzOwnOrigin: whatever the Origin header holds, it is the API's own
// origin only when it names http, the listener's port and its address
// (or localhost for a loopback one); it never panics.
func FuzzOwnOrigin(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:7070", "http://localhost:7070", "http://LOCALHOST.:7070", "http://127.0.0.1:8080",
		"https://127.0.0.1:7070", "http://[::1]:7070", "null", "http://evil.example:7070", "http://u@127.0.0.1:7070",
		"http://127.0.0.1:7070/x", "http://0x7f000001:7070", "http://127.1:7070", "http://127.0.0.1", ""} {
		f.Add(s)
	}
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7070}
	f.Fuzz(func(t *testing.T, origin string) {
		r := httptest.NewRequest("GET", "/v1/status", nil)
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, net.Addr(local)))
		if !ownOrigin(origin, r) {
			return
		}
		u, err := url.Parse(origin)
		if err != nil || u.Scheme != "http" || u.Port() != "7070" {
			t.Fatalf("%q taken as the API's own origin", origin)
		}
		host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
		if host != "127.0.0.1" && host != "localhost" {
			t.Fatalf("%q taken as the API's own origin (host %q)", origin, host)
		}
	})
}
