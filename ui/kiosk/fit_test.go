package kiosk

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"posd/ui"
)

// box is where the screen's card lies in the window, as the page
// measured it once loaded.
type box struct {
	Top, Bottom, Left, Right float64
	Width, Height            float64 // the viewport
}

// measure loads the page showing sc in headless Chromium with a window
// of size ("1024,600") and returns where the screen lies. A script the
// test adds to the page (the page itself is unchanged) writes the
// measure into the document's title for --dump-dom.
func measure(t *testing.T, browser, size string, sc ui.Screen) box {
	t.Helper()
	page := Handler(func() ui.Screen { return sc })
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			page.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		page.ServeHTTP(rec, r)
		body := strings.Replace(rec.Body.String(), "</body>", `<script>addEventListener("load", function () {
  var b = document.getElementById("screen").getBoundingClientRect();
  document.title = JSON.stringify({Top: b.top, Bottom: b.bottom, Left: b.left, Right: b.right, Width: innerWidth, Height: innerHeight});
});</script></body>`, 1)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Write([]byte(body))
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--hide-scrollbars", "--user-data-dir="+filepath.Join(dir, "profile"), "--window-size="+size,
		"--virtual-time-budget=300", "--dump-dom", srv.URL+"/")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	s := string(out)
	i, j := strings.Index(s, "<title>"), strings.Index(s, "</title>")
	var b box
	if i < 0 || j < i || json.Unmarshal([]byte(s[i+len("<title>"):j]), &b) != nil || b.Height == 0 {
		t.Fatalf("no measure in the page:\n%s", s)
	}
	return b
}

// The tallest screens fit a 7-inch customer display (1024x600 window):
// with the merchant code, its title and amount are not pushed off the top
// of the screen, and the code itself not off the bottom.
func TestScreensFitTheDisplay(t *testing.T) {
	browser := findBrowser(t)
	for _, st := range []ui.State{
		{Phase: ui.PhaseShowCode, Amount: "23.72", Currency: "CNY", Platform: "unionpay", Code: "000201010212" + strings.Repeat("7", 150)},
		{Phase: ui.PhaseDeclined, Kind: "refund", Amount: "23.72", Currency: "CNY", ResponseCode: "Z3", RemoveCard: true},
	} {
		b := measure(t, browser, "1024,600", ui.Render(st))
		if b.Top < 0 || b.Bottom > b.Height || b.Left < 0 || b.Right > b.Width {
			t.Errorf("%s: the screen lies at %+v, outside the %vx%v view", st.Phase, b, b.Width, b.Height)
		}
	}
}
