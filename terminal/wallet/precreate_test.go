package wallet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func TestValidatePrecreate(t *testing.T) {
	ok := Order{ID: "M1", Amount: 100, Currency: "CNY"}
	if err := ok.ValidatePrecreate(); err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]Order{
		"with a code":  {ID: "M1", Amount: 100, Currency: "CNY", Code: "134567890123456789"},
		"no id":        {Amount: 100, Currency: "CNY"},
		"zero amount":  {ID: "M1", Currency: "CNY"},
		"bad currency": {ID: "M1", Amount: 100, Currency: "CN"},
	} {
		err := o.ValidatePrecreate()
		if !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: %v", name, err)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), []byte("134567890123456789")) {
			t.Errorf("%s: error quotes the code", name)
		}
	}
	// Pay still needs its code.
	if err := ok.Validate(); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("Validate without a code: %v", err)
	}
}

// Precreate sends a signed precreate without a code and checks the
// answer's signature; an order with a code never leaves.
func TestHTTPClientPrecreate(t *testing.T) {
	key := bytes.Repeat([]byte{3}, 32)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		sig := r.Header.Get(HeaderSignature)
		if r.URL.Path != Path(Alipay, OpPrecreate) ||
			!VerifySignature(sig, SignRequest(key, r.URL.Path, "T9", r.Header.Get(HeaderTimestamp), body)) {
			t.Errorf("request %s not signed as expected", r.URL.Path)
		}
		var req Request
		d := json.NewDecoder(bytes.NewReader(body))
		d.DisallowUnknownFields()
		if err := d.Decode(&req); err != nil || req != (Request{OrderID: "M1", Amount: 1234, Currency: "CNY"}) {
			t.Errorf("body %s: %v", body, err)
		}
		rb := []byte(`{"order_id":"M1","status":"user_paying","amount":1234,"currency":"CNY"}`)
		w.Header().Set(HeaderSignature, SignResponse(key, r.URL.Path, sig, rb))
		_, _ = w.Write(rb)
	}))
	defer srv.Close()
	c, err := NewHTTPClient(Opts{BaseURL: srv.URL, TerminalID: "T9", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := c.Precreate(ctx, Alipay, Order{ID: "M1", Amount: 1234, Currency: "CNY"})
	if err != nil || r.Status != StatusUserPaying {
		t.Fatalf("precreate: %+v %v", r, err)
	}
	if _, err := c.Precreate(ctx, Alipay, Order{ID: "M2", Amount: 1234, Currency: "CNY", Code: "134567890123456789"}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("precreate with a code: %v", err)
	}
	if _, err := c.Precreate(ctx, Platform("paypal"), Order{ID: "M3", Amount: 1, Currency: "CNY"}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("precreate on an unknown platform: %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d requests left, want 1", n)
	}
}
