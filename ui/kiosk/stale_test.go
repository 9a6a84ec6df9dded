package kiosk

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"posd/ui"
)

// dumpDOM loads the page of h in headless Chromium, lets the page's
// timers run for budget of virtual time (no wall-clock wait), and
// returns the document as it then stands.
func dumpDOM(t *testing.T, browser string, h http.Handler, budget time.Duration) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"),
		"--virtual-time-budget="+strconv.FormatInt(budget.Milliseconds(), 10),
		"--dump-dom", srv.URL+"/")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return string(out)
}

func findBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium on this machine (scripts/setup.sh installs Debian's chromium for this test)")
	return ""
}

// When the daemon stops answering (it restarts, it hangs), the display
// does not keep showing what it last knew: a previous customer's
// "Approved" would stay in front of the next one. After a few failed
// polls the page says the terminal is not responding.
func TestStaleScreenNotKept(t *testing.T) {
	browser := findBrowser(t)
	sc := ui.Render(ui.State{Phase: ui.PhaseApproved, Amount: "88.00", Currency: "CNY", AuthCode: "A1B2C3"})
	var up atomic.Bool
	up.Store(true)
	page := Handler(func() ui.Screen { return sc })
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/display.json" && !up.Load() {
			http.Error(w, "gone", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/" {
			// The page is served; from now on the daemon is gone.
			defer up.Store(false)
		}
		page.ServeHTTP(w, r)
	})
	dom := dumpDOM(t, browser, h, 10*time.Second)
	if strings.Contains(dom, "88.00") || strings.Contains(dom, ">Approved<") {
		t.Fatalf("the last screen stays while the daemon does not answer:\n%s", dom)
	}
	if !strings.Contains(dom, "终端") {
		t.Fatalf("no word of the terminal not answering:\n%s", dom)
	}
	// Control: with the daemon answering, the screen stays.
	up.Store(true)
	ok := Handler(func() ui.Screen { return sc })
	if dom := dumpDOM(t, browser, ok, 10*time.Second); !strings.Contains(dom, "88.00") || !strings.Contains(dom, ">Approved<") {
		t.Fatalf("a screen the daemon still serves is gone:\n%s", dom)
	}
}
