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
