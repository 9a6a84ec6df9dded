package kiosk

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"posd/ui"
)

// CJKFont is the font family the page names for its Chinese lines;
// scripts/setup.sh installs it (Debian package fonts-wqy-microhei).
const CJKFont = "WenQuanYi Micro Hei"

// screenshot renders the kiosk page showing sc in headless Chromium and
// returns the picture. env is added to Chromium's environment.
func screenshot(t *testing.T, browser string, sc ui.Screen, env ...string) image.Image {
	t.Helper()
	srv := httptest.NewServer(Handler(func() ui.Screen { return sc }))
	defer srv.Close()
	dir := t.TempDir()
	out := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--hide-scrollbars", "--user-data-dir="+filepath.Join(dir, "profile"), "--window-size=800,600",
		"--screenshot="+out, srv.URL+"/")
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if keep := os.Getenv("POSD_KIOSK_SHOTS"); keep != "" {
		os.WriteFile(filepath.Join(keep, fmt.Sprintf("%s-%d.png", sc.TitleZH, len(env))), raw, 0o644)
	}
	return img
}

// differ counts the pixels that differ between two pictures of one size.
func differ(a, b image.Image) int {
	n := 0
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ar, ag, ab, _ := a.At(x, y).RGBA()
			br, bg, bb, _ := b.At(x, y).RGBA()
			if ar != br || ag != bg || ab != bb {
				n++
			}
		}
	}
	return n
}

// TestChineseRendersInChromium: the customer display's Chinese lines are
// drawn as characters, not as empty boxes. Two screens that differ only
// in their Chinese title are rendered: with a CJK font the pictures
// differ; when the font is missing, every character is the same ".notdef"
// box and the pictures are identical. The same comparison with the
// system's CJK fonts hidden from Chromium proves the check can fail.
func TestChineseRendersInChromium(t *testing.T) {
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("no Chromium on this machine (scripts/setup.sh installs Debian's chromium for this test)")
	}
	if out, err := exec.Command("fc-list", ":family="+CJKFont).Output(); err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Fatalf("the page's CJK font %q is not installed (scripts/setup.sh installs fonts-wqy-microhei)", CJKFont)
	}
	page, _ := files.ReadFile("page.html")
	if !strings.Contains(string(page), `"`+CJKFont+`"`) {
		t.Fatalf("page.html does not name %q", CJKFont)
	}
	base := ui.Render(ui.State{Phase: ui.PhaseIdle, Merchant: "MERCHANT0000001"})
	a, b := base, base
	a.TitleZH, b.TitleZH = "欢迎光临", "交易成功"

	if n := differ(screenshot(t, browser, a), screenshot(t, browser, b)); n < 200 {
		t.Fatalf("two different Chinese titles render alike (%d pixels differ): the characters are boxes", n)
	}

	// Control: Chromium with a font configuration that has no CJK font.
	fc := filepath.Join(t.TempDir(), "fonts.conf")
	conf := `<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>` +
		`<dir>/usr/share/fonts/truetype/dejavu</dir><cachedir>` + filepath.Join(t.TempDir(), "fc") + `</cachedir></fontconfig>`
	if err := os.WriteFile(fc, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/usr/share/fonts/truetype/dejavu"); err != nil {
		t.Skip("control skipped: no DejaVu fonts to build a CJK-less font configuration from")
	}
	if n := differ(screenshot(t, browser, a, "FONTCONFIG_FILE="+fc), screenshot(t, browser, b, "FONTCONFIG_FILE="+fc)); n != 0 {
		t.Fatalf("without a CJK font the titles still differ (%d pixels): the check cannot tell boxes from characters", n)
	}
}
