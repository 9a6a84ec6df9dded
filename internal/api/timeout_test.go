package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"posd/terminal/store"
)

// The server bounds every phase of a connection, and the write bound
// leaves the answers of the slowest bounded handlers room.
func TestServerTimeoutsBoundEveryPhase(t *testing.T) {
	tm := defaultTimeouts
	srv := tm.server(http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Fatalf("unbounded phase: header %v, read %v, write %v, idle %v",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
	// Handlers bounded by their own timeout answer within the write
	// bound; the long ones (a wait, a batch close) extend it.
	for what, d := range map[string]time.Duration{"sim keys": simKeysTimeout, "sync": time.Minute, "reversals": time.Minute} {
		if srv.WriteTimeout <= d {
			t.Errorf("write bound %v leaves %s (%v) no room to answer", srv.WriteTimeout, what, d)
		}
	}
	// The kiosk page polls every half second on one connection.
	if srv.IdleTimeout < 5*time.Second {
		t.Errorf("idle bound %v", srv.IdleTimeout)
	}
}

// startShort serves a test API with short bounds.
func startShort(t *testing.T, tm timeouts) (*api, string, string) {
	t.Helper()
	a, _ := newTestAPI(t)
	a.d.Config.API.Listen = "127.0.0.1:0"
	a.d.Config.DataDir = t.TempDir()
	srv, err := startWith(a.d, tm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(t.Context(), nil) })
	raw, err := os.ReadFile(filepath.Join(a.d.Config.DataDir, TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	json.Unmarshal(raw, &tok)
	return a, srv.Addr(), tok.Token
}

// A client that sends a body slower than the read bound is cut off; a
// long poll that outlasts the write bound still gets its answer.
func TestServerCutsSlowBodiesAndKeepsLongPolls(t *testing.T) {
	const short = 300 * time.Millisecond
	a, addr, token := startShort(t, timeouts{ReadHeader: short, Read: short, Write: short, Idle: short})

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/sync HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", addr, token)
	// The test's own bound: far past the server's, never reached when
	// the server cuts the client off.
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	rest, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server still waits for the slow body (read %q)", rest)
	}
	if strings.Contains(string(rest), "200 OK") {
		t.Fatalf("a partial body was taken: %q", rest)
	}

	x := store.Txn{Kind: "purchase", Amount: 100, Currency: "156"}
	if err := a.d.DB.Create(&x); err != nil { // never finishes: the wait runs out
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/v1/txns/"+x.ID+"?wait="+(4*short).String(), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("long poll past the write bound: %v", err)
	}
	defer res.Body.Close()
	var v txnView
	if err := json.NewDecoder(bufio.NewReader(res.Body)).Decode(&v); err != nil || res.StatusCode != 200 || v.ID != x.ID {
		t.Fatalf("long poll: %d %+v %v", res.StatusCode, v, err)
	}
}
