package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// A body is one JSON object: null, a bare value or an array is not one,
// and a field given twice (at any depth) is refused, not taken
// last-wins: the checks would see another amount than the cashier meant.
func TestAPIBodyIsOneObjectWithUniqueFields(t *testing.T) {
	_, h := newTestAPI(t)
	for _, c := range []struct {
		path, body, want string
	}{
		{"/v1/sync", `null`, "one JSON object"},
		{"/v1/sync", ` null `, "one JSON object"},
		{"/v1/sales", `null`, "one JSON object"},
		{"/v1/sales", `"1.00"`, "one JSON object"},
		{"/v1/sales", `12`, "one JSON object"},
		{"/v1/sales", `["1.00"]`, "one JSON object"},
		{"/v1/sales", ``, "bad request body"},
		{"/v1/batch/close", `null`, "one JSON object"},
		{"/v1/sales", `{"amount":"1.00","amount":"2000000.00"}`, `field "amount" given twice`},
		{"/v1/sales", `{"amount":"2000000.00","Amount":"1.00"}`, "given twice"},
		{"/v1/sales", `{"amount":"1.00","currency":"CNY","currency":"USD"}`, `field "currency" given twice`},
		{"/v1/txns", `{"type":"refund","amount":"1.00","type":"void"}`, `field "type" given twice`},
		{"/v1/face/check", `{"video":"AAAA","video":"AAAA"}`, "given twice"},
		// The customer display's touch, read the same way.
		{"/display/choose", `{"choice":"face","choice":"face:1"}`, `field "choice" given twice`},
		{"/display/choose", `null`, "one JSON object"},
		{"/display/choose", `{"choice":"face","extra":1}`, "unknown field"},
	} {
		code, _, body := do(h, call{"POST", c.path, c.body, nil})
		if code != 400 {
			t.Errorf("POST %s %s: %d %s, want 400", c.path, c.body, code, body)
			continue
		}
		if msg := errorOf(t, body); !strings.Contains(msg, c.want) || !strings.HasPrefix(msg, "bad request body") {
			t.Errorf("POST %s %s: error %q does not say %q", c.path, c.body, msg, c.want)
		}
	}
}

// decodeBody refuses duplicates inside nested objects too, and takes
// equal values in objects that are not siblings.
func TestDecodeBodyNested(t *testing.T) {
	type inner struct {
		A string `json:"a"`
	}
	var v struct {
		X inner   `json:"x"`
		Y inner   `json:"y"`
		L []inner `json:"l"`
	}
	if err := decodeBody(strings.NewReader(`{"x":{"a":"1"},"y":{"a":"2"},"l":[{"a":"3"},{"a":"4"}]}`), &v); err != nil {
		t.Fatalf("distinct objects with the same field: %v", err)
	}
	for _, b := range []string{
		`{"x":{"a":"1","a":"2"}}`,
		`{"l":[{"a":"3"},{"a":"4","a":"5"}]}`,
		`{"x":{"a":"1"},"x":{"a":"2"}}`,
	} {
		if err := decodeBody(strings.NewReader(b), &v); err == nil || !strings.Contains(err.Error(), "given twice") {
			t.Errorf("%s: %v", b, err)
		}
	}
}

// FuzzFieldScanner: on any JSON text, fed in pieces of any size, the
// scanner finds a repeated field exactly when the decoder's tokens show
// one.
func FuzzFieldScanner(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`, `[{"a":1},{"a":1}]`, `{"a\"":1,"a":2}`, `{"k":1,"\u212a":2}`,
		`{"s":1,"\u017f":2}`, `{"a":"{\"a\":1,\"a\":2}"}`, `{"x":[1,{"y":2,"Y":3}]}`, `null`, `"a"`} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, step uint8) {
		if !json.Valid(b) {
			return
		}
		var s fieldScanner
		n := int(step%16) + 1
		for i := 0; i < len(b); i += n {
			s.Write(b[i:min(i+n, len(b))])
		}
		if got, want := s.repeated, repeatedField(b); got != want && !longKey(b) {
			t.Fatalf("%q: scanner says repeated %v (%q), tokens %v", b, got, s.dup, want)
		}
	})
}

// longKey reports whether b has a string longer than the names the
// scanner keeps (it does not compare those).
func longKey(b []byte) bool {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if s, ok := tok.(string); ok && len(s) > maxKeyBytes/2 {
			return true
		}
	}
}
