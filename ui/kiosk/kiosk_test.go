package kiosk

import (
	"encoding/json"
	"errors"
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

// A card sale on a face-pay terminal offers "pay by face"; the customer's
// touch reaches the daemon as JSON only.
func TestFaceChoice(t *testing.T) {
	sc := ui.Render(ui.State{Phase: ui.PhaseCard, Amount: "88.00", Currency: "CNY", FaceChoice: true})
	if len(sc.Choices) != 1 || sc.Choices[0].ID != "face" {
		t.Fatalf("choices = %+v", sc.Choices)
	}
	if sc := ui.Render(ui.State{Phase: ui.PhaseCard, Amount: "88.00", Currency: "CNY"}); len(sc.Choices) != 0 {
		t.Fatalf("choices without face pay = %+v", sc.Choices)
	}
	var chosen []string
	// The daemon's body reader; here one that refuses a repeated field
	// as the daemon's does, to show its error is what is answered.
	decode := func(body io.Reader, v any) error {
		raw, _ := io.ReadAll(body)
		if strings.Count(string(raw), `"choice"`) > 1 {
			return errors.New(`bad request body: field "choice" given twice`)
		}
		return json.Unmarshal(raw, v)
	}
	srv := httptest.NewServer(ChooseHandler(decode, func(c string) error {
		chosen = append(chosen, c)
		if c != "face" {
			return errors.New("unknown choice")
		}
		return nil
	}))
	defer srv.Close()
	for _, tc := range []struct {
		ctype, body string
		status      int
	}{
		{"text/plain", `{"choice":"face"}`, 415},
		{"application/json", `{}`, 400},
		{"application/json", `{"choice":"cash"}`, 409},
		{"application/json", `{"choice":"face"}`, 200},
		{"application/json", `{"choice":"face","choice":"face:1"}`, 400},
	} {
		resp, err := srv.Client().Post(srv.URL, tc.ctype, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.ctype, tc.body, resp.StatusCode, tc.status)
		}
	}
	if len(chosen) != 2 || chosen[1] != "face" {
		t.Fatalf("chosen = %v", chosen)
	}
}
