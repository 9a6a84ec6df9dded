package kiosk

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"posd/ui"
)

func TestPageAndJSON(t *testing.T) {
	sc := ui.Render(ui.State{Phase: ui.PhaseDeclined, Amount: "10.51", Currency: "CNY", ResponseCode: "51",
		Merchant: "<script>alert(1)</script>"})
	sc.Lines = append(sc.Lines, "<b>not markup</b>")
	srv := httptest.NewServer(Handler(func() ui.Screen { return sc }))
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	html := string(body)
	for _, want := range []string{`class="error"`, `data-phase="declined"`, "Declined", "交易失败", "Insufficient funds", "CNY 10.51", "&lt;b&gt;not markup&lt;/b&gt;"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(html, "<b>not markup</b>") {
		t.Error("screen text is not escaped")
	}

	resp, err = srv.Client().Get(srv.URL + "/display.json")
	if err != nil {
		t.Fatal(err)
	}
	var got ui.Screen
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || got.Phase != ui.PhaseDeclined || got.Title != "Declined" || len(got.Lines) != len(sc.Lines) {
		t.Fatalf("display.json: %+v %v", got, err)
	}
	if resp, _ := srv.Client().Get(srv.URL + "/nope"); resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
}

func TestMerchantCodePicture(t *testing.T) {
	var sc ui.Screen
	srv := httptest.NewServer(Handler(func() ui.Screen { return sc }))
	defer srv.Close()
	if resp, _ := srv.Client().Get(srv.URL + "/display/qr.png"); resp.StatusCode != 404 {
		t.Fatalf("no code shown: %d", resp.StatusCode)
	}
	sc = ui.Render(ui.State{Phase: ui.PhaseShowCode, Amount: "23.72", Currency: "CNY", Platform: "wechat", Code: "000201010212"})
	if sc.Code == "" || !strings.Contains(sc.Title, "WeChat Pay") {
		t.Fatalf("screen: %+v", sc)
	}
	resp, err := srv.Client().Get(srv.URL + "/display/qr.png")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(string(b), "\x89PNG") {
		t.Fatalf("qr.png: %d %q %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(b))
	}
	resp, _ = srv.Client().Get(srv.URL + "/")
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `src="display/qr.png"`) {
		t.Fatal("page does not show the code")
	}
}
