package api

import (
	"strings"
	"testing"
)

// TestSaleWhilePosdRestarts: once a restart (or a factory reset) closed
// the engine, a sale or a batch close is refused with 503 and words the
// cashier can act on: posd is restarting, try again.
func TestSaleWhilePosdRestarts(t *testing.T) {
	a, h := newTestAPI(t)
	if err := a.d.Engine.CloseWhenIdle(nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []call{
		{method: "POST", path: "/v1/sales", body: `{"amount":"9.00"}`},
		{method: "POST", path: "/v1/batch/close", body: `{}`},
	} {
		code, _, body := do(h, c)
		if code != 503 || !strings.Contains(body, "posd is restarting") {
			t.Errorf("%s %s: %d %s", c.method, c.path, code, body)
		}
	}
}

// TestSelfTestDuringASale: POST /v1/devices/selftest while a sale runs is
// refused (409) with the sale named, and tests nothing.
func TestSelfTestDuringASale(t *testing.T) {
	a, h := newTestAPI(t)
	tx, err := a.d.Engine.StartSale(2200, "156")
	if err != nil {
		t.Fatal(err)
	}
	defer a.d.Engine.Cancel(tx.ID)
	code, _, body := do(h, call{method: "POST", path: "/v1/devices/selftest", body: `{}`})
	if code != 409 || !strings.Contains(body, "self test refused") || !strings.Contains(body, tx.ID) {
		t.Errorf("self test during sale %s: %d %s", tx.ID, code, body)
	}
}
