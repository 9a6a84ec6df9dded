package api

import (
	"regexp"
	"strings"
	"testing"

	"posd/terminal/store"
)

// longDigits is a run of digits as long as the shortest PAN.
var longDigits = regexp.MustCompile(`[0-9]{12,}`)

// What a caller sends may be a card number typed in the wrong box: no
// error answer repeats one unmasked.
func TestAPIErrorsMaskCardNumbers(t *testing.T) {
	a, h := newTestAPI(t)
	const pan = "4761739001010010"
	// A record's error detail is masked as well.
	x := store.Txn{Kind: "purchase", State: store.StateCreated, Amount: 100, Currency: "156", Error: "host said: card " + pan + " blocked"}
	if err := a.d.DB.Create(&x); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/txns/" + x.ID, "/v1/txns"} {
		if code, _, body := do(h, call{"GET", path, "", nil}); code != 200 || longDigits.MatchString(body) || !strings.Contains(body, "476173******0010") {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	for _, c := range []call{
		{"GET", "/v1/txns/" + pan, "", nil},
		{"GET", "/v1/txns/" + pan + "?wait=1ms", "", nil},
		{"POST", "/v1/txns/" + pan + "/cancel", `{}`, nil},
		{"GET", "/v1/txns/" + pan + "/receipt", "", nil},
		{"POST", "/v1/txns", `{"type":"` + pan + `"}`, nil},
		{"POST", "/v1/txns", `{"type":"void","orig_id":"` + pan + `"}`, nil},
		{"POST", "/v1/txns", `{"type":"refund","amount":"1.00","orig_id":"` + pan + `"}`, nil},
		{"POST", "/v1/sales", `{"` + pan + `":"1.00"}`, nil},
		{"POST", "/v1/sales", `{"amount":"` + pan + `"}`, nil},
		{"POST", "/v1/sales", `{"amount":"1.00","currency":"` + pan + `"}`, nil},
		{"POST", "/v1/sales", `{"amount":"1.00","method":"` + pan + `"}`, nil},
		{"POST", "/v1/sales", `{"amount":"1.00","amount":"2.00","` + pan + `":1}`, nil},
		{"POST", "/v1/sales", `{"amount":"1.00","` + pan + `":1,"` + pan + `":2}`, nil},
		{"GET", "/v1/txns?state=" + pan, "", nil},
		{"GET", "/v1/" + pan, "", nil},
		{"GET", "/" + pan, "", nil},
		{"POST", "/display/choose", `{"choice":"face:` + pan + `"}`, nil},
		{"POST", "/display/choose", `{"choice":"` + pan + `"}`, nil},
	} {
		code, _, body := do(h, c)
		if code < 400 {
			t.Errorf("%s %s %s: %d %s, want an error", c.method, c.path, c.body, code, body)
			continue
		}
		msg := errorOf(t, body)
		if longDigits.MatchString(msg) {
			t.Errorf("%s %s %s: error repeats a card number: %q", c.method, c.path, c.body, msg)
		}
	}
	// The id stays recognisable, masked as a card number is.
	if _, _, body := do(h, call{"GET", "/v1/txns/" + pan, "", nil}); !strings.Contains(errorOf(t, body), "476173******0010") {
		t.Errorf("unknown id: %s", body)
	}
	// A card number typed in groups, as it is printed on the card.
	for _, grouped := range []string{"4761 7390 0101 0010", "4761-7390-0101-0010"} {
		code, _, body := do(h, call{"POST", "/v1/txns", `{"type":"` + grouped + `","amount":"1.00"}`, nil})
		if msg := errorOf(t, body); code != 400 || strings.Contains(msg, "7390") || strings.Contains(msg, "0101") {
			t.Errorf("type %q: %d %q", grouped, code, msg)
		}
	}
	// A long input is masked before it is shortened: no part of a card
	// number is left by the cut.
	code, _, body := do(h, call{"POST", "/v1/txns", `{"type":"abcdefghijklmn` + pan + `"}`, nil})
	if msg := errorOf(t, body); code != 400 || strings.Contains(msg, "4761739001") {
		t.Errorf("long type: %d %q", code, msg)
	}
}
