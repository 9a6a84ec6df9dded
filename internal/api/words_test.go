package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"posd/terminal/host"
	"posd/terminal/store"
	"posd/terminal/txn"
)

// internalWords are what a cashier should never have to read: package
// prefixes, the store's words, Go's state numbers.
var internalWords = []string{"store:", "txn:", "daemon:", "receipt:", "invalid state transition", "not found: id", "unknown transaction type", "not usable"}

func saysNothingInternal(t *testing.T, what, msg string) {
	t.Helper()
	for _, w := range internalWords {
		if strings.Contains(msg, w) {
			t.Errorf("%s: %q says %q", what, msg, w)
		}
	}
}

// The answers the cashier reads say what happened and what to do, in
// the cashier's words; the status codes stay.
func TestAPIErrorsAreWordedForTheCashier(t *testing.T) {
	a, h := newTestAPI(t)
	// A sale that has ended: cancelling it is refused with the way out.
	code, _, body := do(h, call{"POST", "/v1/sales", `{"amount":"12.34"}`, nil})
	if code != 201 {
		t.Fatalf("sale: %d %s", code, body)
	}
	var v txnView
	json.Unmarshal([]byte(body), &v)
	if code, _, body := do(h, call{"POST", "/v1/txns/" + v.ID + "/cancel", `{}`, nil}); code != 202 {
		t.Fatalf("cancel: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.d.Engine.Wait(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	// An approved sale, as the host would have left it.
	ok := store.Txn{Kind: "purchase", State: store.StateCreated, Amount: 500, Currency: "156"}
	if err := a.d.DB.Create(&ok); err != nil {
		t.Fatal(err)
	}
	for _, st := range []store.State{store.StateAuthSent, store.StateApproved} {
		if _, err := a.d.DB.Update(ok.ID, func(r *store.Txn) error { r.State = st; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		call
		code int
		want []string
	}{
		{call{"POST", "/v1/txns/" + ok.ID + "/cancel", `{}`, nil}, 409, []string{"transaction " + ok.ID + " has already ended (approved)", "void it", "posctl void " + ok.ID}},
		{call{"POST", "/v1/txns/" + v.ID + "/cancel", `{}`, nil}, 409, []string{"transaction " + v.ID + " has already ended (failed)", "nothing to cancel"}},
		{call{"POST", "/v1/txns/999/cancel", `{}`, nil}, 404, []string{"transaction 999 not found", "posctl txn list"}},
		{call{"GET", "/v1/txns/999", ``, nil}, 404, []string{"transaction 999 not found"}},
		{call{"GET", "/v1/txns/999?wait=1ms", ``, nil}, 404, []string{"transaction 999 not found"}},
		{call{"GET", "/v1/txns/999/receipt", ``, nil}, 404, []string{"transaction 999 not found"}},
		{call{"POST", "/v1/txns", `{"type":"void","orig_id":"77"}`, nil}, 404, []string{"original transaction 77 not found"}},
		{call{"POST", "/v1/txns", `{"type":"refund","amount":"1.00","orig_id":"77"}`, nil}, 404, []string{"transaction 77 not found"}},
		{call{"POST", "/v1/txns", `{"type":"refund","amount":"1.00","method":"face"}`, nil}, 400, []string{"face pay", "sales only"}},
		{call{"POST", "/v1/txns", `{"type":"void","orig_id":"` + v.ID + `"}`, nil}, 400, []string{"transaction " + v.ID + " is failed, not approved"}},
		{call{"POST", "/v1/txns", `{"type":"void"}`, nil}, 400, []string{"needs the id of the original"}},
		{call{"POST", "/v1/txns", `{"type":"refund","amount":"6.00","orig_id":"` + ok.ID + `"}`, nil}, 400, []string{"amount", "more than the original's amount"}},
	} {
		code, _, body := do(h, c.call)
		if code != c.code {
			t.Errorf("%s %s %s: %d %s, want %d", c.method, c.path, c.body, code, body, c.code)
			continue
		}
		msg := errorOf(t, body)
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s %s %s: %q does not say %q", c.method, c.path, c.body, msg, w)
			}
		}
		saysNothingInternal(t, c.method+" "+c.path, msg)
	}
}

// The customer's touch on "pay by face" during a refund, or after the
// sale moved on, is refused in words, not the engine's.
func TestChooseFaceRefusedInWords(t *testing.T) {
	a, _ := newTestAPI(t)
	tx, err := a.d.Engine.Start(txn.Request{Kind: host.KindRefund, Amount: 100, Currency: "156"})
	if err != nil {
		t.Fatal(err)
	}
	err = a.choose("face:" + tx.ID)
	if err == nil {
		t.Fatal("face pay chosen for a refund")
	}
	saysNothingInternal(t, "choose on a refund", errorText(err))
	if !strings.Contains(errorText(err), "face pay") {
		t.Errorf("choose on a refund: %q", errorText(err))
	}
}
