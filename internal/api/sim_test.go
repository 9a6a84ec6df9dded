package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"posd/board/sim"
	"posd/board/sim/deck"
)

// The simulator's card controls: tap, insert and remove on the sim
// board; 400 for an unknown card or an entry mode it does not support;
// 404 off the sim board; no card data in any answer.
func TestAPISimChipCards(t *testing.T) {
	a, h := newTestAPI(t)
	for _, p := range []string{"/v1/sim/tap", "/v1/sim/insert", "/v1/sim/remove"} {
		if code, _, body := do(h, call{"POST", p, `{"card":"visa-credit"}`, nil}); code != 404 || !strings.Contains(errorOf(t, body), "simulated board") {
			t.Errorf("%s off the sim board: %d %s", p, code, body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := sim.Open(ctx, sim.Opts{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Halt() })
	a.d.Sim = b
	var bodies []string
	for _, c := range []struct {
		call
		code int
		want string
	}{
		{call{"POST", "/v1/sim/tap", `{"card":"visa-credit"}`, nil}, 200, `"tapped":"visa-credit"`},
		{call{"POST", "/v1/sim/insert", `{"card":"mastercard-debit"}`, nil}, 200, `"inserted":"mastercard-debit"`},
		{call{"POST", "/v1/sim/remove", `{}`, nil}, 200, `"removed":true`},
		{call{"POST", "/v1/sim/remove", `{}`, nil}, 200, `"removed":true`},
		{call{"POST", "/v1/sim/tap", `{"card":"visa-offline"}`, nil}, 400, "cannot be tapped"},
		{call{"POST", "/v1/sim/insert", `{"card":"visa-contactless-cvm"}`, nil}, 400, "cannot be inserted"},
		{call{"POST", "/v1/sim/insert", `{"card":"visa-classic"}`, nil}, 400, "cannot be inserted"},
		{call{"POST", "/v1/sim/tap", `{"card":"nope"}`, nil}, 400, "no such card"},
		{call{"POST", "/v1/sim/insert", `{"card":"visa-credit","pull_after":"first_ac"}`, nil}, 200, `"inserted":"visa-credit"`},
		{call{"POST", "/v1/sim/insert", `{"card":"visa-credit","pull_after":"never"}`, nil}, 400, "pull_after"},
		{call{"POST", "/v1/sim/swipe", `{"card":"visa-classic","pull_after":"gpo"}`, nil}, 400, "pull_after"},
		{call{"POST", "/v1/sim/swipe", `{"card":"visa-contactless-cvm"}`, nil}, 400, "cannot be swiped"},
		{call{"POST", "/v1/sim/tap", `{"card":"visa-credit","pin":"1"}`, nil}, 400, "unknown field"},
		{call{"POST", "/v1/sim/remove", `{"card":"visa-credit"}`, nil}, 400, "unknown field"},
		{call{"POST", "/v1/sim/remove", `null`, nil}, 400, "one JSON object"},
		{call{"POST", "/v1/sim/tap", `{"card":"visa-credit","card":"nope"}`, nil}, 400, "given twice"},
		{call{"GET", "/v1/sim/tap", ``, nil}, 405, "POST"},
		{call{"GET", "/v1/sim/cards", ``, nil}, 200, `"entry_modes":["swipe","insert","tap"]`},
	} {
		code, _, body := do(h, c.call)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s %s %s: %d %s, want %d with %q", c.method, c.path, c.body, code, body, c.code, c.want)
		}
		bodies = append(bodies, body)
	}
	all := strings.Join(bodies, "\n")
	for _, c := range deck.Cards {
		for _, secret := range []string{c.PAN, c.Track1, c.Track2} {
			if secret != "" && strings.Contains(all, secret) {
				t.Fatalf("%s: card data in an API answer", c.Name)
			}
		}
	}
}
